"""Resumable training: a fit() interrupted after an epoch and rerun ends with the uninterrupted weights."""

import dataclasses
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from conftest import REPO

from workflow.joint import TrainSettings, fit
from workflow.loading import PairLoader
from workflow.model import build_model
from workflow.resume import Resume, fingerprint
from workflow.stopping import Stopped

SIZE = 16


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    """Noisy red and blue target images, and source images of three other colours."""
    folder = tmp_path_factory.mktemp("resume")
    rng = np.random.default_rng(0)

    def image(name, base):
        array = np.clip(np.array(base) + rng.integers(-30, 31, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(array).save(folder / name)
        return str(folder / name)

    targets = [(image(f"t{label}{i}.png", base), label) for label, base in enumerate([(200, 40, 40), (40, 40, 200)])
               for i in range(6)]
    sources = [(image(f"s{label}{i}.png", base), label) for label, base in enumerate([(40, 200, 40), (200, 200, 40), (90, 90, 90)])
               for i in range(4)]
    neighbours = [np.array([t % 12, (t + 5) % 12]) for t in range(len(targets))]
    return targets, sources, neighbours


def model():
    torch.manual_seed(1)
    return build_model("resnet18", {"target": ["r", "b"], "source": ["g", "y", "k"]}, "scratch")


SETTINGS = TrainSettings(epochs=4, batch_size=4, lr=0.02, head_lr_mult=10.0, lr_step=0.5, momentum=0.9, weight_decay=1e-4,
                         input_size=SIZE, flip=True, crop_padding=2, freeze_bn=False, workers=0, seed=5, source_weight=1.0,
                         precision="auto", deterministic=False, jpeg_draft=True,
                         dtnh=True, regularizer="l2sp", alpha=0.01, beta=0.01)


def train(problem, resume=None, settings=SETTINGS):
    net = model()
    targets, sources, neighbours = problem
    stats = fit(net, targets, settings, "cpu", sources, neighbours, anchor=model(), resume=resume)
    return net, stats


@pytest.mark.parametrize("workers", [0, 2])
def test_interrupted_fit_resumes_to_the_uninterrupted_weights(problem, tmp_path, monkeypatch, workers):
    settings = dataclasses.replace(SETTINGS, workers=workers)
    expected, expected_stats = train(problem, settings=settings)
    resume = Resume(tmp_path / "resume.pt", "job", every_seconds=0)
    original = PairLoader.epochs

    def dies_in_epoch_2(self, epochs, skip=0):
        for epoch in epochs:
            if epoch == 2:
                raise KeyboardInterrupt("killed")  # as if the job died before epoch 2 ended
            yield from original(self, [epoch], skip)
            skip = 0

    monkeypatch.setattr(PairLoader, "epochs", dies_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(problem, resume, settings)
    assert torch.load(tmp_path / "resume.pt", weights_only=False)["epoch"] == 1  # epochs 0 and 1 were saved

    epochs_run = []

    def recorded(self, epochs, skip=0):
        epochs_run.extend(epochs)
        return original(self, epochs, skip)

    monkeypatch.setattr(PairLoader, "epochs", recorded)
    resumed, stats = train(problem, Resume(tmp_path / "resume.pt", "job", every_seconds=0), settings)

    assert epochs_run == [2, 3]  # not from scratch
    for (name, a), (_, b) in zip(expected.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert stats["images_seen"] == expected_stats["images_seen"]
    assert stats["projected_steps"] == expected_stats["projected_steps"]
    assert curves(stats) == curves(expected_stats)  # epochs.csv's rows survive the resume


def curves(stats) -> list[dict]:
    """The epochs.csv rows of a fit, less their speed (the only column that depends on the clock)."""
    return [{k: v for k, v in row.items() if k != "images_per_s"} for row in stats["epochs"]]


def test_a_state_from_another_job_is_ignored(problem, tmp_path):
    Resume(tmp_path / "resume.pt", "other settings", every_seconds=0).save({"epoch": 3}, last_epoch=False)
    assert Resume(tmp_path / "resume.pt", "this job").load() is None
    expected, _ = train(problem)
    again, _ = train(problem, Resume(tmp_path / "resume.pt", "this job", every_seconds=0))
    assert all(torch.equal(a, b) for a, b in zip(expected.state_dict().values(), again.state_dict().values()))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "not a dict"])
def test_an_unreadable_state_is_set_aside_named_and_the_job_starts_over(problem, tmp_path, caplog, damage):
    """A truncated resume.pt blocked every rerun ("PytorchStreamReader failed reading zip archive")."""
    path = tmp_path / "resume.pt"
    Resume(path, "job", every_seconds=0).save({"epoch": 1, "model": model().state_dict()})
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    else:
        torch.save([1, 2, 3], path)
    damaged = path.read_bytes()
    expected, _ = train(problem)
    with caplog.at_level("WARNING", logger="workflow.resume"):
        again, _ = train(problem, Resume(path, "job", every_seconds=0))
    assert f"{path} cannot be read" in caplog.text and "starting afresh" in caplog.text
    assert (tmp_path / "resume.pt.unreadable").read_bytes() == damaged
    assert all(torch.equal(a, b) for a, b in zip(expected.state_dict().values(), again.state_dict().values()))


def test_fingerprint_follows_settings_and_file_contents(tmp_path):
    data = tmp_path / "table.csv"
    data.write_text("a,b\n1,2\n")
    first = fingerprint({"lr": 0.1}, [str(data), None])
    assert fingerprint({"lr": 0.1}, [str(data), None]) == first
    assert fingerprint({"lr": 0.2}, [str(data), None]) != first
    data.write_text("a,b\n1,3\n")
    assert fingerprint({"lr": 0.1}, [str(data), None]) != first


def test_done_removes_the_state(tmp_path):
    resume = Resume(tmp_path / "resume.pt", "job", every_seconds=0)
    resume.save({"epoch": 0}, last_epoch=False)
    assert (tmp_path / "resume.pt").exists() and not (tmp_path / "resume.pt.partial").exists()
    resume.done()
    assert not (tmp_path / "resume.pt").exists()


def test_a_stop_request_saves_the_step_and_the_rerun_ends_with_the_uninterrupted_weights(problem, tmp_path, monkeypatch):
    """SIGINT in epoch 2 (of 4) after its second step: fit saves that step's state and raises
    Stopped (checkpoints otherwise every hour); the rerun skips the steps done and ends bit-identical."""
    expected, expected_stats = train(problem)
    steps = []
    original_step = torch.optim.SGD.step

    def step_then_signal(self, *args, **kwargs):
        result = original_step(self, *args, **kwargs)
        steps.append(1)
        if len(steps) == 3 * 3 + 2:  # 12 targets in batches of 4: 3 steps per epoch
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(torch.optim.SGD, "step", step_then_signal)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (pytest may run under nohup)
    try:
        with pytest.raises(Stopped, match="stopped on SIGINT in epoch 4 of 4, after mini-batch 2"):
            train(problem, Resume(tmp_path / "resume.pt", "job", every_seconds=3600))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.setattr(torch.optim.SGD, "step", original_step)
    saved = torch.load(tmp_path / "resume.pt", weights_only=False)
    assert saved["epoch"] == 2 and saved["partial"]["batch"] == 2

    resumed, stats = train(problem, Resume(tmp_path / "resume.pt", "job", every_seconds=3600))
    for (name, a), (_, b) in zip(expected.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert stats["images_seen"] == expected_stats["images_seen"]
    assert stats["final_loss"] == expected_stats["final_loss"]


# a fit with two decoding processes that runs until stopped, its state saved to argv[3] on a stop request
LONG_FIT = """
import dataclasses, json, logging, sys
from pathlib import Path
from workflow.joint import TrainSettings, fit
from workflow.model import build_model
from workflow.resume import Resume
from workflow.stopping import Stopped
logging.basicConfig(level=logging.INFO)
settings = TrainSettings(**json.loads(sys.argv[2]))
model = build_model("resnet18", {"target": ["r", "b"]}, "scratch")
try:
    fit(model, [tuple(item) for item in json.loads(sys.argv[1])], settings, "cpu", resume=Resume(Path(sys.argv[3]), "job", 3600))
except Stopped:
    sys.exit(130)
"""


def test_sigterm_to_the_jobs_process_group_saves_the_state_with_decoding_workers(problem, tmp_path):
    """A batch system's time limit or scancel sends SIGTERM to the whole job, its decoding
    processes included: they leave it to the loop, which saves its state and stops (exit 130)."""
    targets, _, _ = problem
    settings = dataclasses.asdict(dataclasses.replace(SETTINGS, epochs=500, workers=2, regularizer="none", dtnh=False))
    command = [sys.executable, "-c", LONG_FIT, json.dumps(targets), json.dumps(settings), str(tmp_path / "resume.pt")]
    job = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for line in job.stderr:  # trains: its second epoch has started
            if "epoch 1/500" in line:
                break
        os.killpg(job.pid, signal.SIGTERM)
        _, errors = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert job.returncode == 130, errors[-2000:]
    assert (tmp_path / "resume.pt").exists()
