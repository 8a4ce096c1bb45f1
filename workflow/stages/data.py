"""Data stages: the demo images and the manifests of targets and sources."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import demo
from ..datasets import class_names, scan_image_folder
from ..io import write_csv

log = logging.getLogger(__name__)


def demo_data(out: str, settings: dict) -> None:
    demo.generate(out, **settings)
    log.info("demo data written under %s", out)


def target_manifest(root: str, out_dir: str, train_split: str, test_split: str) -> None:
    """``train.csv`` and ``test.csv`` of ``root/<split>/<class>/<image>``; labels follow the train classes."""
    train = scan_image_folder(Path(root) / train_split)
    test = scan_image_folder(Path(root) / test_split, classes=class_names(train))
    for role, split, frame in (("train", train_split, train), ("test", test_split, test)):
        write_csv(frame, Path(out_dir) / f"{role}.csv")
        log.info("%s/%s: %d images in %d classes", root, split, len(frame), frame["label"].nunique())


def source_manifest(root: str, out: str, max_per_class: int | None) -> None:
    frame = scan_image_folder(root, max_per_class=max_per_class)
    write_csv(frame, out)
    log.info("%s: %d images in %d classes", root, len(frame), frame["label"].nunique())
