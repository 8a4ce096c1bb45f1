"""Data stages: the demo images and the manifests of targets and sources."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import demo
from ..datasets import DatasetError, class_names, fold_mask, scan_image_folder
from ..io import write_csv
from ..tvdatasets import carve_per_class, export

log = logging.getLogger(__name__)


def demo_data(out: str, settings: dict) -> None:
    demo.generate(out, **settings)
    log.info("demo data written under %s", out)


def target_manifest(root: str, out_dir: str, train_split: str, test_split: str,
                    holdout_per_class: int | None = None, holdout_seed: int = 0,
                    holdout_fold: int | None = None, holdout_folds: int | None = None) -> None:
    """``train.csv`` and ``test.csv`` of ``root/<split>/<class>/<image>``; labels follow the train classes.

    With ``holdout_per_class`` N, the test split is not read at all: N images per class of the
    train split, drawn with ``holdout_seed`` (:func:`workflow.tvdatasets.carve_per_class`),
    become ``test.csv`` and the rest ``train.csv``, a validation split for honest tuning. With
    ``holdout_folds`` n and ``holdout_fold`` k, the validation images are fold k of a stratified
    n-fold split (:func:`workflow.datasets.fold_mask`): the n folds together validate on every
    training image once.
    """
    train = scan_image_folder(Path(root) / train_split)
    require_classes(train, Path(root) / train_split)
    if holdout_folds:
        carved = fold_mask(train["label"], holdout_fold or 0, holdout_folds, holdout_seed)
        test_split = f"{train_split} (fold {holdout_fold or 0} of {holdout_folds}, seed {holdout_seed})"
    elif holdout_per_class:
        carved = carve_per_class(train["label"], holdout_per_class, holdout_seed, "holdout_per_class", class_names(train))
        test_split = f"{train_split} (holdout_per_class {holdout_per_class}, seed {holdout_seed})"
    if holdout_folds or holdout_per_class:
        train, test = (_renumber(train[~carved]), _renumber(train[carved]))
    else:
        test = scan_image_folder(Path(root) / test_split, classes=class_names(train))
    for role, split, frame in (("train", train_split, train), ("test", test_split, test)):
        write_csv(frame, Path(out_dir) / f"{role}.csv")
        log.info("%s/%s: %d images in %d classes", root, split, len(frame), frame["label"].nunique())


def source_manifest(root: str, out: str, max_per_class: int | None) -> None:
    frame = scan_image_folder(root, max_per_class=max_per_class)
    require_classes(frame, root)
    write_csv(frame, out)
    log.info("%s: %d images in %d classes", root, len(frame), frame["label"].nunique())


def require_classes(manifest, folder) -> None:
    """A classifier of one class scores 100% whatever it learns: refuse it by name."""
    names = class_names(manifest)
    if len(names) < 2:
        raise DatasetError(f"{folder} has {len(names)} class folder ({', '.join(names)}): "
                           "classification needs at least two classes")


def _renumber(frame):
    return frame.reset_index(drop=True).assign(index=lambda f: range(len(f)))


def torchvision_export(name: str, data_dir: str, out: str, train_per_class: int | None, split_seed: int) -> None:
    """Download torchvision's dataset ``name`` into ``data_dir``; ``out/<split>/<class>/<image>``."""
    counts = export(name, data_dir, out, train_per_class=train_per_class, split_seed=split_seed)
    log.info("%s exported to %s: %s", name, out, ", ".join(f"{s} {n} images" for s, n in counts.items()))
