"""The paper table of a target: table.md and table.tex (booktabs), from report.csv and paired.csv.

One row per method at its last iteration (fusion: the average of selective's iterations), named
as the paper's tables name them (``methods.Method.paper_name``): mean-class accuracy and top-1 as
mean +- standard deviation over seeds, and selective's paired difference to the row (the main
filter bank's selective, in mean-class accuracy) with its 95% interval and verdict from
paired.csv (``workflow.statistics``: the t interval over seeds, or with one seed the bootstrap
over test images). The caption says the seeds, the test split's size and how the interval was
made, so that the table can be pasted as it is.
"""

from __future__ import annotations

import math

import pandas as pd

from .methods import METHODS, SELECTIVE
from .statistics import FROM_IMAGES, FROM_SEEDS

HEADER = ("Method", "Mean-class acc. (%)", "Top-1 (%)", "Selective minus row (points) [95% interval]", "Verdict")
LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$"}


def paper_name(method: str, bank: str, banks: int) -> str:
    """The paper's name of a method's row, with its filter bank when the report has several."""
    name = METHODS[method].paper_name if method in METHODS else method
    return f"{name} ({bank} bank)" if bank and banks > 1 else name


def table_rows(report: pd.DataFrame, paired: pd.DataFrame, main_bank: str) -> list[dict]:
    """The rows of the table, best mean-class accuracy first: name, the accuracies, the difference."""
    report = report.assign(bank=report["bank"].fillna(""))
    paired = paired.assign(bank=paired["bank"].fillna(""), baseline_bank=paired["baseline_bank"].fillna(""))
    last = report[report["iteration"] == report["iteration"].max()]  # fusion's row is the last iteration's too
    versus = paired[(paired["method"] == SELECTIVE) & (paired["bank"] == main_bank)
                    & (paired["metric"] == "mean_class_acc")].set_index(["baseline", "baseline_bank"])
    banks = report.loc[report["bank"] != "", "bank"].nunique()
    rows = []
    for row in last.sort_values("mean_class_acc_mean", ascending=False).itertuples(index=False):
        entry = {"name": paper_name(row.method, row.bank, banks), "method": row.method, "bank": row.bank,
                 "mean_class": (row.mean_class_acc_mean, row.mean_class_acc_std),
                 "top1": (row.top1_mean, row.top1_std), "difference": None, "verdict": ""}
        if (row.method, row.bank) in versus.index:
            compared = versus.loc[(row.method, row.bank)]
            images = compared["verdict_from"] == FROM_IMAGES
            low, high = (compared["boot_low"], compared["boot_high"]) if images else (compared["ci_low"], compared["ci_high"])
            entry.update(difference=(compared["diff_mean"], low, high), verdict=compared["verdict"])
        rows.append(entry)
    return rows


def _points(mean: float, std: float) -> str:
    return f"{100 * mean:.1f}" + ("" if std is None or not math.isfinite(std) else f" ± {100 * std:.1f}")


def _difference(difference) -> str:
    if difference is None:
        return "(reference)"
    mean, low, high = difference
    interval = f" [{100 * low:+.1f}, {100 * high:+.1f}]" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{100 * mean:+.1f}{interval}"


def caption(target: str, seeds: list[int], n_test: int, paired: pd.DataFrame, main_bank: str) -> str:
    """What the table shows, on which data, and how sure it is."""
    text = (f"{target}: accuracy on the test split ({n_test:,} images), mean ± standard deviation over "
            f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))}), at each method's "
            "last iteration.")
    if not len(paired):
        return text + " No paired differences: the report has no selective run."
    how = {FROM_SEEDS: "95% t interval over seeds",
           FROM_IMAGES: "95% paired bootstrap over test images (one seed: no interval over seeds)"}.get(
        paired["verdict_from"].iloc[0], "no interval (one seed, and no answers per test image)")
    return (f"{text} Last columns: selective joint fine-tuning ({main_bank} bank) minus the row in mean-class "
            f"accuracy, paired by seed, with its {how}; the verdict says whether selective is better than the row, "
            "tied with it or worse at 95%.")


def markdown(rows: list[dict], caption_text: str) -> str:
    lines = [f"| {' | '.join(HEADER)} |", "|" + " --- |" * len(HEADER)]
    for row in rows:
        cells = [row["name"], _points(*row["mean_class"]), _points(*row["top1"]), _difference(row["difference"]),
                 row["verdict"]]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines) + f"\n\n{caption_text}\n"


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in text)


def _latex_number(text: str) -> str:
    """A figure's cell in LaTeX: escaped, its signs in math mode (a text hyphen is no minus)."""
    return latex_escape(text).replace("+", "$+$").replace("-", "$-$")


def latex(rows: list[dict], caption_text: str, label: str) -> str:
    """A booktabs table (\\usepackage{booktabs}) to \\input into a paper."""
    header = [latex_escape(h).replace("[95\\% interval]", "[95\\% CI]") for h in HEADER]
    body = []
    for row in rows:
        cells = [latex_escape(row["name"]), _latex_number(_points(*row["mean_class"])),
                 _latex_number(_points(*row["top1"])), _latex_number(_difference(row["difference"])),
                 latex_escape(row["verdict"])]
        body.append(" & ".join(cells) + r" \\")
    return "\n".join([
        r"% made by the sjft workflow (python -m workflow paper-table); needs \usepackage{booktabs}",
        r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(caption_text)}}}", rf"\label{{{label}}}",
        r"\begin{tabular}{lcccc}", r"\toprule", " & ".join(header) + r" \\", r"\midrule", *body, r"\bottomrule",
        r"\end{tabular}", r"\end{table}", ""])
