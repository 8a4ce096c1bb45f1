"""Paths and names reach every job's shell quoted: spaces, quotes and `$(...)` in data roots and a
target name with a space run the whole workflow, and nothing in them is executed."""

from __future__ import annotations

import pytest
from conftest import default_config, snakemake, write_config
from PIL import Image

HOSTILE = "data dir/it's $(touch PWNED)"


def image_tree(root, classes, per_class, green=90):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (12, 12), (40 * c + 10 * i, green, 200 - 30 * c)).save(root / name / f"{i}.png")


@pytest.mark.slow
def test_hostile_roots_and_a_target_name_with_a_space_run_end_to_end(tmp_path):
    target_root, source_root = tmp_path / HOSTILE / "target", tmp_path / HOSTILE / "source pool"
    image_tree(target_root / "train", ["ant", "bee"], 3)
    image_tree(target_root / "test", ["ant", "bee"], 2)
    image_tree(source_root, ["cat", "dog", "eel"], 4, green=150)  # no byte copy of a test image: none is kept out
    config = default_config()
    config["targets"] = {"my tgt": {"kind": "imagefolder", "root": str(target_root), "source": "my pool"}}
    config["sources"] = {"my pool": {"kind": "imagefolder", "root": str(source_root)}}
    config["bank"].update(names=["gabor"], image_size=12)
    config["descriptors"]["source_shards"] = 2
    config["selection"].update(k0=2, iterations=2)
    config["model"].update(init="scratch", input_size=12)
    config["train"].update(epochs_per_iteration=1, batch_size=4)
    config["methods"] = ["finetune", "selective", "l2sp"]
    workdir = tmp_path / "work dir"
    write_config(workdir, config)
    snakemake(workdir, "--", "results/my tgt/report.csv")
    assert (workdir / "results" / "my tgt" / "report.csv").exists()
    assert not list(tmp_path.rglob("PWNED")), "a path reached a shell unquoted and ran"
    assert not list(workdir.glob("*.log")), "a log went to a stray file"
