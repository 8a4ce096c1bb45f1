"""Cluster profiles: both plan the demo, and the squeue/scontrol status script reads SLURM's states."""

import os
import subprocess
import sys

import pytest
from conftest import REPO, default_config, planned_jobs, snakemake, write_config

STATUS = REPO / "profiles" / "cluster-generic" / "status.py"


@pytest.mark.parametrize("profile", ["slurm", "cluster-generic"])
def test_profile_plans_the_demo(tmp_path, profile):
    write_config(tmp_path, default_config())
    result = snakemake(tmp_path, "--profile", str(REPO / "profiles" / profile), "-n", "--", "results/demo/report.csv")
    jobs = planned_jobs(result.stdout)
    assert jobs["train"] > 0 and jobs["train_step"] > 0 and jobs["descriptors"] > 0


def fake_slurm(folder, squeue_state: str, scontrol_state: str | None):
    """squeue and scontrol stand-ins that print the given states for any job id."""
    folder.mkdir(exist_ok=True)
    (folder / "squeue").write_text(f"#!/bin/sh\nprintf '{squeue_state}'\n")
    shown = f"JobId=7 JobName=x JobState={scontrol_state} Reason=None" if scontrol_state else ""
    code = 0 if scontrol_state else 1
    (folder / "scontrol").write_text(f"#!/bin/sh\necho '{shown}'\nexit {code}\n")
    for tool in ("squeue", "scontrol"):
        (folder / tool).chmod(0o755)


@pytest.mark.parametrize(("squeue_state", "scontrol_state", "expected"), [
    ("PENDING\\n", None, "running"),
    ("RUNNING\\n", "RUNNING", "running"),
    ("", "COMPLETED", "success"),
    ("", "FAILED", "failed"),
    ("", "OUT_OF_MEMORY", "failed"),
    ("", "TIMEOUT", "failed"),
    ("", "CANCELLED", "failed"),
    ("", None, "success"),  # forgotten by SLURM: Snakemake checks the outputs
])
def test_status_script_maps_slurm_states(tmp_path, squeue_state, scontrol_state, expected):
    fake_slurm(tmp_path / "bin", squeue_state, scontrol_state)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, str(STATUS), "7"], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == expected
