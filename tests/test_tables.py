"""The tables of methods, filter banks and dataset kinds: lookups that name what is unknown,
the settings each row builds, and the README rows of every method."""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO, default_config

from workflow.banks import BANKS, check_banks
from workflow.banks import lookup as bank_spec
from workflow.kinds import KINDS, images_folder, made_folders, relations, user_root
from workflow.methods import FUSION, METHODS, SELECTIVE, check_methods, lookup, uses_bank


def test_unknown_method_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="'mixup'.*finetune, scratch"):
        lookup("mixup")
    with pytest.raises(ValueError, match="config methods: 'mixup' is not a method"):
        check_methods(["finetune", "mixup"])


def test_methods_that_read_another_need_it():
    with pytest.raises(ValueError, match="fusion averages the selective iterations; add selective"):
        check_methods(["finetune", FUSION])
    with pytest.raises(ValueError, match="joint-random matches selective's counts; add selective"):
        check_methods(["joint-random"])
    check_methods(list(METHODS))


def test_bank_use():
    assert [m for m, spec in METHODS.items() if spec.per_bank] == [SELECTIVE, FUSION]
    assert [m for m in METHODS if uses_bank(m)] == ["selective-noiter", "selective", "selective-scratch",
                                                 "selective-dtnh", "fusion"]


def test_every_method_has_a_readme_row():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Methods", 1)[1].split("\n## ", 1)[0]
    rows = {name for line in section.splitlines() if line.startswith("| `")
            for name in re.findall(r"`([\w-]+)`", line.split("|")[1])}
    assert set(METHODS) == rows


def test_bank_settings_are_unchanged():
    """The settings JSON of each bank, as bounds jobs got them before the table: a change
    would rerun every user's descriptors."""
    config = default_config()
    settings = {name: json.dumps(bank.settings(config, "results/source/demo/pretrain/model.pt"), sort_keys=True)
                for name, bank in BANKS.items()}
    assert settings["gabor"] == '{"frequencies": [0.05, 0.1, 0.2, 0.4], "orientations": 6, "pyramid": true}'
    assert settings["cnn"] == (f'{{"activation": false, "arch": "{config["model"]["arch"]}", "layers": null, '
                               '"model": "results/source/demo/pretrain/model.pt"}')
    config["bank"]["cnn"]["model"] = "alexnet"
    assert bank_spec("cnn").settings(config, "imagenet")["model"] == "alexnet"
    assert bank_spec("cnn").network({"model": "alexnet"}) == "alexnet" and bank_spec("gabor").network({}) is None


def test_unknown_bank_is_named():
    with pytest.raises(ValueError, match="unknown filter bank 'sift'.*known: gabor, cnn"):
        bank_spec("sift")
    config = default_config()
    config["bank"]["names"] = ["sift"]
    with pytest.raises(ValueError, match="config bank.names: 'sift' is not a filter bank"):
        check_banks(config)


def test_bank_sections_are_checked_and_completed_by_their_rows_schema():
    """A bank's config section has one home, its row: keys, checks and defaults."""
    config = default_config()
    del config["bank"]["gabor"]["pyramid"]
    config["bank"]["cnn"] = {"model": "alexnet"}
    check_banks(config)
    assert config["bank"]["gabor"]["pyramid"] is True
    assert config["bank"]["cnn"] == {"model": "alexnet", "layers": None, "activation": False}

    def refused(change) -> str:
        config = default_config()
        change(config["bank"])
        with pytest.raises(ValueError) as error:
            check_banks(config)
        return str(error.value)

    assert "config bank.gabor.orientations: 0 is less than the minimum of 1" in refused(
        lambda bank: bank["gabor"].update(orientations=0))
    assert "config bank.cnn: Additional properties are not allowed ('colour' was unexpected)" in refused(
        lambda bank: bank["cnn"].update(colour=True))
    assert "config bank.gabr: 'gabr' is not a filter bank; known: gabor, cnn" in refused(
        lambda bank: bank.update(gabr={"orientations": 4}))
    assert "config bank.cnn is missing" in refused(lambda bank: bank.pop("cnn"))
    assert "config bank.gabor: 'frequencies' is a required property" in refused(lambda bank: bank["gabor"].pop("frequencies"))


def test_dataset_kinds():
    demo, folder = {"kind": "demo"}, {"kind": "imagefolder", "root": "data/x"}
    flowers = {"kind": "torchvision", "name": "Flowers102"}
    assert images_folder("target", demo) == "results/data/demo/target" and made_folders("source", demo) == [
        "results/data/demo/source"]
    assert images_folder("target", flowers) == "results/data/torchvision/Flowers102" and user_root(flowers) is None
    assert images_folder("source", folder) == "data/x" and made_folders("source", folder) == []
    assert user_root(folder) == "data/x"
    assert relations(demo) == "results/data/demo/relations.csv" and relations(folder) is None
    assert relations({**folder, "relations": "r.csv"}) == "r.csv"
    assert set(KINDS) == {"demo", "imagefolder", "torchvision", "stanford-dogs", "mit-indoor67", "places"}
    places = {"kind": "places", "root": "data/places365", "list": "data/places365_train_standard.txt"}
    assert made_folders("source", places) == ["results/data/places/places365_train_standard"] and user_root(places) is None
    with pytest.raises(ValueError, match="unknown dataset kind 'hf'"):
        images_folder("target", {"kind": "hf"})
