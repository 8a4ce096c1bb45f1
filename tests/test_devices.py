"""GPU claims and model.device, on the CPU: device counts are simulated, no CUDA is touched."""

import fcntl
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO

from workflow import devices
from workflow.devices import claim_gpu, device_record, lock_folder, pick_device

# a job that claims GPU "a" and trains for a minute
HOLD = ("import sys, time; from workflow.devices import claim_gpu; print(claim_gpu(['a'], sys.argv[1]), flush=True); "
        "time.sleep(60)")


@pytest.fixture(autouse=True)
def claims(monkeypatch):
    """This test's claims, released after it (a job's last until it exits)."""
    held = []
    monkeypatch.setattr(devices, "_HELD", held)
    yield held
    for _, fd in held:
        os.close(fd)


@pytest.fixture
def two_gpus(monkeypatch, tmp_path):
    """torch as on a machine with two GPUs, its locks in tmp_path."""
    monkeypatch.setenv(devices.LOCKS_ENV, str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace(uuid=f"uuid-{index}"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Simulated GPU")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91000)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def held_elsewhere(path) -> bool:
    """Whether another open file holds the lock on ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_two_claims_get_different_gpus(tmp_path, claims):
    first = claim_gpu(["a", "b"], tmp_path)
    first_job = claims[:]  # from here on another process's claim (flocks are per open file)
    claims.clear()
    second = claim_gpu(["a", "b"], tmp_path)
    claims += first_job
    assert {first, second} == {0, 1}


def test_a_killed_jobs_gpu_is_free_again(tmp_path):
    job = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert job.stdout.readline().strip() == "0"
        assert held_elsewhere(tmp_path / "gpu-a.lock")
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
    assert not held_elsewhere(tmp_path / "gpu-a.lock")
    assert claim_gpu(["a"], tmp_path) == 0


def test_a_claim_waits_until_a_gpu_frees(tmp_path, caplog):
    other_job = os.open(tmp_path / "gpu-a.lock", os.O_RDONLY | os.O_CREAT)
    fcntl.flock(other_job, fcntl.LOCK_EX)
    threading.Timer(1.0, os.close, [other_job]).start()  # the other job ends after a second
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="workflow.devices"):
        assert claim_gpu(["a"], tmp_path, poll_seconds=0.05) == 0
    assert 0.9 < time.monotonic() - started < 3
    assert sum("waiting for one" in message for message in caplog.messages) == 1  # said once, not every poll


def test_gpus_are_locked_by_name_not_index(tmp_path):
    """Two jobs that a scheduler gave one GPU each, both seen as device 0, do not wait for each other."""
    assert claim_gpu(["uuid-a"], tmp_path, poll_seconds=60) == 0
    assert claim_gpu(["uuid-b"], tmp_path, poll_seconds=60) == 0


def test_the_lock_folder_is_the_users_unless_set(monkeypatch, tmp_path):
    monkeypatch.delenv(devices.LOCKS_ENV, raising=False)
    assert lock_folder().name == f"sjft-gpu-locks-{os.getuid()}"
    monkeypatch.setenv(devices.LOCKS_ENV, str(tmp_path))
    assert lock_folder() == tmp_path


def test_jobs_on_two_gpus_claim_one_each(two_gpus, claims):
    first = pick_device("auto")
    first_job = claims[:]  # from here on another process's claim
    claims.clear()
    second = pick_device("cuda")
    assert pick_device("cuda") == second  # asked again, a job keeps its GPU (and does not wait for itself)
    claims += first_job  # released after the test
    assert (first, second) == (torch.device("cuda", 0), torch.device("cuda", 1))
    assert device_record(second)["claimed_gpu"] == 1
    assert device_record(second)["name"] == "Simulated GPU"


def test_a_numbered_gpu_is_not_claimed_and_must_exist(two_gpus):
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    assert device_record(torch.device("cuda", 1))["claimed_gpu"] is None
    with pytest.raises(ValueError, match="model.device is cuda:2, but torch finds 2 CUDA device"):
        pick_device("cuda:2")


def test_cuda_without_a_gpu_is_refused_naming_the_setting(no_cuda):
    for setting in ("cuda", "cuda:0"):
        message = f"model.device is {setting}, but torch {torch.__version__} finds no CUDA device"
        with pytest.raises(ValueError, match=re.escape(message)):
            pick_device(setting)


def test_auto_without_a_gpu_is_the_cpu(no_cuda):
    assert pick_device("auto") == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")


def test_an_unknown_device_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="model.device is 'gpu', not a device"):
        pick_device("gpu")


def test_the_record_names_the_libraries(no_cuda):
    record = device_record(pick_device("auto"))
    assert record["device"] == "cpu" and record["torch"] == torch.__version__ and record["claimed_gpu"] is None
    assert set(record) >= {"name", "cuda", "cudnn"}


def test_a_shared_lock_folder_serves_every_user(monkeypatch, tmp_path):
    """A folder named by SJFT_GPU_LOCKS that a job creates is sticky and open to all, and its lock
    files readable by all whatever the umask: another user's job can open and lock them."""
    shared = tmp_path / "locks"
    monkeypatch.setenv(devices.LOCKS_ENV, str(shared))
    previous = os.umask(0o077)
    try:
        assert claim_gpu(["a", "b"]) == 0
    finally:
        os.umask(previous)
    assert shared.stat().st_mode & 0o7777 == 0o1777
    assert (shared / "gpu-a.lock").stat().st_mode & 0o777 == 0o666


def test_a_decoding_worker_leaves_the_claim_to_its_parent(tmp_path):
    """A forked child (a DataLoader worker) closes its copies of the lock files; the parent's claim
    stays until the parent goes."""
    claim_gpu(["a"], tmp_path)
    child = os.fork()
    if child == 0:  # the worker
        devices.forget_claims()
        os._exit(0 if not devices._HELD else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert held_elsewhere(tmp_path / "gpu-a.lock")
