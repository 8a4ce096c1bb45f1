"""Hard-sample mining on the page: how K, the source images a target image borrows, grows.

Per iteration: a table of K's distribution, box plots, histograms; mean K per method; and the
classes whose images borrow the most at the last iteration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .charts import box_chart, hbar_chart, histogram, line_chart
from .methods import MAIN_METHOD, method_colors, normalize_bank, series_label
from .text import esc, missing


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
        f"<td>{r.mean:.1f}</td><td>{r.max}</td><td>{'–' if missing(r.grew) else f'{100 * r.grew:.0f} %'}</td></tr>"
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
