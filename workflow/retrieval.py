"""Exact nearest source images under the weighted symmetric KL divergence (paper, 3.1).

Between a target histogram set p and a source histogram set q (R responses of n_bins each)

    D(p, q) = sum_h w_h [ KL(p_h || q_h) + KL(q_h || p_h) ],   w_h = 1 / (responses in h's layer).

Empty bins make KL infinite, so every histogram is first smoothed: (h + eps) / (1 + n_bins eps).
Expanding the logs, D is a sum of inner products:

    D(p, q) = a_p + a_q - < w p, log q > - < w log p, q >,   a_x = sum_h w_h sum_b x log x,

so the distances from every target image to a block of source images are one matrix product
of [w p, w log p] with [log q, q], and the exact k nearest follow from a running top-k over
source blocks. Blocks are read from the descriptor shards as they are needed and sized from a
memory budget (``retrieval.memory_mb``), so the peak memory does not grow with the source pool.
Ties are broken by the smaller source id. The product runs in float64 and is
rounded to float32: a float32 BLAS product rounds a row differently depending on where it sits
in the block, which would let identical source images swap places with the block size.

The Jensen-Shannon option (``divergence: jensen_shannon``), with m = (p + q) / 2,

    JS(p, q) = sum_h w_h sum_b [ p log p / 2 + q log q / 2 - m log m ],

has no such product form (the log of the mixture couples the two sides), so it is computed
pair by pair over (target chunk x source block) tiles whose size bounds the memory. It is far
slower than the KL form (elementwise logs of every pair instead of one matrix product); it is
there to compare the two divergences, not for source pools of ImageNet size.
"""

from __future__ import annotations

import math

import numpy as np

DIVERGENCES = ("symmetric_kl", "jensen_shannon")
TILE_ELEMENTS = 2**23  # float64 elements of one Jensen-Shannon tile (64 MiB)


def response_weights(layer_sizes: list[int]) -> np.ndarray:
    """w_h = 1 / N_layer for each response, in bank order: (R,) float32."""
    return np.concatenate([np.full(n, 1.0 / n, dtype=np.float32) for n in layer_sizes])


def smooth(hist: np.ndarray, eps: float) -> np.ndarray:
    """(n, R, n_bins) histograms that sum to one per response -> strictly positive ones, float32."""
    hist = hist.astype(np.float32)
    return (hist + eps) / (hist.sum(axis=-1, keepdims=True) + eps * hist.shape[-1])


def symmetric_kl_direct(p: np.ndarray, q: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The definition, pair by pair (for tests and small inputs): (n_p, n_q) float64.

    p: (n_p, R, n_bins), q: (n_q, R, n_bins), both smoothed.
    """
    p, q = p.astype(np.float64)[:, None], q.astype(np.float64)[None]
    kl_pq = (p * np.log(p / q)).sum(-1)
    kl_qp = (q * np.log(q / p)).sum(-1)
    return ((kl_pq + kl_qp) * weights).sum(-1)


def jensen_shannon_direct(p: np.ndarray, q: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted Jensen-Shannon divergence, pair by pair (for tests): (n_p, n_q) float64."""
    p, q = p.astype(np.float64)[:, None], q.astype(np.float64)[None]
    m = (p + q) / 2
    per_response = (p * np.log(p / m) + q * np.log(q / m)).sum(-1) / 2
    return (per_response * weights).sum(-1)


def jensen_shannon(p: np.ndarray, q: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted JS divergence of smoothed histograms for all pairs, in bounded tiles: (n_p, n_q) float32."""
    import torch  # only here: the neighbours and kNN jobs start a second faster without it

    w = torch.from_numpy(np.repeat(weights.astype(np.float64), p.shape[-1]))
    p_flat = torch.from_numpy(p.reshape(len(p), -1).astype(np.float64))
    q_flat = torch.from_numpy(q.reshape(len(q), -1).astype(np.float64))
    a_p = (w * p_flat * p_flat.log()).sum(-1) / 2
    a_q = (w * q_flat * q_flat.log()).sum(-1) / 2
    out = torch.empty(len(p), len(q), dtype=torch.float64)
    rows = max(1, TILE_ELEMENTS // max(1, len(q) * p_flat.shape[1]))
    cols = min(len(q), max(1, TILE_ELEMENTS // p_flat.shape[1]))
    for i in range(0, len(p), rows):
        for j in range(0, len(q), cols):
            m = (p_flat[i : i + rows, None] + q_flat[None, j : j + cols]) / 2
            out[i : i + rows, j : j + cols] = (a_p[i : i + rows, None] + a_q[None, j : j + cols]
                                                - (w * m * m.log()).sum(-1))
    return out.numpy().astype(np.float32)


def query_side(p: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[w p, w log p] flattened, (n, 2 R n_bins), and a_p, (n,), for smoothed targets; float64."""
    log_p = np.log(p)
    w = weights[None, :, None]
    features = np.concatenate([(w * p).reshape(len(p), -1), (w * log_p).reshape(len(p), -1)], axis=1)
    return features.astype(np.float64), (w * p * log_p).sum(axis=(1, 2), dtype=np.float64)


def key_side(q: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[log q, q] flattened, (n, 2 R n_bins), and a_q, (n,), for smoothed sources; float64."""
    log_q = np.log(q)
    features = np.concatenate([log_q.reshape(len(q), -1), q.reshape(len(q), -1)], axis=1)
    return features.astype(np.float64), (weights[None, :, None] * q * log_q).sum(axis=(1, 2), dtype=np.float64)


def symmetric_kl(p: np.ndarray, q: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """D(p, q) for all pairs of smoothed histograms through the inner-product form: (n_p, n_q) float32."""
    return symmetric_kl_of_sides(query_side(p, weights), key_side(q, weights))


def symmetric_kl_of_sides(query: tuple[np.ndarray, np.ndarray], key: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """D = a_p + a_q - < [w p, w log p], [log q, q] > for all pairs, from a ``query_side`` and a
    ``key_side`` (the targets' side is formed once for all source blocks): (n_p, n_q) float32."""
    (query_features, a_p), (key_features, a_q) = query, key
    return (a_p[:, None] + a_q[None, :] - query_features @ key_features.T).astype(np.float32)


def merge_topk(
    best_d: np.ndarray, best_i: np.ndarray, new_d: np.ndarray, new_i: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the k smallest distances per row of two candidate sets, ordered by (distance, id).

    A partition finds each row's k-th distance; every candidate tied with it stays in the
    final sort (so the id tie-break sees them all), which runs on those few columns only.
    """
    d = np.concatenate([best_d, new_d], axis=1)
    i = np.concatenate([best_i, new_i], axis=1)
    k = min(k, d.shape[1])
    if k < d.shape[1]:
        part = np.argpartition(d, k - 1, axis=1)
        kth = np.take_along_axis(d, part[:, k - 1 : k], 1)
        width = int((d <= kth).sum(axis=1).max())  # k, or more where candidates tie with the k-th
        if width < d.shape[1]:
            part = np.argpartition(d, width - 1, axis=1)[:, :width] if width > k else part[:, :k]
            d, i = np.take_along_axis(d, part, 1), np.take_along_axis(i, part, 1)
    order = np.lexsort((i, d), axis=1)[:, :k]
    return np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)


class TopK:
    """Running exact top-k of D(target, source) over source blocks that arrive one at a time."""

    def __init__(self, targets: np.ndarray, weights: np.ndarray, k: int, eps: float, divergence: str = "symmetric_kl"):
        if divergence not in DIVERGENCES:
            raise ValueError(f"unknown divergence {divergence!r} (config key retrieval.divergence); known: {', '.join(DIVERGENCES)}")
        self.weights, self.k, self.eps, self.divergence = weights, k, eps, divergence
        self.targets = smooth(targets, eps)
        if divergence == "symmetric_kl":  # Jensen-Shannon works on the smoothed histograms themselves
            self.query = query_side(self.targets, weights)
        self.distances = np.empty((len(targets), 0), dtype=np.float32)
        self.ids = np.empty((len(targets), 0), dtype=np.int64)

    def block_size(self, memory_mb: float) -> int:
        """Source images per block so that the whole computation stays within ``memory_mb``.

        Fixed: the targets' features and the running top-k. Per source image of a block: its
        histogram as read (float16), smoothed and logged (float32), its float64 features, and one
        column of distances (float64 product, float32 copy, the merge's candidates and indices).
        """
        n_targets, n_values = self.targets.shape[0], self.targets[0].size
        fixed = n_targets * (2 * n_values * 8 + n_values * 4 + self.k * 2 * 24)
        per_source = n_values * (2 + 4 + 4 + 16) + n_targets * (8 + 4 + 24 + 8)
        if self.divergence == "jensen_shannon":
            fixed += TILE_ELEMENTS * 8 * 2
        free = memory_mb * 2**20 - fixed
        if free < per_source:
            raise ValueError(f"retrieval.memory_mb = {memory_mb} is too small for {n_targets} target images: "
                             f"it needs at least {math.ceil((fixed + per_source) / 2**20)} MB")
        return int(free // per_source)

    def add(self, sources: np.ndarray, ids: np.ndarray) -> None:
        """Fold in a block of source histograms (n, R, n_bins) with their image ids (n,)."""
        if len(sources) == 0:
            return
        sources = smooth(sources, self.eps)
        if self.divergence == "jensen_shannon":
            block = jensen_shannon(self.targets, sources, self.weights)
        else:
            block = symmetric_kl_of_sides(self.query, key_side(sources, self.weights))
        block_ids = np.broadcast_to(ids.astype(np.int64), block.shape)
        self.distances, self.ids = merge_topk(self.distances, self.ids, block, block_ids, self.k)
