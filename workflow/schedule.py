"""Which source images each target image borrows, per iteration (paper, 3.3).

Iteration 0 gives every target training image its K0 nearest source images. After iteration m,
each target image's softmax entropy H and correctness decide its count for iteration m + 1:

    K' = K + sigma0   if the image is misclassified,
    K' = K + sigma1   if it is classified correctly but H >= delta (still uncertain),
    K' = K            otherwise,

with sigma0 = 4 K0 and sigma1 = 2 K0 by default: hard images borrow more. The kNN index holds
the most any image can reach, K0 + (M - 1) sigma0 for M iterations, so later iterations only
take longer prefixes of the same ranked lists.

A neighbour table has one row per (target image, borrowed source image):
``target_index, rank, source_index``, rank 0 being the nearest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def resolve_sigmas(k0: int, sigma0: int | None, sigma1: int | None) -> tuple[int, int]:
    """The configured increments, or the paper's defaults 4 K0 and 2 K0."""
    return (4 * k0 if sigma0 is None else sigma0), (2 * k0 if sigma1 is None else sigma1)


def max_neighbours(k0: int, iterations: int, sigma0: int, sigma1: int) -> int:
    """The largest K any target image can reach within ``iterations`` iterations."""
    return k0 + (iterations - 1) * max(sigma0, sigma1, 0)


def next_counts(
    counts: np.ndarray, entropy: np.ndarray, correct: np.ndarray, delta: float, sigma0: int, sigma1: int
) -> np.ndarray:
    """The paper's K update (module docstring); all arrays (n_targets,)."""
    counts, correct = np.asarray(counts), np.asarray(correct, dtype=bool)
    grow = np.where(~correct, sigma0, np.where(np.asarray(entropy) >= delta, sigma1, 0))
    return counts + grow


class PoolTooSmall(ValueError):
    """A source pool with fewer images than the neighbours a target image can be given."""


def check_pool_size(n_sources: int, length: int, pool: str) -> None:
    """Refuse a ranked list longer than the pool: capping it would silently give every target
    image fewer neighbours than the configured K (and the log and the report would disagree)."""
    if n_sources < length:
        raise PoolTooSmall(
            f"the source pool ({pool}) has {n_sources} images, fewer than the {length} neighbours per target image "
            "that the selection can reach (config selection: k0, plus sigma0 per later iteration); "
            "lower selection.k0, sigma0 or iterations, or borrow from a larger pool"
        )


def random_ranking(n_targets: int, n_sources: int, length: int, seed: int) -> np.ndarray:
    """A random ranked list of distinct source ids per target image: (n_targets, length).

    Row t depends only on (seed, t), and longer lists extend shorter ones, like kNN lists do.
    """
    rows = [np.random.default_rng([seed, t]).permutation(n_sources)[:length] for t in range(n_targets)]
    return np.stack(rows).astype(np.int64) if rows else np.empty((0, length), dtype=np.int64)


def neighbour_table(ranking: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """The first counts[t] entries of ranking[t] for every target t, as a neighbour table."""
    counts = np.minimum(np.asarray(counts, dtype=np.int64), ranking.shape[1])
    targets = np.repeat(np.arange(len(ranking)), counts)
    ranks = np.concatenate([np.arange(c) for c in counts]) if len(counts) else np.empty(0, dtype=np.int64)
    return pd.DataFrame({"target_index": targets, "rank": ranks, "source_index": ranking[targets, ranks]})


def counts_of(table: pd.DataFrame, n_targets: int) -> np.ndarray:
    """Neighbours per target image in a neighbour table: (n_targets,)."""
    return np.bincount(table["target_index"].to_numpy(), minlength=n_targets)


def neighbour_lists(table: pd.DataFrame, n_targets: int) -> list[np.ndarray]:
    """Source ids per target image, in rank order."""
    ordered = table.sort_values(["target_index", "rank"])
    splits = np.cumsum(counts_of(ordered, n_targets))[:-1]
    return np.split(ordered["source_index"].to_numpy(), splits)
