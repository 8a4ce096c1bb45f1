"""The real cluster test, opt-in: ``pytest -m slurm`` (root; installs and starts a single-node SLURM,
about 25 minutes). It runs tests/slurm/run.sh: the demo through profiles/slurm against a local run."""

import subprocess

import pytest
from conftest import REPO


@pytest.mark.slurm
def test_demo_through_slurm_equals_the_local_run(tmp_path):
    done = subprocess.run(["bash", str(REPO / "tests/slurm/run.sh"), str(tmp_path)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip().endswith("identical"), done.stdout[-2000:]
