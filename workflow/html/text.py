"""Numbers and names as HTML text: escaping, percentages, signed differences, counts, durations.

Shares in [0, 1] are shown as percentages without the sign; a missing value (None, NaN) is a dash.
"""

from __future__ import annotations

import html

import pandas as pd


def esc(value) -> str:
    """Text for HTML (element content and attribute values)."""
    return html.escape(str(value), quote=True)


def missing(value) -> bool:
    """True for None and NaN (pandas' notion of a missing value), False for anything else."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def pct(value, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage without the sign, or a dash."""
    return "–" if missing(value) else f"{100 * float(value):.{digits}f}"


def pct_pm(mean, std, n: int | None = None) -> str:
    """``12.3 ± 0.4`` for a mean and std of shares; the std is left out for one seed."""
    text = pct(mean)
    if n is not None and n < 2 or missing(std):
        return text
    return f'{text} <span class="sd">± {pct(std)}</span>'


def signed(value: float, digits: int = 1) -> str:
    """``+1.2``, ``-0.3``, and ``0.0`` (never ``-0.0``)."""
    text = f"{value:+.{digits}f}"
    return f"{0:.{digits}f}" if float(text) == 0 else text


def signed_pp(value, digits: int = 1) -> str:
    """A difference of shares in percentage points, signed and coloured."""
    if missing(value):
        return '<span class="zero">–</span>'
    text = signed(100 * float(value), digits)
    cls = "zero" if float(text) == 0 else "pos" if float(text) > 0 else "neg"
    return f'<span class="{cls}">{text}</span>'


def integer(value) -> str:
    """A count, rounded, with thousands separators (``12,345``), or a dash."""
    return "–" if missing(value) else f"{round(float(value)):,}"


def decimal(value, digits: int) -> str:
    """A number with ``digits`` decimals, or a dash."""
    return "–" if missing(value) else f"{float(value):.{digits}f}"


def duration(seconds) -> str:
    """Seconds as ``45 s``, ``3.5 min`` or ``2.1 h``, or a dash."""
    if missing(seconds):
        return "–"
    seconds = float(seconds)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def short_name(name: str) -> str:
    """The first synonym of a WordNet-style name ("black widow, Latrodectus mactans")."""
    return str(name).split(",")[0].strip()
