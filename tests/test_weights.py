"""Library weights without a network in the jobs: the jobs build torchvision and timm networks from
the library's own cache (a fake cached file here, every way to the network blocked), a missing file
names rule fetch_weights, the fetch stage records the file, and the plan holds one local fetch per
weight set, ahead of the jobs that read it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket

import pytest
import torch
from conftest import default_config, planned_jobs, snakemake, write_config

from workflow import backbones, weights
from workflow.cli import main

RESNET18_URL_FILE = "resnet18-f37072fd.pth"  # the basename of ResNet18_Weights.DEFAULT.url
TIMM_REPO = "timm/resnet18.a1_in1k"  # timm's default ImageNet weights of resnet18


class NetworkUsed(AssertionError):
    pass


def refuse(*args, **kwargs):
    raise NetworkUsed(f"network access: {args[:2]}")


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torchvision and Hugging Face caches, and no way to the network."""
    from huggingface_hub import constants, file_download

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(file_download, "hf_hub_download", refuse)
    import timm.models._hub

    monkeypatch.setattr(timm.models._hub, "hf_hub_download", refuse)
    return tmp_path


@pytest.fixture
def job(monkeypatch):
    """As in a Snakemake job: library weights from the cache only."""
    monkeypatch.setenv(weights.OFFLINE_SWITCH, "1")


def cached_torchvision_resnet18(caches) -> dict:
    """A random ResNet-18 state dict saved where torchvision caches its ImageNet weights."""
    import torchvision

    assert os.path.basename(torchvision.models.ResNet18_Weights.DEFAULT.url) == RESNET18_URL_FILE
    state = torchvision.models.resnet18().state_dict()
    path = caches / "torch" / "hub" / "checkpoints" / RESNET18_URL_FILE
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return state


def cached_timm_resnet18(caches) -> dict:
    """A random timm ResNet-18 state dict laid out as the Hugging Face cache holds a download."""
    import safetensors.torch
    import timm

    state = timm.create_model("resnet18").state_dict()
    repo = caches / "hf" / "hub" / f"models--{TIMM_REPO.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    safetensors.torch.save_file(state, repo / "snapshots" / commit / "model.safetensors")
    return state


def assert_built_from(built: backbones.Backbone, state: dict, classifier: str) -> None:
    mine = built.network.state_dict()
    body = [k for k in state if not k.startswith(classifier)]
    assert body and all(torch.equal(mine[k], state[k]) for k in body)
    assert torch.equal(built.imagenet_classifier.weight, state[f"{classifier}.weight"])


def test_a_job_builds_torchvision_weights_from_the_cache_alone(caches, job):
    state = cached_torchvision_resnet18(caches)
    assert_built_from(backbones.create("resnet18", "imagenet"), state, "fc")


def test_a_job_builds_timm_weights_from_the_cache_alone(caches, job):
    state = cached_timm_resnet18(caches)
    assert_built_from(backbones.create("timm/resnet18", "imagenet"), state, "fc")


def test_a_missing_cache_names_the_cache_and_rule_fetch_weights(caches, job):
    with pytest.raises(weights.WeightsNotCached) as error:
        backbones.create("resnet18", "imagenet")
    message = str(error.value)
    for part in ("model resnet18", RESNET18_URL_FILE, str(caches / "torch" / "hub" / "checkpoints"), "TORCH_HOME",
                 "fetch_weights", "results/weights/resnet18-imagenet.json", "share"):
        assert part in message
    with pytest.raises(weights.WeightsNotCached, match=r"HF_HOME.*results/weights/timm/resnet18-imagenet\.json"):
        backbones.create("timm/resnet18", "imagenet")
    with pytest.raises(weights.WeightsNotCached, match="results/weights/alexnet-imagenet.json"):
        backbones.create("alexnet", "imagenet")  # bank.cnn.model alexnet


def test_outside_snakemake_the_library_downloads_on_first_use(caches):
    """Bare use (tests, `python -m workflow train` by hand): the switch is unset, torchvision fetches."""
    with pytest.raises(NetworkUsed):
        backbones.create("resnet18", "imagenet")


def test_the_fetch_stage_downloads_into_the_cache_and_records_the_file(caches, monkeypatch):
    calls = []

    def download(url, destination, hash_prefix=None):  # what torch.hub does, without the network
        calls.append((url, hash_prefix))
        torch.save({"w": torch.ones(3)}, destination)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    out = caches / "results" / "weights" / "resnet18-imagenet.json"
    assert main(["fetch-weights", "--arch", "resnet18", "--weights", "imagenet", "--out", str(out)]) == 0
    path = caches / "torch" / "hub" / "checkpoints" / RESNET18_URL_FILE
    # the URL of ResNet18_Weights.DEFAULT, with the sha256 prefix torchvision checks on download
    assert calls == [(f"https://download.pytorch.org/models/{RESNET18_URL_FILE}", "f37072fd")]
    record = json.loads(out.read_text())
    assert record == {"library": "torchvision", "arch": "resnet18", "weights": "imagenet", "source": calls[0][0],
                      "file": str(path), "size": path.stat().st_size,
                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    # fetched once: a second fetch finds the file and downloads nothing
    assert main(["fetch-weights", "--arch", "resnet18", "--weights", "imagenet", "--out", str(out)]) == 0
    assert len(calls) == 1


def test_the_fetch_stage_records_a_cached_timm_file(caches):
    cached_timm_resnet18(caches)
    out = caches / "record.json"
    assert main(["fetch-weights", "--arch", "timm/resnet18", "--weights", "imagenet", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["library"] == "timm" and record["file"].endswith("/model.safetensors")
    assert record["file"].startswith(str(caches / "hf" / "hub" / "models--timm--resnet18.a1_in1k" / "snapshots"))
    assert main(["fetch-weights", "--arch", "tiny_resnet", "--weights", "imagenet", "--out", str(out)]) == 1


def test_only_downloaded_weights_have_a_record():
    assert weights.record_of("resnet18", "imagenet") == "results/weights/resnet18-imagenet.json"
    assert weights.record_of("tf_efficientnet_lite0", "alexnet") == "results/weights/alexnet-imagenet.json"
    for start in ("efficientnet-lite", "scratch", "results/source/demo/pretrain/model.pt"):
        assert weights.record_of("tf_efficientnet_lite0", start) is None


def planned(output: str) -> list[tuple[str, list[str], str]]:
    """(rule, inputs, output folder) of every job of a dry run."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", output):
        rule = re.match(r"rule (\w+):", block)
        if rule:
            inputs = re.search(r"\n\s+input: (.*)", block)
            outputs = re.search(r"\n\s+output: ([^,\n]*)", block)
            jobs.append((rule.group(1), inputs.group(1).split(", ") if inputs else [],
                         os.path.dirname(outputs.group(1)) if outputs else ""))
    return jobs


def test_an_imagenet_init_plans_one_local_fetch_per_weight_set_before_its_jobs(tmp_path):
    config = default_config()
    config["model"].update(arch="resnet18", init="imagenet")
    config["bank"]["cnn"]["model"] = "alexnet"
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", "--", "results/demo/report.csv")
    assert planned_jobs(result.stdout)["fetch_weights"] == 2
    resnet, alexnet = "results/weights/resnet18-imagenet.json", "results/weights/alexnet-imagenet.json"
    jobs = planned(result.stdout)
    assert sorted(folder for rule, _, folder in jobs if rule == "fetch_weights") == ["results/weights"] * 2
    bounds = {folder: inputs for rule, inputs, folder in jobs if rule == "bounds"}
    assert alexnet in bounds["results/demo/bank-cnn"] and resnet not in bounds["results/demo/bank-cnn"]
    assert not {resnet, alexnet} & set(bounds["results/demo/bank-gabor"])
    trains = {folder: inputs for rule, inputs, folder in jobs if rule in ("train", "train_step")}
    for folder, inputs in trains.items():
        method, iteration = folder.split("/")[-3], int(folder[-1])
        # the ImageNet weights start iteration 0, and a regularizer's anchor is them in every iteration
        reads = "scratch" not in method and (iteration == 0 or method.endswith(("l2sp", "knowdist")))
        assert (resnet in inputs) == reads, folder
    assert planned_jobs(snakemake(tmp_path, "-n", "weights").stdout)["fetch_weights"] == 2  # `snakemake weights`


def test_the_demo_plans_no_fetch(tmp_path):
    write_config(tmp_path, default_config())
    result = snakemake(tmp_path, "-n", "--", "results/demo/report.csv")
    assert "fetch_weights" not in planned_jobs(result.stdout) and "results/weights/" not in result.stdout
