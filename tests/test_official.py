"""Datasets with official lists (Stanford Dogs, MIT Indoor 67, Places): the exports, their errors, the rules.

The fixtures are written in the official formats: a MATLAB v5 .mat whose file_list is a cell
array of paths, an Indoor list with CRLF line ends and a trailing blank line, a Places list
with leading slashes.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, default_config, planned_jobs, snakemake, write_config
from PIL import Image
from scipy.io import loadmat, savemat

from workflow import official
from workflow.datasets import DatasetError, class_names, load_image
from workflow.kinds import check_kinds
from workflow.stages.data import mit_indoor67_export, places_export, source_manifest, stanford_dogs_export
from workflow.stages.data import target_manifest


def write_image(path: Path, colour: int, format: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (9, 7), (colour % 256, 40, 90)).save(path, format=format)
    return path


def cells(texts: list[str]) -> np.ndarray:
    """A MATLAB cell array (n x 1) of strings, as the official lists hold their paths."""
    array = np.empty((len(texts), 1), dtype=object)
    array[:, 0] = texts
    return array


def write_dogs_list(path: Path, files: list[str], labels: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"file_list": cells(files), "annotation_list": cells([f.removesuffix(".jpg") for f in files]),
                   "labels": np.asarray(labels, dtype=np.float64).reshape(-1, 1)})


# label 1 is the breed whose folder sorts last: the export keeps the lists' order, not the names'
BREEDS = ["n02110000-Zebra_dog", "n02085620-Chihuahua", "n02099601-golden_retriever"]
DOGS_SPLITS = {"train": 3, "test": 2}


@pytest.fixture
def dogs(tmp_path):
    """root/Images/<wnid>-<Breed>/<wnid>_<i>.jpg, root/lists/{train,test}_list.mat (classes interleaved)."""
    root = tmp_path / "StanfordDogs"
    first = 0
    for split, n in DOGS_SPLITS.items():
        files, labels = [], []
        for i in range(first, first + n):
            for label, breed in enumerate(BREEDS, start=1):
                files.append(f"{breed}/{breed.split('-')[0]}_{i}.jpg")
                labels.append(label)
                write_image(root / "Images" / files[-1], 30 * label + i)
        write_dogs_list(root / "lists" / f"{split}_list.mat", files, labels)
        first += n
    return root


def mat_entries(file: Path) -> list[tuple[str, int]]:
    mat = loadmat(file)
    return [(str(c.item()), int(v)) for c, v in zip(mat["file_list"].ravel(), mat["labels"].ravel())]


def export_dogs(root: Path, out: Path) -> None:
    train, test = official.stanford_dogs_lists(root)
    stanford_dogs_export(str(root), str(train), str(test), str(out))


def test_dogs_export_keeps_the_official_split_labels_and_files(dogs, tmp_path):
    out = tmp_path / "results/data/stanford-dogs"
    export_dogs(dogs, out)
    folders = ["000.n02110000-Zebra_dog", "001.n02085620-Chihuahua", "002.n02099601-golden_retriever"]
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "test", "train"]
    for split, n in DOGS_SPLITS.items():
        assert sorted(p.name for p in (out / split).iterdir()) == folders
        assert all(len(list((out / split / f).iterdir())) == n for f in folders)
    record = json.loads((out / "export.json").read_text())
    assert record["splits"] == {"train": 9, "test": 6} and record["classes"] == folders
    assert record["links"] == {"hard": 15, "symbolic": 0}

    target_manifest(str(out), str(tmp_path / "manifest"), "train", "test")
    for split in DOGS_SPLITS:
        manifest = pd.read_csv(tmp_path / "manifest" / f"{split}.csv")
        assert class_names(manifest) == folders
        listed = dict(mat_entries(dogs / "lists" / f"{split}_list.mat"))
        assert len(manifest) == len(listed)
        for row in manifest.itertuples():
            relative = f"{BREEDS[row.label]}/{Path(row.path).name}"
            assert listed[relative] == row.label + 1, "the manifest's label is the list's label - 1"
            assert os.path.samefile(row.path, dogs / "Images" / relative), "the image is linked, not written again"


def test_dogs_lists_may_sit_straight_in_the_root(dogs, tmp_path):
    for name in ("train_list.mat", "test_list.mat"):
        (dogs / "lists" / name).rename(dogs / name)
    assert official.stanford_dogs_lists(dogs) == (dogs / "train_list.mat", dogs / "test_list.mat")
    export_dogs(dogs, tmp_path / "out")
    assert json.loads((tmp_path / "out/export.json").read_text())["splits"] == {"train": 9, "test": 6}


def rewrite_dogs_list(root: Path, split: str, change) -> None:
    file = root / "lists" / f"{split}_list.mat"
    files, labels = map(list, zip(*mat_entries(file)))
    change(files, labels)
    write_dogs_list(file, files, labels)


@pytest.mark.parametrize(("split", "change", "message"), [
    ("train", lambda files, labels: labels.__setitem__(2, 0), r"train_list.mat, entry 3 of labels: 0.0 is not a label id"),
    ("test", lambda files, labels: labels.__setitem__(0, 4), r"test_list.mat, entry 1 of labels: label 4 is out of range"),
    ("test", lambda files, labels: labels.__setitem__(1, 1),
     r"test_list.mat, entry 2 of labels: n02085620-Chihuahua/n02085620_3.jpg has label 1, which the train list gives "
     r"to class 'n02110000-Zebra_dog'"),
    ("train", lambda files, labels: labels.__setitem__(4, 1),
     r"train_list.mat, entry 5 of labels: label 1 is class 'n02085620-Chihuahua' here, but class 'n02110000-Zebra_dog' at entry 1"),
    ("test", lambda files, labels: files.__setitem__(0, "n02110000-Zebra_dog/n02110000_0.jpg"),
     r"test_list.mat, entry 1: n02110000-Zebra_dog/n02110000_0.jpg is also a training image \(.*train_list.mat, entry 1\)"),
    ("train", lambda files, labels: files.__setitem__(3, "n02110000-Zebra_dog/n02110000_9.jpg"),
     r"train_list.mat, entry 4 of file_list: image .*/Images/n02110000-Zebra_dog/n02110000_9.jpg is missing"),
])
def test_dogs_list_errors_name_the_file_entry_and_field(dogs, tmp_path, split, change, message):
    rewrite_dogs_list(dogs, split, change)
    with pytest.raises(DatasetError, match=message):
        export_dogs(dogs, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists(), "complete or absent"


def test_dogs_unreadable_lists_are_named(dogs, tmp_path):
    train = dogs / "lists" / "train_list.mat"
    savemat(train, {"file_list": cells(["a/b.jpg"])})
    with pytest.raises(DatasetError, match=f"list {re.escape(str(train))} has no field 'labels' "
                                           r"\(it has: file_list\)"):
        export_dogs(dogs, tmp_path / "out")
    train.write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match=f"list {re.escape(str(train))} is not a MATLAB v5 .mat file"):
        export_dogs(dogs, tmp_path / "out")
    for name in ("train_list.mat", "test_list.mat"):
        (dogs / "lists" / name).unlink()
    with pytest.raises(DatasetError, match=f"list {re.escape(str(train))} does not exist"):
        export_dogs(dogs, tmp_path / "out")


# ------------------------------------------------------------------ MIT Indoor 67

INDOOR = {"kitchen": (3, 1), "bar": (3, 1), "inside_bus": (3, 1)}  # class: (train, test)


@pytest.fixture
def indoor(tmp_path):
    """root/Images/<class>/<file>, TrainImages.txt and TestImages.txt with CRLF ends and a blank last line;
    one 'JPEG' is a GIF, as a few official ones are."""
    root = tmp_path / "indoorCVPR_09"
    lines = {"train": [], "test": []}
    for c, (name, counts) in enumerate(INDOOR.items()):
        for split, n in zip(lines, counts):
            for i in range(n):
                path = f"{name}/{split}_{name}_{i}.jpg"
                write_image(root / "Images" / path, 50 * c + i, "GIF" if path == "kitchen/train_kitchen_1.jpg" else "JPEG")
                lines[split].append(path)
    (root / "TrainImages.txt").write_bytes(("\r\n".join(lines["train"]) + "\r\n\r\n").encode())
    (root / "TestImages.txt").write_bytes(("\r\n".join(lines["test"]) + "\r\n").encode())
    return root


def export_indoor(root: Path, out: Path) -> None:
    mit_indoor67_export(str(root), str(root / "TrainImages.txt"), str(root / "TestImages.txt"), str(out))


def test_indoor_export_reads_crlf_lists_and_keeps_names_and_bytes(indoor, tmp_path):
    out = tmp_path / "results/data/mit-indoor67"
    export_indoor(indoor, out)
    folders = ["000.bar", "001.inside_bus", "002.kitchen"]  # no label ids in the lists: sorted, as ImageFolder
    for split, column in (("train", 0), ("test", 1)):
        assert sorted(p.name for p in (out / split).iterdir()) == folders
        listed = [line for line in (indoor / f"{split.title()}Images.txt").read_text().splitlines() if line]
        exported = sorted(f"{p.parent.name.split('.', 1)[1]}/{p.name}" for p in (out / split).rglob("*.jpg"))
        assert exported == sorted(listed)
    assert json.loads((out / "export.json").read_text())["splits"] == {"train": 9, "test": 3}

    gif = out / "train/002.kitchen/train_kitchen_1.jpg"
    assert gif.read_bytes() == (indoor / "Images/kitchen/train_kitchen_1.jpg").read_bytes()
    assert load_image(str(gif), 8).size == (8, 8), "PIL opens a GIF named .jpg by its content"
    target_manifest(str(out), str(tmp_path / "manifest"), "train", "test")
    assert class_names(pd.read_csv(tmp_path / "manifest/test.csv")) == folders


@pytest.mark.parametrize(("list_name", "line", "text", "message"), [
    ("TrainImages.txt", 2, "../kitchen/x.jpg", r"'\.\./kitchen/x\.jpg' is not a path <class>/<image>"),
    ("TrainImages.txt", 3, "loose.jpg", r"'loose\.jpg' has no class folder"),
    ("TrainImages.txt", 1, "bar/notes.txt", r"'notes\.txt' is not an image name"),
    ("TestImages.txt", 2, "garage/g1.jpg", r"class 'garage' of garage/g1\.jpg is in no line of .*TrainImages\.txt"),
    ("TestImages.txt", 3, "kitchen/absent.jpg", r"image .*/Images/kitchen/absent\.jpg is missing"),
    ("TestImages.txt", 3, "bar/test_bar_0.jpg", r"bar/test_bar_0\.jpg is listed a second time"),
])
def test_indoor_list_errors_name_the_file_and_line(indoor, tmp_path, list_name, line, text, message):
    file = indoor / list_name
    lines = file.read_bytes().decode().split("\r\n")
    lines[line - 1] = text
    file.write_bytes("\r\n".join(lines).encode())
    with pytest.raises(DatasetError, match=f"{re.escape(str(file))}, line {line}: {message}"):
        export_indoor(indoor, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()


def test_indoor_missing_list_is_named(indoor, tmp_path):
    (indoor / "TestImages.txt").unlink()
    with pytest.raises(DatasetError, match=f"list {re.escape(str(indoor / 'TestImages.txt'))} does not exist"):
        export_indoor(indoor, tmp_path / "out")


# ------------------------------------------------------------------ Places

PLACES = {"a/abbey": (1, 4), "a/apartment_building/outdoor": (0, 3), "b/bar": (2, 5)}  # class: (label, images)


@pytest.fixture
def places(tmp_path):
    """root/<letter>/<class>[/<sub>]/<image> and a list of '/<path> <label>' lines, classes interleaved."""
    root = tmp_path / "places365_standard" / "data_256"
    lines = []
    for i in range(max(n for _, n in PLACES.values())):
        for name, (label, n) in PLACES.items():
            if i < n:
                path = f"{name}/{i + 1:08d}.jpg"
                write_image(root / path, 20 * label + i)
                lines.append(f"/{path} {label}")
    list_file = tmp_path / "places365_standard" / "places365_train_standard.txt"
    list_file.write_text("\n".join(lines) + "\n")
    return root, list_file


def test_places_export_numbers_classes_by_the_list_and_keeps_the_cap(places, tmp_path):
    root, list_file = places
    out = tmp_path / "results/data/places" / official.places_export_name(list_file)
    places_export(str(root), str(list_file), str(out))
    assert out.name == "places365_train_standard"
    folders = ["000.a_apartment_building_outdoor", "001.a_abbey", "002.b_bar"]
    assert sorted(p.name for p in out.iterdir()) == [*folders, "export.json"]
    record = json.loads((out / "export.json").read_text())
    assert record["splits"] == {"all": 12} and record["images_per_class"] == {"all": [3, 4, 5]}

    source_manifest(str(out), str(tmp_path / "all.csv"))
    manifest = pd.read_csv(tmp_path / "all.csv")
    listed = {line.split()[0].lstrip("/"): int(line.split()[1]) for line in list_file.read_text().splitlines()}
    assert len(manifest) == len(listed) == 12
    class_of = {label: name for name, (label, _) in PLACES.items()}
    for row in manifest.itertuples():
        relative = f"{class_of[row.label]}/{Path(row.path).name}"
        assert listed[relative] == row.label and os.path.samefile(row.path, root / relative)

    source_manifest(str(out), str(tmp_path / "capped.csv"), max_per_class=2)
    capped = pd.read_csv(tmp_path / "capped.csv")
    assert capped.groupby("label").size().tolist() == [2, 2, 2] and class_names(capped) == folders


@pytest.mark.parametrize(("line", "text", "message"), [
    (3, "/b/bar/00000001.jpg", r"'/b/bar/00000001\.jpg' is not '<path> <label>' with an integer label"),
    (3, "/b/bar/00000001.jpg two", r"'/b/bar/00000001\.jpg two' is not '<path> <label>'"),
    (4, "/a/abbey/00000002.jpg -1", r"label -1 is below 0"),
    (4, "/a/abbey/00000002.jpg 3", r"class 'a/abbey' has label 3 here, but 1 at line 1"),
    (4, "/a/abbey/00000002.jpg 2", r"label 2 is class 'a/abbey' here, but class 'b/bar' at line 3"),
    (2, "/a/apartment_building/outdoor/00000009.jpg 0", r"image .*/data_256/a/apartment_building/outdoor/00000009\.jpg is missing"),
])
def test_places_list_errors_name_the_file_and_line(places, tmp_path, line, text, message):
    root, list_file = places
    lines = list_file.read_text().splitlines()
    lines[line - 1] = text
    list_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=f"{re.escape(str(list_file))}, line {line}: {message}"):
        places_export(str(root), str(list_file), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()


def test_places_labels_must_not_skip(places, tmp_path):
    root, list_file = places
    list_file.write_text(list_file.read_text().replace(" 2\n", " 3\n"))
    with pytest.raises(DatasetError, match=r"no image has label 2 \(labels must run 0 to 3 without gaps\)"):
        places_export(str(root), str(list_file), str(tmp_path / "out"))


def test_without_hard_links_the_export_links_symbolically(places, tmp_path, monkeypatch):
    """Across file systems, or for a download owned by another user, the export holds symbolic links."""
    def refused(source, target):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(official.os, "link", refused)
    root, list_file = places
    out = tmp_path / "out"
    places_export(str(root), str(list_file), str(out))
    images = list(out.rglob("*.jpg"))
    assert len(images) == 12 and all(p.is_symlink() and Path(os.readlink(p)).is_absolute() for p in images)
    assert json.loads((out / "export.json").read_text())["links"] == {"hard": 0, "symbolic": 12}
    source_manifest(str(out), str(tmp_path / "m.csv"))
    assert all(Path(p).is_relative_to(root) for p in pd.read_csv(tmp_path / "m.csv").path), "resolved to the download"

    lines = list_file.read_text().splitlines()
    lines[0] = "/a/abbey/00000099.jpg 1"
    list_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"line 1: image .*00000099\.jpg is missing"):
        places_export(str(root), str(list_file), str(tmp_path / "again"))


# ------------------------------------------------------------------ config and the workflow


def test_one_export_per_dataset_folder():
    config = {"targets": {"a": {"kind": "stanford-dogs", "root": "data/dogs", "source": "s"},
                          "b": {"kind": "stanford-dogs", "root": "data/dogs/", "source": "s"}},
              "sources": {"s": {"kind": "places", "root": "p", "list": "lists/train_places205.csv"}}}
    check_kinds(config)  # the same folder, spelled with a trailing slash
    config["targets"]["b"]["root"] = "other/dogs"
    with pytest.raises(ValueError, match=r"config targets.b.root is 'other/dogs', but targets.a.root is 'data/dogs': "
                                         r"stanford-dogs is exported once, to results/data/stanford-dogs"):
        check_kinds(config)
    del config["targets"]["b"]
    config["sources"]["t"] = {"kind": "places", "root": "q", "list": "elsewhere/train_places205.csv"}
    with pytest.raises(ValueError, match=r"config sources.t.root is 'q', but sources.s.root is 'p'"):
        check_kinds(config)
    config["sources"]["t"]["list"] = "places365_train_standard.txt"  # another list: another export
    check_kinds(config)
    config["targets"]["a"]["kind"] = "places"
    with pytest.raises(ValueError, match="targets.a.kind is 'places', not a dataset kind of a target"):
        check_kinds(config)


def test_a_places_source_needs_its_list():
    from snakemake.utils import validate

    config = default_config()
    config["sources"]["p"] = {"kind": "places", "root": "data/places"}
    with pytest.raises(Exception, match="'list' is a required property"):
        validate(config, str(REPO / "config/schema.yaml"))


def official_config(dogs: Path, indoor: Path, places: tuple[Path, Path]) -> dict:
    config = default_config()
    config["targets"] = {"dogs": {"kind": "stanford-dogs", "root": str(dogs), "source": "places365"},
                         "indoor": {"kind": "mit-indoor67", "root": str(indoor), "source": "places365"}}
    config["sources"] = {"places365": {"kind": "places", "root": str(places[0]), "list": str(places[1]),
                                       "max_per_class": 2}}
    return config


def test_dry_run_plans_each_export_and_its_manifests(dogs, indoor, places, tmp_path):
    work = tmp_path / "work"
    write_config(work, official_config(dogs, indoor, places))
    result = snakemake(work, "-n", "-p", "--", "results/dogs/manifest/train.csv", "results/indoor/manifest/train.csv",
                       "results/source/places365/manifest.csv")
    out = result.stdout + result.stderr
    assert planned_jobs(out) == {"stanford_dogs_export": 1, "mit_indoor67_export": 1, "places_export": 1,
                                 "target_manifest": 2, "source_manifest": 1}
    assert (f"stanford-dogs-export --root {dogs} --train-list {dogs}/lists/train_list.mat "
            f"--test-list {dogs}/lists/test_list.mat --out results/data/stanford-dogs") in out
    assert f"mit-indoor67-export --root {indoor} --train-list {indoor}/TrainImages.txt" in out
    assert (f"places-export --root {places[0]} --list-file {places[1]} "
            "--out results/data/places/places365_train_standard") in out
    assert "--root results/data/stanford-dogs --train-split train --test-split test" in out
    assert "--root results/data/places/places365_train_standard --out results/source/places365/manifest.csv" in out
    assert "--max-per-class 2" in out


def test_a_changed_list_reruns_the_export(indoor, tmp_path):
    work = tmp_path / "work"
    config = default_config()
    config["targets"] = {"indoor": {"kind": "mit-indoor67", "root": str(indoor), "source": "demo"}}
    write_config(work, config)
    snakemake(work, "--", "results/indoor/manifest/train.csv")
    assert len(pd.read_csv(work / "results/indoor/manifest/train.csv")) == 9
    assert "Nothing to be done" in snakemake(work, "-n", "--", "results/indoor/manifest/train.csv").stdout

    listed = (indoor / "TrainImages.txt").read_text().splitlines()
    (indoor / "TrainImages.txt").write_text("\n".join(listed[1:]) + "\n")  # one image fewer
    plan = snakemake(work, "-n", "--", "results/indoor/manifest/train.csv").stdout
    assert planned_jobs(plan) == {"mit_indoor67_export": 1, "target_manifest": 1}
