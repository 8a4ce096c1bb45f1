"""The comparison table: one row per method, seed and iteration of a target.

Columns: target, method, seed, iteration, top1, mean_class_acc (on the target test split),
n_source_images (distinct source images borrowed), n_pairs (target-source pairs),
train_seconds (wall time of training, summed over the models a row uses), and, where the
target names which source classes are related to each of its classes, retrieval_precision
(share of borrowed source images from a related class) beside random_precision (the share a
uniformly random draw from the source pool would reach). For DTNH methods, projected_share is
the share of steps whose regularizer (or source) gradient pointed against the target gradient
and was projected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .datasets import read_manifest
from .evaluation import mean_class_accuracy, top1
from .io import read_json

COLUMNS = ["target", "method", "seed", "iteration", "top1", "mean_class_acc", "n_source_images", "n_pairs",
           "train_seconds", "retrieval_precision", "random_precision", "projected_share"]


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
    return {"top1": top1(labels, predictions), "mean_class_acc": mean_class_accuracy(labels, predictions)}


def _row(run: Path, relatedness: Relatedness | None) -> dict:
    row = _accuracy(run / "eval.csv")
    stats = read_json(run / "train.json")
    row.update(train_seconds=stats["train_seconds"], n_source_images=stats["n_source_images"], n_pairs=0)
    if stats["settings"].get("dtnh"):
        row["projected_share"] = stats["projected_steps"] / max(stats["steps"], 1)
    if (run / "neighbours.csv").exists():
        table = pd.read_csv(run / "neighbours.csv")
        row["n_pairs"] = len(table)
        if relatedness is not None:
            row["retrieval_precision"] = relatedness.precision(table)
            row["random_precision"] = relatedness.random_precision()
    return row


def build_report(results: str, target: str, methods: list[str], seeds: list[int], iterations: int,
                 target_manifest: str, source_manifest: str, relations: str | None) -> pd.DataFrame:
    """Collect ``results/<method>/seed-<s>/iter-<m>`` (and ``fusion/seed-<s>``) into the table."""
    results = Path(results)
    relatedness = None
    if relations:
        relatedness = Relatedness(relations, read_manifest(target_manifest), read_manifest(source_manifest))
    rows = []
    for method in methods:
        for seed in seeds:
            if method == "fusion":
                parts = [_row(results / "selective" / f"seed-{seed}" / f"iter-{m}", None) for m in range(iterations)]
                row = _accuracy(results / "fusion" / f"seed-{seed}" / "eval.csv")
                row.update(iteration=iterations - 1, train_seconds=sum(p["train_seconds"] for p in parts),
                           n_source_images=parts[-1]["n_source_images"], n_pairs=parts[-1]["n_pairs"])
                rows.append({"target": target, "method": method, "seed": seed, **row})
                continue
            for m in range(iterations):
                row = _row(results / method / f"seed-{seed}" / f"iter-{m}", relatedness)
                rows.append({"target": target, "method": method, "seed": seed, "iteration": m, **row})
    return pd.DataFrame(rows).reindex(columns=COLUMNS)
