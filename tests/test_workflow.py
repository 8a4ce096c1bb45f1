"""End to end: the demo workflow as a user runs it, its report, and what reruns after a change."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import copy_run, default_config, planned_jobs, snakemake, write_config

from workflow.io import read_h5



ALL_METHODS = {"finetune", "scratch", "joint-all", "joint-random", "selective-noiter", "selective", "selective-scratch",
               "fusion", "selective-dtnh", "l2sp", "dtnh-l2sp", "knowdist", "dtnh-knowdist"}


def runs_table(demo_run) -> pd.DataFrame:
    return pd.read_csv(demo_run / "results/demo/runs.csv", keep_default_na=False, na_values=[""])


def test_demo_report_compares_every_method(demo_run):
    config = default_config()
    iterations = config["selection"]["iterations"]
    assert set(config["methods"]) == ALL_METHODS and config["bank"]["names"] == ["gabor", "cnn"]
    runs = runs_table(demo_run)
    report = pd.read_csv(demo_run / "results/demo/report.csv")
    expected = {(m, "gabor" if m.startswith("selective") or m == "fusion" else "") for m in ALL_METHODS}
    expected |= {("selective", "cnn"), ("fusion", "cnn")}
    assert set(zip(runs.method, runs.bank.fillna(""))) == expected
    for (method, bank), rows in runs.groupby(["method", runs.bank.fillna("")]):
        wanted = [iterations - 1] if method == "fusion" else list(range(iterations))
        assert sorted(rows.iteration) == wanted, (method, bank)
    assert len(report) == len(runs) and (report.n_seeds == 1).all()  # one seed: report rows are the runs
    assert runs[["top1", "mean_class_acc"]].apply(lambda c: c.between(0, 1)).all().all()
    chance = 1 / 9  # nine demo target classes
    pretrained = runs[~runs.method.str.contains("scratch")]
    assert (pretrained.top1 > 2 * chance).all(), pretrained
    assert (runs[runs.method.str.contains("scratch")].top1 > chance).all()
    paired = pd.read_csv(demo_run / "results/demo/paired.csv", keep_default_na=False)
    # each bank's selective and fusion against every other row, in mean-class and top-1 accuracy
    assert len(paired) == 2 * 2 * 2 * (len(expected) - 1)
    assert set(paired.verdict) <= {"better", "tied", "worse"}
    assert (paired.verdict_from == "bootstrap over test images").all()  # one seed: the verdicts read the test images


def test_ablations_borrow_what_they_claim(demo_run):
    runs = runs_table(demo_run)
    pool = len(pd.read_csv(demo_run / "results/source/demo/manifest.csv"))
    joint_all = runs[runs.method == "joint-all"]
    assert (joint_all.n_source_images == pool).all() and (joint_all.mean_k == pool).all()
    k0 = default_config()["selection"]["k0"]
    noiter = runs[runs.method == "selective-noiter"]
    assert (noiter.mean_k == k0).all(), "without mining K stays K0"
    selective = runs[(runs.method == "selective") & (runs.bank == "gabor")]
    assert selective.mean_k.iloc[-1] > k0
    for bank in ("gabor", "cnn"):
        assert len(read_h5(demo_run / f"results/demo/bank-{bank}/knn.h5")["ids"]) == 45


def test_selective_retrieves_related_source_classes(demo_run):
    runs = runs_table(demo_run)
    selective = runs[(runs.method == "selective") & (runs.bank == "gabor")]
    random = runs[runs.method == "joint-random"]
    assert (selective.retrieval_precision > 3 * selective.random_precision).all(), selective
    # random borrowing stays near the random rate, and borrows as many pairs as selective
    assert (abs(random.retrieval_precision - random.random_precision) < 0.1).all(), random
    assert list(random.n_pairs) == list(selective.n_pairs)
    assert (selective.n_pairs.diff().dropna() >= 0).all(), "K never shrinks over iterations"


def test_neighbour_counts_follow_the_entropy_rule(demo_run):
    config = default_config()["selection"]
    k0 = config["k0"]
    run = demo_run / "results/demo/bank-gabor/selective/seed-0"
    entropy = pd.read_csv(run / "iter-0/entropy.csv")
    assert (entropy.k == k0).all()
    grow = np.where(~entropy.correct, 4 * k0, np.where(entropy.entropy >= config["delta"], 2 * k0, 0))
    table = pd.read_csv(run / "iter-1/neighbours.csv")
    counts = np.bincount(table.target_index, minlength=len(entropy))
    assert (counts == k0 + grow).all()
    knn = read_h5(demo_run / "results/demo/bank-gabor/knn.h5")
    first = table[table.target_index == 0].sort_values("rank").source_index.to_numpy()
    assert (first == knn["ids"][0, : len(first)]).all(), "iteration lists are prefixes of the kNN ranking"


def test_descriptors_are_deterministic(demo_run, tmp_path):
    """Recomputing a source shard by hand reproduces the workflow's file exactly."""
    out = tmp_path / "again.h5"
    subprocess.run(
        [sys.executable, "-m", "workflow", "descriptors",
         "--manifest", str(demo_run / "results/source/demo/manifest.csv"),
         "--bounds", str(demo_run / "results/demo/bank-gabor/bounds.h5"),
         "--out", str(out), "--shard", "0", "--shards", "2", "--batch-size", "7", "--workers", "0"],
        check=True, capture_output=True,
    )
    before = read_h5(demo_run / "results/demo/bank-gabor/hist/source/shard-0.h5")
    again = read_h5(out)
    assert np.array_equal(before["hist"], again["hist"]) and np.array_equal(before["index"], again["index"])


def test_every_iteration_records_what_it_trained_on(demo_run):
    """train.json's device (workflow/devices.py): the device, its libraries, the claimed GPU."""
    records = [json.loads(path.read_text())["device"] for path in (demo_run / "results/demo").rglob("train.json")]
    assert records and all(r["torch"] == torch.__version__ and r["device"].split(":")[0] in ("cpu", "cuda")
                           and "claimed_gpu" in r for r in records)


LAST = default_config()["selection"]["iterations"] - 1  # the iteration whose model.pt the run keeps


@pytest.mark.parametrize("output", ["results/source/demo/pretrain/model.pt",
                                    f"results/demo/bank-gabor/selective/seed-0/iter-{LAST}/model.pt"])
def test_training_is_reproducible(demo_run, tmp_path, output):
    """Rerunning a training job with the same config reproduces its weights exactly (for the last
    iteration, after retraining the earlier ones, whose model.pt the run deleted once read)."""
    workdir = copy_run(demo_run, tmp_path / "again")
    snakemake(workdir, "--force", "--", output)
    before = torch.load(demo_run / output, weights_only=True)
    again = torch.load(workdir / output, weights_only=True)
    for part in ("backbone", "heads"):
        flat_before, flat_again = _flatten(before[part]), _flatten(again[part])
        assert flat_before.keys() == flat_again.keys()
        assert all(torch.equal(flat_before[k], flat_again[k]) for k in flat_before), f"{output}: {part} differs"


def _flatten(state: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in state.items():
        out.update(_flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def jobs_after_change(demo_run, workdir, section: str, key: str, value) -> dict[str, int]:
    """The jobs a dry run plans in a copy of the demo run after setting config[section][key]."""
    copy_run(demo_run, workdir)
    config = default_config()
    config[section][key] = value
    write_config(workdir, config)
    return planned_jobs(snakemake(workdir, "-n", "--", "results/demo/report.csv").stdout)


def test_changing_bins_reruns_descriptors_and_everything_downstream(demo_run, tmp_path):
    jobs = jobs_after_change(demo_run, tmp_path / "bins", "bank", "bins", 16)
    assert {"bounds", "descriptors", "knn", "neighbours", "train", "fusion", "report"} <= set(jobs)
    assert not {"demo_data", "target_manifest", "source_manifest", "pretrain"} & set(jobs)


@pytest.mark.parametrize(("section", "key", "value", "bounds"), [
    ("bank", "gabor", {**default_config()["bank"]["gabor"], "orientations": 4}, 1),
    ("descriptors", "jpeg_draft", False, 2),
])
def test_changing_one_bank_reruns_its_bounds_and_every_shard(demo_run, tmp_path, section, key, value, bounds):
    """A descriptor job writes every bank's shard from one decode (rules/descriptors.smk): one bank's
    change reruns its bounds, then every shard job, so both banks' kNN indexes and selective runs.
    jpeg_draft, stored in every bounds.h5, reruns both banks' bounds."""
    jobs = jobs_after_change(demo_run, tmp_path / "bank", section, key, value)
    shards = default_config()["descriptors"]["source_shards"]
    assert jobs["bounds"] == bounds and jobs["descriptors"] == 1 + shards and jobs["knn"] == 2
    assert jobs["fusion"] == 2  # both banks' selective runs follow
    assert not {"demo_data", "target_manifest", "source_manifest", "pretrain"} & set(jobs)


def test_changing_learning_rate_reruns_training_only(demo_run, tmp_path):
    jobs = jobs_after_change(demo_run, tmp_path / "lr", "train", "lr", 0.02)
    iterations = default_config()["selection"]["iterations"]
    trained = [m for m in default_config()["methods"] if m != "fusion"] + ["selective (cnn bank)"]
    assert jobs["train"] + jobs["train_step"] == len(trained) * iterations
    # iteration 0's neighbours do not depend on training, nor do those of selective-noiter;
    # later ones follow the new entropies (joint-random matches selective's new counts)
    mining = ["selective (gabor)", "selective (cnn)", "selective-scratch", "selective-dtnh", "joint-random"]
    assert jobs["neighbours"] == len(mining) * (iterations - 1)
    assert not {"demo_data", "target_manifest", "source_manifest", "bounds", "descriptors", "knn", "pretrain"} & set(jobs)


@pytest.mark.parametrize(("section", "key", "value"), [("train", "workers", 2), ("pretrain", "workers", 1)])
def test_changing_decoding_workers_reruns_nothing(demo_run, tmp_path, section, key, value):
    """Workers change no result (tests/test_joint.py), so a change of them, which the threads of
    the training jobs follow, leaves every finished job alone."""
    assert jobs_after_change(demo_run, tmp_path / "workers", section, key, value) == {}


def test_changing_the_entropy_threshold_reruns_the_mining_runs_only(demo_run, tmp_path):
    """delta reaches only the neighbour tables of mining iterations (a setting beside the input
    files: Snakemake leaves params computed from input files out of its rerun trigger)."""
    jobs = jobs_after_change(demo_run, tmp_path / "delta", "selection", "delta", 0.3)
    iterations = default_config()["selection"]["iterations"]
    mining = ["selective (gabor)", "selective (cnn)", "selective-scratch", "selective-dtnh", "joint-random"]
    assert jobs["neighbours"] == len(mining) * (iterations - 1)
    # their later iterations retrain, after iteration 0 is retrained for its model.pt (deleted once read)
    assert jobs["train"] + jobs["train_step"] == len(mining) * iterations
    assert jobs["fusion"] == 2 and jobs["report"] == 1
    assert not {"target_manifest", "source_manifest", "bounds", "descriptors", "knn", "pretrain"} & set(jobs)


def test_only_the_last_iterations_models_stay(demo_run):
    last = default_config()["selection"]["iterations"] - 1
    models = sorted(str(p.relative_to(demo_run / "results")) for p in (demo_run / "results").rglob("model.pt"))
    trained = [m for m in default_config()["methods"] if m != "fusion"] + ["selective (cnn bank)"]
    assert len(models) == len(trained) + 1, models  # and the pretrained model
    assert all(m.endswith(f"iter-{last}/model.pt") for m in models if m != "source/demo/pretrain/model.pt"), models


def test_keep_models_all_keeps_every_iteration(tmp_path):
    config = default_config()
    config["train"]["keep_models"] = "all"
    write_config(tmp_path, config)
    jobs = planned_jobs(snakemake(tmp_path, "-n", "--", "results/demo/report.csv").stdout)
    trained = [m for m in config["methods"] if m != "fusion"] + ["selective (cnn bank)"]
    assert "train_step" not in jobs and jobs["train"] == len(trained) * config["selection"]["iterations"]


def test_unchanged_config_has_nothing_to_do(demo_run):
    assert "Nothing to be done" in snakemake(demo_run, "-n", "--", "results/demo/report.csv").stdout
