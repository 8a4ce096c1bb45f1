"""A built wheel holds every module of the package (a flat package list once left out workflow/stages)."""

import os
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO
from PIL import Image


def test_the_wheel_holds_every_module(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(REPO), "-w", str(tmp_path)],
                   check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("sjft-*.whl")
    packaged = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    modules = {path.relative_to(REPO).as_posix() for path in (REPO / "workflow").rglob("*.py")}
    assert modules <= packaged, sorted(modules - packaged)
    assert "workflow/stages/training.py" in packaged


@pytest.mark.slow
def test_the_installed_wheel_runs_its_stages_outside_the_clone(tmp_path):
    """``pip install <wheel>`` into a fresh virtualenv (its dependencies taken from this one, not
    downloaded), then ``python -m workflow --help`` and a manifest stage, run away from the clone."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(REPO), "-w", str(tmp_path)],
                   check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("sjft-*.whl")
    venv = tmp_path / "venv"
    # without PYTHONPATH: a clone on it would make pip see sjft installed already
    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True, env=clean)
    site = next(p for p in sys.path if p.endswith("site-packages"))  # this environment's dependencies
    env = {**clean, "PYTHONPATH": site}
    run = lambda *args: subprocess.run([python, "-m", "workflow", *args], cwd=tmp_path, env=env, capture_output=True,
                                       text=True, check=False)
    where = subprocess.run([python, "-c", "import workflow; print(workflow.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=False)
    assert str(venv) in where.stdout, where.stdout + where.stderr  # the wheel's copy, not the clone's
    assert run("--help").returncode == 0
    for name in ("ant", "bee"):
        (tmp_path / "pool" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "pool" / name / "0.png")
    done = run("source-manifest", "--root", str(tmp_path / "pool"), "--out", str(tmp_path / "manifest.csv"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "manifest.csv").read_text().count("\n") == 3
