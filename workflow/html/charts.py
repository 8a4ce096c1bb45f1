"""SVG charts written by hand, no plotting library: data in, SVG text out.

Line charts with std bands or error bars (``line_chart``), small line charts on common axes for a
grid of them (``small_chart``), one-row forest plots of seeds (``forest``), box plots
(``box_chart``), small histograms (``histogram``) and horizontal bars (``hbar_chart``);
``nice_ticks`` picks round axis ticks for all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .methods import MAIN_COLOR
from .text import esc


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Round tick values covering [lo, hi], about n of them."""
    if not np.isfinite(lo) or not np.isfinite(hi):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / n
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if (hi - lo) / (m * magnitude) <= n)
    start, stop = math.floor(lo / step) * step, math.ceil(hi / step) * step
    return np.round(np.arange(start, stop + step / 2, step), 10)


def _tick_label(value: float) -> str:
    return f"{value:g}"


def _svg_open(title: str, width: int, height: int, font_size: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(title)}" font-family="system-ui, sans-serif" font-size="{font_size}">')


def _chart_frame(title: str, width: int, height: int, margins: tuple[int, int, int, int], y_ticks, py,
                 x_label: str, y_label: str) -> list[str]:
    """The opening of a chart with axes: title, horizontal grid with y labels, x axis, axis labels."""
    left, right, top, bottom = margins
    out = [_svg_open(title, width, height, 12), f"<title>{esc(title)}</title>",
           f'<text x="{left}" y="18" font-size="14" font-weight="600" fill="#1d2329">{esc(title)}</text>']
    for tick in y_ticks:
        y = py(tick)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e8ecef"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5f6b76">{_tick_label(tick)}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" stroke="#8a96a3"/>')
    out.append(f'<text x="{(left + width - right) / 2:.1f}" y="{height - 8}" text-anchor="middle" '
               f'fill="#5f6b76">{esc(x_label)}</text>')
    out.append(f'<text transform="translate(14 {(top + height - bottom) / 2:.1f}) rotate(-90)" text-anchor="middle" '
               f'fill="#5f6b76">{esc(y_label)}</text>')
    return out


def line_chart(series: Sequence[dict], title: str, y_label: str, x_label: str = "iteration",
               width: int = 620, height: int = 340) -> str:
    """An SVG line chart; each series: name, x, y, optional err, color, main, dashed, band, dodge.

    ``err`` draws a band (``band``, the default) or error bars shifted by ``dodge`` x units, so
    that the bars of several series stay apart; a series of one point is a diamond with an
    error bar; NaN errors draw nothing.
    """
    left, right, top, bottom = 56, 18, 34, 44
    xs = [float(x) for s in series for x in s["x"]]
    lows, highs = [], []
    for s in series:
        y = np.asarray(s["y"], dtype=float)
        err = np.nan_to_num(np.asarray(s.get("err", np.zeros_like(y)), dtype=float))
        lows += list(y - err)
        highs += list(y + err)
    lows, highs = [v for v in lows if np.isfinite(v)], [v for v in highs if np.isfinite(v)]
    y_ticks = nice_ticks(min(lows or [0]), max(highs or [1]))
    y0, y1 = float(y_ticks[0]), float(y_ticks[-1])
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    pad = 0.04 * (x1 - x0)
    x0, x1 = x0 - pad, x1 + pad

    def px(x):
        return left + (float(x) - x0) / (x1 - x0) * (width - left - right)

    def py(y):
        return top + (y1 - float(y)) / (y1 - y0) * (height - top - bottom)

    out = _chart_frame(title, width, height, (left, right, top, bottom), y_ticks, py, x_label, y_label)
    for tick in sorted({int(x) for x in xs if float(x).is_integer()}):
        x = px(tick)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{height - bottom}" y2="{height - bottom + 4}" stroke="#8a96a3"/>')
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 17}" text-anchor="middle" fill="#5f6b76">{tick}</text>')
    # main series last, so that it is drawn on top
    for s in sorted(series, key=lambda s: bool(s.get("main"))):
        x = np.asarray(s["x"], dtype=float)
        y = np.asarray(s["y"], dtype=float)
        err = np.asarray(s.get("err", np.full_like(y, np.nan)), dtype=float)
        shift = float(s.get("dodge", 0.0))
        color, main = s.get("color", "#333"), bool(s.get("main"))
        ok = np.isfinite(y)
        x, y, err = x[ok], y[ok], err[ok]
        if not len(x):
            continue
        band = np.isfinite(err) & (err > 0)
        out.append(f'<g><title>{esc(s["name"])}</title>')
        if len(x) > 1 and band.all() and s.get("band", True):
            upper = " ".join(f"{px(a + shift):.1f},{py(b + e):.1f}" for a, b, e in zip(x, y, err))
            lower = " ".join(f"{px(a + shift):.1f},{py(b - e):.1f}" for a, b, e in zip(x[::-1], y[::-1], err[::-1]))
            out.append(f'<polygon points="{upper} {lower}" fill="{color}" fill-opacity="{0.16 if main else 0.09}" '
                       'stroke="none"/>')
        elif band.any():
            for a, b, e in zip(x[band], y[band], err[band]):
                out.append(f'<line x1="{px(a + shift):.1f}" x2="{px(a + shift):.1f}" y1="{py(b - e):.1f}" y2="{py(b + e):.1f}" '
                           f'stroke="{color}" stroke-width="1.3" stroke-opacity="0.7"/>')
        if len(x) > 1:
            points = " ".join(f"{px(a + shift):.1f},{py(b):.1f}" for a, b in zip(x, y))
            dash = ' stroke-dasharray="6 4"' if s.get("dashed") else ""
            out.append(f'<polyline points="{points}" fill="none" stroke="{color}" '
                       f'stroke-width="{3.2 if main else 1.8}" stroke-linejoin="round"{dash}/>')
        for a, b, e in zip(x, y, err):
            tip = f"{s['name']}, {x_label} {a:g}: {b:.4g}" + (f" ± {e:.3g}" if np.isfinite(e) else "")
            if len(x) == 1:  # a lone point (fusion): a diamond
                cx, cy, r = px(a + shift), py(b), 6
                out.append(f'<path d="M{cx:.1f},{cy - r:.1f} L{cx + r:.1f},{cy:.1f} L{cx:.1f},{cy + r:.1f} '
                           f'L{cx - r:.1f},{cy:.1f} Z" fill="{color}" stroke="#fff"><title>{esc(tip)}</title></path>')
            else:
                out.append(f'<circle cx="{px(a + shift):.1f}" cy="{py(b):.1f}" r="{4 if main else 3}" fill="{color}" '
                           f'stroke="#fff" stroke-width="1"><title>{esc(tip)}</title></circle>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def small_chart(series: Sequence[dict], title: str, x_range: tuple[float, float], y_ticks: Sequence[float],
                x_ticks: Sequence[float] = (), shades: Sequence[tuple[float, float]] = (), marks: Sequence[float] = (),
                notes: Sequence[tuple[float, str]] = (), title_color: str = "#1d2329", width: int = 280,
                height: int = 150) -> str:
    """A small line chart, one of a grid on common axes (``x_range``, ``y_ticks``), so that the grid compares.

    Each series: name, x, y, optional low and high (a band between them), color, width, dashed
    (an SVG dash array), opacity, and tips (a tooltip circle at every point whose tip is not None). ``shades``: grey
    bands (x0, x1); ``marks``: dashed vertical lines; ``notes``: (x, text) in the strip under the title.
    """
    left, right, top, bottom = 36, 8, 30, 18
    (x0, x1), y0, y1 = x_range, float(y_ticks[0]), float(y_ticks[-1])

    def px(x):
        return left + (float(x) - x0) / (x1 - x0) * (width - left - right)

    def py(y):
        return top + (y1 - float(y)) / (y1 - y0) * (height - top - bottom)

    out = [_svg_open(title, width, height, 9), f"<title>{esc(title)}</title>",
           f'<text x="{left}" y="12" font-size="11.5" font-weight="600" fill="{title_color}">{esc(title)}</text>']
    out += [f'<rect x="{px(a):.1f}" y="{top}" width="{px(b) - px(a):.1f}" height="{height - top - bottom}" '
            'fill="#eef1f4"/>' for a, b in shades]
    for tick in y_ticks:
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" stroke="#e8ecef"/>')
        out.append(f'<text x="{left - 4}" y="{py(tick) + 3:.1f}" text-anchor="end" fill="#5f6b76">'
                   f"{_tick_label(tick)}</text>")
    axis = height - bottom
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{axis}" y2="{axis}" stroke="#8a96a3"/>')
    out += [f'<text x="{px(tick):.1f}" y="{height - 5}" text-anchor="middle" fill="#5f6b76">{_tick_label(tick)}</text>'
            for tick in x_ticks]
    out += [f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{top - 8}" y2="{height - bottom}" stroke="#8a96a3" '
            'stroke-dasharray="3 3"/>' for x in marks]
    out += [f'<text x="{px(x) + 3:.1f}" y="{top - 3}" fill="#5f6b76">{esc(text)}</text>' for x, text in notes]
    for s in series:
        x, y = np.asarray(s["x"], dtype=float), np.asarray(s["y"], dtype=float)
        color, opacity = s.get("color", "#333"), s.get("opacity", 1)
        out.append(f'<g><title>{esc(s["name"])}</title>')
        if "low" in s:
            low, high = np.asarray(s["low"], dtype=float), np.asarray(s["high"], dtype=float)
            ok = np.isfinite(low) & np.isfinite(high)
            if ok.sum() > 1:
                upper = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x[ok], high[ok]))
                lower = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x[ok][::-1], low[ok][::-1]))
                out.append(f'<polygon points="{upper} {lower}" fill="{color}" fill-opacity="0.2" stroke="none"/>')
        ok = np.isfinite(y)
        if ok.sum() > 1:
            dash = f' stroke-dasharray="{s["dashed"]}"' if s.get("dashed") else ""
            points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x[ok], y[ok]))
            out.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="{s.get("width", 1.6)}" '
                       f'stroke-opacity="{opacity}" stroke-linejoin="round"{dash}/>')
        for a, b, tip in zip(x, y, s.get("tips", [None] * len(x))):
            if tip is not None and np.isfinite(b):
                out.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="2.6" fill="{color}" stroke="#fff" '
                           f'stroke-width="0.8"><title>{esc(tip)}</title></circle>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def forest(mean: float, std: float, points: Sequence[float], lo: float, hi: float, color: str = "#4e79a7",
           zero: bool = False, width: int = 150, height: int = 18,
           interval: tuple[float, float] | None = None) -> str:
    """A one-row forest plot: the mean as a tick, +- std as a bar, each seed as a dot, on [lo, hi].

    With ``interval`` (low, high) a whisker with end caps takes the std bar's place; an end past
    the axis is drawn to the edge without its cap.
    """
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return ""

    def px(v):
        return 4 + (min(max(float(v), lo), hi) - lo) / (hi - lo) * (width - 8)

    mid = height / 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<line x1="4" x2="{width - 4}" y1="{mid}" y2="{mid}" stroke="#eef1f4"/>']
    if zero and lo < 0 < hi:
        out.append(f'<line x1="{px(0):.1f}" x2="{px(0):.1f}" y1="1" y2="{height - 1}" stroke="#8a96a3" '
                   'stroke-dasharray="2 2"/>')
    if interval is not None:
        if all(np.isfinite(v) for v in interval):
            out.append(f'<line x1="{px(interval[0]):.1f}" x2="{px(interval[1]):.1f}" y1="{mid}" y2="{mid}" '
                       f'stroke="{color}" stroke-width="1.6"/>')
            out += [f'<line x1="{px(v):.1f}" x2="{px(v):.1f}" y1="{mid - 4}" y2="{mid + 4}" stroke="{color}" '
                    'stroke-width="1.6"/>' for v in interval if lo <= v <= hi]
    elif np.isfinite(std) and std > 0 and np.isfinite(mean):
        out.append(f'<rect x="{px(mean - std):.1f}" y="{mid - 3}" width="{max(px(mean + std) - px(mean - std), 1):.1f}" '
                   f'height="6" rx="3" fill="{color}" fill-opacity="0.25"/>')
    for value in points:
        if np.isfinite(value):
            out.append(f'<circle cx="{px(value):.1f}" cy="{mid}" r="2.6" fill="{color}" fill-opacity="0.55"/>')
    if np.isfinite(mean):
        out.append(f'<line x1="{px(mean):.1f}" x2="{px(mean):.1f}" y1="2" y2="{height - 2}" stroke="{color}" '
                   'stroke-width="2.5"/>')
    out.append("</svg>")
    return "".join(out)


def box_chart(summary: pd.DataFrame, title: str, width: int = 520, height: int = 300) -> str:
    """Per iteration, the K distribution as a box (quartiles), whiskers (min-max) and mean (diamond)."""
    left, right, top, bottom = 56, 18, 34, 44
    ticks = nice_ticks(0, float(summary["max"].max()) if len(summary) else 1)
    y0, y1 = float(ticks[0]), float(ticks[-1])
    n = max(len(summary), 1)
    slot = (width - left - right) / n

    def py(v):
        return top + (y1 - float(v)) / (y1 - y0) * (height - top - bottom)

    out = _chart_frame(title, width, height, (left, right, top, bottom), ticks, py, "iteration",
                       "K (source images per target image)")
    half = min(slot * 0.22, 34)
    for i, row in enumerate(summary.itertuples(index=False)):
        cx = left + slot * (i + 0.5)
        tip = (f"iteration {row.iteration}: min {row.min:g}, quartiles {row.q1:g} / {row.median:g} / {row.q3:g}, "
               f"max {row.max:g}, mean {row.mean:.1f}")
        out.append(f"<g><title>{esc(tip)}</title>")
        out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{py(row.max):.1f}" y2="{py(row.min):.1f}" stroke="#8a96a3"/>')
        for v in (row.min, row.max):
            out.append(f'<line x1="{cx - half / 2:.1f}" x2="{cx + half / 2:.1f}" y1="{py(v):.1f}" y2="{py(v):.1f}" '
                       'stroke="#8a96a3"/>')
        out.append(f'<rect x="{cx - half:.1f}" y="{py(row.q3):.1f}" width="{2 * half:.1f}" '
                   f'height="{max(py(row.q1) - py(row.q3), 1.5):.1f}" fill="{MAIN_COLOR}" fill-opacity="0.18" '
                   f'stroke="{MAIN_COLOR}"/>')
        out.append(f'<line x1="{cx - half:.1f}" x2="{cx + half:.1f}" y1="{py(row.median):.1f}" y2="{py(row.median):.1f}" '
                   f'stroke="{MAIN_COLOR}" stroke-width="2.5"/>')
        my, r = py(row.mean), 5
        out.append(f'<path d="M{cx:.1f},{my - r:.1f} L{cx + r:.1f},{my:.1f} L{cx:.1f},{my + r:.1f} L{cx - r:.1f},{my:.1f} Z" '
                   'fill="#1d2329"/>')
        out.append(f'<text x="{cx + half + 6:.1f}" y="{my + 4:.1f}" fill="#1d2329" font-size="11">{row.mean:.0f}</text>')
        out.append(f'<text x="{cx:.1f}" y="{height - bottom + 17}" text-anchor="middle" fill="#5f6b76">'
                   f"{row.iteration}</text></g>")
    out.append("</svg>")
    return "".join(out)


def histogram(values: np.ndarray, title: str, lo: float, hi: float, y_max: int, width: int = 200,
              height: int = 120, max_bars: int = 24) -> str:
    """A small bar chart of how many target images have each K (binned if K takes many values)."""
    values = np.asarray(values)
    left, right, top, bottom = 30, 8, 22, 22
    distinct = np.unique(values)
    if len(distinct) <= max_bars and hi - lo <= 400:
        centers, counts = distinct.astype(float), np.array([(values == v).sum() for v in distinct])
        span = max(hi - lo, 1)
        # bars as wide as the smallest gap between possible values, but readable
        gaps = np.diff(np.unique(np.concatenate([distinct, [lo, hi]])))
        bar = max(min(gaps[gaps > 0].min() if (gaps > 0).any() else span, span / 6) * 0.8, span / 60)
    else:
        edges = np.linspace(lo, hi + 1e-9, max_bars + 1)
        counts, _ = np.histogram(values, bins=edges)
        centers, bar = (edges[:-1] + edges[1:]) / 2, (edges[1] - edges[0]) * 0.9
        span = hi - lo
    pad = bar
    x0, x1 = lo - pad, hi + pad

    def px(v):
        return left + (v - x0) / (x1 - x0) * (width - left - right)

    def py(v):
        return top + (1 - v / max(y_max, 1)) * (height - top - bottom)

    out = [_svg_open(title, width, height, 10),
           f'<text x="{left}" y="13" font-size="12" font-weight="600" fill="#1d2329">{esc(title)}</text>',
           f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" stroke="#8a96a3"/>',
           f'<text x="{left - 4}" y="{py(y_max) + 4:.1f}" text-anchor="end" fill="#5f6b76">{y_max}</text>',
           f'<text x="{left - 4}" y="{height - bottom + 3}" text-anchor="end" fill="#5f6b76">0</text>']
    for c, n in zip(centers, counts):
        if n == 0:
            continue
        w = max(px(c + bar / 2) - px(c - bar / 2), 2)
        out.append(f'<rect x="{px(c) - w / 2:.1f}" y="{py(n):.1f}" width="{w:.1f}" height="{py(0) - py(n):.1f}" '
                   f'fill="{MAIN_COLOR}" fill-opacity="0.75"><title>K {c:g}: {n} target images</title></rect>')
    for tick in nice_ticks(lo, hi, 4):
        if lo <= tick <= hi:
            out.append(f'<text x="{px(tick):.1f}" y="{height - bottom + 13}" text-anchor="middle" fill="#5f6b76">'
                       f"{_tick_label(tick)}</text>")
    out.append("</svg>")
    return "".join(out)


def hbar_chart(labels: Sequence[str], values: Sequence[float], title: str, tips: Sequence[str] | None = None,
               width: int = 620, row: int = 17) -> str:
    """Horizontal bars, one per label, in the given order."""
    left, right, top = 170, 46, 26
    height = top + row * len(labels) + 8
    vmax = max([float(v) for v in values] + [1e-9])

    def px(v):
        return left + float(v) / vmax * (width - left - right)

    out = [_svg_open(title, width, height, 11),
           f'<text x="4" y="15" font-size="13" font-weight="600" fill="#1d2329">{esc(title)}</text>']
    for i, (label, value) in enumerate(zip(labels, values)):
        y = top + i * row
        tip = tips[i] if tips else f"{label}: {value:.1f}"
        text = label if len(label) <= 26 else label[:25] + "…"
        out.append(f'<g><title>{esc(tip)}</title>'
                   f'<text x="{left - 6}" y="{y + row * 0.7:.1f}" text-anchor="end" fill="#1d2329">{esc(text)}</text>'
                   f'<rect x="{left}" y="{y + 2:.1f}" width="{max(px(value) - left, 1):.1f}" height="{row - 5}" rx="2" '
                   f'fill="{MAIN_COLOR}" fill-opacity="0.6"/>'
                   f'<text x="{px(value) + 4:.1f}" y="{y + row * 0.7:.1f}" fill="#5f6b76">{value:.0f}</text></g>')
    out.append("</svg>")
    return "".join(out)
