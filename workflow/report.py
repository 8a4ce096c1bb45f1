"""The comparison tables of a target: per run, summarized over seeds, and paired differences.

``runs.csv`` has one row per method, bank, seed and iteration: top1, mean_class_acc (on the
target test split), n_source_images (distinct source images borrowed), n_pairs (target-source
pairs), mean_k (source images per target image), train_seconds (wall time of training,
summed over the models a row uses), and, where the
target names which source classes are related to each of its classes, retrieval_precision
(share of borrowed source images from a related class) beside random_precision (the share a
uniformly random draw from the source pool would reach). For DTNH methods, projected_share is
the share of steps (of mini-batches, when train.accumulate makes a step of several) whose
regularizer (or source) gradient pointed against the target gradient and was projected. ``bank``
is the filter bank of retrieval methods, empty for the others. ``excluded_sources`` counts the source
images a borrowing method was kept from because the leakage audit found them duplicating target
images (``workflow.leakage``; 0 for the methods that borrow nothing).

``report.csv`` averages them over seeds (``*_mean``, ``*_std``: sample standard deviation), and
``paired.csv`` compares selective and fusion (each bank) with every other row, per metric, seed by
seed at the last iteration: the mean difference with its t interval over seeds, the exact McNemar
test and a bootstrap interval over the test images of every seed, and a verdict
(``workflow.statistics``; README, "How to read the intervals"). With multi-crop testing
(train.test_crops 10) the accuracies are the ten crops' and ``top1_center``, ``mean_class_acc_center``
are the center crop's alone, the single-crop figures most other work reports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .datasets import read_manifest
from .evaluation import mean_class_accuracy, top1
from .io import read_json
from .methods import FUSION, METHODS, SELECTIVE
from .plan.layout import parse_run_folder, run_token, split_token
from .statistics import compare

ACCURACIES = ["top1", "mean_class_acc"]
CENTER_ACCURACIES = ["top1_center", "mean_class_acc_center"]  # with multi-crop testing only
AVERAGED = ["n_source_images", "n_pairs", "mean_k", "train_seconds", "retrieval_precision", "random_precision",
            "projected_share", "excluded_sources"]
RUN_COLUMNS = ["target", "method", "bank", "seed", "iteration", *ACCURACIES, *AVERAGED]
REPORT_COLUMNS = ["target", "method", "bank", "iteration", "n_seeds",
                  *[f"{m}_{f}" for m in ACCURACIES for f in ("mean", "std")], *AVERAGED]
PAIRED_COLUMNS = ["target", "method", "bank", "baseline", "baseline_bank", "iteration", "metric", "n_seeds",
                  "diff_mean", "diff_std", "diffs", "wins", "ci_low", "ci_high", "ci_method", "n_image_pairs",
                  "p_mcnemar", "test", "boot_low", "boot_high", "boot_method", "verdict", "verdict_from"]
COMPARED = (SELECTIVE, FUSION)  # the methods paired.csv compares with every other row (each bank)
ANSWER_COLUMNS = ["method", "bank", "seed", "index", "label", "correct"]


class Relatedness:
    """Which (target class, source class) pairs are related, from a relations table."""

    def __init__(self, relations: str, targets: pd.DataFrame, sources: pd.DataFrame):
        pairs = pd.read_csv(relations)
        self.target_class = targets.set_index("index")["class_name"]
        self.source_class = sources.set_index("index")["class_name"]
        self.related = set(zip(pairs["target_class"], pairs["source_class"]))
        per_class = pairs.groupby("target_class")["source_class"].apply(set)
        counts = sources["class_name"].value_counts()
        self.random_rate = {t: counts.reindex(list(s)).fillna(0).sum() / len(sources) for t, s in per_class.items()}

    def precision(self, table: pd.DataFrame) -> float:
        t = self.target_class.loc[table["target_index"]].to_numpy()
        s = self.source_class.loc[table["source_index"]].to_numpy()
        return float(np.mean([(a, b) in self.related for a, b in zip(t, s)])) if len(t) else float("nan")

    def random_precision(self) -> float:
        return float(np.mean([self.random_rate.get(c, 0.0) for c in self.target_class]))


def _accuracy(eval_csv: Path) -> dict:
    frame = pd.read_csv(eval_csv)
    labels, predictions = frame["label"].to_numpy(), frame["prediction"].to_numpy()
    row = {"top1": top1(labels, predictions), "mean_class_acc": mean_class_accuracy(labels, predictions)}
    if "prediction_center" in frame:
        center = frame["prediction_center"].to_numpy()
        row.update(top1_center=top1(labels, center), mean_class_acc_center=mean_class_accuracy(labels, center))
    return row


class FailedRun(ValueError):
    """A run whose files say its training failed: the report refuses to average it."""


def _finished_stats(run: Path) -> dict:
    """A run's train.json, refused when its final loss is not finite (a diverged run's
    predictions are noise; the train stage stops on one, an older or hand-made folder may hold one)."""
    stats = read_json(run / "train.json")
    loss = stats.get("final_loss")
    if loss is None or not np.isfinite(loss):
        raise FailedRun(f"{run / 'train.json'}: final_loss is {loss}: the run failed, and the report does not "
                        "average it; delete the folder and rerun it (lower the learning rate if it diverged)")
    return stats


def _row(run: Path, relatedness: Relatedness | None, n_targets: int) -> dict:
    stats = _finished_stats(run)
    row = _accuracy(run / "eval.csv")
    row.update(train_seconds=stats["train_seconds"], n_source_images=stats["n_source_images"], n_pairs=0, mean_k=0.0)
    if stats["settings"].get("dtnh"):
        # DTNH projects per mini-batch (several make a step with train.accumulate)
        row["projected_share"] = stats["projected_steps"] / max(stats.get("mini_batches", stats["steps"]), 1)
    if (run / "neighbours.csv").exists():
        table = pd.read_csv(run / "neighbours.csv")
        row.update(n_pairs=len(table), mean_k=len(table) / n_targets)
        if relatedness is not None:
            row["retrieval_precision"] = relatedness.precision(table)
            row["random_precision"] = relatedness.random_precision()
    elif stats["n_source_images"]:  # joint training with the whole pool
        row["mean_k"] = float(stats["n_source_images"])
    return row


def build_runs(folders: list[str], target: str, target_manifest: str, source_manifest: str, relations: str | None,
               excluded: int = 0) -> pd.DataFrame:
    """One row per run folder (``workflow.plan.layout``), in their order: per run, seed and iteration.

    The seed folder of a method that is not trained (fusion) is the average of the iterations of
    the method it reads, in its bank: the last iteration's row, the sum of their training times.
    ``excluded``: the source images the leakage audit kept out, the excluded_sources of the methods
    that borrow.
    """
    targets = read_manifest(target_manifest)
    relatedness = Relatedness(relations, targets, read_manifest(source_manifest)) if relations else None
    parsed = [(folder, *parse_run_folder(folder)) for folder in folders]
    trained = {(token, seed, m): _row(Path(folder), relatedness, len(targets))
               for folder, token, seed, m in parsed if m is not None}
    rows = []
    for folder, token, seed, m in parsed:
        method, bank = split_token(token)
        spec = METHODS[method]
        key = {"target": target, "method": method, "bank": bank, "seed": seed}
        excluded_sources = excluded if spec.borrows is not None else 0
        if spec.trained:
            rows.append({**key, "iteration": m, **trained[(token, seed, m)], "excluded_sources": excluded_sources})
            continue
        read = run_token(spec.reads, bank or None)
        parts = [trained[(read, seed, i)] for i in sorted(i for t, s, i in trained if (t, s) == (read, seed))]
        if not parts:
            raise ValueError(f"{folder}: {method} averages the iterations of {read}, whose folders of seed {seed} "
                             "the report was not given")
        row = _accuracy(Path(folder) / "eval.csv")
        row.update({k: parts[-1][k] for k in ("n_source_images", "n_pairs", "mean_k")},
                   train_seconds=sum(p["train_seconds"] for p in parts))
        rows.append({**key, "iteration": len(parts) - 1, **row, "excluded_sources": excluded_sources})
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=RUN_COLUMNS + [c for c in CENTER_ACCURACIES if c in frame])


def last_answers(folders: list[str]) -> pd.DataFrame:
    """Right or wrong per test image of every run at its last iteration: method, bank, seed, index
    (the test manifest's), label, correct (the image-level tests of ``paired_differences``).

    The seed folder of fusion holds one eval.csv (the last iteration's, averaged).
    """
    last = {}  # (token, seed) -> its last folder
    for folder in folders:
        token, seed, iteration = parse_run_folder(folder)
        if (token, seed) not in last or (iteration or 0) > last[(token, seed)][0]:
            last[(token, seed)] = (iteration or 0, folder)
    frames = []
    for (token, seed), (_, folder) in last.items():
        method, bank = split_token(token)
        frame = pd.read_csv(Path(folder) / "eval.csv", usecols=["index", "label", "prediction"])
        frames.append(frame.assign(method=method, bank=bank, seed=seed, correct=frame["label"] == frame["prediction"]))
    return pd.concat(frames, ignore_index=True).reindex(columns=ANSWER_COLUMNS)


def _answer_tables(answers: pd.DataFrame) -> tuple[dict, pd.Series]:
    """{(method, bank): seed x test image table of right answers}, and the label of each test image."""
    tables = {key: group.pivot(index="seed", columns="index", values="correct")
              for key, group in answers.groupby(["method", "bank"], sort=False)}
    return tables, answers.drop_duplicates("index").set_index("index")["label"].sort_index()


def _right_answers(tables: dict, labels: pd.Series, key: tuple[str, str], seeds: pd.Index) -> np.ndarray | None:
    """(n_seeds, n_images) bool: run ``key``'s right answers on every test image, ``seeds`` in order."""
    if not tables:
        return None
    table = tables[key].reindex(index=seeds, columns=labels.index)
    if table.isna().any().any():
        raise ValueError(f"{key[0]} [{key[1]}]: its eval.csv files (seeds {list(seeds)}) do not answer every test "
                         "image the other runs answer; rerun it")
    return table.to_numpy(dtype=bool)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds per method, bank and iteration (the report)."""
    accuracies = ACCURACIES + [c for c in CENTER_ACCURACIES if c in runs]
    groups = runs.reindex(columns=RUN_COLUMNS + accuracies[2:]).groupby(["target", "method", "bank", "iteration"],
                                                                          sort=False, dropna=False)
    statistics = {f"{m}_{f}": (m, f) for m in accuracies for f in ("mean", "std")}
    frame = groups.agg(n_seeds=("seed", "nunique"), **statistics, **{c: (c, "mean") for c in AVERAGED})
    return frame.reset_index().reindex(columns=REPORT_COLUMNS + list(statistics)[4:])


def paired_differences(runs: pd.DataFrame, metric: str = "mean_class_acc",
                       answers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Selective and fusion (each bank) minus every other row, seed by seed, at the last iteration.

    Runs of one seed share the pretrained model and the seed of their pairs and crops, so the
    per-seed difference cancels much of the run-to-run variation the two means carry. Each row
    gets ``workflow.statistics.compare``'s interval over seeds and verdict; with ``answers``
    (``last_answers``) also its tests over the test images of every seed, else those are NaN.
    """
    last = runs[runs["iteration"] == runs["iteration"].max()]
    scores = last.pivot_table(index="seed", columns=["method", "bank"], values=metric)
    tables, labels = _answer_tables(answers) if answers is not None else ({}, None)
    classes = labels.to_numpy() if labels is not None and metric == "mean_class_acc" else None
    rows = []
    for method, bank in [c for main in COMPARED for c in scores.columns if c[0] == main]:
        for base_method, base_bank in scores.columns:
            if (base_method, base_bank) == (method, bank):
                continue
            diffs = (scores[(method, bank)] - scores[(base_method, base_bank)]).dropna()
            a, b = (_right_answers(tables, labels, k, diffs.index) for k in ((method, bank), (base_method, base_bank)))
            rows.append({"target": last["target"].iloc[0], "method": method, "bank": bank, "baseline": base_method,
                         "baseline_bank": base_bank, "iteration": int(last["iteration"].iloc[0]), "metric": metric,
                         "n_seeds": len(diffs), "diff_std": diffs.std(),
                         "diffs": ";".join(f"{d:.4f}" for d in diffs), "wins": int((diffs > 0).sum()),
                         **compare(diffs.to_numpy(), a, b, classes)})
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)
