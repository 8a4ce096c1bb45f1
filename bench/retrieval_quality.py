"""How much class signal the low-level retrieval carries, per filter bank, without labels of relatedness.

For a target with no table of related source classes, two label-free measures of the top-k
neighbours of every target training image:

- shared neighbours: the mean share of top-k source images two target images have in common,
  for pairs of the same class against pairs of different classes (a descriptor that ignored
  class would give the same figure for both);
- source-class concentration: for each target class, the entropy of the source classes of its
  images' neighbours, as a share of the entropy of as many uniformly random draws from the pool
  (1 = no preference for any source class, lower = the class retrieves from few source classes).

    python bench/retrieval_quality.py results/invertebrates --source results/source/tiny/manifest.csv --k 20
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.io import read_h5


def shared_neighbours(ids: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean |N(a) & N(b)| / k over same-class and different-class pairs of target images."""
    k = ids.shape[1]
    member = np.zeros((len(ids), ids.max() + 1), dtype=np.float32)
    np.put_along_axis(member, ids, 1.0, axis=1)
    overlap = member @ member.T / k
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(ids), dtype=bool)
    return float(overlap[same & off_diagonal].mean()), float(overlap[~same].mean())


def concentration(ids: np.ndarray, labels: np.ndarray, source_labels: np.ndarray, seed: int = 0) -> float:
    """Mean over target classes of H(source classes of their neighbours) / H(as many random draws)."""
    rng = np.random.default_rng(seed)
    ratios = []
    for label in np.unique(labels):
        found = source_labels[ids[labels == label].ravel()]
        drawn = source_labels[rng.integers(len(source_labels), size=found.size)]
        ratios.append(_entropy(found) / _entropy(drawn))
    return float(np.mean(ratios))


def _entropy(values: np.ndarray) -> float:
    p = np.bincount(values) / len(values)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="results/<target>")
    parser.add_argument("--source", required=True, help="the source manifest")
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    results = Path(args.results)
    labels = pd.read_csv(results / "manifest" / "train.csv")["label"].to_numpy()
    source_labels = pd.read_csv(args.source)["label"].to_numpy()
    rng = np.random.default_rng(1)
    rows = []
    for knn in sorted(results.glob("bank-*/knn.h5")):
        ids = read_h5(knn, ["ids"])["ids"][:, : args.k]
        same, other = shared_neighbours(ids, labels)
        rows.append({"ranking": knn.parent.name, "shared_same_class": same, "shared_other_class": other,
                     "ratio": same / other if other else float("nan"),
                     "source_class_entropy": concentration(ids, labels, source_labels)})
    random_ids = np.stack([rng.choice(len(source_labels), args.k, replace=False) for _ in labels])
    same, other = shared_neighbours(random_ids, labels)
    rows.append({"ranking": "random", "shared_same_class": same, "shared_other_class": other,
                 "ratio": same / other if other else float("nan"),
                 "source_class_entropy": concentration(random_ids, labels, source_labels)})
    table = pd.DataFrame(rows)
    print(f"top-{args.k} neighbours of {len(labels)} target images, {len(source_labels)} source images")
    print("| " + " | ".join(table.columns) + " |\n|" + " --- |" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
