"""Torchvision targets without a network: fake dataset classes, the export, the holdout carve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar
from urllib.error import URLError

import numpy as np
import pandas as pd
import pytest
import torchvision
from conftest import default_config, snakemake, write_config
from PIL import Image

from workflow.datasets import DatasetError, class_names
from workflow.stages.data import target_manifest, torchvision_export
from workflow.tvdatasets import carve_per_class, safe_folder_names

FLOWER_CLASSES = ["pink primrose", "hard-leaved pocket orchid", "canterbury bells"]  # not in sorted order
FLOWER_COUNTS = {"train": 2, "val": 1, "test": 3}


class FakeFlowers102:
    """Flowers102's interface: JPEG files 'downloaded' under root, a ``loader`` of their paths."""

    calls: ClassVar[list[dict]] = []
    classes = FLOWER_CLASSES

    def __init__(self, root, split="train", transform=None, target_transform=None, download=False,
                 loader=Image.open):
        FakeFlowers102.calls.append({"root": root, "split": split, "download": download})
        folder = Path(root) / "flowers-102" / "jpg"
        folder.mkdir(parents=True, exist_ok=True)
        self.samples = []
        for j in range(FLOWER_COUNTS[split]):
            for label in (2, 0, 1):  # labels interleaved, as in the real lists
                path = folder / f"{split}_{label}_{j}.jpg"
                if not path.exists():
                    Image.new("RGB", (9, 7), (80 * label, 20 * j, len(split))).save(path, quality=90)
                self.samples.append((str(path), label))
        self.loader = loader

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return self.loader(path), label


CALTECH_SIZES = {"001.ak47": 5, "002.american-flag": 7, "003.backpack": 6}


class FakeCaltech256:
    """Caltech256's interface: no splits, no loader, ``categories`` and ``y``, lazily opened files."""

    calls: ClassVar[list[dict]] = []

    def __init__(self, root, transform=None, target_transform=None, download=False):
        FakeCaltech256.calls.append({"root": root, "download": download})
        self.root = Path(root) / "caltech256" / "256_ObjectCategories"
        self.categories = list(CALTECH_SIZES)
        self.y, self.index = [], []
        for label, (category, n) in enumerate(CALTECH_SIZES.items()):
            (self.root / category).mkdir(parents=True, exist_ok=True)
            for i in range(1, n + 1):
                path = self._path(label, category, i)
                if not path.exists():
                    Image.new("RGB", (6, 6), (label * 60, i * 30, 7)).save(path)
            self.y += [label] * n
            self.index += range(1, n + 1)

    def _path(self, label, category, i):
        return self.root / category / f"{label + 1:03d}_{i:04d}.jpg"

    def __len__(self):
        return len(self.y)

    def __getitem__(self, index):
        label = self.y[index]
        return Image.open(self._path(label, self.categories[label], self.index[index])), label


class FakePets:
    """OxfordIIITPet's interface: decoded RGB images without a file behind them."""

    classes: ClassVar[list[str]] = ["Abyssinian", "American Bulldog"]

    def __init__(self, root, split="trainval", target_types="category", transforms=None, transform=None,
                 target_transform=None, download=False):
        self.n = {"trainval": 3, "test": 2}[split]

    def __len__(self):
        return 2 * self.n

    def __getitem__(self, index):
        return Image.new("RGB", (5, 4), (index, 2 * index, 3)), index % 2


@pytest.fixture
def fakes(monkeypatch):
    FakeFlowers102.calls.clear()
    FakeCaltech256.calls.clear()
    monkeypatch.setattr(torchvision.datasets, "Flowers102", FakeFlowers102)
    monkeypatch.setattr(torchvision.datasets, "Caltech256", FakeCaltech256)
    monkeypatch.setattr(torchvision.datasets, "OxfordIIITPet", FakePets)


def folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_flowers_export_keeps_splits_labels_and_files(fakes, tmp_path):
    data_dir, out = tmp_path / "downloads", tmp_path / "results/data/torchvision/Flowers102"
    torchvision_export("Flowers102", str(data_dir), str(out), None, 0)

    assert FakeFlowers102.calls == [{"root": str(data_dir), "split": s, "download": True} for s in ("train", "val", "test")]
    expected = ["000.pink_primrose", "001.hard-leaved_pocket_orchid", "002.canterbury_bells"]
    assert folders(out) == ["export.json", "test", "train", "val"]
    for split, n in FLOWER_COUNTS.items():
        assert folders(out / split) == expected
        for folder in expected:
            files = sorted((out / split / folder).iterdir())
            assert len(files) == n and all(f.suffix == ".jpg" for f in files)
    summary = json.loads((out / "export.json").read_text())
    assert summary["splits"] == {s: 3 * n for s, n in FLOWER_COUNTS.items()}

    # the exported file is the downloaded one, byte for byte, under its index in the split
    fake = FakeFlowers102(str(data_dir), split="test")
    for index, (path, label) in enumerate(fake.samples):
        exported = out / "test" / expected[label] / f"{index:05d}.jpg"
        assert exported.read_bytes() == Path(path).read_bytes()

    # from here on it is an ImageFolder target: the manifest keeps torchvision's label order
    target_manifest(str(out), str(tmp_path / "manifest"), "train", "test")
    train = pd.read_csv(tmp_path / "manifest/train.csv")
    test = pd.read_csv(tmp_path / "manifest/test.csv")
    assert class_names(train) == expected and class_names(test) == expected
    for _, row in test.iterrows():
        assert fake.samples[int(Path(row.path).stem)][1] == row.label
    assert len(train) == 6 and len(test) == 9


def test_images_without_a_file_are_written_as_png(fakes, tmp_path):
    out = tmp_path / "Pets"
    torchvision_export("OxfordIIITPet", str(tmp_path / "dl"), str(out), None, 0)
    assert folders(out) == ["export.json", "test", "trainval"]
    image = out / "trainval" / "001.American_Bulldog" / "00003.png"
    assert np.array_equal(np.asarray(Image.open(image)), np.asarray(FakePets("x")[3][0]))


def caltech_split(out: Path) -> dict[str, set[str]]:
    return {s: {str(p.relative_to(out / s)) for p in (out / s).rglob("*.jpg")} for s in ("train", "test")}


def test_caltech_carve_is_fixed_disjoint_and_per_class(fakes, tmp_path):
    torchvision_export("Caltech256", str(tmp_path / "dl"), str(tmp_path / "a"), 3, 0)
    torchvision_export("Caltech256", str(tmp_path / "dl"), str(tmp_path / "b"), 3, 0)
    torchvision_export("Caltech256", str(tmp_path / "dl"), str(tmp_path / "c"), 3, 1)
    assert all(call["download"] for call in FakeCaltech256.calls)
    a, b, c = (caltech_split(tmp_path / x) for x in "abc")
    assert a == b, "the same seed carves the same split"
    assert a != c, "another seed carves another split"
    assert not a["train"] & a["test"]
    assert len(a["train"] | a["test"]) == sum(CALTECH_SIZES.values())
    expected = ["000.ak47", "001.american-flag", "002.backpack"]
    assert folders(tmp_path / "a" / "train") == expected
    for folder, n in zip(expected, CALTECH_SIZES.values()):
        assert len(list((tmp_path / "a/train" / folder).iterdir())) == 3
        assert len(list((tmp_path / "a/test" / folder).iterdir())) == n - 3
    assert json.loads((tmp_path / "a/export.json").read_text())["train_per_class"] == 3


def test_caltech_default_and_too_few_images(fakes, tmp_path):
    with pytest.raises(DatasetError, match=r"train_per_class is 60, but class '000\.ak47' has only 5"):
        torchvision_export("Caltech256", str(tmp_path / "dl"), str(tmp_path / "out"), None, 0)
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()


def test_unknown_dataset_lists_the_known_ones(tmp_path):
    with pytest.raises(DatasetError, match="'Flowers103' is not a known torchvision dataset: Flowers102, .*Caltech256"):
        torchvision_export("Flowers103", str(tmp_path), str(tmp_path / "out"), None, 0)


def test_failed_download_names_the_network_and_folder(monkeypatch, tmp_path):
    class Offline(FakeFlowers102):
        def __init__(self, root, split="train", download=False, loader=None):
            raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "Flowers102", Offline)
    with pytest.raises(DatasetError) as error:
        torchvision_export("Flowers102", str(tmp_path / "dl"), str(tmp_path / "out"), None, 0)
    assert "network" in str(error.value) and str(tmp_path / "dl") in str(error.value)


def test_folder_names_are_safe_distinct_and_sorted_by_label():
    names = safe_folder_names([f"F/A-{i}" for i in range(12)] + ["..", "Boeing 737"])
    assert names[0] == "000.F_A-0" and names[12] == "012" and names[13] == "013.Boeing_737"
    assert sorted(names) == names and len(set(names)) == len(names)
    assert all("/" not in n and " " not in n for n in names)


# ------------------------------------------------------------------ holdout carve


@pytest.fixture
def small_tree(tmp_path):
    """root/train/{ant: 5, bee: 4, cat: 6}; no test folder at all."""
    root = tmp_path / "data"
    for name, n in (("ant", 5), ("bee", 4), ("cat", 6)):
        (root / "train" / name).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (4, 4), (i, 0, 0)).save(root / "train" / name / f"{i}.png")
    return root


def test_holdout_carve_is_deterministic_disjoint_and_never_reads_test(small_tree, tmp_path):
    for run in ("a", "b"):
        target_manifest(str(small_tree), str(tmp_path / run), "train", "test", holdout_per_class=2, holdout_seed=0)
    train, test = (pd.read_csv(tmp_path / "a" / f"{s}.csv") for s in ("train", "test"))
    assert train.equals(pd.read_csv(tmp_path / "b/train.csv")) and test.equals(pd.read_csv(tmp_path / "b/test.csv"))
    assert test.groupby("class_name").size().to_dict() == {"ant": 2, "bee": 2, "cat": 2}
    assert train.groupby("class_name").size().to_dict() == {"ant": 3, "bee": 2, "cat": 4}
    assert not set(train.path) & set(test.path)
    assert len(set(train.path) | set(test.path)) == 15
    assert train["index"].tolist() == list(range(9)) and test["index"].tolist() == list(range(6))
    assert class_names(train) == class_names(test) == ["ant", "bee", "cat"]

    target_manifest(str(small_tree), str(tmp_path / "c"), "train", "test", holdout_per_class=2, holdout_seed=1)
    assert not pd.read_csv(tmp_path / "c/test.csv").path.equals(test.path)


def test_holdout_folds_validate_on_every_training_image_once(small_tree, tmp_path):
    """k-fold carves: the validation folds are disjoint, cover the train split, and split classes evenly."""
    validated = []
    for fold in range(3):
        target_manifest(str(small_tree), str(tmp_path / f"f{fold}"), "train", "test", holdout_folds=3, holdout_fold=fold)
        train, test = (pd.read_csv(tmp_path / f"f{fold}" / f"{s}.csv") for s in ("train", "test"))
        assert not set(train.path) & set(test.path) and len(train) + len(test) == 15
        assert set(test.groupby("class_name").size()) <= {1, 2}  # 4, 5 or 6 images dealt to 3 folds
        validated += test.path.tolist()
    assert len(validated) == len(set(validated)) == 15
    with pytest.raises(DatasetError, match="holdout_folds is 5, but class 1 has only 4 images"):
        target_manifest(str(small_tree), str(tmp_path / "m"), "train", "test", holdout_folds=5, holdout_fold=0)


def test_holdout_needs_images_left_to_train(small_tree, tmp_path):
    with pytest.raises(DatasetError, match=r"holdout_per_class is 4, but class 'bee' has only 4 images"):
        target_manifest(str(small_tree), str(tmp_path / "m"), "train", "test", holdout_per_class=4)


def test_carve_per_class_draws_from_each_class_alone():
    labels = np.array([0, 1, 0, 1, 0, 1, 2, 2, 2])
    chosen = carve_per_class(labels, 1, 5, "k")
    assert np.bincount(labels[chosen]).tolist() == [1, 1, 1]
    # dropping class 2 leaves the draws of classes 0 and 1 as they were
    assert np.array_equal(carve_per_class(labels[:6], 1, 5, "k"), chosen[:6])


# ------------------------------------------------------------------ the workflow


def torchvision_config(**target) -> dict:
    config = default_config()
    config["targets"] = {"flowers": {"kind": "torchvision", "name": "Flowers102", "source": "demo", **target}}
    config["data_dir"] = "downloads/tv"
    return config


def test_dry_run_reaches_the_manifest_through_the_export(tmp_path):
    write_config(tmp_path, torchvision_config(holdout_per_class=2))
    result = snakemake(tmp_path, "-n", "-p", "--", "results/flowers/manifest/train.csv")
    out = result.stdout + result.stderr
    assert "rule torchvision_export" in out and "rule target_manifest" in out
    assert "--name Flowers102 --split-seed 0 --data-dir downloads/tv --out results/data/torchvision/Flowers102" in out
    assert "--root results/data/torchvision/Flowers102 --train-split train --test-split test" in out
    assert "--holdout-per-class 2 --holdout-seed 0" in out
    assert not (tmp_path / "downloads").exists()


def test_unknown_dataset_name_is_refused_with_the_key(tmp_path):
    write_config(tmp_path, torchvision_config(name="Flowers103"))
    result = snakemake(tmp_path, "-n", "--", "results/flowers/manifest/train.csv", check=False)
    assert result.returncode != 0
    assert "targets.flowers.name is 'Flowers103', not a known torchvision dataset: Flowers102" in result.stdout + result.stderr
