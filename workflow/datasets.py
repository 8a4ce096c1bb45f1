"""Image datasets as manifests: scanning ImageFolder trees and decoding images.

A manifest is a table with one row per image: ``index`` (0..n-1, the image's id in every
later file), ``path`` (absolute), ``label`` (integer class id) and ``class_name``.
Class ids follow the sorted class-folder names of the split that defines them (the target's
``train`` split, or the source folder), as ``torchvision.datasets.ImageFolder`` numbers them.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

log = logging.getLogger(__name__)


class DatasetError(ValueError):
    """A dataset folder or image that cannot be used as it is."""


def fold_mask(labels, fold: int, folds: int, seed: int) -> np.ndarray:
    """The images of fold ``fold`` of a stratified ``folds``-fold split: (n,) bool.

    Every class shuffles its images with its own generator, seeded by ``(seed, label)``, and
    deals them round-robin to the folds, so the folds are disjoint, cover every image once and
    hold each class as evenly as its size allows.
    """
    if not 0 <= fold < folds or folds < 2:
        raise DatasetError(f"holdout_fold is {fold} of holdout_folds {folds}: needs 0 <= fold < folds and folds >= 2")
    labels = np.asarray(labels)
    chosen = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < folds:
            raise DatasetError(f"holdout_folds is {folds}, but class {label} has only {len(members)} images")
        order = np.random.default_rng([seed, int(label)]).permutation(len(members))
        chosen[members[order[fold::folds]]] = True
    return chosen


def scan_image_folder(
    root: str | Path,
    classes: list[str] | None = None,
    max_per_class: int | None = None,
) -> pd.DataFrame:
    """List the images of an ImageFolder tree ``root/<class>/<image>`` as a manifest.

    ``classes`` fixes the class list (and so the label ids), e.g. to number a test split
    like its train split; the class folders found must then be exactly those. ``max_per_class``
    keeps the first images (in sorted order) of each class, so the cap is deterministic.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist (or is not a folder)")
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    _refuse_broken_links([p for p in entries if p.is_symlink()], "class folder")
    found = sorted(p.name for p in entries if p.is_dir())
    if not found:
        raise DatasetError(f"dataset folder {root} has no class sub-folders (expected {root}/<class>/<image>)")
    if classes is None:
        classes = found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DatasetError(f"{root} has class folders that the train split lacks: {', '.join(unknown[:10])}")
    missing = sorted(set(classes) - set(found))
    if missing:  # the test split would drop these classes from the mean-class accuracy unnoticed
        raise DatasetError(f"{root} has no folder for {len(missing)} classes of the train split: {', '.join(missing[:10])}")
    rows = []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            continue
        files = class_images(folder)
        if not files:
            raise DatasetError(f"class folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        rows += [(str(p.resolve()), label, name) for p in files[:max_per_class]]
    frame = pd.DataFrame(rows, columns=["path", "label", "class_name"])
    frame.insert(0, "index", np.arange(len(frame)))
    return frame


def class_images(folder: Path) -> list[Path]:
    """A class folder's images in torchvision ImageFolder's order: sub-folders walked (links
    followed), sorted by folder then name; hidden files and folders (``.x``, macOS ``._x.JPEG``) skipped."""
    images = []
    for directory, _, names in sorted(os.walk(folder, followlinks=True)):
        if any(part.startswith(".") for part in Path(directory).relative_to(folder).parts):
            continue
        images += [Path(directory) / name for name in sorted(names) if _is_image_name(name)]
    _refuse_broken_links(images, "image")
    return images


def _refuse_broken_links(paths: list[Path], what: str) -> None:
    """Links whose target is gone are named (they were a raw traceback, or dropped unnoticed)."""
    broken = [path for path in paths if path.is_symlink() and not path.exists()]
    if broken:
        listed = ", ".join(f"{path} -> {os.readlink(path)}" for path in broken[:5])
        raise DatasetError(f"{len(broken)} broken {what} link(s), whose target does not exist: {listed}"
                           f"{' ...' if len(broken) > 5 else ''}; remove them or restore their targets")


def _is_image_name(name: str) -> bool:
    """An image file a class folder counts: an image suffix, not hidden (macOS ``._x.JPEG``)."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def folder_fingerprint(*folders: str | Path) -> str:
    """A digest of the images under ``folders``: their paths, sizes and modification times.

    What a manifest's rerun keys on (Snakemake compares it as a rule parameter): adding,
    removing, renaming or rewriting an image (``cp`` over it, an editor's save) changes it,
    as it changes what make or rsync look at; reading the images' bytes would take minutes
    on ImageNet, stat-ing them takes seconds. Walked as :func:`class_images` walks (links
    followed, hidden entries skipped); a folder that does not exist digests as absent and a
    broken link as broken, and the manifest stage then names them.
    """
    digest = hashlib.blake2b(digest_size=16)

    def walk(folder: str) -> None:
        with os.scandir(folder) as scan:
            entries = sorted((e for e in scan if not e.name.startswith(".")), key=lambda e: e.name)
        lines = []
        for entry in entries:
            if entry.is_dir():
                walk(entry.path)
            elif entry.is_symlink() and not os.path.exists(entry.path):  # the manifest stage names it
                lines.append(f"{entry.path}\0broken link\n")
            elif _is_image_name(entry.name):
                stat = entry.stat()
                lines.append(f"{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n")
        digest.update("".join(lines).encode())

    for folder in map(str, folders):
        digest.update(f"{folder}\0".encode())
        if os.path.isdir(folder):
            walk(folder)
        else:
            digest.update(b"absent\n")
    return digest.hexdigest()


def read_manifest(path: str | Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    expected = {"index", "path", "label", "class_name"}
    if not expected <= set(frame.columns):
        raise DatasetError(f"manifest {path} lacks columns {sorted(expected - set(frame.columns))}")
    return frame


def class_names(manifest: pd.DataFrame) -> list[str]:
    """Class names ordered by label id."""
    pairs = manifest[["label", "class_name"]].drop_duplicates().sort_values("label")
    return pairs["class_name"].tolist()


def _eight_bit(image: Image.Image, path: str) -> Image.Image:
    """16- and 32-bit integer images scaled to 8-bit gray (PIL's convert clips them: a 16-bit PNG
    turns white); floating-point images have no agreed range and are refused."""
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
        return Image.fromarray(np.round(values / 257).astype(np.uint8), mode="L")
    if image.mode == "F":
        raise DatasetError(f"cannot read image {path}: floating-point pixels (mode F) have no known range; "
                           "save it with 8- or 16-bit integers")
    return image


def load_image(path: str, size: int, mode: str = "RGB", draft: bool = False, crop: bool = True) -> Image.Image:
    """Decode ``path``, resize its shorter side to ``size`` and center-crop it to a square (``crop``
    False: the whole resized image, for the crops of training and of multi-crop testing).

    Deterministic on purpose: descriptors and evaluation must reproduce byte for byte. With
    ``draft`` a JPEG at least twice ``size`` on its shorter side is decoded at 1/2, 1/4 or 1/8
    of its size by the decoder itself (DCT scaling, PIL's ``draft``), never below ``size``: the
    same image at a fraction of the cost, slightly different pixels (BENCHMARKS.md measures both).
    The two halves, :func:`decode_image` and :func:`fit_image`, let a caller decode an image once
    and fit it to several modes (the descriptor jobs: grayscale for one bank, colour for another).
    """
    return fit_image(decode_image(path, size if draft else None), size, mode, path, crop)


# PIL's decompression-bomb guard warns above 89.5M pixels and refuses twice that, naming no file;
# decode_image applies one limit of its own instead, naming the file and this variable
MAX_PIXELS_VARIABLE = "SJFT_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 2 * 89_478_485  # where PIL refuses: 13,377 x 13,377
Image.MAX_IMAGE_PIXELS = None


def max_image_pixels() -> int | None:
    """The most pixels an image may have: $SJFT_MAX_IMAGE_PIXELS (0: no limit), else DEFAULT_MAX_PIXELS."""
    value = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        pixels = int(value.replace("_", ""))
    except ValueError:
        pixels = -1
    if pixels < 0:
        raise DatasetError(f"environment variable {MAX_PIXELS_VARIABLE}={value!r}: expected a number of pixels "
                           "(0: no limit)")
    return pixels or None


def decode_image(path: str, draft_size: int | None = None, data: BinaryIO | None = None) -> Image.Image:
    """The decoded image of ``path``, in its own mode (16-bit integers scaled to 8-bit gray).

    With ``draft_size`` a JPEG is decoded at the smallest of 1/2, 1/4, 1/8 of its size whose
    shorter side stays at least ``draft_size`` (PIL's ``draft``); other formats decode in full.
    ``data``: the file's bytes, already read (the fingerprints hash them too), ``path`` naming it in errors.
    An image of more than ``max_image_pixels()`` pixels is refused before it is decoded (a huge or
    malicious file would take gigabytes).
    """
    limit = max_image_pixels()
    try:
        with Image.open(path if data is None else data) as image:
            width, height = image.size
            if limit is not None and width * height > limit:
                raise DatasetError(
                    f"image {path} is {width} x {height} = {width * height:,} pixels, more than the limit of "
                    f"{limit:,} (a guard against decompression bombs); if it is a real image, raise the limit with "
                    f"the environment variable {MAX_PIXELS_VARIABLE} (0: no limit) or shrink the image")
            if draft_size is not None:
                image.draft(None, (draft_size, draft_size))
            image.load()
            return _eight_bit(image, path)
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f"cannot read image {path}: {error}") from error


def fit_image(image: Image.Image, size: int, mode: str = "RGB", path: str = "", crop: bool = True) -> Image.Image:
    """A decoded image in PIL ``mode``, its shorter side resized to ``size`` (bilinear) and, with
    ``crop``, center-cropped to a ``size`` x ``size`` square. ``path`` names it in errors."""
    try:
        image = image.convert(mode)
    except ValueError as error:  # a mode PIL cannot convert from (e.g. HSV to L)
        raise DatasetError(f"cannot convert image {path} to mode {mode}: {error}") from error
    width, height = image.size
    scale = size / min(width, height)
    if scale != 1:
        new = (max(size, round(width * scale)), max(size, round(height * scale)))
        image = image.resize(new, Image.BILINEAR)
    if not crop:
        return image
    width, height = image.size
    left, top = (width - size) // 2, (height - size) // 2
    return image.crop((left, top, left + size, top + size))
