"""The whole page: its inline CSS, header, navigation and the sections in order."""

from __future__ import annotations

import pandas as pd

from ..methods import FUSION
from .methods import MAIN_METHOD
from .results import accuracy_charts, key_figures, paired_table, results_table
from .text import esc

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
.smalls { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 6px 16px; }
.smalls svg { width: 100%; height: auto; display: block; }
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
.pairs { display: flex; flex-wrap: wrap; gap: 10px 18px; }
.pair { display: flex; align-items: center; gap: 4px; padding: 4px 6px; border: 1px solid var(--line); border-radius: 6px; }
.pair .d { font-size: 11px; color: var(--muted); width: 58px; text-align: center; }
.warn { background: #fff4e5; border-left: 3px solid #e8a33d; padding: 6px 10px; max-width: 1000px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 10px; }
code { font-size: 12px; background: var(--soft); padding: 0 4px; border-radius: 3px; }
"""


def build_page(target: str, report: pd.DataFrame, paired: pd.DataFrame | None, runs: pd.DataFrame | None,
               grids: dict[str, str], k_html: str, facts: dict[str, str] | None = None, leakage_html: str = "",
               curves_html: str = "") -> str:
    """The whole page from its parts (``grids``: neighbour grid HTML per bank; ``leakage_html``: the
    leakage audit's section, ``curves_html`` the training curves', none without them)."""
    facts = facts or {}
    meta = "".join(f"<li>{esc(k)} <b>{esc(v)}</b></li>" for k, v in facts.items())
    sections = [("results", "Results"), ("paired", "Paired differences"), ("curves", "Accuracy per iteration")]
    sections += [("training", "Training curves")] if curves_html else []
    sections += [("k", "Hard-sample mining: K per iteration")]
    sections += [(f"neighbours-{i}", f"Retrieved neighbours, {bank} bank") for i, bank in enumerate(grids)]
    sections += [("leakage", "Leakage audit")] if leakage_html else []
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
        f'<h2 id="paired">Paired differences: {esc(MAIN_METHOD)} and {esc(FUSION)} minus every other method</h2>',
        paired_table(paired),
        '<h2 id="curves">Accuracy per iteration</h2>',
        accuracy_charts(report),
        f'<h2 id="training">Training curves</h2>{curves_html}' if curves_html else "",
        '<h2 id="k">Hard-sample mining: K per iteration</h2>',
        k_html,
    ]
    for i, (bank, grid) in enumerate(grids.items()):
        body.append(f'<h2 id="neighbours-{i}">Retrieved neighbours, {esc(bank)} bank</h2>{grid}')
    if leakage_html:
        body.append(f'<h2 id="leakage">Leakage audit: source images that duplicate target images</h2>{leakage_html}')
    body.append('<footer>Made by <code>python -m workflow report-html</code> from report.csv, paired.csv, runs.csv, '
                "the runs' epochs.csv, the manifests, the kNN indexes, selective's neighbour tables and the leakage "
                "audit. Self-contained: no scripts, no network.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>SJFT report: {esc(target)}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
