"""Exact nearest source images under the weighted symmetric KL divergence (paper, 3.1).

Between a target histogram set p and a source histogram set q (R responses of n_bins each)

    D(p, q) = sum_h w_h [ KL(p_h || q_h) + KL(q_h || p_h) ],   w_h = 1 / (responses in h's layer).

Empty bins make KL infinite, so every histogram is first smoothed: (h + eps) / (1 + n_bins eps).
Expanding the logs, D is a sum of inner products:

    D(p, q) = a_p + a_q - < w p, log q > - < w log p, q >,   a_x = sum_h w_h sum_b x log x,

so the distances from every target image to a block of source images are one matrix product
of [w p, w log p] with [log q, q], and the exact k nearest follow from a running top-k over
source blocks. Ties are broken by the smaller source id. The product runs in float64 and is
rounded to float32: a float32 BLAS product rounds a row differently depending on where it sits
in the block, which would let identical source images swap places with the block size.
"""

from __future__ import annotations

import numpy as np


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
    """D(p, q) for all pairs through the inner-product form: (n_p, n_q) float32."""
    query, a_p = query_side(p, weights)
    key, a_q = key_side(q, weights)
    return (a_p[:, None] + a_q[None, :] - query @ key.T).astype(np.float32)


def merge_topk(
    best_d: np.ndarray, best_i: np.ndarray, new_d: np.ndarray, new_i: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the k smallest distances per row of two candidate sets, ordered by (distance, id)."""
    d = np.concatenate([best_d, new_d], axis=1)
    i = np.concatenate([best_i, new_i], axis=1)
    k = min(k, d.shape[1])
    if k < d.shape[1]:
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(d, part, 1).max(axis=1, keepdims=True)
        # keep every candidate tied with the k-th so the id tie-break below sees them all
        keep = d <= kth
        d = np.where(keep, d, np.inf)
    order = np.lexsort((i, d), axis=1)[:, :k]
    return np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)


class TopK:
    """Running exact top-k of D(target, source) over source blocks that arrive one at a time."""

    def __init__(self, targets: np.ndarray, weights: np.ndarray, k: int, eps: float):
        self.weights, self.k, self.eps = weights, k, eps
        self.query, self.a_p = query_side(smooth(targets, eps), weights)
        self.distances = np.empty((len(targets), 0), dtype=np.float32)
        self.ids = np.empty((len(targets), 0), dtype=np.int64)

    def add(self, sources: np.ndarray, ids: np.ndarray) -> None:
        """Fold in a block of source histograms (n, R, n_bins) with their image ids (n,)."""
        if len(sources) == 0:
            return
        key, a_q = key_side(smooth(sources, self.eps), self.weights)
        block = (self.a_p[:, None] + a_q[None, :] - self.query @ key.T).astype(np.float32)
        block_ids = np.broadcast_to(ids.astype(np.int64), block.shape)
        self.distances, self.ids = merge_topk(self.distances, self.ids, block, block_ids, self.k)
