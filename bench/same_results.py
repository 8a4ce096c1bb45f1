"""Do two results folders of one target hold the same results? For refactors that must change nothing.

    python bench/same_results.py before/results/demo after/results/demo

Compares runs.csv (every method, bank, seed and iteration) and report.csv column by column,
leaving out the timings, and prints the columns that differ with their largest difference.
Exits 1 if any does. Run both sides from an empty results folder with the same config: a
change of random-number consumption (one more draw before the heads are built) shows here as
accuracies that move by a seed's spread, which no unit test of a single function catches.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

TIMINGS = ("train_seconds",)


def differing_columns(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, str]:
    """Column -> what differs (timing columns left out); empty when the tables agree."""
    differences = {}
    if len(before) != len(after):
        return {"rows": f"{len(before)} vs {len(after)}"}
    for column in sorted(set(before.columns) | set(after.columns)):
        if any(column.startswith(timing) for timing in TIMINGS):
            continue
        if column not in before or column not in after:
            differences[column] = "only in " + ("after" if column not in before else "before")
        elif not before[column].equals(after[column]):
            numeric = pd.api.types.is_numeric_dtype(before[column]) and pd.api.types.is_numeric_dtype(after[column])
            largest = f"largest difference {(before[column] - after[column]).abs().max():.6g}" if numeric else "values differ"
            differences[column] = largest
    return differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="results/<target> of the first run")
    parser.add_argument("after", type=Path, help="results/<target> of the second run")
    args = parser.parse_args()
    same = True
    for table in ("runs.csv", "report.csv"):
        before, after = pd.read_csv(args.before / table), pd.read_csv(args.after / table)
        differences = differing_columns(before, after)
        same &= not differences
        print(f"{table}: {len(before)} rows, " + ("identical except timings" if not differences else
              "differs: " + "; ".join(f"{column} ({what})" for column, what in differences.items())))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
