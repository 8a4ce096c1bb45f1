"""Resumable training: fit()'s state at the end of an epoch (or at the step where a stop request
came: workflow.stopping), written atomically, reloaded by a rerun.

A training job killed mid-way (node failure, wall time, kill -9) leaves ``resume.pt`` beside
its outputs; Snakemake's rerun (``--rerun-incomplete``) starts the same job, which picks up after
the last saved epoch instead of from scratch. The result is the uninterrupted run's, bit for
bit: data order and augmentation are drawn from (seed, epoch, image), not from a running
generator, so the model, optimizer, scheduler and torch random states are all there is to restore.

The file records a fingerprint of everything the job's result depends on (its settings and the
contents of its input files); a state from another job (changed settings, a retrained previous
iteration) is ignored, never resumed; an unreadable one (truncated by a full disk, say) is set
aside as ``resume.pt.unreadable`` and the job starts over. The job deletes the file once its
outputs are written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .io import write_torch

log = logging.getLogger(__name__)


def fingerprint(settings: dict, files: list[str | None]) -> str:
    """sha256 of the settings (as sorted JSON) and of each input file's bytes."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for name in files:
        if name and Path(name).is_file():
            with open(name, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        else:
            digest.update(repr(name).encode())
    return digest.hexdigest()


@dataclass
class Resume:
    """Where fit() saves its state, the job's fingerprint, and how often (seconds; 0: every epoch)."""

    path: Path
    fingerprint: str
    every_seconds: float = 300.0
    _last: float = field(default_factory=time.perf_counter)

    def load(self) -> dict | None:
        """The saved state if it belongs to this job, else None."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=False)  # our own file
            if not isinstance(state, dict):
                raise TypeError(f"a {type(state).__name__}, not the dict fit() saves")
        except Exception as error:  # truncated, corrupt, or not ours: torch raises many kinds
            aside = self.set_aside()
            log.warning("%s cannot be read (%s: %s): set aside as %s, starting afresh", self.path,
                        type(error).__name__, error, aside)
            return None
        if state.get("fingerprint") != self.fingerprint:
            log.warning("%s belongs to another run of this job (settings or inputs changed): starting afresh", self.path)
            return None
        if state.get("partial"):
            log.info("resuming from %s in epoch %d after mini-batch %d", self.path, state["epoch"] + 2, state["partial"]["batch"])
        else:
            log.info("resuming from %s after epoch %d", self.path, state["epoch"] + 1)
        return state

    def due(self, last_epoch: bool) -> bool:
        """Whether the state after this epoch is to be saved: ``every_seconds`` have passed, and
        it is not the last (its outputs follow at once)."""
        return not last_epoch and time.perf_counter() - self._last >= self.every_seconds

    def save(self, state: dict, last_epoch: bool = False) -> None:
        """Write the state now (after an epoch that is ``due``, or at a stop request: the state of
        a step within an epoch, ``state["partial"]``); ``last_epoch`` writes nothing."""
        if last_epoch:
            return
        write_torch(self.path, {**state, "fingerprint": self.fingerprint})
        self._last = time.perf_counter()

    def set_aside(self) -> Path:
        """Rename an unreadable state to ``resume.pt.unreadable`` (replacing an older one), so that
        the job can start over and the file can still be looked at."""
        aside = self.path.with_name(self.path.name + ".unreadable")
        os.replace(self.path, aside)
        return aside

    def done(self) -> None:
        self.path.unlink(missing_ok=True)
