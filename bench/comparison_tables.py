"""The comparison tables of BENCHMARKS.md, from one target's report files.

Reads results/<target>/report.csv (over seeds), runs.csv (per seed) and paired.csv (selective
and fusion minus every other row, seed by seed) and prints three markdown tables: the last
iteration of every method, the paired differences in mean-class accuracy with their 95% t
interval over seeds and verdict, and accuracy per iteration.

    python bench/comparison_tables.py results/invertebrates
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from workflow.statistics import FROM_IMAGES


def label(method: str, bank) -> str:
    return f"{method} [{bank}]" if isinstance(bank, str) and bank else method


def last_iteration_table(report: pd.DataFrame, runs: pd.DataFrame) -> str:
    fused = report[report["method"] == "fusion"]
    last = pd.concat([report[report["iteration"] == report["iteration"].max()], fused]).drop_duplicates()
    seconds = runs.assign(bank=runs["bank"].fillna("")).groupby(["method", "bank"])["train_seconds"].sum()
    seconds /= runs["seed"].nunique()
    lines = ["| method | bank | mean-class acc. | top-1 | distinct source images | mean K | train s (all iterations) "
             "| projected share |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in last.sort_values("mean_class_acc_mean", ascending=False).itertuples(index=False):
        bank = row.bank if isinstance(row.bank, str) else ""
        train_s = seconds.get((row.method, bank), float("nan"))
        projected = "" if pd.isna(row.projected_share) else f"{row.projected_share:.2f}"
        lines.append(f"| {row.method} | {bank} | {100 * row.mean_class_acc_mean:.1f} ± {100 * row.mean_class_acc_std:.1f} "
                     f"| {100 * row.top1_mean:.1f} | {row.n_source_images:,.0f} | {row.mean_k:.0f} "
                     f"| {'' if pd.isna(train_s) else f'{train_s:.0f}'} | {projected} |")
    return "\n".join(lines)


def paired_table(paired: pd.DataFrame) -> str:
    lines = ["| method | minus | difference (points, mean [95% interval]) | per seed | seeds won | verdict |",
             "| --- | --- | --- | --- | --- | --- |"]
    paired = paired[paired["metric"] == "mean_class_acc"]
    for (method, bank), group in paired.groupby(["method", paired["bank"].fillna("")], sort=False):
        for row in group.sort_values("diff_mean").itertuples(index=False):
            diffs = " / ".join(f"{100 * float(d):+.1f}" for d in str(row.diffs).split(";") if d)
            low, high = (row.boot_low, row.boot_high) if row.verdict_from == FROM_IMAGES else (row.ci_low, row.ci_high)
            interval = "" if pd.isna(low) else f" [{100 * low:+.2f}, {100 * high:+.2f}]"
            lines.append(f"| {label(method, bank)} | {label(row.baseline, row.baseline_bank)} | "
                         f"{100 * row.diff_mean:+.2f}{interval} | {diffs} | {row.wins}/{row.n_seeds} | "
                         f"{row.verdict} ({row.verdict_from}) |")
    return "\n".join(lines)


def per_iteration_table(report: pd.DataFrame) -> str:
    trained = report[report["method"] != "fusion"].copy()
    trained["run"] = [label(m, b) for m, b in zip(trained["method"], trained["bank"])]
    table = trained.pivot_table(index="run", columns="iteration", values="mean_class_acc_mean", sort=False)
    lines = ["| method | " + " | ".join(f"iteration {i}" for i in table.columns) + " |",
             "| --- |" + " --- |" * len(table.columns)]
    for run, values in table.iterrows():
        lines.append(f"| {run} | " + " | ".join(f"{100 * v:.1f}" for v in values) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="results/<target>")
    args = parser.parse_args()
    folder = Path(args.results)
    report, runs, paired = (pd.read_csv(folder / f"{name}.csv") for name in ("report", "runs", "paired"))
    print("Last iteration (fusion: the averaged iterations), mean-class accuracy in percent, mean ± std over seeds:\n")
    print(last_iteration_table(report, runs))
    print("\nPaired differences in mean-class accuracy, last iteration, seed by seed:\n")
    print(paired_table(paired))
    print("\nMean-class accuracy per iteration (mean over seeds):\n")
    print(per_iteration_table(report))


if __name__ == "__main__":
    main()
