"""The Snakefiles pass Snakemake's linter and are snakefmt-formatted (line length in pyproject.toml)."""

import subprocess
import sys

from conftest import REPO, snakemake_env


def test_snakemake_lint_is_clean():
    done = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True,
                          env=snakemake_env(), check=False)
    assert done.returncode == 0 and "Congratulations" in done.stdout + done.stderr, done.stdout + done.stderr


def test_snakefiles_are_snakefmt_formatted():
    done = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
