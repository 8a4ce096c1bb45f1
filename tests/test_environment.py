"""The conda environment of the rules (envs/sjft.yaml) pins exactly what pyproject.toml pins for the jobs."""

import re
import tomllib

import yaml
from conftest import REPO


def requirement(text: str) -> tuple[str, str]:
    """('torch', '>=2.2,<3') from 'torch>=2.2,<3' (comments and spaces dropped)."""
    name, spec = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", text.split("#")[0].strip()).groups()
    return name.lower(), spec.replace(" ", "")


def test_conda_environment_mirrors_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = dict(requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["approximate"])
    del wanted["snakemake"]  # runs the jobs, is not needed inside them
    env = yaml.safe_load((REPO / "envs" / "sjft.yaml").read_text())["dependencies"]
    listed = {}
    for entry in env:
        for text in entry["pip"] if isinstance(entry, dict) else [entry]:
            name, spec = requirement(text)
            if name not in ("python", "pip"):
                listed[name] = spec
    assert listed == wanted
    every = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    assert all("<" in requirement(r)[1] for r in every), \
        "every dependency has an upper bound on its major version"
