"""The paper table (table.md, table.tex): the paper's row names, the figures of report.csv and
paired.csv as they are, the interval the verdict read, and LaTeX that a paper can \\input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from workflow.methods import METHODS
from workflow.report import paired_differences
from workflow.stages.report import paper_table
from workflow.tables import latex_escape


def made_up(tmp_path, seeds):
    """runs.csv / report.csv / paired.csv of finetune, selective (two banks) and fusion over ``seeds``."""
    rng = np.random.default_rng(0)
    level = {("finetune", ""): 0.70, ("selective", "gabor"): 0.80, ("selective", "cnn"): 0.78, ("fusion", "gabor"): 0.81}
    rows = [{"target": "t", "method": m, "bank": b, "seed": s, "iteration": 1,
             "top1": v + rng.normal(0, 0.01), "mean_class_acc": v + rng.normal(0, 0.01)}
            for (m, b), v in level.items() for s in seeds]
    runs = pd.DataFrame(rows)
    report = (runs.groupby(["target", "method", "bank", "iteration"])
              .agg(n_seeds=("seed", "size"), top1_mean=("top1", "mean"), top1_std=("top1", "std"),
                   mean_class_acc_mean=("mean_class_acc", "mean"), mean_class_acc_std=("mean_class_acc", "std"))
              .reset_index())
    paired = paired_differences(runs)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    report.to_csv(tmp_path / "report.csv", index=False)
    paired.to_csv(tmp_path / "paired.csv", index=False)
    pd.DataFrame({"index": range(120), "path": "x", "label": 0, "class_name": "a"}).to_csv(tmp_path / "test.csv",
                                                                                        index=False)
    return report, paired


def write(tmp_path, seeds):
    report, paired = made_up(tmp_path, seeds)
    paper_table(str(tmp_path / "report.csv"), str(tmp_path / "runs.csv"), str(tmp_path / "paired.csv"),
                str(tmp_path / "test.csv"), "my_target", "gabor", str(tmp_path / "table.md"), str(tmp_path / "table.tex"))
    return report, paired, (tmp_path / "table.md").read_text(), (tmp_path / "table.tex").read_text()


def test_the_markdown_table_carries_the_reports_figures_and_selectives_intervals(tmp_path):
    report, paired, text, _ = write(tmp_path, [0, 1, 2])
    lines = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [line.split(" | ")[0][2:] for line in lines] == [  # best first, the paper's names, banks named
        f"{METHODS['fusion'].paper_name} (gabor bank)", f"{METHODS['selective'].paper_name} (gabor bank)",
        f"{METHODS['selective'].paper_name} (cnn bank)", METHODS["finetune"].paper_name]
    finetune = report[report.method == "finetune"].iloc[0]
    versus = paired[(paired.method == "selective") & (paired.bank == "gabor") & (paired.baseline == "finetune")].iloc[0]
    row = lines[-1]
    assert f"{100 * finetune.mean_class_acc_mean:.1f} ± {100 * finetune.mean_class_acc_std:.1f}" in row
    assert f"{100 * versus.diff_mean:+.1f} [{100 * versus.ci_low:+.1f}, {100 * versus.ci_high:+.1f}]" in row
    assert row.endswith(f"| {versus.verdict} |") and versus.verdict == "better"
    assert "(reference)" in lines[1]
    assert "3 seeds (0, 1, 2)" in text and "120 images" in text and "t interval over seeds" in text


def test_one_seed_reads_no_interval_over_seeds(tmp_path):
    _, _, text, _ = write(tmp_path, [4])
    assert "1 seed (4)" in text and "no interval (one seed" in text  # made-up runs: no answers per image
    assert " ± " not in text.split("\n\n")[0]  # no standard deviation of one seed


def test_the_latex_table_is_balanced_booktabs_with_everything_escaped(tmp_path):
    _, _, _, latex = write(tmp_path, [0, 1])
    assert latex.count(r"\begin{") == latex.count(r"\end{") == 2  # table, tabular
    assert all(rule in latex for rule in (r"\toprule", r"\midrule", r"\bottomrule"))
    body = latex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    assert len(body) == 4 and all(line.endswith(r"\\") and line.count(" & ") == 4 for line in body)
    assert r"\label{tab:sjft-my_target}" in latex and r"$\pm$" in latex  # a label needs no escapes
    text = "\n".join(line for line in latex.splitlines()[1:] if not line.startswith(r"\label"))
    unescaped = re.sub(r"\\[%_&#$]", "", text)
    assert not re.search(r"[%_&#]", unescaped.replace(" & ", " ")), unescaped  # only escaped ones, and columns


@pytest.mark.parametrize(("text", "expected"), [("50% a_b & c", r"50\% a\_b \& c"), ("{x}", r"\{x\}"),
                                                ("1 ± 2", r"1 $\pm$ 2")])
def test_latex_escape(text, expected):
    assert latex_escape(text) == expected
