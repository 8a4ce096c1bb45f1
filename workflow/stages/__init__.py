"""The workflow's stages as functions from files to files, one module per rule family.

Each function reads its inputs, calls the math in the other modules and writes its outputs
atomically; ``cli.py`` exposes each as ``python -m workflow <stage>``, its options read from
the function's signature and the ``Args:`` section of its docstring. The modules are split so
that a stage imports only what it needs: torch and torchvision cost seconds per job.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

# stage -> the module that holds it; the function is the stage's name with underscores
STAGES = {
    "demo-data": "data", "target-manifest": "data", "source-manifest": "data", "torchvision-export": "data",
    "stanford-dogs-export": "data", "mit-indoor67-export": "data", "places-export": "data",
    "bounds": "descriptors", "descriptors": "descriptors",
    "fingerprints": "leakage", "leakage": "leakage",
    "knn": "retrieval", "neighbours": "retrieval",
    "fetch-weights": "weights",
    "pretrain": "training", "train": "training", "fusion": "training",
    "report": "report", "paper-table": "report", "report-html": "html",
}


def stage_function(name: str) -> Callable[..., None]:
    """The function of stage ``name``, importing only its module."""
    module = importlib.import_module(f"{__name__}.{STAGES[name]}")
    return getattr(module, name.replace("-", "_"))
