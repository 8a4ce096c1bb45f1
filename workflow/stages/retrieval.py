"""Retrieval stages: the exact kNN index, then each iteration's neighbour table (numpy only)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from .. import retrieval, schedule
from ..approximate import approximate_topk
from ..datasets import read_manifest
from ..io import open_h5, read_h5, write_csv, write_h5

log = logging.getLogger(__name__)


def knn(target_shards: list[str], source_shards: list[str], out: str, k: int, eps: float, memory_mb: float,
        divergence: str = "symmetric_kl", search: str = "exact", candidates: int = 4) -> None:
    """The top-k source images of every target image: exact (streaming the sources block by
    block within ``memory_mb``) or, with ``search: nndescent``, approximate (``approximate``)."""
    targets = [read_h5(f) for f in target_shards]
    target_hist = np.concatenate([t["hist"] for t in targets])
    target_ids = np.concatenate([t["index"] for t in targets])
    weights = retrieval.response_weights(list(targets[0]["attr:layer_sizes"]))
    schedule.check_pool_size(_count_images(source_shards), k, f"descriptor shards {', '.join(source_shards)}")
    start = time.perf_counter()
    if search == "nndescent":
        if divergence != "symmetric_kl":
            raise ValueError(f"retrieval.search: nndescent re-ranks by symmetric_kl; retrieval.divergence is {divergence!r}")
        shards = [read_h5(f, ["hist", "index"]) for f in source_shards]
        source_ids = np.concatenate([s["index"] for s in shards])
        distances, positions = approximate_topk(target_hist, np.concatenate([s["hist"] for s in shards]), weights, k, eps,
                                                candidates)
        ids, n_sources = source_ids[positions], len(source_ids)
    elif search == "exact":
        distances, ids, n_sources = _exact_topk(target_hist, source_shards, weights, k, eps, memory_mb, divergence)
    else:
        raise ValueError(f"unknown search {search!r} (config key retrieval.search); known: exact, nndescent")
    order = np.argsort(target_ids)
    write_h5(out, {"target_index": target_ids[order], "ids": ids[order], "distances": distances[order]},
             {"eps": eps, "n_sources": n_sources, "divergence": divergence, "search": search})
    log.info("top-%d of %d targets over %d sources in %.1f s", ids.shape[1], len(target_ids), n_sources, time.perf_counter() - start)


def _count_images(shards: list[str]) -> int:
    total = 0
    for shard in shards:
        with open_h5(shard) as f:
            total += len(f["index"])
    return total


def _exact_topk(target_hist: np.ndarray, source_shards: list[str], weights: np.ndarray, k: int, eps: float,
                memory_mb: float, divergence: str) -> tuple[np.ndarray, np.ndarray, int]:
    top = retrieval.TopK(target_hist, weights, k, eps, divergence)
    block = top.block_size(memory_mb)
    log.info("%d target images, blocks of %d source images within %s MB", len(target_hist), block, memory_mb)
    start, n_sources = time.perf_counter(), 0
    for number, shard in enumerate(source_shards):
        with open_h5(shard) as f:
            hist, index = f["hist"], f["index"][:]
            if hist.shape[1:] != target_hist.shape[1:]:
                raise ValueError(f"{shard}: histograms of shape {hist.shape[1:]}, the targets' are {target_hist.shape[1:]}")
            for lo in range(0, len(index), block):
                top.add(hist[lo : lo + block], index[lo : lo + block])
        n_sources += len(index)
        seconds = time.perf_counter() - start
        log.info("source shard %d/%d done: %d source images in %.1f s (%.0f img/s)", number + 1, len(source_shards),
                 n_sources, seconds, n_sources / max(seconds, 1e-9))
    return top.distances, top.ids, n_sources


def neighbours(out: str, targets: str, knn_file: str | None = None, random_pool: str | None = None, length: int = 0, seed: int = 0,
               k0: int | None = None, entropy: str | None = None, delta: float = 0.1, sigma0: int = 0, sigma1: int = 0,
               match: str | None = None) -> None:
    """One iteration's neighbour table: a ranking (kNN or random) cut at per-target counts.

    Counts come from ``k0`` (iteration 0), from the previous iteration's ``entropy`` table by
    the paper's rule, or from another neighbour table (``match``: same count per target).
    """
    n_targets = len(read_manifest(targets))
    if knn_file:
        ranking = read_h5(knn_file, ["ids"])["ids"]
    else:
        n_sources = len(read_manifest(random_pool))
        schedule.check_pool_size(n_sources, length, random_pool)
        ranking = schedule.random_ranking(n_targets, n_sources, length, seed)
    if len(ranking) != n_targets:
        raise ValueError(f"{knn_file} ranks {len(ranking)} target images but {targets} lists {n_targets}")
    if k0 is not None:
        counts = np.full(n_targets, k0)
    elif entropy:
        table = pd.read_csv(entropy)
        counts = schedule.next_counts(table["k"], table["entropy"], table["correct"], delta, sigma0, sigma1)
    else:
        counts = schedule.counts_of(pd.read_csv(match), n_targets)
    table = schedule.neighbour_table(ranking, counts)
    write_csv(table, out)
    log.info("%d pairs, %d distinct source images, K from %d to %d", len(table), table["source_index"].nunique(), counts.min(), counts.max())
