"""Torchvision's datasets as targets: download by name, export once as an ImageFolder tree.

A target ``kind: torchvision`` names a class of ``torchvision.datasets`` (``DATASETS`` lists
the known ones and how to build each split). :func:`export` downloads it into the configured
``data_dir`` (torchvision skips files it already has) and writes
``<out>/<split>/<NNN>.<class>/<nnnnn>.<ext>``, after which the target is an ordinary
ImageFolder target.

- **Splits** are the dataset's official ones (DTD: partition 1). Caltech101 and Caltech256
  have none: :func:`carve_per_class` draws ``train_per_class`` images per class for ``train``
  (the paper: 60 for Caltech256; 30 is the usual Caltech101 protocol) with a fixed seed, the
  rest is ``test``. All 257 Caltech256 categories are kept, ``clutter`` included.
- **Class folders** are ``<label, zero-padded>.<name>``: the label prefix keeps torchvision's
  label order under the sorted-folder numbering of :func:`workflow.datasets.scan_image_folder`
  and keeps folders distinct once names are made filesystem-safe (``F/A-18`` -> ``F_A-18``).
  Names come from the dataset's ``classes`` (Caltech: ``categories``, without their number),
  else the label index.
- **Image files** are the dataset's own files, byte for byte, hard-linked from ``data_dir``
  (copied across file systems), named ``<index in the torchvision split>.<their suffix>``.
  No re-encoding: a JPEG written again at any quality changes the high-frequency statistics
  that the filter-bank descriptors measure, and PNG would multiply the disk use of a
  JPEG-compressed dataset several times over. The file is found through the dataset's
  ``loader`` argument (a loader that returns the path) or the ``filename`` of the PIL image it
  opens (Caltech). Only an image without a file (OxfordIIITPet converts to RGB first) is
  written again, as PNG: lossless, so the pixels are exactly those torchvision decodes.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import IMAGE_EXTENSIONS, DatasetError
from .io import replace_folder, write_json

log = logging.getLogger(__name__)


def _attribute_classes(dataset) -> list[str] | None:
    return list(dataset.classes) if hasattr(dataset, "classes") else None


def _caltech_classes(dataset) -> list[str]:
    """``001.ak47`` -> ``ak47`` (the number is the label + 1, which the folder prefix keeps)."""
    return [re.sub(r"^\d+\.", "", name) for name in dataset.categories]


@dataclass(frozen=True)
class TorchvisionDataset:
    """How to build one dataset of ``torchvision.datasets`` (the class of the same name)."""

    splits: dict[str, dict[str, Any]] | None  # exported split -> constructor arguments; None: carve
    train_split: str = "train"  # the target's default train split
    train_per_class: int | None = None  # carved datasets: default images per class in train
    downloadable: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # constructor arguments of every split
    classes: Callable[[Any], list[str] | None] = _attribute_classes
    labels: Callable[[Any], list[int]] | None = None  # all labels without decoding images


DATASETS: dict[str, TorchvisionDataset] = {
    "Flowers102": TorchvisionDataset({s: {"split": s} for s in ("train", "val", "test")}),
    "DTD": TorchvisionDataset({s: {"split": s} for s in ("train", "val", "test")}, options={"partition": 1}),
    "OxfordIIITPet": TorchvisionDataset(
        {s: {"split": s} for s in ("trainval", "test")}, train_split="trainval", options={"target_types": "category"}
    ),
    "StanfordCars": TorchvisionDataset({s: {"split": s} for s in ("train", "test")}, downloadable=False),
    "FGVCAircraft": TorchvisionDataset(
        {s: {"split": s} for s in ("train", "val", "trainval", "test")},
        train_split="trainval",
        options={"annotation_level": "variant"},
    ),
    "Food101": TorchvisionDataset({s: {"split": s} for s in ("train", "test")}),
    "Caltech256": TorchvisionDataset(None, train_per_class=60, classes=_caltech_classes, labels=lambda d: list(d.y)),
    "Caltech101": TorchvisionDataset(
        None, train_per_class=30, options={"target_type": "category"}, classes=_caltech_classes, labels=lambda d: list(d.y)
    ),
}


def lookup(name: str, key: str = "name") -> TorchvisionDataset:
    if name not in DATASETS:
        raise DatasetError(f"{key} {name!r} is not a known torchvision dataset: {', '.join(DATASETS)}")
    return DATASETS[name]


def safe_folder_names(classes: list[str]) -> list[str]:
    """``<label>.<name>`` per label, zero-padded so that sorting the folders keeps label order."""
    width = max(3, len(str(len(classes) - 1)))
    names = []
    for label, name in enumerate(classes):
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._-")[:80]
        names.append(f"{label:0{width}d}.{safe}" if safe else f"{label:0{width}d}")
    return names


def carve_per_class(labels, n: int, seed: int, key: str, class_names: list[str] | None = None) -> np.ndarray:
    """A mask choosing ``n`` items of every label at random; the rest stays unchosen.

    Each class draws from its own generator, seeded by ``(seed, label)``, over its items in
    their given order: the draw is reproducible and does not depend on the other classes.
    Every class must keep at least one item outside the carve; ``key`` names the setting in
    the error.
    """
    labels = np.asarray(labels)
    chosen = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) <= n:
            name = class_names[label] if class_names is not None else str(label)
            raise DatasetError(
                f"{key} is {n}, but class {name!r} has only {len(members)} images: "
                f"it needs more than {n} so that some remain; lower {key}"
            )
        rng = np.random.default_rng([seed, int(label)])
        chosen[members[rng.choice(len(members), size=n, replace=False)]] = True
    return chosen


def _path_loader(path):
    """A torchvision ``loader`` that returns the image file instead of decoding it."""
    return str(path)


def _open(name: str, spec: TorchvisionDataset, data_dir: Path, kwargs: dict):
    """Build one split, downloading it if needed; failures say what to do."""
    datasets = importlib.import_module("torchvision.datasets")
    cls = getattr(datasets, name, None)
    if cls is None:
        import torchvision

        raise DatasetError(f"torchvision {torchvision.__version__} has no dataset {name}; upgrade torchvision")
    kwargs = {**spec.options, **kwargs}
    if "loader" in inspect.signature(cls).parameters:
        kwargs["loader"] = _path_loader
    try:
        return cls(str(data_dir), download=spec.downloadable, **kwargs)
    except ImportError as error:
        raise DatasetError(f"torchvision's {name} needs a package that is missing: {error}") from error
    except Exception as error:  # urllib, http and archive errors, torchvision's RuntimeError
        if not spec.downloadable:
            raise DatasetError(
                f"torchvision.datasets.{name}(root={str(data_dir)!r}) failed: {error}. {name} cannot be "
                f"downloaded any more (its original URL is gone): put its files where that call finds them"
            ) from error
        raise DatasetError(
            f"downloading {name} into {data_dir} failed: {error}. The download needs network access; "
            f"on a machine without one, copy a {data_dir} that holds {name} from a machine that has it"
        ) from error


def _place(item, stem: Path) -> None:
    """Write one image of a split: its own file linked or copied, or a decoded image as PNG."""
    from PIL import Image

    source = None
    if isinstance(item, (str, os.PathLike)):
        source = Path(item)
    elif isinstance(item, Image.Image) and getattr(item, "filename", ""):
        source = Path(item.filename)
    if source is not None and source.is_file() and source.suffix.lower() in IMAGE_EXTENSIONS:
        if isinstance(item, Image.Image):
            item.close()
        target = stem.with_suffix(source.suffix.lower())
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        return
    if source is not None:
        with Image.open(source) as opened:
            item = opened.copy()
    if not isinstance(item, Image.Image):
        raise DatasetError(f"expected an image or an image file, got {type(item).__name__}")
    if item.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        item = item.convert("RGB")
    item.save(stem.with_suffix(".png"))


def _write_split(dataset, folders: list[str], out: Path, indices=None, labels=None) -> int:
    """Write the images ``indices`` (default: all) of one split; their labels are checked if given."""
    indices = range(len(dataset)) if indices is None else indices
    width = max(5, len(str(len(dataset) - 1)))
    made = set()
    for position, index in enumerate(indices):
        item, label = dataset[int(index)]
        if labels is not None and label != labels[position]:
            raise DatasetError(f"image {index} changed its label from {labels[position]} to {label}")
        folder = out / folders[label]
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        _place(item, folder / f"{int(index):0{width}d}")
    return len(indices)


def _labels(spec: TorchvisionDataset, dataset) -> list[int]:
    if spec.labels is not None:
        return [int(x) for x in spec.labels(dataset)]
    return [int(dataset[i][1]) for i in range(len(dataset))]


def _class_folders(spec: TorchvisionDataset, dataset) -> list[str]:
    """Folder names by label: from the class names, else from the labels (a pass over the split)."""
    classes = spec.classes(dataset)
    if classes is None:
        classes = [str(label) for label in range(max(_labels(spec, dataset)) + 1)]
    return safe_folder_names(classes)


def export(name: str, data_dir: str | Path, out: str | Path, train_per_class: int | None = None,
           split_seed: int = 0) -> dict[str, int]:
    """Download ``name`` into ``data_dir`` and write its splits under ``out``; images per split.

    ``out`` appears complete or not at all: the tree is built beside it and renamed onto it.
    ``out/export.json`` records the dataset, splits, classes and image counts.
    """
    spec = lookup(name)
    data_dir, out = Path(data_dir), Path(out)
    if spec.splits is not None and train_per_class is not None:
        raise DatasetError(f"train_per_class applies only to datasets without official splits, not to {name}")
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    counts: dict[str, int] = {}
    folders: list[str] | None = None
    per_class = None
    try:
        if spec.splits is None:
            per_class = train_per_class or spec.train_per_class
            dataset = _open(name, spec, data_dir, {})
            labels = np.asarray(_labels(spec, dataset))
            folders = _class_folders(spec, dataset)
            train = carve_per_class(labels, per_class, split_seed, "train_per_class", folders)
            for split, mask in (("train", train), ("test", ~train)):
                indices = np.flatnonzero(mask)
                counts[split] = _write_split(dataset, folders, staging / split, indices, labels[indices].tolist())
                log.info("%s %s: %d images", name, split, counts[split])
        else:
            for split, kwargs in spec.splits.items():
                dataset = _open(name, spec, data_dir, kwargs)
                split_folders = _class_folders(spec, dataset)
                if folders is not None and split_folders != folders:
                    raise DatasetError(f"{name}: split {split} names its classes unlike split {next(iter(counts))}")
                folders = split_folders
                counts[split] = _write_split(dataset, folders, staging / split)
                log.info("%s %s: %d images", name, split, counts[split])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_json(
        {"dataset": name, "splits": counts, "classes": folders, "train_per_class": per_class,
         "split_seed": split_seed if per_class else None},
        staging / "export.json",
    )
    replace_folder(staging, out)
    return counts
