"""The paper's four targets plan as their configs promise: a dry run of config/paper.yaml with each
target's config, against a generated fake ImageNet folder and fake official list files (written in
the official formats), checked stage by stage: one descriptor job per shard, the banks, the kNN
lists' length from the target's K0, the iterations, the methods, the recipe's training settings."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, planned_jobs, snakemake, write_config
from scipy.io import savemat
from snakemake.utils import update_config

from workflow.methods import METHODS
from workflow.plan.layout import parse_run_folder

PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())


def paper_config(target_config: str) -> dict:
    """config/paper.yaml and a target's config, merged as Snakemake merges two --configfile files."""
    config = copy.deepcopy(PAPER)
    update_config(config, yaml.safe_load((REPO / "config" / target_config).read_text()))
    return config


def fake_data(root: Path) -> None:
    """The folders the configs name, holding a few files in the official layouts and formats."""
    for wnid in ("n01440764", "n01443537", "n02085620"):
        (root / "data/imagenet/train" / wnid).mkdir(parents=True)
        (root / "data/imagenet/train" / wnid / f"{wnid}_1.JPEG").write_bytes(b"")
    dogs = root / "data/stanford-dogs"
    (dogs / "lists").mkdir(parents=True)
    for split in ("train", "test"):
        files = np.array([["n02085620-Chihuahua/n02085620_5927.jpg"]], dtype=object).T
        savemat(dogs / "lists" / f"{split}_list.mat", {"file_list": files, "annotation_list": files,
                                                       "labels": np.array([[1]], dtype=np.uint8)})
    indoor = root / "data/mit-indoor67"
    indoor.mkdir(parents=True)
    (indoor / "TrainImages.txt").write_text("kitchen/int474.jpg\r\n")
    (indoor / "TestImages.txt").write_text("kitchen/int475.jpg\r\n")
    places = root / "data/places205"
    (places / "images256").mkdir(parents=True)
    (places / "train_places205.csv").write_text("a/abbey/00000000.jpg 0\n")


def dry_run(tmp_path: Path, target_config: str, *outputs: str) -> tuple[dict, str]:
    fake_data(tmp_path)
    write_config(tmp_path, paper_config(target_config))
    result = snakemake(tmp_path, "-n", "-p", "--", *outputs)
    return planned_jobs(result.stdout), result.stdout


def commands(output: str, stage: str) -> list[str]:
    return re.findall(rf"python -m workflow (?:--threads \d+ )?{stage} .*", output)


def settings_of(command: str) -> dict:
    return json.loads(re.search(r"--settings '(\{.*?\})'", command).group(1))


def trained_runs(config: dict) -> int:
    """Run folders with training jobs: every method but fusion, selective once per bank."""
    banks = len(config["bank"]["names"])
    return sum(banks if METHODS[name].per_bank else 1 for name in config["methods"] if METHODS[name].trained)


CASES = {  # config -> (report outputs, K0 per target)
    "flowers102.yaml": (["flowers102"], {"flowers102": 300}),
    "stanford-dogs.yaml": (["stanford-dogs"], {"stanford-dogs": 100}),
    "caltech256.yaml": ([f"caltech256-{n}" for n in (15, 30, 45, 60)],
                        {"caltech256-15": 100, "caltech256-30": 50, "caltech256-45": 50, "caltech256-60": 50}),
    "mit-indoor67.yaml": (["mit-indoor67", "mit-indoor67-places"], {"mit-indoor67": 100, "mit-indoor67-places": 100}),
}


@pytest.mark.parametrize("target_config", sorted(CASES))
def test_each_paper_config_plans_the_papers_setting(tmp_path, target_config):
    targets, k0 = CASES[target_config]
    config = paper_config(target_config)
    jobs, output = dry_run(tmp_path, target_config, *(f"results/{t}/report.csv" for t in targets))
    banks, iterations, shards = config["bank"]["names"], config["selection"]["iterations"], 64
    n = len(targets)
    assert iterations == 5 and config["descriptors"]["source_shards"] == shards
    # one descriptor job per shard (every bank's histograms from one decode) and the target's own
    assert jobs["descriptors"] == n * (shards + 1)
    assert jobs["bounds"] == jobs["knn"] == n * len(banks)
    assert jobs["train"] + jobs["train_step"] == n * trained_runs(config) * iterations
    assert jobs["fetch_weights"] == 2  # resnet152's and alexnet's ImageNet weights, each once
    assert jobs["report"] == n
    # the audit: every target against its pool, whose fingerprints are computed once (Indoor's two pools: 2 x 64)
    assert jobs["leakage"] == n and jobs["source_fingerprints"] == shards * len({config["targets"][t]["source"]
                                                                                   for t in targets})
    for command in commands(output, "knn"):  # K0 + 4 sigma0 = 17 K0 per ranked list
        target = re.search(r"--out results/(\S+)/bank-", command).group(1)
        assert f"--k {17 * k0[target]} " in command
        assert "--exclude-splits test" in command and f"--exclude results/{target}/leakage.csv" in command
    for command in commands(output, "neighbours"):
        target, iteration = re.search(r"--out results/(\S+?)/\S+/iter-(\d+)/neighbours.csv", command).groups()
        if "--entropy" in command:  # later iterations: the paper's increments, 4 K0 and 2 K0
            assert f"--sigma0 {4 * k0[target]} --sigma1 {2 * k0[target]} " in command and iteration != "0"
        elif "--knn" in command:  # iteration 0, or no mining: the target's K0 nearest
            assert f"--k0 {k0[target]} " in command
    for command in commands(output, "train"):
        settings = settings_of(command)
        assert settings["steps"] == 6000 and settings["epochs"] == 0 and settings["accumulate"] == 10
        assert settings["batch_size"] == 10 and settings["lr_drops"] == [3000, 5000] and settings["lr"] == 0.01
        assert settings["augmentation"] == "scale" and settings["scale_sizes"] == [256, 480]
        assert settings["test_resize"] == 256 and settings["test_crops"] == 10 and settings["input_size"] == 224
        assert "--arch resnet152" in command
    folders = re.search(r"--run-folders (.*?) --", commands(output, "report")[0]).group(1).split()
    assert {parse_run_folder(folder)[0].split("/")[-1] for folder in folders} == set(config["methods"])


def test_the_report_warns_where_the_weights_were_pretrained_on_the_pool(tmp_path):
    """ImageNet weights with the ImageNet pool saw its copies of Dogs' test images; Places is not their pretraining set."""
    _, output = dry_run(tmp_path, "mit-indoor67.yaml", "results/mit-indoor67/report.html",
                        "results/mit-indoor67-places/report.html")
    pages = {re.search(r"--target-name (\S+)", c).group(1): c for c in commands(output, "report-html")}
    assert "--pretraining-pool True" in pages["mit-indoor67"]
    assert "--pretraining-pool False" in pages["mit-indoor67-places"]


def test_the_indoor_config_borrows_from_imagenet_and_from_places(tmp_path):
    jobs, output = dry_run(tmp_path, "mit-indoor67.yaml", "results/mit-indoor67-places/bank-cnn/knn.h5",
                           "results/mit-indoor67/bank-cnn/knn.h5")
    assert jobs["places_export"] == jobs["mit_indoor67_export"] == 1 and jobs["source_manifest"] == 2
    assert "results/source/places205/manifest.csv" in output and "results/source/imagenet/manifest.csv" in output


def test_caltech_carves_are_exported_side_by_side(tmp_path):
    jobs, output = dry_run(tmp_path, "caltech256.yaml", *(f"results/caltech256-{n}/manifest/train.csv"
                                                          for n in (15, 30, 45, 60)))
    assert jobs["torchvision_export"] == 4
    for n in (15, 30, 45, 60):
        assert f"--train-per-class {n} " in output
        assert f"results/data/torchvision/Caltech256-{n}-per-class-seed-0" in output
