"""Datasets shipped with official lists, exported as ImageFolder trees: Stanford Dogs, MIT Indoor 67, Places.

Three of the paper's datasets are not in torchvision: they come as a download folder plus
official lists saying which image is in which split (and, for Dogs and Places, its label).
The export functions read those lists and link the images into the tree the manifest stages
read (:func:`workflow.datasets.scan_image_folder`): a target ``<out>/<split>/<NNN>.<class>/<image>``,
a source ``<out>/<NNN>.<class>/<image>``. Then the dataset is an ordinary ImageFolder.

- **Stanford Dogs** (target): ``root/Images/<wnid>-<Breed>/<file>.jpg``, and ``train_list.mat`` and
  ``test_list.mat`` in ``root/lists/`` (or straight in ``root``: :func:`stanford_dogs_lists`).
  MATLAB v5 files: ``file_list``, a cell array of paths relative to ``Images/``; ``labels``, the
  1-based class ids (``annotation_list``, the bounding boxes, is not read). 120 classes, 12,000
  train / 8,580 test images.
- **MIT Indoor 67** (target): ``root/Images/<class>/<file>`` and ``root/TrainImages.txt``,
  ``root/TestImages.txt`` (:func:`mit_indoor67_lists`), one path relative to ``Images/`` a line
  (CRLF line ends and blank lines are fine). The lists give no label ids: classes are numbered
  in sorted order, as ImageFolder does. 67 classes, 80 train / 20 test images each. A few of the
  images are GIFs or PNGs named ``.jpg``; links keep their bytes and names, PIL reads them by content.
- **Places205 / Places365-Standard** train sets (a source): ``root/<letter>/<class>[/<sub>]/<image>``
  and a list of ``<path> <label>`` lines (``train_places205.csv``, ``places365_train_standard.txt``;
  the path with or without a leading ``/``). The class is the path's folders
  (``a/apartment_building/outdoor``), numbered by the list's label ids.

**Label order.** A class folder is ``<label, zero-padded>.<filesystem-safe name>``
(:func:`workflow.tvdatasets.safe_folder_names`), so the sorted-folder numbering of the manifest
keeps the lists' label ids (Dogs: id - 1).

**Why an export, also for Places' 1.8-2.4M images**, rather than a manifest written straight
from its list: the export is a rule's output, so the source manifest (its ``max_per_class``
cap, its image order, its checks) and every rerun rule work unchanged, and no second reader of
the list has to agree with the first. It costs one link per image (minutes on a local disk),
streamed: the list is read twice line by line, once to check every line and collect the
classes (nothing is linked if a line is bad), once to link; progress is logged.

**Links, never copies or re-encodings.** A hard link when the file system allows it (the
export then stays readable if the download folder moves), else a symbolic link to the image's
absolute path: across file systems, or for a shared download the user does not own (Linux's
``fs.protected_hardlinks`` refuses hard links to other users' files). Copying is no fallback:
Places is 100+ GB. Re-encoding would change the statistics the filter banks measure
(:mod:`workflow.tvdatasets`). ``export.json`` records the counts of each link kind.

**Errors** name the list and the line (a ``.mat``: the entry, 1-based as MATLAB counts, and the
field): a missing or unreadable list, a malformed line, a path that leaves the images folder or
is no image name the manifest counts, an image listed twice or in both splits, a listed image
missing on disk (with the path expected), a label out of range or skipped, a class with two labels.
``out`` appears complete or not at all: the tree is built beside it and renamed onto it.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .datasets import IMAGE_EXTENSIONS, DatasetError
from .io import replace_folder, write_json
from .tvdatasets import safe_folder_names

log = logging.getLogger(__name__)

PROGRESS_EVERY = 100_000  # images between two progress lines of an export


@dataclass(frozen=True)
class Listing:
    """One official list: its file, what it counts (``line`` of a text list, ``entry`` of a .mat),
    the first label id (Dogs 1, Places 0: errors quote labels as the file writes them) and, for a
    .mat, the field holding each role (``path``, ``label``), which errors name."""

    file: Path
    unit: str = "line"
    first_label: int = 0
    fields: dict[str, str] = field(default_factory=dict)

    def at(self, position: int, role: str | None = None) -> str:
        name = self.fields.get(role)
        return f"{self.file}, {self.unit} {position}" + (f" of {name}" if name else "")


# an entry of a list: (its line or entry number, path relative to the images folder, 0-based label)
Entry = tuple[int, str, int]


# ------------------------------------------------------------------ where the lists are


def stanford_dogs_lists(root: str | os.PathLike) -> tuple[Path, Path]:
    """``train_list.mat`` and ``test_list.mat``: in ``root/lists/`` as the site's lists.tar unpacks
    into its own folder, else straight in ``root``; when neither holds them, the ``lists/`` paths
    (which the export, or Snakemake's missing-input check, then names)."""
    for folder in (Path(root) / "lists", Path(root)):
        if (folder / "train_list.mat").is_file():
            return folder / "train_list.mat", folder / "test_list.mat"
    return Path(root) / "lists" / "train_list.mat", Path(root) / "lists" / "test_list.mat"


def mit_indoor67_lists(root: str | os.PathLike) -> tuple[Path, Path]:
    return Path(root) / "TrainImages.txt", Path(root) / "TestImages.txt"


def places_export_name(list_file: str | os.PathLike) -> str:
    """The export folder's name of a Places list: its stem made filesystem-safe (``train_places205``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(list_file).stem).strip("._-") or "places"


# ------------------------------------------------------------------ reading the lists


def _relative_image(text: str, where: str) -> str:
    """A listed path, checked: relative to the images folder, inside it, in a class folder, an image name."""
    path = text.strip().lstrip("/")
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") for part in parts) or "\\" in path:
        raise DatasetError(f"{where}: {text!r} is not a path <class>/<image> inside the images folder")
    if len(parts) < 2:
        raise DatasetError(f"{where}: {text!r} has no class folder (expected <class>/<image>)")
    if parts[-1].startswith(".") or not parts[-1].lower().endswith(IMAGE_EXTENSIONS):
        raise DatasetError(f"{where}: {parts[-1]!r} is not an image name the manifest counts "
                           f"({', '.join(IMAGE_EXTENSIONS)}, not hidden)")
    return path


def _text_lines(file: Path) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a text list with their 1-based numbers, line ends of any kind stripped.

    File names are kept byte for byte (undecodable bytes pass through as surrogates, which the os
    functions turn back into the same bytes)."""
    try:
        handle = open(file, encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        raise DatasetError(f"list {file} does not exist") from None
    except OSError as error:
        raise DatasetError(f"cannot read list {file}: {error}") from error
    with handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if line:
                yield number, line


def read_path_list(listing: Listing) -> list[tuple[int, str]]:
    """An Indoor-style list, one image path a line: ``[(line, path)]``."""
    return [(number, _relative_image(line, listing.at(number))) for number, line in _text_lines(listing.file)]


_LABELED_LINE = re.compile(r"(\S.*?)[\s,]+(-?\d+)")


def read_labeled_list(listing: Listing) -> Iterator[Entry]:
    """A Places-style list, ``<path> <label>`` a line (a comma works as the separator too), streamed."""
    for number, line in _text_lines(listing.file):
        match = _LABELED_LINE.fullmatch(line)
        if match is None:
            raise DatasetError(f"{listing.at(number)}: {line!r} is not '<path> <label>' with an integer label")
        label = int(match[2]) - listing.first_label
        if label < 0:
            raise DatasetError(f"{listing.at(number)}: label {match[2]} is below {listing.first_label}, "
                               "the first label id")
        yield number, _relative_image(match[1], listing.at(number)), label


def _cell_text(cell) -> str | None:
    """The string in one cell of a MATLAB cell array as scipy loads it (a 1-element str array), else None."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, np.ndarray) and cell.size == 1:
        return _cell_text(cell.reshape(-1)[0])
    return None


def read_mat_list(listing: Listing) -> list[Entry]:
    """A Stanford Dogs list (MATLAB v5): the cell array of paths and the label ids, in the fields
    ``listing.fields`` names (``path``: ``file_list``, ``label``: ``labels``)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    file, path_field, label_field = listing.file, listing.fields["path"], listing.fields["label"]
    if not file.is_file():
        raise DatasetError(f"list {file} does not exist")
    try:
        mat = loadmat(str(file))
    except (MatReadError, ValueError, TypeError, NotImplementedError, OSError) as error:  # v7.3 (HDF5): NotImplemented
        raise DatasetError(f"list {file} is not a MATLAB v5 .mat file that scipy.io.loadmat reads: {error}") from error
    for key in (path_field, label_field):
        if key not in mat:
            found = [name for name in mat if not name.startswith("__")]
            raise DatasetError(f"list {file} has no field {key!r} (it has: {', '.join(found) or 'none'})")
    paths, labels = np.asarray(mat[path_field]).ravel(), np.asarray(mat[label_field]).ravel()
    if len(paths) != len(labels):
        raise DatasetError(f"list {file}: {path_field} has {len(paths)} entries but {label_field} has {len(labels)}")
    entries = []
    for number, (cell, value) in enumerate(zip(paths, labels), start=1):
        text = _cell_text(cell)
        if text is None:
            raise DatasetError(f"{listing.at(number, 'path')}: {cell!r} is not a path")
        try:
            label = float(value)
        except (TypeError, ValueError):
            label = float("nan")
        if not label.is_integer() or label < listing.first_label:
            raise DatasetError(f"{listing.at(number, 'label')}: {value} is not a label id "
                               f"({listing.first_label}, {listing.first_label + 1}, ...)")
        path = _relative_image(text, listing.at(number, "path"))
        entries.append((number, path, int(label) - listing.first_label))
    return entries


def class_table(entries: Iterable[Entry], listing: Listing) -> tuple[list[str], int]:
    """The class (the path's folders) of every label, checked: one class per label, one label per
    class, labels running 0..K-1 without a gap; and the number of entries (one pass over them)."""
    class_of: dict[int, tuple[str, int]] = {}
    label_of: dict[str, tuple[int, int]] = {}
    first = listing.first_label
    count = 0
    for count, (number, path, label) in enumerate(entries, start=1):
        name = posixpath.dirname(path)
        known, known_at = class_of.setdefault(label, (name, number))
        if known != name:
            raise DatasetError(f"{listing.at(number, 'label')}: label {label + first} is class {name!r} here, "
                               f"but class {known!r} at {listing.unit} {known_at}")
        known, known_at = label_of.setdefault(name, (label, number))
        if known != label:
            raise DatasetError(f"{listing.at(number, 'label')}: class {name!r} has label {label + first} here, "
                               f"but {known + first} at {listing.unit} {known_at}")
    if not class_of:
        raise DatasetError(f"list {listing.file} lists no images")
    missing = sorted(set(range(max(class_of) + 1)) - set(class_of))
    if missing:
        raise DatasetError(f"list {listing.file}: no image has label {missing[0] + first} "
                           f"(labels must run {first} to {max(class_of) + first} without gaps)")
    return [class_of[label][0] for label in range(len(class_of))], count


def _disjoint(train: list[Entry], test: list[Entry], train_listing: Listing, test_listing: Listing) -> None:
    """A test image that is also a training image would inflate the accuracy: refused by line."""
    train_at = {path: number for number, path, _ in train}
    for number, path, _ in test:
        if path in train_at:
            raise DatasetError(f"{test_listing.at(number)}: {path} is also a training image "
                               f"({train_listing.at(train_at[path])})")


# ------------------------------------------------------------------ linking


class Linker:
    """Links images into an export: hard links, else (for good, once one fails) symbolic links."""

    FALLBACK = (errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP)

    def __init__(self) -> None:
        self.symbolic = False
        self.counts = {"hard": 0, "symbolic": 0}

    def link(self, source: str, target: str) -> None:
        """``target`` names ``source``'s bytes; FileNotFoundError when ``source`` is missing."""
        if not self.symbolic:
            try:
                os.link(source, target)
                self.counts["hard"] += 1
                return
            except OSError as error:
                if error.errno not in self.FALLBACK:
                    raise
                log.info("hard link %s -> %s failed (%s): symbolic links from here on", source, target, error)
                self.symbolic = True
        if not os.path.isfile(source):
            raise FileNotFoundError(errno.ENOENT, "no such image", source)
        os.symlink(source, target)
        self.counts["symbolic"] += 1


def _link_split(entries: Iterable[Entry], listing: Listing, images: str, classes: list[str], out: str,
                linker: Linker, name: str, total: int | None = None) -> list[int]:
    """Link every listed image into ``out/<NNN>.<class>/<file name>``; images per class.

    A label's class must be the train list's (a test list can name a class otherwise, or a label
    beyond the train list's)."""
    folders = safe_folder_names(classes)
    counts = [0] * len(classes)
    made = set()
    first = listing.first_label
    for done, (number, path, label) in enumerate(entries, start=1):
        if label >= len(classes):
            raise DatasetError(f"{listing.at(number, 'label')}: label {label + first} is out of range: "
                               f"the train list's labels run {first} to {len(classes) - 1 + first}")
        directory, file_name = posixpath.split(path)
        if directory != classes[label]:
            raise DatasetError(f"{listing.at(number, 'label')}: {path} has label {label + first}, "
                               f"which the train list gives to class {classes[label]!r}")
        folder = os.path.join(out, folders[label])
        if label not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(label)
        source = os.path.join(images, path)
        try:
            linker.link(source, os.path.join(folder, file_name))
        except FileNotFoundError:
            raise DatasetError(f"{listing.at(number, 'path')}: image {source} is missing") from None
        except FileExistsError:
            raise DatasetError(f"{listing.at(number, 'path')}: {path} is listed a second time") from None
        counts[label] += 1
        if done % PROGRESS_EVERY == 0:
            log.info("%s: %d%s images linked", name, done, f" of {total}" if total else "")
    return counts


@dataclass(frozen=True)
class Split:
    """One exported split: its sub-folder, its list and its entries (read once: a generator streams)."""

    name: str | None  # None: the export is the class folders themselves (a source)
    listing: Listing
    entries: Iterable[Entry]
    total: int | None = None  # the entries' count, for the progress lines


def _images_folder(root: Path, name: str | None) -> str:
    folder = root / name if name else root
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist (expected {folder}/<class>/<image>)")
    return os.path.abspath(folder)


def write_export(kind: str, root: str | os.PathLike, images: str | None, classes: list[str], splits: list[Split],
                 out: str | os.PathLike) -> dict[str, int]:
    """Link the splits' images from ``root/images`` under ``out``; images per split.

    Built in ``.<out>.partial`` beside ``out`` and renamed onto it, so ``out`` is complete or
    absent; ``out/export.json`` records the kind, root, lists, classes and counts."""
    root, out = Path(root), Path(out)
    folder = _images_folder(root, images)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    linker = Linker()
    counts, per_class = {}, {}
    try:
        for split in splits:
            key = split.name or "all"
            target = str(staging / split.name) if split.name else str(staging)
            per_class[key] = _link_split(split.entries, split.listing, folder, classes, target, linker,
                                         f"{kind} {key}", split.total)
            counts[key] = sum(per_class[key])
            log.info("%s %s: %d images in %d classes", kind, key, counts[key], sum(1 for n in per_class[key] if n))
        lists = {split.name or "all": str(split.listing.file) for split in splits}
        write_json(
            {"kind": kind, "root": os.path.abspath(root), "lists": lists, "splits": counts,
             "classes": safe_folder_names(classes), "images_per_class": per_class, "links": linker.counts},
            staging / "export.json",
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_folder(staging, out)
    return counts


# ------------------------------------------------------------------ the three datasets


def export_stanford_dogs(root: str | os.PathLike, train_list: str | os.PathLike, test_list: str | os.PathLike,
                         out: str | os.PathLike) -> dict[str, int]:
    """Stanford Dogs' official train/test split as ``out/{train,test}/<NNN>.<wnid>-<Breed>/<file>``."""
    train_listing, test_listing = (Listing(Path(f), "entry", 1, {"path": "file_list", "label": "labels"})
                                   for f in (train_list, test_list))
    train, test = read_mat_list(train_listing), read_mat_list(test_listing)
    classes, _ = class_table(train, train_listing)
    _disjoint(train, test, train_listing, test_listing)
    splits = [Split("train", train_listing, train), Split("test", test_listing, test)]
    return write_export("stanford-dogs", root, "Images", classes, splits, out)


def export_mit_indoor67(root: str | os.PathLike, train_list: str | os.PathLike, test_list: str | os.PathLike,
                        out: str | os.PathLike) -> dict[str, int]:
    """MIT Indoor 67's official split as ``out/{train,test}/<NNN>.<class>/<file>``, classes in sorted order."""
    train_listing, test_listing = Listing(Path(train_list)), Listing(Path(test_list))
    train_paths, test_paths = read_path_list(train_listing), read_path_list(test_listing)
    if not train_paths:
        raise DatasetError(f"list {train_listing.file} lists no images")
    classes = sorted({posixpath.dirname(path) for _, path in train_paths})
    label_of = {name: label for label, name in enumerate(classes)}
    for number, path in test_paths:
        if posixpath.dirname(path) not in label_of:
            raise DatasetError(f"{test_listing.at(number)}: class {posixpath.dirname(path)!r} of {path} "
                               f"is in no line of {train_listing.file}")
    train, test = ([(n, path, label_of[posixpath.dirname(path)]) for n, path in paths]
                   for paths in (train_paths, test_paths))
    _disjoint(train, test, train_listing, test_listing)
    splits = [Split("train", train_listing, train), Split("test", test_listing, test)]
    return write_export("mit-indoor67", root, "Images", classes, splits, out)


def export_places(root: str | os.PathLike, list_file: str | os.PathLike, out: str | os.PathLike) -> dict[str, int]:
    """A Places train list as the source pool ``out/<NNN>.<class>/<file>``, streamed: a checking
    pass over the list, then a linking pass."""
    listing = Listing(Path(list_file))
    classes, total = class_table(read_labeled_list(listing), listing)  # the first pass: every line checked
    log.info("%s: %d images in %d classes, every line checked", listing.file, total, len(classes))
    split = Split(None, listing, read_labeled_list(listing), total)  # the second pass
    return write_export("places", root, None, classes, [split], out)
