"""Stop requests: the process tree a forwarded SIGINT reaches, and signals a process was told to ignore.
(Training's saved step and its resumption: tests/test_resume.py; end to end: tests/test_faults.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from workflow.stopping import StopRequest, descendants


def test_descendants_are_the_whole_tree_below_a_process():
    shell = subprocess.Popen(["bash", "-c", "sleep 30 & sleep 30; wait"])
    try:
        deadline = time.monotonic() + 10
        while len(below := descendants(shell.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(below) == 2, below  # bash's two sleeps
        # this process may have other children (a multiprocessing forkserver an earlier test started)
        found = descendants(os.getpid())
        assert shell.pid in found and set(below) <= set(found), found
        assert found.index(shell.pid) < min(map(found.index, below))  # children first
    finally:
        for pid in [shell.pid, *descendants(shell.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shell.wait()


def test_an_ignored_sigint_stays_ignored():
    """A process started with SIGINT ignored (nohup, a script's background job) is not stopped by one."""
    code = ("import signal; from workflow.stopping import StopRequest, forward_interrupts; forward_interrupts(); "
            "assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN; "
            "s = StopRequest().__enter__(); assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN; "
            "assert signal.getsignal(signal.SIGTERM) == s._handle; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert done.stdout.strip() == "ok", done.stderr


def test_a_second_request_stops_at_once():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with StopRequest() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            assert stop.requested == "SIGINT"
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.1)
                raise AssertionError("the second SIGINT did not stop")
            except KeyboardInterrupt as stopped:
                assert "again" in str(stopped)
    finally:
        signal.signal(signal.SIGINT, previous)
