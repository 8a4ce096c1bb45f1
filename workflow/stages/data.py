"""Data stages: the demo images and the manifests of targets and sources."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from .. import demo, official
from ..datasets import DatasetError, class_names, fold_mask, read_manifest, scan_image_folder
from ..io import write_csv
from ..tvdatasets import carve_per_class, export

log = logging.getLogger(__name__)


def demo_data(out: str, settings: dict) -> None:
    """Generate the embedded demo: procedural textures as source and target folders, no download.

    Args:
        out: folder of the demo's source/, target/ and relations.csv
        settings: the config's demo section (seed, image_size, source_per_class, ...; ``workflow.demo.generate``)
    """
    demo.generate(out, **settings)
    log.info("demo data written under %s", out)


def target_manifest(root: str, out_dir: str, train_split: str, test_split: str,
                    holdout_per_class: int | None = None, holdout_seed: int = 0,
                    holdout_folds: int | None = None, holdout_fold: int | None = None,
                    only: Literal["train", "test"] | None = None, train_manifest: str | None = None) -> None:
    """List a target's images per split: train.csv and test.csv of ``root/<split>/<class>/<image>``.

    Labels follow the train split's classes.
    With ``holdout_per_class`` N, the test split is not read at all: N images per class of the
    train split, drawn with ``holdout_seed`` (:func:`workflow.tvdatasets.carve_per_class`),
    become ``test.csv`` and the rest ``train.csv``, a validation split for honest tuning. With
    ``holdout_folds`` n and ``holdout_fold`` k, the validation images are fold k of a stratified
    n-fold split (:func:`workflow.datasets.fold_mask`): the n folds together validate on every
    training image once.

    The workflow writes the two files in two jobs (``only``): a changed test image then rewrites
    test.csv alone, and nothing that reads only the train split (bounds, the pool's descriptors,
    the kNN search) reruns. The test job numbers its classes from ``train_manifest``.

    Args:
        root: folder holding <split>/<class>/<image>
        out_dir: folder of train.csv and test.csv
        train_split: sub-folder of the training images (it defines the classes)
        test_split: sub-folder of the test images
        holdout_per_class: carve this many train images per class as the test split (validation);
            the test folder is not read
        holdout_seed: seed of the carve
        holdout_folds: validate on one fold of a stratified split of the train images into this many folds
        holdout_fold: which fold (0-based) is validated on
        only: write this split's file alone (default: both)
        train_manifest: with only test and no carve: the train split's manifest, whose classes number the test split
    """
    carving = bool(holdout_folds or holdout_per_class)
    if only == "test" and not carving:
        if not train_manifest:
            raise DatasetError("target-manifest --only test needs --train-manifest (its classes number the test split)")
        classes = class_names(read_manifest(train_manifest))
        _write_split(scan_image_folder(Path(root) / test_split, classes=classes), root, test_split, out_dir, "test")
        return
    train = scan_image_folder(Path(root) / train_split)
    require_classes(train, Path(root) / train_split)
    if holdout_folds:
        carved = fold_mask(train["label"], holdout_fold or 0, holdout_folds, holdout_seed)
        test_split = f"{train_split} (fold {holdout_fold or 0} of {holdout_folds}, seed {holdout_seed})"
    elif holdout_per_class:
        carved = carve_per_class(train["label"], holdout_per_class, holdout_seed, "holdout_per_class", class_names(train))
        test_split = f"{train_split} (holdout_per_class {holdout_per_class}, seed {holdout_seed})"
    if carving:
        train, test = (_renumber(train[~carved]), _renumber(train[carved]))
    elif only != "train":
        test = scan_image_folder(Path(root) / test_split, classes=class_names(train))
    for role, split, frame in (("train", train_split, train), ("test", test_split, None if only == "train" else test)):
        if only in (None, role):
            _write_split(frame, root, split, out_dir, role)


def _write_split(frame, root: str, split: str, out_dir: str, role: str) -> None:
    write_csv(frame, Path(out_dir) / f"{role}.csv")
    log.info("%s/%s: %d images in %d classes", root, split, len(frame), frame["label"].nunique())


def source_manifest(root: str, out: str, max_per_class: int | None = None) -> None:
    """List the source pool's images: one row per image of ``root/<class>/<image>``.

    Args:
        root: folder holding <class>/<image>
        out: the manifest (CSV)
        max_per_class: keep at most this many images per class (the first in name order)
    """
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


def torchvision_export(name: str, data_dir: str, out: str, train_per_class: int | None = None, split_seed: int = 0) -> None:
    """Download a torchvision dataset and export it as ``out/<split>/<class>/<image>``.

    Args:
        name: the class in torchvision.datasets: Flowers102, Caltech256, ...
        data_dir: torchvision's download folder
        out: folder of the exported images
        train_per_class: datasets without official splits (Caltech): train images per class
            (default: the paper's)
        split_seed: seed of that carve
    """
    counts = export(name, data_dir, out, train_per_class=train_per_class, split_seed=split_seed)
    log.info("%s exported to %s: %s", name, out, ", ".join(f"{s} {n} images" for s, n in counts.items()))


def stanford_dogs_export(root: str, train_list: str, test_list: str, out: str) -> None:
    """Export Stanford Dogs' official split as ``out/<split>/<NNN>.<wnid>-<Breed>/<image>`` (linked images).

    Args:
        root: the download folder, holding Images/<wnid>-<Breed>/<image>
        train_list: train_list.mat (MATLAB v5: file_list, labels)
        test_list: test_list.mat
        out: folder of the export
    """
    counts = official.export_stanford_dogs(root, train_list, test_list, out)
    log.info("Stanford Dogs exported to %s: %s", out, ", ".join(f"{s} {n} images" for s, n in counts.items()))


def mit_indoor67_export(root: str, train_list: str, test_list: str, out: str) -> None:
    """Export MIT Indoor 67's official split as ``out/<split>/<NNN>.<class>/<image>`` (linked images).

    Args:
        root: the download folder, holding Images/<class>/<image>
        train_list: TrainImages.txt, one path relative to Images/ a line
        test_list: TestImages.txt
        out: folder of the export
    """
    counts = official.export_mit_indoor67(root, train_list, test_list, out)
    log.info("MIT Indoor 67 exported to %s: %s", out, ", ".join(f"{s} {n} images" for s, n in counts.items()))


def places_export(root: str, list_file: str, out: str) -> None:
    """Export a Places205 / Places365 train set as the source pool ``out/<NNN>.<class>/<image>`` (linked images).

    Args:
        root: folder holding <letter>/<class>[/<sub>]/<image>
        list_file: the official list of '<path> <label>' lines (train_places205.csv, places365_train_standard.txt)
        out: folder of the export
    """
    counts = official.export_places(root, list_file, out)
    log.info("Places exported to %s: %d images", out, counts["all"])
