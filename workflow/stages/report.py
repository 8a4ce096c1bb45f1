"""The report stage: the comparison tables, written, and the summary printed."""

from __future__ import annotations

import logging

import pandas as pd

from ..datasets import read_manifest
from ..io import atomic_path, write_csv
from ..leakage import read_exclusions
from ..report import build_runs, last_answers, paired_differences, summarize
from ..tables import caption, latex, markdown, table_rows

log = logging.getLogger(__name__)


def report(target_name: str, run_folders: list[str], target_manifest: str, source_manifest: str, out: str,
           runs_out: str, paired_out: str, relations: str | None = None, leakage: str | None = None,
           exclude_splits: list[str] = ()) -> None:
    """The comparison tables of one target: runs.csv, report.csv and paired.csv (``workflow.report``).

    Args:
        target_name: the target's name (a column of the tables)
        run_folders: every run's folders, in the order of the rows: results/<target>/<run>/seed-<s>/iter-<m>
            of trained runs, results/<target>/<run>/seed-<s> of fusion
        target_manifest: the target's train manifest
        source_manifest: the source pool's manifest
        out: report.csv: over seeds
        runs_out: runs.csv: per seed
        paired_out: paired.csv: selective and fusion minus every other row, per metric, with intervals and tests
        relations: related-classes table of target and source (scores the retrieved images)
        leakage: leakage.csv of the leakage audit (the excluded_sources column)
        exclude_splits: the target splits whose source duplicates no method borrowed
    """
    excluded = len(read_exclusions(leakage, exclude_splits))
    per_seed = build_runs(run_folders, target_name, target_manifest, source_manifest, relations, excluded)
    summary = summarize(per_seed)
    answers = last_answers(run_folders)
    paired = pd.concat([paired_differences(per_seed, metric, answers) for metric in ("mean_class_acc", "top1")],
                       ignore_index=True)
    write_csv(per_seed, runs_out)
    write_csv(paired, paired_out)
    write_csv(summary, out)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(summary.drop(columns=["target"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if leakage:
            pairs = pd.read_csv(leakage)
            print(f"leakage audit: {pairs.loc[pairs['split'] == 'test', 'target_index'].nunique()} test and "
                  f"{pairs.loc[pairs['split'] == 'train', 'target_index'].nunique()} train images have duplicates in "
                  f"the source pool; {excluded} source images kept out of every borrowing method ({leakage})")
        if len(paired):
            shown = ["method", "bank", "baseline", "baseline_bank", "metric", "n_seeds", "diff_mean", "ci_low",
                     "ci_high", "p_mcnemar", "boot_low", "boot_high", "verdict"]
            print(paired[shown].to_string(index=False, float_format=lambda v: f"{v:.4f}",
                                          formatters={"p_mcnemar": lambda v: f"{v:.2g}"}))
            for column in ("ci_method", "test", "boot_method", "verdict_from"):  # how the 95% figures were made
                print(f"{column}: {'; '.join(paired[column].unique())}")


def paper_table(report: str, runs: str, paired: str, test_manifest: str, target_name: str, main_bank: str,
                out_md: str, out_tex: str) -> None:
    """The target's table for a paper: table.md and table.tex (booktabs), from report.csv and paired.csv
    (``workflow.tables``).

    Args:
        report: report.csv (over seeds)
        runs: runs.csv (per seed: the caption's seeds)
        paired: paired.csv (selective minus every other row, with intervals and verdicts)
        test_manifest: the target's test manifest (its size goes in the caption)
        target_name: the target's name (the caption, the LaTeX label)
        main_bank: the filter bank of the selective run the rows are compared with (the first of bank.names)
        out_md: table.md
        out_tex: table.tex
    """
    summary, pairs = pd.read_csv(report, keep_default_na=False, na_values=[""]), pd.read_csv(paired)
    seeds = sorted(int(seed) for seed in pd.read_csv(runs)["seed"].unique())
    rows = table_rows(summary, pairs, main_bank)
    text = caption(target_name, seeds, len(read_manifest(test_manifest)), pairs, main_bank)
    with atomic_path(out_md) as tmp:
        tmp.write_text(markdown(rows, text))
    with atomic_path(out_tex) as tmp:
        tmp.write_text(latex(rows, text, f"tab:sjft-{target_name}"))
    log.info("%s and %s: %d rows", out_md, out_tex, len(rows))
