"""Stop requests: Ctrl-C (or a batch system's SIGTERM) reaches the running jobs, which save and exit.

Two halves. In the Snakemake process, :func:`forward_interrupts` passes a SIGINT on to every
process Snakemake started: its local executor would otherwise wait for running jobs to finish,
hours for a training job. (A terminal's Ctrl-C reaches the jobs anyway, through the process
group; ``kill -INT`` to Snakemake alone, a wrapper script's or a notebook's stop, did not.)

In a job, :class:`StopRequest` turns SIGINT and SIGTERM into a flag that the training loop reads
after every step: it saves its state where a rerun resumes it (:mod:`workflow.resume`) and
raises :class:`Stopped`. A second request stops at once. Other stages keep Python's defaults:
they stop at once, and their outputs, written to temporary names, are never left half-written.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """A job stopped on request after saving its state (exit status 130, as for Ctrl-C)."""


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children first): from /proc on Linux, else from ``ps``."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents():
        children.setdefault(parent, []).append(child)
    found, frontier = [], [pid]
    while frontier:
        frontier = [c for p in frontier for c in children.get(p, []) if c != os.getpid()]
        found += frontier
    return found


def _parents() -> list[tuple[int, int]]:
    """(pid, parent pid) of every process."""
    if os.path.isdir("/proc/self"):
        pairs = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # "pid (command) state ppid ...": the command may hold spaces and parentheses
                    pairs.append((int(entry), int(f.read().rsplit(")", 1)[1].split()[1])))
            except (ValueError, OSError, IndexError):  # not a process, or it has just ended
                continue
        return pairs
    try:
        table = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [(int(child), int(parent)) for child, parent in (line.split() for line in table.splitlines())]


def forward_interrupts() -> None:
    """Make SIGINT to this process (Snakemake) reach every process it started, then stop it as before.

    Not where SIGINT is ignored (a background job of a non-interactive shell, ``nohup``): whoever
    started Snakemake asked it not to stop on one.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        return

    def forward(signum, frame):
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGINT, forward)


class StopRequest:
    """While entered, SIGINT and SIGTERM set ``requested`` instead of stopping; a second one stops at once.
    A signal the process was started ignoring stays ignored."""

    def __init__(self):
        self.requested: str | None = None
        self._previous = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS
                              if signal.getsignal(s) is not signal.SIG_IGN}
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise Stopped(f"{signal.Signals(signum).name} again: stopped without saving")
        self.requested = signal.Signals(signum).name
        log.warning("%s received: saving the training state after this step, then stopping", self.requested)
