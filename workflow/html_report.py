"""The HTML report page of one target: tables, SVG charts and retrieved neighbours, one file.

The page needs nothing but a browser: the CSS is inline, the charts are SVG written here
(no plotting library), and the thumbnails are base64 JPEG ``data:`` URIs. Every function but
``thumbnail_uri`` and ``read_class_names`` is pure: data frames and arrays in, HTML text out,
so that the pieces are testable one by one.

Sections, in page order: key figures; the results table (last iteration of every method,
mean +- std over seeds, a forest plot of the seeds); the paired differences of selective to
every baseline; accuracy per iteration; how hard-sample mining grows K; and, per filter bank,
the top retrieved source images of a few training images of every target class.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

METRICS = {"mean_class_acc": "mean-class accuracy", "top1": "top-1 accuracy"}
MAIN_METHOD = "selective"
REFERENCE_METHOD = "finetune"
# Tableau 10 without its red, which marks the main method
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac",
           "#1f77b4", "#8c564b", "#17becf"]
MAIN_COLOR = "#d62728"
REFERENCE_COLOR = "#555555"

CSS = """
:root { --ink: #1d2329; --muted: #5f6b76; --line: #e3e7eb; --soft: #f6f8fa; --main: #d62728;
  --main-soft: #fff3f0; --good: #1a7f37; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: #fff; }
main { max-width: 1360px; margin: 0 auto; padding: 28px 32px 60px; }
h1 { font-size: 26px; margin: 0 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 40px 0 4px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p { margin: 6px 0; }
.lede { color: var(--muted); max-width: 900px; }
.note { color: var(--muted); font-size: 12.5px; max-width: 1000px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px; margin: 12px 0 4px; padding: 0; list-style: none; }
.meta li { background: var(--soft); border: 1px solid var(--line); border-radius: 999px; padding: 2px 10px;
  font-size: 12.5px; color: var(--muted); }
.meta b { color: var(--ink); font-weight: 600; }
nav { margin: 14px 0 0; font-size: 13px; }
nav a { color: var(--muted); margin-right: 14px; text-decoration: none; border-bottom: 1px dotted #aab; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0 0; }
.card { flex: 1 1 210px; max-width: 320px; border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px;
  background: #fff; }
.card.main { border-color: #f1b5ad; background: var(--main-soft); }
.card .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
.card .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.25; }
.card .value small { font-size: 14px; font-weight: 500; color: var(--muted); }
.card .sub { font-size: 12.5px; color: var(--muted); }
table { border-collapse: collapse; margin: 10px 0; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap;
  vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: 12px; border-bottom: 2px solid #cfd6dc; }
th.l, td.l { text-align: left; }
tbody tr:nth-child(even) { background: #fbfcfd; }
tr.main { background: var(--main-soft) !important; }
tr.main td:first-child { box-shadow: inset 3px 0 0 var(--main); }
tr.main td.method { font-weight: 650; color: var(--main); }
td.method { font-weight: 550; }
td .sd, td .pm { color: var(--muted); font-size: 12px; }
.pos { color: var(--good); } .neg { color: var(--bad); } .zero { color: var(--muted); }
.dim { color: #9aa5b1; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.chart { flex: 1 1 520px; max-width: 660px; }
.chart svg, .wide svg { width: 100%; height: auto; display: block; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12.5px; margin: 6px 0; max-width: 1300px; }
.legend span.sw { display: inline-block; width: 18px; height: 3px; vertical-align: middle; margin-right: 5px;
  border-radius: 2px; }
.legend .main { font-weight: 650; }
.hists { display: flex; flex-wrap: wrap; gap: 10px; }
.hists svg { width: 200px; height: auto; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(630px, 1fr)); gap: 0 20px; }
.nrow { display: flex; align-items: flex-start; gap: 3px; padding: 8px 0; border-bottom: 1px solid var(--line); }
figure { margin: 0; width: 64px; text-align: center; }
figure img, figure .missing { width: 64px; height: 64px; display: block; border-radius: 4px; object-fit: cover;
  background: var(--soft); border: 1px solid var(--line); }
figure .missing { font-size: 10px; color: var(--muted); line-height: 62px; }
figcaption { font-size: 10.5px; line-height: 1.25; margin-top: 2px; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
figcaption .d { color: var(--muted); font-variant-numeric: tabular-nums; }
figure.target { width: 96px; margin-right: 8px; }
figure.target img { width: 88px; height: 88px; border: 3px solid var(--main); }
figure.target figcaption { white-space: normal; }
figure.target .name { font-weight: 650; font-size: 11.5px; display: -webkit-box; -webkit-line-clamp: 2;
  -webkit-box-orient: vertical; overflow: hidden; }
figure.target .k { color: var(--muted); font-size: 10px; display: block; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 10px; }
code { font-size: 12px; background: var(--soft); padding: 0 4px; border-radius: 3px; }
"""


# ------------------------------------------------------------------ small helpers


def esc(value) -> str:
    """Text for HTML (element content and attribute values)."""
    return html.escape(str(value), quote=True)


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def pct(value, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage without the sign, or a dash."""
    return "–" if _missing(value) else f"{100 * float(value):.{digits}f}"


def pct_pm(mean, std, n: int | None = None) -> str:
    """``12.3 ± 0.4`` for a mean and std of shares; the std is left out for one seed."""
    text = pct(mean)
    if n is not None and n < 2 or _missing(std):
        return text
    return f'{text} <span class="sd">± {pct(std)}</span>'


def signed(value: float, digits: int = 1) -> str:
    """``+1.2``, ``-0.3``, and ``0.0`` (never ``-0.0``)."""
    text = f"{value:+.{digits}f}"
    return f"{0:.{digits}f}" if float(text) == 0 else text


def signed_pp(value, digits: int = 1) -> str:
    """A difference of shares in percentage points, signed and coloured."""
    if _missing(value):
        return '<span class="zero">–</span>'
    text = signed(100 * float(value), digits)
    cls = "zero" if float(text) == 0 else "pos" if float(text) > 0 else "neg"
    return f'<span class="{cls}">{text}</span>'


def short_name(name: str) -> str:
    """The first synonym of a WordNet-style name ("black widow, Latrodectus mactans")."""
    return str(name).split(",")[0].strip()


def series_label(method: str, bank: str, several_banks: bool) -> str:
    return f"{method} [{bank}]" if bank and several_banks else method


def read_class_names(path: str | None) -> dict[str, str]:
    """A ``classes.tsv`` (folder name, tab, readable name per line) as a dict; {} without one."""
    if not path:
        return {}
    names = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            key, _, name = line.rstrip("\n").partition("\t")
            if key.strip() and name.strip():
                names[key.strip()] = name.strip()
    return names


def thumbnail_uri(path: str, size: int = 64, quality: int = 85) -> str | None:
    """A square, center-cropped JPEG thumbnail of an image file as a data URI; None if unreadable."""
    from .datasets import DatasetError, load_image

    try:
        image = load_image(path, size)
    except (DatasetError, OSError):
        return None
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


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


def _num(value: float) -> str:
    return f"{value:.1f}"


def _tick_label(value: float) -> str:
    return f"{value:g}"


# ------------------------------------------------------------------ SVG charts


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


def forest(mean: float, std: float, points: Sequence[float], lo: float, hi: float, color: str = "#4e79a7",
           zero: bool = False, width: int = 150, height: int = 18) -> str:
    """A one-row forest plot: the mean as a tick, +- std as a bar, each seed as a dot, on [lo, hi]."""
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return ""

    def px(v):
        return 4 + (float(v) - lo) / (hi - lo) * (width - 8)

    mid = height / 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<line x1="4" x2="{width - 4}" y1="{mid}" y2="{mid}" stroke="#eef1f4"/>']
    if zero and lo < 0 < hi:
        out.append(f'<line x1="{px(0):.1f}" x2="{px(0):.1f}" y1="1" y2="{height - 1}" stroke="#8a96a3" '
                   'stroke-dasharray="2 2"/>')
    if np.isfinite(std) and std > 0 and np.isfinite(mean):
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


# ------------------------------------------------------------------ sections


def results_table(report: pd.DataFrame, runs: pd.DataFrame | None = None) -> str:
    """The last iteration of every (method, bank), best mean-class accuracy first."""
    last = last_iteration(report)
    if last.empty:
        return '<p class="note">No results.</p>'
    last = last.sort_values(["mean_class_acc_mean", "top1_mean"], ascending=False, kind="stable")
    several_banks = last.loc[last["bank"] != "", "bank"].nunique() > 1
    ref = last[last["method"] == REFERENCE_METHOD]
    ref_value = float(ref["mean_class_acc_mean"].iloc[0]) if len(ref) else None
    runs = normalize_bank(runs) if runs is not None and len(runs) else None

    def seeds_of(row) -> list[float]:
        if runs is None:
            return []
        chosen = runs[(runs["method"] == row.method) & (runs["bank"] == row.bank) & (runs["iteration"] == row.iteration)]
        return chosen["mean_class_acc"].astype(float).tolist()

    seeds = {i: seeds_of(row) for i, row in zip(last.index, last.itertuples(index=False))}
    values = [v for s in seeds.values() for v in s]
    means, stds = last["mean_class_acc_mean"].astype(float), last["mean_class_acc_std"].astype(float).fillna(0)
    lo = min([*(means - stds), *values]) if len(means) else 0
    hi = max([*(means + stds), *values]) if len(means) else 1
    pad = 0.06 * (hi - lo if hi > lo else 0.01)
    lo, hi = lo - pad, hi + pad

    optional = [c for c in ("retrieval_precision", "projected_share") if c in last and last[c].notna().any()]
    head = ['<th class="l">#</th>', '<th class="l">method</th>', '<th class="l">bank</th>', "<th>iter.</th>",
            "<th>mean-class acc. (%)</th>", '<th class="l">seeds (mean-class acc.)</th>', "<th>top-1 (%)</th>"]
    if ref_value is not None:
        head.append(f'<th title="mean-class accuracy minus {REFERENCE_METHOD}\'s">Δ {REFERENCE_METHOD} (pp)</th>')
    head += ["<th>seeds</th>", "<th>source images</th>", "<th>pairs</th>", "<th>mean K</th>", "<th>train time</th>"]
    if "retrieval_precision" in optional:
        head.append('<th title="share of borrowed source images from a related class (random draw)">'
                    "retrieval precision</th>")
    if "projected_share" in optional:
        head.append('<th title="share of DTNH steps that projected the gradient">projected</th>')
    rows = []
    colors = method_colors(zip(last["method"], last["bank"]))
    for rank, (i, row) in enumerate(zip(last.index, last.itertuples(index=False)), start=1):
        main = row.method == MAIN_METHOD
        n = int(row.n_seeds) if not _missing(row.n_seeds) else None
        color = colors[(row.method, row.bank)]
        cells = [f'<td class="l dim">{rank}</td>',
                 f'<td class="l method"><span style="color:{color}">■</span> {esc(row.method)}</td>',
                 f'<td class="l">{esc(row.bank) if row.bank else "<span class=dim>–</span>"}</td>',
                 f"<td>{int(row.iteration)}</td>",
                 f"<td>{pct_pm(row.mean_class_acc_mean, row.mean_class_acc_std, n)}</td>",
                 f'<td class="l">{forest(row.mean_class_acc_mean, row.mean_class_acc_std, seeds[i], lo, hi, color)}</td>',
                 f"<td>{pct_pm(row.top1_mean, row.top1_std, n)}</td>"]
        if ref_value is not None:
            delta = "" if row.method == REFERENCE_METHOD else signed_pp(row.mean_class_acc_mean - ref_value)
            cells.append(f"<td>{delta}</td>")
        seconds = getattr(row, "train_seconds", np.nan)
        borrowed = [getattr(row, c, None) for c in ("n_source_images", "n_pairs", "mean_k")]
        if all(_missing(v) or float(v) == 0 for v in borrowed):  # borrows nothing
            borrowed_cells = ['<td class="dim">0</td>', '<td class="dim">0</td>', '<td class="dim">–</td>']
        else:
            borrowed_cells = [f"<td>{_int(borrowed[0])}</td>", f"<td>{_int(borrowed[1])}</td>",
                              f"<td>{_float(borrowed[2], 1)}</td>"]
        cells += [f"<td>{n if n is not None else '–'}</td>", *borrowed_cells, f"<td>{_duration(seconds)}</td>"]
        if "retrieval_precision" in optional:
            rp, rnd = row.retrieval_precision, getattr(row, "random_precision", np.nan)
            text = "" if _missing(rp) else f"{rp:.2f}" + ("" if _missing(rnd) else f' <span class="sd">({rnd:.2f})</span>')
            cells.append(f"<td>{text}</td>")
        if "projected_share" in optional:
            cells.append(f"<td>{'' if _missing(row.projected_share) else f'{row.projected_share:.2f}'}</td>")
        label = series_label(row.method, row.bank, several_banks)
        rows.append(f'<tr class="{"main" if main else ""}" title="{esc(label)}">{"".join(cells)}</tr>')
    return f'<table><thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _int(value) -> str:
    return "–" if _missing(value) else f"{round(float(value)):,}"


def _float(value, digits: int) -> str:
    return "–" if _missing(value) else f"{float(value):.{digits}f}"


def _duration(seconds) -> str:
    if _missing(seconds):
        return "–"
    seconds = float(seconds)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _diffs(text) -> list[float]:
    if _missing(text) or str(text).strip() == "":
        return []
    return [float(v) for v in str(text).split(";") if v.strip()]


def paired_table(paired: pd.DataFrame) -> str:
    """Selective minus each baseline, per metric: mean +- std over seeds, wins, and every seed."""
    if paired is None or paired.empty:
        return '<p class="note">No paired differences (they need the selective method and a baseline).</p>'
    paired = normalize_bank(paired)
    metrics = [m for m in METRICS if m in set(paired["metric"])] + sorted(set(paired["metric"]) - set(METRICS))
    keys = list(dict.fromkeys(zip(paired["method"], paired["bank"], paired["baseline"], paired["baseline_bank"])))
    show_method = len({(k[0], k[1]) for k in keys}) > 1
    all_values = [v for t in paired["diffs"] for v in _diffs(t)]
    spread = [abs(m) + (0 if _missing(s) else s) for m, s in zip(paired["diff_mean"], paired["diff_std"])]
    bound = max([abs(v) for v in all_values] + spread + [0.005]) * 1.1
    head = ['<th class="l">method</th>'] if show_method else []
    head.append('<th class="l">minus baseline</th>')
    for metric in metrics:
        name = esc(METRICS.get(metric, metric))
        head += [f"<th>Δ {name} (pp)</th>", '<th class="l">seeds</th>', "<th>wins</th>"]
    head.append('<th class="l">per-seed Δ (pp)</th>')
    rows = []
    for key in keys:
        chosen = paired[(paired["method"] == key[0]) & (paired["bank"] == key[1]) & (paired["baseline"] == key[2])
                        & (paired["baseline_bank"] == key[3])]
        cells = [f'<td class="l method">{esc(series_label(key[0], key[1], True))}</td>'] if show_method else []
        cells.append(f'<td class="l method">{esc(series_label(key[2], key[3], True))}</td>')
        per_seed = ""
        for metric in metrics:
            hit = chosen[chosen["metric"] == metric]
            if hit.empty:
                cells += ["<td></td>"] * 3
                continue
            r = hit.iloc[0]
            n = int(r["n_seeds"]) if not _missing(r["n_seeds"]) else 0
            std = "" if _missing(r["diff_std"]) or n < 2 else f' <span class="sd">± {100 * r["diff_std"]:.1f}</span>'
            diffs = _diffs(r["diffs"])
            color = "#1a7f37" if r["diff_mean"] > 0 else "#b3261e" if r["diff_mean"] < 0 else "#5f6b76"
            cells += [f"<td>{signed_pp(r['diff_mean'])}{std}</td>",
                      f'<td class="l">{forest(r["diff_mean"], r["diff_std"], diffs, -bound, bound, color, zero=True, width=120)}</td>',
                      f"<td>{_int(r['wins'])}/{n}</td>"]
            if metric == metrics[0]:
                per_seed = ", ".join(signed(100 * v) for v in diffs)
        cells.append(f'<td class="l sd">{esc(per_seed)}</td>')
        rows.append(f'<tr>{"".join(cells)}</tr>')
    iteration = ", ".join(str(int(i)) for i in sorted(set(paired["iteration"].dropna())))
    note = (f'<p class="note">Differences at iteration {esc(iteration)}, paired by seed (same seed, same data order); '
            f"a win is a seed where {esc(MAIN_METHOD)} scores higher. The dashed line is zero; dots are seeds; "
            f"per-seed Δ lists {esc(METRICS.get(metrics[0], metrics[0]))}.</p>")
    return f'<table><thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(rows)}</tbody></table>{note}'


def accuracy_charts(report: pd.DataFrame) -> str:
    """Mean-class and top-1 accuracy per iteration, one line (mean +- std band) per (method, bank)."""
    report = normalize_bank(report)
    if report.empty:
        return ""
    keys = list(dict.fromkeys(zip(report["method"], report["bank"])))
    several_banks = len({b for _, b in keys if b}) > 1
    colors = method_colors(keys)
    charts, legend = [], []
    for metric, name in METRICS.items():
        if f"{metric}_mean" not in report:
            continue
        series = []
        # bands for selective and finetune only; the others get error bars, dodged apart
        barred = [k for k in keys if k[0] not in (MAIN_METHOD, REFERENCE_METHOD)]
        span = max(float(report["iteration"].max() - report["iteration"].min()), 1.0)
        for key in keys:
            rows = report[(report["method"] == key[0]) & (report["bank"] == key[1])].sort_values("iteration")
            dodge = (barred.index(key) - (len(barred) - 1) / 2) * 0.012 * span if key in barred else 0.0
            std = rows[f"{metric}_std"] if f"{metric}_std" in rows else pd.Series(np.nan, index=rows.index)
            series.append({"name": series_label(*key, several_banks), "x": rows["iteration"].tolist(),
                           "y": (100 * rows[f"{metric}_mean"].astype(float)).tolist(),
                           "err": (100 * std.astype(float)).tolist(), "color": colors[key],
                           "main": key[0] == MAIN_METHOD, "dashed": key[0] == REFERENCE_METHOD,
                           "band": key not in barred, "dodge": dodge})
        charts.append(f'<div class="chart">{line_chart(series, name.capitalize(), f"{name} (%)")}</div>')
    last = last_iteration(report).set_index(["method", "bank"])
    for key in sorted(keys, key=lambda k: -float(last.loc[k, "mean_class_acc_mean"]) if k in last.index else 0):
        row = last.loc[key] if key in last.index else None
        value = "" if row is None else f" {pct(row['mean_class_acc_mean'])}"
        cls = ' class="main"' if key[0] == MAIN_METHOD else ""
        legend.append(f'<span{cls}><span class="sw" style="background:{colors[key]}"></span>'
                      f'{esc(series_label(*key, several_banks))}<span class="sd">{value}</span></span>')
    return (f'<div class="charts">{"".join(charts)}</div><div class="legend">{"".join(legend)}</div>'
            f'<p class="note">Mean over seeds, ± one standard deviation as a band ({esc(MAIN_METHOD)}, '
            f"{esc(REFERENCE_METHOD)}) or as error bars (the others, drawn slightly apart). A diamond is a "
            "method with a single point (fusion of the iterations). The legend gives the last mean-class accuracy "
            f"(%), best first; the dashed grey line is {esc(REFERENCE_METHOD)}.</p>")


def k_summary(counts: Sequence[np.ndarray]) -> pd.DataFrame:
    """Per iteration, the distribution of K over the target images and how many images grew."""
    rows = []
    for m, k in enumerate(counts):
        k = np.asarray(k)
        grew = float(np.mean(k > counts[m - 1])) if m > 0 and len(counts[m - 1]) == len(k) else float("nan")
        rows.append({"iteration": m, "targets": len(k), "pairs": int(k.sum()), "min": int(k.min()),
                     "q1": float(np.percentile(k, 25)), "median": float(np.median(k)), "q3": float(np.percentile(k, 75)),
                     "max": int(k.max()), "mean": float(k.mean()), "grew": grew})
    return pd.DataFrame(rows)


def k_section(counts: Sequence[np.ndarray], classes: Sequence[str] | None = None,
              report: pd.DataFrame | None = None, max_classes: int = 24) -> str:
    """How hard-sample mining grows K: a table, boxes per iteration, histograms, and the hungriest classes."""
    if not counts:
        return '<p class="note">No neighbour tables of selective were given.</p>'
    summary = k_summary(counts)
    head = "".join(f"<th>{h}</th>" for h in ("iteration", "target images", "pairs", "min", "median", "mean", "max",
                                              "K grew for"))
    body = "".join(
        f"<tr><td>{r.iteration}</td><td>{r.targets:,}</td><td>{r.pairs:,}</td><td>{r.min}</td><td>{r.median:g}</td>"
        f"<td>{r.mean:.1f}</td><td>{r.max}</td><td>{'–' if _missing(r.grew) else f'{100 * r.grew:.0f} %'}</td></tr>"
        for r in summary.itertuples(index=False))
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    lo = float(min(k.min() for k in counts))
    hi = float(max(k.max() for k in counts))
    y_max = max(int(np.unique(k, return_counts=True)[1].max()) for k in counts)
    hists = "".join(histogram(k, f"iteration {m}: images per K", lo, hi, y_max) for m, k in enumerate(counts))
    parts = [(f'<div class="charts"><div class="chart" style="flex-basis:440px;max-width:560px">'
             f'{box_chart(summary, "K per target image")}</div>'
             f'<div style="flex:1 1 600px">{table}<div class="hists">{hists}</div></div></div>')]
    second = []
    if report is not None and "mean_k" in report:
        borrowing = normalize_bank(report)
        borrowing = borrowing[borrowing["mean_k"].notna() & (borrowing["mean_k"] > 0)]
        # methods with one point (fusion) show no growth, nor does joint-all (the whole pool)
        sizes = borrowing.groupby(["method", "bank"], sort=False)["iteration"].transform("nunique")
        borrowing = borrowing[(sizes > 1) & (borrowing["method"] != "joint-all")]
        keys = list(dict.fromkeys(zip(borrowing["method"], borrowing["bank"])))
        if keys and borrowing["iteration"].nunique() > 1:
            colors = method_colors(keys)
            several = len({b for _, b in keys if b}) > 1
            series = []
            for key in keys:
                rows = borrowing[(borrowing["method"] == key[0]) & (borrowing["bank"] == key[1])].sort_values("iteration")
                series.append({"name": series_label(*key, several), "x": rows["iteration"].tolist(),
                               "y": rows["mean_k"].astype(float).tolist(), "color": colors[key],
                               "main": key[0] == MAIN_METHOD})
            legend = "".join(f'<span><span class="sw" style="background:{c}"></span>{esc(series_label(*k, several))}</span>'
                             for k, c in colors.items())
            second.append(f'<div class="chart" style="max-width:560px">'
                          f'{line_chart(series, "Mean K per method (all seeds)", "mean K")}'
                          f'<div class="legend">{legend}</div></div>')
    if classes is not None and len(classes) == len(counts[-1]):
        frame = pd.DataFrame({"cls": list(classes), "k": counts[-1]})
        per_class = frame.groupby("cls", sort=False)["k"].agg(["mean", "size"]).sort_values("mean", ascending=False)
        shown = per_class.head(max_classes)
        title = f"Mean K per class at iteration {len(counts) - 1}" + (
            f" (top {len(shown)} of {len(per_class)})" if len(per_class) > len(shown) else "")
        tips = [f"{c}: mean K {r['mean']:.1f} over {int(r['size'])} images" for c, r in shown.iterrows()]
        second.append(f'<div class="chart">{hbar_chart(list(shown.index), shown["mean"].tolist(), title, tips)}</div>')
    if second:
        parts.append(f'<div class="charts">{"".join(second)}</div>')
    note = ('<p class="note">K is how many source images a target training image borrows (rows of selective\'s '
            "neighbour table, first seed). After each iteration a misclassified image gains sigma0 and a correct but "
            "uncertain one (entropy ≥ delta) sigma1: the boxes show quartiles, the whiskers min and max, the diamond "
            "the mean.</p>")
    return "".join(parts) + note


def neighbour_grid(targets: pd.DataFrame, sources: pd.DataFrame, target_index: np.ndarray, ids: np.ndarray,
                   distances: np.ndarray, thumbnail: Callable[[str], str | None],
                   target_names: dict[str, str] | None = None, source_names: dict[str, str] | None = None,
                   max_classes: int = 24, per_class: int = 1, top: int = 8,
                   k_trail: dict[int, Sequence[int]] | None = None) -> str:
    """The first ``per_class`` training images of each class with their ``top`` nearest source images.

    ``target_index``/``ids``/``distances`` are a kNN index (rows: target images, ids nearest
    first); ``thumbnail`` maps an image path to a data URI (None: unreadable); ``k_trail``
    gives a target image's K per iteration, shown under it.
    """
    target_names, source_names = target_names or {}, source_names or {}
    row_of = {int(t): r for r, t in enumerate(np.asarray(target_index))}
    source_rows = sources.set_index("index")
    chosen = targets[targets["index"].isin(row_of)].sort_values(["label", "index"], kind="stable")
    chosen = chosen.groupby("label", sort=True).head(per_class)
    labels = list(dict.fromkeys(chosen["label"]))
    n_classes = targets["label"].nunique()
    shown_labels = labels[:max_classes]
    chosen = chosen[chosen["label"].isin(shown_labels)]

    def figure(path, caption_html, title, cls=""):
        uri = thumbnail(path)
        image = (f'<img src="{uri}" alt="{esc(title)}" loading="lazy">' if uri
                 else f'<div class="missing" role="img" aria-label="{esc(title)}">missing</div>')
        return f'<figure class="{cls}" title="{esc(title)}">{image}<figcaption>{caption_html}</figcaption></figure>'

    rows = []
    for target in chosen.itertuples(index=False):
        r = row_of[int(target.index)]
        full = target_names.get(str(target.class_name), str(target.class_name))
        trail = ""
        if k_trail and int(target.index) in k_trail:
            trail = f'<span class="k">K {"→".join(str(int(k)) for k in k_trail[int(target.index)])}</span>'
        cells = [figure(target.path, f'<span class="name">{esc(short_name(full))}</span>{trail}',
                        f"target: {full} ({target.class_name}), image {target.index}", "target")]
        for rank in range(min(top, ids.shape[1])):
            sid = int(ids[r, rank])
            if sid not in source_rows.index:
                continue
            source = source_rows.loc[sid]
            sfull = source_names.get(str(source["class_name"]), str(source["class_name"]))
            distance = float(distances[r, rank])
            caption = f'{esc(short_name(sfull))}<br><span class="d">{distance:.3g}</span>'
            cells.append(figure(source["path"], caption,
                                f"#{rank + 1}: {sfull} ({source['class_name']}), source image {sid}, distance {distance:.4g}"))
        rows.append(f'<div class="nrow">{"".join(cells)}</div>')
    shown = f"{len(shown_labels)} of {n_classes} classes" if len(shown_labels) < n_classes else f"all {n_classes} classes"
    note = (f'<p class="note">Showing {shown}, {per_class} training image{"s" if per_class > 1 else ""} each (framed), '
            f"followed by its {top} nearest source images, nearest first: source class and distance (weighted "
            "symmetric KL of the filter-response histograms; smaller is closer).</p>")
    return note + f'<div class="grid">{"".join(rows)}</div>'


def key_figures(report: pd.DataFrame, paired: pd.DataFrame | None) -> str:
    """A few cards: selective's last accuracy, the best other method, selective minus finetune."""
    last = last_iteration(report)
    if last.empty:
        return ""
    cards = []
    main = last[last["method"] == MAIN_METHOD]
    if len(main):
        r = main.iloc[0]
        bank = f" [{r['bank']}]" if r["bank"] else ""
        cards.append(f'<div class="card main"><div class="label">{esc(MAIN_METHOD + bank)}, iteration '
                     f'{int(r["iteration"])}</div><div class="value">{pct(r["mean_class_acc_mean"])}'
                     f'<small> %{"" if _missing(r["mean_class_acc_std"]) or r["n_seeds"] < 2 else " ± " + pct(r["mean_class_acc_std"])}'
                     f'</small></div><div class="sub">mean-class accuracy, {int(r["n_seeds"])} seed(s); '
                     f'top-1 {pct(r["top1_mean"])} %</div></div>')
    others = last[last["method"] != MAIN_METHOD].sort_values("mean_class_acc_mean", ascending=False)
    if len(others):
        r = others.iloc[0]
        bank = f" [{r['bank']}]" if r["bank"] else ""
        cards.append(f'<div class="card"><div class="label">best other method</div><div class="value">'
                     f'{pct(r["mean_class_acc_mean"])}<small> %</small></div><div class="sub">'
                     f'{esc(r["method"] + bank)}, iteration {int(r["iteration"])}</div></div>')
    if paired is not None and len(paired):
        hit = normalize_bank(paired)
        hit = hit[(hit["baseline"] == REFERENCE_METHOD) & (hit["metric"] == "mean_class_acc")]
        if len(main):  # the same selective (bank) as the first card
            hit = hit[hit["bank"] == main.iloc[0]["bank"]]
        if len(hit):
            r = hit.iloc[0]
            cards.append(f'<div class="card"><div class="label">{esc(MAIN_METHOD)} − {esc(REFERENCE_METHOD)}</div>'
                         f'<div class="value">{signed_pp(r["diff_mean"])}<small> pp</small></div>'
                         f'<div class="sub">mean-class accuracy; wins {_int(r["wins"])} of {int(r["n_seeds"])} '
                         f"seed(s)</div></div>")
    if len(main) and "n_source_images" in main:
        r = main.iloc[0]
        cards.append(f'<div class="card"><div class="label">borrowed by {esc(MAIN_METHOD)}</div><div class="value">'
                     f'{_int(r["n_source_images"])}</div><div class="sub">distinct source images, '
                     f'{_int(r.get("n_pairs"))} target-source pairs, mean K {_float(r.get("mean_k"), 1)}</div></div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def build_page(target: str, report: pd.DataFrame, paired: pd.DataFrame | None, runs: pd.DataFrame | None,
               grids: dict[str, str], k_html: str, facts: dict[str, str] | None = None) -> str:
    """The whole page from its parts (``grids``: neighbour grid HTML per bank)."""
    facts = facts or {}
    meta = "".join(f"<li>{esc(k)} <b>{esc(v)}</b></li>" for k, v in facts.items())
    sections = [("results", "Results"), ("paired", "Paired differences"), ("curves", "Accuracy per iteration"),
                ("k", "Hard-sample mining: K per iteration")]
    sections += [(f"neighbours-{i}", f"Retrieved neighbours, {bank} bank") for i, bank in enumerate(grids)]
    nav = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title in sections)
    body = [
        f"<header><h1>Selective joint fine-tuning: {esc(target)}</h1>",
        ('<p class="lede">Every target training image borrows the source images whose low-level filter-response '
        "histograms are nearest to its own (symmetric KL), and the network learns both tasks at once on a shared "
        "backbone. After each iteration, target images that are misclassified or uncertain borrow more source "
        "images. Accuracy is measured on the target test split; mean ± standard deviation over seeds.</p>"),
        f'<ul class="meta">{meta}</ul><nav>{nav}</nav></header>',
        key_figures(report, paired),
        ('<h2 id="results">Results</h2><p class="note">Last iteration of every method, best mean-class accuracy '
        f"first; {esc(MAIN_METHOD)} highlighted. The seeds column is a forest plot on a common axis: bar ± one "
        "std, tick the mean, dots the seeds. pp = percentage points.</p>"),
        results_table(report, runs),
        ('<p class="note"><b>One seed only:</b> no standard deviations, and differences of a point or two may be '
         "noise; run more seeds to rank close methods.</p>" if report["n_seeds"].max() < 2 else ""),
        f'<h2 id="paired">Paired differences: {esc(MAIN_METHOD)} minus each baseline</h2>',
        paired_table(paired),
        '<h2 id="curves">Accuracy per iteration</h2>',
        accuracy_charts(report),
        '<h2 id="k">Hard-sample mining: K per iteration</h2>',
        k_html,
    ]
    for i, (bank, grid) in enumerate(grids.items()):
        body.append(f'<h2 id="neighbours-{i}">Retrieved neighbours, {esc(bank)} bank</h2>{grid}')
    body.append('<footer>Made by <code>python -m workflow report-html</code> from report.csv, paired.csv, runs.csv, '
                "the manifests, the kNN indexes and selective's neighbour tables. Self-contained: no scripts, no "
                "network.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>SJFT report: {esc(target)}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
