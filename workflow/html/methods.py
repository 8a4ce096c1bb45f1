"""The methods and metrics of a report as the page shows them.

Which method is the main one (selective, in red) and which the reference (finetune, in grey),
the other methods' colours, the metrics and their names, and the rows of a report's last
iteration.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..methods import FINETUNE, SELECTIVE

METRICS = {"mean_class_acc": "mean-class accuracy", "top1": "top-1 accuracy"}
MAIN_METHOD = SELECTIVE
REFERENCE_METHOD = FINETUNE
# Tableau 10 without its red, which marks the main method
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac",
           "#1f77b4", "#8c564b", "#17becf"]
MAIN_COLOR = "#d62728"
REFERENCE_COLOR = "#555555"


def series_label(method: str, bank: str, several_banks: bool) -> str:
    """``selective [gabor]`` when several banks are shown, else the method alone."""
    return f"{method} [{bank}]" if bank and several_banks else method


def normalize_bank(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``bank`` columns as strings, '' for methods that do not retrieve."""
    frame = frame.copy()
    for column in ("bank", "baseline_bank"):
        if column in frame:
            frame[column] = frame[column].fillna("").astype(str)
    return frame


def last_iteration(report: pd.DataFrame) -> pd.DataFrame:
    """The row of the last iteration of every (method, bank)."""
    report = normalize_bank(report)
    last = report.groupby(["method", "bank"], sort=False)["iteration"].transform("max")
    return report[report["iteration"] == last].reset_index(drop=True)


def method_colors(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """A stable colour per (method, bank): red for selective, grey for finetune, a palette for the rest."""
    colors, i = {}, 0
    for key in keys:
        if key in colors:
            continue
        if key[0] == MAIN_METHOD and MAIN_METHOD not in {k[0] for k in colors}:
            colors[key] = MAIN_COLOR
        elif key[0] == REFERENCE_METHOD:
            colors[key] = REFERENCE_COLOR
        else:
            colors[key] = PALETTE[i % len(PALETTE)]
            i += 1
    return colors
