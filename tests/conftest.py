"""Shared fixtures: the repository root and a helper that runs Snakemake on a copied config."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def snakemake_command(workdir: Path, *args: str) -> tuple[list[str], dict]:
    """The command line and environment that run the workflow in ``workdir`` with its config.yaml."""
    command = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
        "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args,
    ]
    return command, snakemake_env()


def snakemake_env() -> dict:
    """The environment of a Snakemake process: this Python's scripts first, then tests/bin (an
    `scontrol` that answers at once: see the file), then the caller's PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), str(REPO / "tests" / "bin"), os.environ["PATH"]])
    return {**os.environ, "PATH": path}


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow in ``workdir`` with ``workdir/config.yaml`` as its config."""
    command, env = snakemake_command(workdir, *args)
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> job count."""
    table = dry_run_output.split("Job stats:")[-1]
    jobs = {}
    for line in table.splitlines():
        match = re.fullmatch(r"\s*([\w-]+)\s+(\d+)\s*", line)
        if match and match.group(1) != "total":
            jobs[match.group(1)] = int(match.group(2))
    return jobs


def write_config(workdir: Path, config: dict) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The whole demo, run once per test session in a temporary folder."""
    workdir = tmp_path_factory.mktemp("demo")
    write_config(workdir, default_config())
    snakemake(workdir, "--", "results/demo/report.csv")
    return workdir


def copy_run(source: Path, destination: Path) -> Path:
    """A copy of a finished run (files and Snakemake's metadata), to change its config safely."""
    shutil.copytree(source, destination, symlinks=True)
    return destination


@pytest.fixture
def world_folder():
    """A folder every user may enter and write (pytest's own tmp folders are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="sjft-unwritable-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


def as_unprivileged(command: list[str]) -> list[str]:
    """``command`` run as nobody when the tests run as root, for whom permissions do not bind."""
    if os.geteuid() != 0:
        return command
    if not shutil.which("setpriv"):
        pytest.fail("running as root needs setpriv (util-linux) to drop privileges for this test")
    return ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *command]
