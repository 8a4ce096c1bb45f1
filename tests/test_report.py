"""The report tables: means and standard deviations over seeds, and paired differences."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scipy import stats

from workflow.plan.layout import RUN_OUTPUTS, FUSION_OUTPUTS, NEIGHBOURS, fill, parse_run_folder, run_folder, run_token, split_token
from workflow.report import PAIRED_COLUMNS, FailedRun, build_runs, paired_differences, summarize
from workflow.stages.report import report

SCORES = {  # (method, bank) -> mean-class accuracy per seed 0, 1, 2 at the last iteration
    ("finetune", ""): [0.50, 0.60, 0.55],
    ("selective", "gabor"): [0.53, 0.64, 0.54],
    ("selective", "cnn"): [0.52, 0.61, 0.57],
}


def runs_frame() -> pd.DataFrame:
    rows = []
    for (method, bank), scores in SCORES.items():
        for seed, score in enumerate(scores):
            for iteration in (0, 1):
                acc = score - 0.1 * (1 - iteration)
                rows.append({"target": "t", "method": method, "bank": bank, "seed": seed, "iteration": iteration,
                             "top1": acc + 0.01, "mean_class_acc": acc, "n_source_images": 10 * iteration,
                             "n_pairs": 0, "mean_k": 2.0, "train_seconds": 1.0})
    return pd.DataFrame(rows)


def test_summary_is_the_mean_and_sample_std_over_seeds():
    summary = summarize(runs_frame())
    assert len(summary) == len(SCORES) * 2 and (summary["n_seeds"] == 3).all()
    row = summary[(summary.method == "selective") & (summary.bank == "gabor") & (summary.iteration == 1)].iloc[0]
    assert row.mean_class_acc_mean == pytest.approx(np.mean(SCORES[("selective", "gabor")]))
    assert row.mean_class_acc_std == pytest.approx(np.std(SCORES[("selective", "gabor")], ddof=1))
    assert row.top1_mean == pytest.approx(row.mean_class_acc_mean + 0.01)
    assert row.n_source_images == 10


def test_paired_differences_are_per_seed():
    paired = paired_differences(runs_frame()).set_index(["bank", "baseline", "baseline_bank"])
    diff = np.subtract(SCORES[("selective", "gabor")], SCORES[("finetune", "")])
    row = paired.loc[("gabor", "finetune", "")]
    assert row.iteration == 1 and row.n_seeds == 3
    assert row.diff_mean == pytest.approx(diff.mean()) and row.diff_std == pytest.approx(diff.std(ddof=1))
    assert row.diffs == ";".join(f"{d:.4f}" for d in diff) and row.wins == 2
    # the 95% t interval over the 3 seeds, and the verdict it gives; no per-image answers, no image-level test
    expected = stats.ttest_rel(SCORES[("selective", "gabor")], SCORES[("finetune", "")]).confidence_interval(0.95)
    assert (row.ci_low, row.ci_high) == pytest.approx((expected.low, expected.high))
    assert row.ci_method == "t over 3 seeds" and row.verdict == "tied" and row.verdict_from == "t interval over seeds"
    assert np.isnan(row.p_mcnemar) and np.isnan(row.boot_low) and row.n_image_pairs == 0
    # each bank's selective against every other row, itself excluded
    assert set(paired.index) == {("gabor", "finetune", ""), ("gabor", "selective", "cnn"),
                                 ("cnn", "finetune", ""), ("cnn", "selective", "gabor")}


def test_run_tokens_and_folders_read_back():
    assert split_token("bank-cnn/selective") == ("selective", "cnn")
    assert split_token("joint-all") == ("joint-all", "")
    for method, bank in (("selective", "cnn"), ("joint-all", "")):
        assert split_token(run_token(method, bank)) == (method, bank)
    assert run_folder("results/t", "bank-cnn/selective", 2, 0) == "results/t/bank-cnn/selective/seed-2/iter-0"
    assert run_folder("results/t", "bank-cnn/fusion", 2) == "results/t/bank-cnn/fusion/seed-2"
    for token, seed, iteration in (("bank-cnn/selective", 2, 0), ("finetune", 0, 11), ("bank-gabor/fusion", 1, None)):
        assert parse_run_folder(run_folder("x/results/t", token, seed, iteration)) == (token, seed, iteration)
    with pytest.raises(ValueError, match="not a run folder"):
        parse_run_folder("results/t/finetune")


def test_the_rules_patterns_fill_to_the_folders_the_report_reads():
    """The planner fills the rules' own output patterns; the report reads the run back from the folder."""
    values = {"target": "t", "run": "bank-cnn/selective", "seed": 2, "iter": 1}
    for pattern in (*RUN_OUTPUTS.values(), NEIGHBOURS):
        assert parse_run_folder(str(Path(fill(pattern, **values)).parent)) == ("bank-cnn/selective", 2, 1)
    for pattern in FUSION_OUTPUTS.values():
        assert parse_run_folder(str(Path(fill(pattern, target="t", bank="cnn", seed=0)).parent)) == ("bank-cnn/fusion", 0, None)
    assert fill("results/{target}/{run}", target="t") == "results/t/{run}"  # the wildcards not given stay


def write_run(folder: Path, final_loss: float) -> None:
    folder.mkdir(parents=True)
    pd.DataFrame({"index": [0, 1], "label": [0, 1], "prediction": [0, 0]}).to_csv(folder / "eval.csv", index=False)
    stats = {"train_seconds": 1.0, "n_source_images": 0, "final_loss": final_loss, "steps": 2, "settings": {}}
    (folder / "train.json").write_text(json.dumps(stats))  # json writes NaN as NaN, as an older train stage did


@pytest.mark.parametrize("loss", [float("nan"), float("inf")])
def test_a_diverged_run_is_never_averaged(tmp_path, loss):
    manifest = tmp_path / "train.csv"
    manifest.write_text("index,path,label,class_name\n0,/a.png,0,a\n1,/b.png,1,b\n")
    write_run(tmp_path / "finetune" / "seed-0" / "iter-0", 0.7)
    write_run(tmp_path / "finetune" / "seed-1" / "iter-0", loss)
    folders = [str(tmp_path / "finetune" / f"seed-{seed}" / "iter-0") for seed in (0, 1)]
    build = lambda seeds: build_runs(folders[: len(seeds)], "t", str(manifest), str(manifest), None)
    assert build([0])["top1"].tolist() == [0.5]
    with pytest.raises(FailedRun, match=f"seed-1/iter-0/train.json: final_loss is {loss}"):
        build([0, 1])


def _write_eval(folder: Path, labels: np.ndarray, right: np.ndarray, final_loss: float = 0.5) -> None:
    """eval.csv of test images ``labels`` answered right where ``right``, and a finished train.json."""
    folder.mkdir(parents=True)
    predictions = np.where(right, labels, 1 - labels)
    pd.DataFrame({"index": np.arange(len(labels)), "label": labels, "prediction": predictions}).to_csv(
        folder / "eval.csv", index=False)
    train_stats = {"train_seconds": 1.0, "n_source_images": 3, "final_loss": final_loss, "steps": 2, "settings": {}}
    (folder / "train.json").write_text(json.dumps(train_stats))


def test_the_report_stage_writes_intervals_and_image_level_tests(tmp_path):
    """finetune, selective and fusion, 3 seeds, 2 iterations, 60 test images of 2 classes (40 and 20)."""
    manifest = tmp_path / "train.csv"
    manifest.write_text("index,path,label,class_name\n0,/a.png,0,a\n1,/b.png,1,b\n")
    labels = np.array([0] * 40 + [1] * 20)
    rng = np.random.default_rng(0)
    rates = {"finetune": 0.55, "bank-gabor/selective": 0.8, "bank-gabor/fusion": 0.82}
    right = {(token, seed): rng.random(len(labels)) < rate for token, rate in rates.items() for seed in range(3)}
    results = tmp_path / "results"
    for (token, seed), answers in right.items():
        if token.endswith("fusion"):
            _write_eval(Path(run_folder(str(results), token, seed)), labels, answers)
            continue
        for m in range(2):  # iteration 0 answers at random; the report compares the last
            _write_eval(Path(run_folder(str(results), token, seed, m)), labels, answers if m else rng.random(60) < 0.5)
    out = {name: str(tmp_path / f"{name}.csv") for name in ("report", "runs", "paired")}
    folders = [run_folder(str(results), token, seed, None if token.endswith("fusion") else m)
               for token in rates for seed in range(3) for m in ([0] if token.endswith("fusion") else range(2))]
    report("t", folders, str(manifest), str(manifest), out["report"], out["runs"], out["paired"])
    paired = pd.read_csv(out["paired"], keep_default_na=False, na_values=[""])
    assert list(paired.columns) == PAIRED_COLUMNS
    pairs = {("selective", "finetune"), ("selective", "fusion"), ("fusion", "finetune"), ("fusion", "selective")}
    assert set(zip(paired.method, paired.baseline)) == pairs and len(paired) == 2 * len(pairs)
    assert paired.groupby("metric").size().to_dict() == {"mean_class_acc": 4, "top1": 4}
    row = paired.set_index(["method", "baseline", "metric"]).loc[("selective", "finetune", "top1")]
    a = np.stack([right[("bank-gabor/selective", s)] for s in range(3)])
    b = np.stack([right[("finetune", s)] for s in range(3)])
    per_seed = a.mean(1) - b.mean(1)
    expected = stats.ttest_rel(a.mean(1), b.mean(1)).confidence_interval(0.95)
    assert row.diff_mean == pytest.approx(per_seed.mean())
    assert (row.ci_low, row.ci_high) == pytest.approx((expected.low, expected.high), abs=1e-4)
    # McNemar over the 180 image pairs of the three seeds
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    assert row.n_image_pairs == 180 and row.test == "exact McNemar on top-1 over 180 image pairs"
    assert row.p_mcnemar == pytest.approx(stats.binomtest(only_a, only_a + only_b).pvalue)
    assert row.boot_low < row.diff_mean < row.boot_high and row.verdict == "better"
    assert row.ci_method == "t over 3 seeds" and row.verdict_from == "t interval over seeds"
    # mean-class accuracy: the bootstrap resamples within the two classes
    mca = paired.set_index(["method", "baseline", "metric"]).loc[("selective", "finetune", "mean_class_acc")]
    assert "within classes" in mca.boot_method and mca.p_mcnemar == row.p_mcnemar
    per_class = [(a[:, labels == c].mean(1) - b[:, labels == c].mean(1)) for c in (0, 1)]
    assert mca.diff_mean == pytest.approx(np.mean(per_class))
    assert mca.boot_low < mca.diff_mean < mca.boot_high
    # the summary is unchanged by it: report.csv has its columns
    assert "top1_mean" in pd.read_csv(out["report"]).columns
