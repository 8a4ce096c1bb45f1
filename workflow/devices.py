"""The device a training job runs on (``model.device``), and a claim on a free GPU of this machine.

Without a claim, every job on a machine with several GPUs opens ``cuda``, i.e. GPU 0. Instead a
job takes an exclusive ``flock`` on ``gpu-<uuid>.lock`` in a folder shared by the machine's jobs,
for the first of its visible GPUs that no other live process holds, and keeps the file open until
it exits. The kernel drops a flock when its process ends, however it ends: a killed job frees its
GPU at once and leaves no stale lock (the files stay, empty). ``snakemake --resources gpu=N``
keeps at most N training jobs running, each on a GPU of its own.

Under a scheduler that hands out GPUs (SLURM's ``--gpus`` sets CUDA_VISIBLE_DEVICES) a job sees
one device and claims it; the locks are named by UUID, so jobs on different GPUs of one node do
not wait for each other.
"""

from __future__ import annotations

import fcntl
import logging
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

log = logging.getLogger(__name__)

LOCKS_ENV = "SJFT_GPU_LOCKS"  # the lock folder, where the default does not suit (jobs of several users)
REPORT_SECONDS = 300  # while waiting for a GPU, say so this often

# (index, open lock file) of this process's claims: open, they hold their GPU until the process exits
_HELD: list[tuple[int, int]] = []


def lock_folder() -> Path:
    """$SJFT_GPU_LOCKS, or a folder of the user's in the temporary directory (another user's jobs
    could not create lock files in it)."""
    return Path(os.environ.get(LOCKS_ENV) or Path(tempfile.gettempdir()) / f"sjft-gpu-locks-{os.getuid()}")


def gpu_names() -> list[str]:
    """A name per visible CUDA device that every process gives the same GPU: its UUID.

    Not its index: jobs that a scheduler gives different GPUs of one node may each see theirs as
    device 0, and would wait for each other on one lock (UUIDs came with torch 2.4, the lowest we take).
    """
    properties = [torch.cuda.get_device_properties(index) for index in range(torch.cuda.device_count())]
    return [str(p.uuid) for p in properties]


def _open_lock(folder: Path, name: str) -> int:
    """The lock file of GPU ``name``, opened read-only (a flock needs no write access) and, when this
    process creates it, readable by every user, so that one folder's files serve the jobs of all."""
    path = folder / f"gpu-{name}.lock"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        pass
    else:
        os.fchmod(fd, 0o666)  # whatever the umask
        return fd
    try:
        return os.open(path, os.O_RDONLY)
    except PermissionError as error:
        raise ValueError(f"cannot open the GPU lock {path}: {error}; set {LOCKS_ENV} to a folder of your own") from error


def claim_gpu(gpus: Sequence[str], folder: str | os.PathLike | None = None, poll_seconds: float = 10.0) -> int:
    """The index in ``gpus`` (``gpu_names``) of a GPU that no other live process claimed; it stays
    claimed until this process exits. While all are claimed, waits (and logs it, then every
    REPORT_SECONDS), trying again every ``poll_seconds``. A process claims once: asked again, it
    keeps the GPU it holds (a second lock on its own file would wait for itself)."""
    if _HELD:
        return _HELD[0][0]
    folder = Path(folder) if folder is not None else lock_folder()
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        if folder.stat().st_uid == os.getuid():
            folder.chmod(0o1777 if os.environ.get(LOCKS_ENV) else 0o700)  # a shared folder: sticky, open to all
    waiting_since = reported = None
    while True:
        for index, name in enumerate(gpus):
            fd = _open_lock(folder, name)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _HELD.append((index, fd))
            if waiting_since is not None:
                log.info("claimed GPU %d after waiting %.0f s", index, time.monotonic() - waiting_since)
            return index
        now = time.monotonic()
        waiting_since = now if waiting_since is None else waiting_since
        if reported is None or now - reported >= REPORT_SECONDS:
            log.info("all %d GPUs are claimed by other jobs (locks in %s): waiting for one", len(gpus), folder)
            reported = now
        time.sleep(poll_seconds)


def forget_claims() -> None:
    """In a forked child (a decoding worker): close its copies of the claimed lock files. The claim
    stays the parent's (a flock lives as long as any descriptor of its open file), and ends with it."""
    for _, fd in _HELD:
        os.close(fd)
    _HELD.clear()


def _no_cuda(setting: str) -> ValueError:
    build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return ValueError(f"model.device is {setting}, but torch {torch.__version__} finds no CUDA device ({build}); "
                      "use model.device: auto or cpu to train on the CPU")


def pick_device(setting: str) -> torch.device:
    """The device of ``model.device``.

    auto: a claimed free GPU when CUDA is available, else the CPU; cuda: a claimed free GPU, an
    error without one; cuda:N: GPU N, unclaimed (how several jobs share one GPU); cpu: the CPU.
    """
    if setting in ("auto", "cuda"):
        if torch.cuda.is_available():
            device = torch.device("cuda", claim_gpu(gpu_names()))
            torch.cuda.set_device(device)  # the current device: where every unplaced CUDA call goes
            return device
        if setting == "cuda":
            raise _no_cuda(setting)
        log.info("model.device is auto and torch finds no CUDA device: training on the CPU")
        return torch.device("cpu")
    try:
        device = torch.device(setting)
    except RuntimeError as error:
        raise ValueError(f"model.device is {setting!r}, not a device: auto, cpu, cuda or cuda:N") from error
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"model.device is {setting!r}: auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and device.index is not None:
        if not torch.cuda.is_available():
            raise _no_cuda(setting)
        if device.index >= torch.cuda.device_count():
            raise ValueError(f"model.device is {setting}, but torch finds {torch.cuda.device_count()} CUDA "
                             f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        torch.cuda.set_device(device)
    return device


def device_record(device: torch.device) -> dict:
    """What a run trained on, for its train.json: the device, its name, the library versions, and
    the GPU index this process claimed (None: not claimed, e.g. cuda:N or the CPU)."""
    cuda = device.type == "cuda"
    claimed = [index for index, _ in _HELD]
    return {
        "device": str(device),
        "name": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "claimed_gpu": device.index if cuda and device.index in claimed else None,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
