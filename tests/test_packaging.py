"""A built wheel holds every module of the package (a flat package list once left out workflow/stages)."""

import subprocess
import sys
import zipfile

from conftest import REPO


def test_the_wheel_holds_every_module(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(REPO), "-w", str(tmp_path)],
                   check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("sjft-*.whl")
    packaged = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    modules = {path.relative_to(REPO).as_posix() for path in (REPO / "workflow").rglob("*.py")}
    assert modules <= packaged, sorted(modules - packaged)
    assert "workflow/stages/training.py" in packaged
