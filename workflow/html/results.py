"""The accuracy sections of the page, in page order.

Key figures (cards); the results table (last iteration of every method, mean +- std over
seeds, a forest plot of the seeds); the paired differences of selective and fusion to every
other row, with the 95% interval and verdict of ``workflow.statistics``; accuracy per
iteration, one line per (method, bank).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..statistics import BETTER, FROM_IMAGES, TIED, WORSE
from .charts import forest, line_chart
from .methods import (
    MAIN_METHOD,
    METRICS,
    REFERENCE_METHOD,
    last_iteration,
    method_colors,
    normalize_bank,
    series_label,
)
from .text import decimal, duration, esc, integer, missing, pct, pct_pm, signed, signed_pp


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
                     f'<small> %{"" if missing(r["mean_class_acc_std"]) or r["n_seeds"] < 2 else " ± " + pct(r["mean_class_acc_std"])}'
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
        hit = hit[(hit["method"] == MAIN_METHOD) & (hit["baseline"] == REFERENCE_METHOD)
                  & (hit["metric"] == "mean_class_acc")]
        if len(main):  # the same selective (bank) as the first card
            hit = hit[hit["bank"] == main.iloc[0]["bank"]]
        if len(hit):
            r = hit.iloc[0]
            verdict = "" if missing(r.get("verdict")) else f'; <b>{esc(r["verdict"])}</b>'
            cards.append(f'<div class="card"><div class="label">{esc(MAIN_METHOD)} − {esc(REFERENCE_METHOD)}</div>'
                         f'<div class="value">{signed_pp(r["diff_mean"])}<small> pp'
                         f'{_interval_text(verdict_interval(r))}</small></div>'
                         f'<div class="sub">mean-class accuracy, 95% interval{verdict}; wins {integer(r["wins"])} of '
                         f'{int(r["n_seeds"])} seed(s)</div></div>')
    if len(main) and "n_source_images" in main:
        r = main.iloc[0]
        cards.append(f'<div class="card"><div class="label">borrowed by {esc(MAIN_METHOD)}</div><div class="value">'
                     f'{integer(r["n_source_images"])}</div><div class="sub">distinct source images, '
                     f'{integer(r.get("n_pairs"))} target-source pairs, mean K {decimal(r.get("mean_k"), 1)}</div></div>')
    return f'<div class="cards">{"".join(cards)}</div>'


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
        n = int(row.n_seeds) if not missing(row.n_seeds) else None
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
        if all(missing(v) or float(v) == 0 for v in borrowed):  # borrows nothing
            borrowed_cells = ['<td class="dim">0</td>', '<td class="dim">0</td>', '<td class="dim">–</td>']
        else:
            borrowed_cells = [f"<td>{integer(borrowed[0])}</td>", f"<td>{integer(borrowed[1])}</td>",
                              f"<td>{decimal(borrowed[2], 1)}</td>"]
        cells += [f"<td>{n if n is not None else '–'}</td>", *borrowed_cells, f"<td>{duration(seconds)}</td>"]
        if "retrieval_precision" in optional:
            rp, rnd = row.retrieval_precision, getattr(row, "random_precision", np.nan)
            text = "" if missing(rp) else f"{rp:.2f}" + ("" if missing(rnd) else f' <span class="sd">({rnd:.2f})</span>')
            cells.append(f"<td>{text}</td>")
        if "projected_share" in optional:
            cells.append(f"<td>{'' if missing(row.projected_share) else f'{row.projected_share:.2f}'}</td>")
        label = series_label(row.method, row.bank, several_banks)
        rows.append(f'<tr class="{"main" if main else ""}" title="{esc(label)}">{"".join(cells)}</tr>')
    return f'<table><thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _diffs(text) -> list[float]:
    if missing(text) or str(text).strip() == "":
        return []
    return [float(v) for v in str(text).split(";") if v.strip()]


def verdict_interval(row: pd.Series) -> tuple[float, float]:
    """The 95% interval a paired row's verdict reads: over test images when it says so, else over seeds."""
    ends = ("boot_low", "boot_high") if row.get("verdict_from") == FROM_IMAGES else ("ci_low", "ci_high")
    return tuple(np.nan if missing(row.get(e)) else float(row.get(e)) for e in ends)


def _interval_text(interval: tuple[float, float]) -> str:
    """``[+0.4, +6.6]`` in percentage points, or nothing without an interval."""
    if not all(np.isfinite(interval)):
        return ""
    return f' <span class="sd">[{signed(100 * interval[0])}, {signed(100 * interval[1])}]</span>'


def _verdict_cell(row: pd.Series) -> str:
    verdict = "" if missing(row.get("verdict")) else str(row.get("verdict"))
    cls = {BETTER: "pos", WORSE: "neg", TIED: "zero"}.get(verdict, "dim")
    return f'<td class="l"><span class="{cls}" title="{esc(row.get("verdict_from", ""))}">{esc(verdict)}</span></td>'


def paired_table(paired: pd.DataFrame) -> str:
    """Selective and fusion minus every other row, per metric: the mean difference with its 95% interval
    (drawn as a whisker over the seeds' dots), wins and verdict; McNemar's p; every seed."""
    if paired is None or paired.empty:
        return '<p class="note">No paired differences (they need the selective method and a baseline).</p>'
    paired = normalize_bank(paired)
    metrics = [m for m in METRICS if m in set(paired["metric"])] + sorted(set(paired["metric"]) - set(METRICS))
    keys = list(dict.fromkeys(zip(paired["method"], paired["bank"], paired["baseline"], paired["baseline_bank"])))
    show_method = len({(k[0], k[1]) for k in keys}) > 1
    all_values = [v for t in paired["diffs"] for v in _diffs(t)] + [abs(v) for v in paired["diff_mean"]]
    ends = [abs(v) for _, r in paired.iterrows() for v in verdict_interval(r) if np.isfinite(v)]
    near = max([abs(v) for v in all_values] + [0.005])
    bound = min(max([near, *ends]), 3 * near) * 1.1  # a wide interval runs off the edge rather than squash the dots
    head = ['<th class="l">method</th>'] if show_method else []
    head.append('<th class="l">minus</th>')
    for metric in metrics:
        name = esc(METRICS.get(metric, metric))
        head += [f'<th title="mean over seeds [95% interval]">Δ {name} (pp)</th>', '<th class="l">seeds</th>',
                 "<th>wins</th>", '<th class="l">verdict</th>']
    head += ['<th title="exact McNemar test on top-1 over every test image of every seed">p (McNemar)</th>',
             '<th class="l">per-seed Δ (pp)</th>']
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
                cells += ["<td></td>"] * 4
                continue
            r = hit.iloc[0]
            n = int(r["n_seeds"]) if not missing(r["n_seeds"]) else 0
            interval = verdict_interval(r)
            diffs = _diffs(r["diffs"])
            color = "#1a7f37" if r["diff_mean"] > 0 else "#b3261e" if r["diff_mean"] < 0 else "#5f6b76"
            plot = forest(r["diff_mean"], np.nan, diffs, -bound, bound, color, zero=True, width=120, interval=interval)
            cells += [f"<td>{signed_pp(r['diff_mean'])}{_interval_text(interval)}</td>", f'<td class="l">{plot}</td>',
                      f"<td>{integer(r['wins'])}/{n}</td>", _verdict_cell(r)]
            if metric == metrics[0]:
                per_seed = ", ".join(signed(100 * v) for v in diffs)
        p = chosen.iloc[0].get("p_mcnemar")
        cells += [f"<td>{'–' if missing(p) else f'{float(p):.2g}'}</td>", f'<td class="l sd">{esc(per_seed)}</td>']
        rows.append(f'<tr>{"".join(cells)}</tr>')
    iteration = ", ".join(str(int(i)) for i in sorted(set(paired["iteration"].dropna())))
    note = (f'<p class="note">Differences at iteration {esc(iteration)}, paired by seed (same seed, same data order); '
            "a win is a seed where the first method scores higher. In brackets, and drawn as a whisker over the "
            "seeds' dots (dashed line: zero), the 95% interval the verdict reads: Student's t over the seeds "
            "(n − 1 degrees of freedom) with two seeds or more, else a paired bootstrap over the test images. "
            "<b>better</b> or <b>worse</b>: the interval excludes zero; <b>tied</b>: it holds zero, so the data "
            "cannot tell the two apart. p (McNemar): exact McNemar test on top-1 over every test image of every "
            "seed; it sees the test set's noise, not the seed-to-seed noise of training. "
            f"Per-seed Δ lists {esc(METRICS.get(metrics[0], metrics[0]))}.</p>")
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
