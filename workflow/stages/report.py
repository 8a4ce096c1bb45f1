"""The report stage: the comparison tables, written, and the summary printed."""

from __future__ import annotations

import logging

import pandas as pd

from ..io import write_csv
from ..report import build_runs, paired_differences, summarize

log = logging.getLogger(__name__)


def report(out: str, runs_out: str, paired_out: str, **options) -> None:
    """runs.csv, report.csv (over seeds) and paired.csv; see ``workflow.report``."""
    runs = build_runs(**options)
    summary = summarize(runs)
    paired = paired_differences(runs)
    write_csv(runs, runs_out)
    write_csv(paired, paired_out)
    write_csv(summary, out)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(summary.drop(columns=["target"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if len(paired):
            print(paired.drop(columns=["target", "metric"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
