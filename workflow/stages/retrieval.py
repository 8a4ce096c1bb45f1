"""Retrieval stages: the exact kNN index, then each iteration's neighbour table (numpy only)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from .. import retrieval, schedule
from ..datasets import read_manifest
from ..io import read_h5, write_csv, write_h5

log = logging.getLogger(__name__)


def knn(target_shards: list[str], source_shards: list[str], out: str, k: int, eps: float, block_size: int,
        divergence: str = "symmetric_kl") -> None:
    """The exact top-k source images of every target image under the weighted divergence."""
    targets = [read_h5(f) for f in target_shards]
    target_hist = np.concatenate([t["hist"] for t in targets])
    target_ids = np.concatenate([t["index"] for t in targets])
    weights = retrieval.response_weights(list(targets[0]["attr:layer_sizes"]))
    top = retrieval.TopK(target_hist, weights, k, eps, divergence)
    start, n_sources = time.perf_counter(), 0
    for number, shard in enumerate(source_shards):
        data = read_h5(shard, ["hist", "index"])
        for lo in range(0, len(data["index"]), block_size):
            top.add(data["hist"][lo : lo + block_size], data["index"][lo : lo + block_size])
        n_sources += len(data["index"])
        log.info("source shard %d/%d done (%d source images so far)", number + 1, len(source_shards), n_sources)
    order = np.argsort(target_ids)
    write_h5(out, {"target_index": target_ids[order], "ids": top.ids[order], "distances": top.distances[order]},
             {"eps": eps, "n_sources": n_sources, "divergence": divergence})
    log.info("top-%d of %d targets over %d sources in %.1f s", top.ids.shape[1], len(target_ids), n_sources, time.perf_counter() - start)


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
        ranking = schedule.random_ranking(n_targets, len(read_manifest(random_pool)), length, seed)
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
