"""The report stage: the comparison table, written and printed."""

from __future__ import annotations

import logging

import pandas as pd

from ..io import write_csv
from ..report import build_report

log = logging.getLogger(__name__)


def report(out: str, **options) -> None:
    """The comparison table (see ``report.build_report``), written and printed."""
    frame = build_report(**options)
    write_csv(frame, out)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
