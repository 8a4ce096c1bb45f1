"""Compare two finished demo runs (e.g. through SLURM and local): descriptors and kNN indexes must be
equal array for array, the per-seed accuracies equal.

    python tests/slurm/compare.py RUN_A RUN_B
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.io import read_h5


def same(x, y) -> bool:
    """Equal values (NaN equal to NaN: the bounds mark empty bins with it)."""
    x, y = np.asarray(x), np.asarray(y)
    return x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")


def compare(a: Path, b: Path) -> list[str]:
    problems = []
    files = sorted(p.relative_to(a) for p in (a / "results/demo").rglob("*.h5")
                   if "hist" in p.parts or p.name in ("knn.h5", "bounds.h5"))
    for name in files:
        x, y = read_h5(a / name), read_h5(b / name)
        if x.keys() != y.keys() or any(not same(x[k], y[k]) for k in x):
            problems.append(f"{name} differs")
    runs_a = pd.read_csv(a / "results/demo/runs.csv")
    runs_b = pd.read_csv(b / "results/demo/runs.csv")
    keys = ["method", "bank", "seed", "iteration"]
    merged = runs_a.merge(runs_b, on=keys, suffixes=("_a", "_b"))
    if len(merged) != len(runs_a) or len(merged) != len(runs_b):
        problems.append(f"runs.csv lists different runs ({len(runs_a)} and {len(runs_b)} rows)")
    unequal = merged[merged["top1_a"] != merged["top1_b"]]
    problems += [f"top-1 of {dict(row[keys])}: {row.top1_a} vs {row.top1_b}" for _, row in unequal.iterrows()]
    print(f"{len(files)} descriptor/kNN files and {len(merged)} runs compared")
    return problems


if __name__ == "__main__":
    found = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found) if found else "identical")
    sys.exit(1 if found else 0)
