"""kill -9 anywhere: a descriptor shard, the kNN job and a training job, each killed mid-way; the rerun
with --rerun-incomplete reproduces the uninterrupted run's outputs, and training resumes from its
last saved epoch rather than from scratch."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    copy_run,
    default_config,
    planned_jobs,
    snakemake,
    snakemake_command,
    write_config,
)

from workflow.io import read_h5

pytestmark = pytest.mark.slow
LAST = default_config()["selection"]["iterations"] - 1  # the iteration whose model.pt the run keeps

# the config changes below (batch size, memory, checkpoint interval) do not change results: only
# modification times decide what else reruns, so the killed job runs alone, as in a real failure
ONLY_THIS_JOB = ("--rerun-triggers", "mtime")


def kill_when(workdir: Path, output: str, ready: Callable[[], bool], timeout: float = 300) -> None:
    """Force ``output``'s job in a new process group and kill -9 the whole group (Snakemake and the
job, as a lost node would) once ``ready()``."""
    command, env = snakemake_command(workdir, *ONLY_THIS_JOB, "--force", "--", output)
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"the job for {output} ended before it could be killed"
        assert time.monotonic() < deadline, f"the job for {output} never became ready to kill"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    snakemake(workdir, "--unlock")  # Snakemake itself died too: its lock on the folder stays behind


def log_has(path: Path, text: str) -> Callable[[], bool]:
    return lambda: path.exists() and text in path.read_text()


def killed_run(demo_run: Path, folder: Path, **changes) -> Path:
    """A copy of the demo run whose config has ``changes`` (section -> {key: value})."""
    workdir = copy_run(demo_run, folder)
    config = default_config()
    for section, values in changes.items():
        config[section].update(values)
    write_config(workdir, config)
    return workdir


def test_killed_descriptor_shard_is_redone_identically(demo_run, tmp_path):
    output = "results/demo/bank-gabor/hist/source/shard-1.h5"
    workdir = killed_run(demo_run, tmp_path / "run", descriptors={"batch_size": 2})
    log = workdir / "logs/descriptors/demo-source-1.log"  # the job of shard 1, for every bank
    log.unlink()
    kill_when(workdir, output, log_has(log, " images ("))  # the first progress line: mid-shard

    rerun = snakemake(workdir, *ONLY_THIS_JOB, "--rerun-incomplete", "--", output)
    assert planned_jobs(rerun.stdout + rerun.stderr) == {"descriptors": 1}  # the killed job, and only it, ran again
    before, after = read_h5(demo_run / output), read_h5(workdir / output)
    assert np.array_equal(before["hist"], after["hist"]) and np.array_equal(before["index"], after["index"])


def test_killed_knn_job_is_redone_identically(demo_run, tmp_path):
    output = "results/demo/bank-gabor/knn.h5"
    workdir = killed_run(demo_run, tmp_path / "run", retrieval={"memory_mb": budget_of_a_few_sources(demo_run)})
    log = workdir / "logs/knn/demo-gabor.log"
    log.unlink()
    kill_when(workdir, output, log_has(log, "source shard 1/2 done"))

    rerun = snakemake(workdir, *ONLY_THIS_JOB, "--rerun-incomplete", "--", output)
    assert planned_jobs(rerun.stdout + rerun.stderr) == {"knn": 1}
    before, after = read_h5(demo_run / output), read_h5(workdir / output)
    assert np.array_equal(before["ids"], after["ids"]) and np.array_equal(before["distances"], after["distances"])


def test_killed_training_job_resumes_from_its_last_epoch(demo_run, tmp_path):
    folder = f"results/demo/bank-gabor/selective/seed-0/iter-{LAST}"  # kept: iterations before it are retrained first
    workdir = killed_run(demo_run, tmp_path / "run", train={"checkpoint_seconds": 0})
    state = workdir / folder / "resume.pt"
    kill_when(workdir, f"{folder}/model.pt", state.exists)
    saved_epoch = torch.load(state, weights_only=False)["epoch"]

    rerun = snakemake(workdir, *ONLY_THIS_JOB, "--rerun-incomplete", "--", f"{folder}/model.pt")
    assert planned_jobs(rerun.stdout + rerun.stderr) == {"train": 1}
    log = (workdir / f"logs/train/demo/bank-gabor/selective-0-{LAST}.log").read_text()
    assert f"after epoch {saved_epoch + 1}" in log and "epoch 1/" not in log  # resumed, not restarted
    assert not state.exists()
    before = flat(torch.load(demo_run / folder / "model.pt", weights_only=True))
    after = flat(torch.load(workdir / folder / "model.pt", weights_only=True))
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before if isinstance(before[name], torch.Tensor))


def flat(state: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in state.items():
        out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def budget_of_a_few_sources(demo_run: Path, per_block: int = 3) -> float:
    """A retrieval.memory_mb whose blocks hold ``per_block`` source images (the demo's kNN then takes many)."""
    from workflow.retrieval import TopK, response_weights

    targets = read_h5(demo_run / "results/demo/bank-gabor/hist/target/shard-0.h5")
    k = read_h5(demo_run / "results/demo/bank-gabor/knn.h5", ["ids"])["ids"].shape[1]
    top = TopK(targets["hist"], response_weights(list(targets["attr:layer_sizes"])), k, 1e-4)
    mb = 0.01
    while True:
        try:
            if top.block_size(mb) >= per_block:
                return mb
        except ValueError:  # below the fixed part
            pass
        mb *= 1.01


def test_sigint_to_snakemake_alone_stops_training_which_saves_its_step_and_resumes(demo_run, tmp_path):
    """Snakemake's local executor waits for running jobs when interrupted; the Snakefile forwards
    the SIGINT, so the training job saves its state at once and the rerun continues it. (Longer
    epochs than the demo's: only this job reruns, as --rerun-triggers mtime leaves the others.)"""
    # iteration 0: its model.pt, asked for by name, stays; 300 epochs: long enough to stop mid-way
    folder, epochs = "results/demo/bank-gabor/selective/seed-0/iter-0", 300
    workdir = killed_run(demo_run, tmp_path / "run", train={"checkpoint_seconds": 3600, "epochs_per_iteration": epochs})
    log = workdir / "logs/train/demo/bank-gabor/selective-0-0.log"
    log.unlink()  # the copied run's log: the new one tells when this job trains
    command, env = snakemake_command(workdir, *ONLY_THIS_JOB, "--force", "--", f"{folder}/model.pt")
    # SIGINT as a terminal's Snakemake gets it (pytest may run where it is ignored, under nohup)
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not log_has(log, "epoch 2/")():
        assert process.poll() is None and time.monotonic() < deadline, "training never started"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGINT)  # Snakemake's process only, not its group
    assert process.wait(timeout=120) != 0
    text = log.read_text()
    assert "stopped on SIGINT" in text and f"epoch {epochs}/{epochs}" not in text, text[-2000:]
    assert torch.load(workdir / folder / "resume.pt", weights_only=False)["partial"]["batch"] > 0

    rerun = snakemake(workdir, *ONLY_THIS_JOB, "--rerun-incomplete", "--", f"{folder}/model.pt")
    assert planned_jobs(rerun.stdout + rerun.stderr) == {"train_step": 1}
    text = log.read_text()  # continued, not restarted (tests/test_resume.py: to the uninterrupted weights)
    assert "after mini-batch" in text and f"epoch {epochs}/{epochs}" in text and "epoch 1/" not in text
