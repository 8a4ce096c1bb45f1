"""Retrieval stages: the exact kNN index, then each iteration's neighbour table (numpy only)."""

from __future__ import annotations

import logging
import time
from typing import Literal

import numpy as np
import pandas as pd

from .. import retrieval, schedule
from ..approximate import approximate_topk
from ..datasets import read_manifest
from ..io import open_h5, read_h5, write_csv, write_h5
from ..leakage import kept_sources, read_exclusions

log = logging.getLogger(__name__)


def knn(targets: list[str], sources: list[str], out: str, k: int, eps: float, memory_mb: float,
        divergence: Literal["symmetric_kl", "jensen_shannon"], search: Literal["exact", "nndescent"],
        candidates: int, exclude: str | None = None, exclude_splits: list[str] = ()) -> None:
    """The top-k source images of every target image by histogram divergence.

    Exact (streaming the sources block by block within ``memory_mb``) or, with ``search``
    nndescent, approximate candidates re-ranked exactly (``workflow.approximate``). The source
    images that the leakage audit (``exclude``) pairs with an image of ``exclude_splits`` are
    never among them.

    Args:
        targets: target descriptor shards
        sources: source descriptor shards
        out: knn.h5: per target image its k source ids and divergences, nearest first
        k: neighbours kept per target image (the most any iteration can reach)
        eps: histogram smoothing before the logs of the divergence
        memory_mb: peak memory of the distance blocks and the top-k
        divergence: symmetric_kl (the paper's) | jensen_shannon
        search: exact | nndescent (approximate, re-ranked exactly)
        candidates: nndescent: candidates per neighbour to re-rank
        exclude: leakage.csv of the leakage audit
        exclude_splits: the target splits whose source duplicates are left out (test, train)
    """
    target_shards = [read_h5(f) for f in targets]
    target_hist = np.concatenate([t["hist"] for t in target_shards])
    target_ids = np.concatenate([t["index"] for t in target_shards])
    weights = retrieval.response_weights(list(target_shards[0]["attr:layer_sizes"]))
    excluded = read_exclusions(exclude, exclude_splits)
    if len(excluded):
        log.info("%d source images duplicate target images of the %s split (%s): left out", len(excluded),
                 " and ".join(exclude_splits), exclude)
    schedule.check_pool_size(_count_images(sources) - len(excluded), k,
                             f"descriptor shards {', '.join(sources)}" + (" less the excluded duplicates" if len(excluded) else ""))
    start = time.perf_counter()
    if search == "nndescent":
        if divergence != "symmetric_kl":
            raise ValueError(f"retrieval.search: nndescent re-ranks by symmetric_kl; retrieval.divergence is {divergence!r}")
        shards = [read_h5(f, ["hist", "index"]) for f in sources]
        source_ids = np.concatenate([s["index"] for s in shards])
        keep = ~np.isin(source_ids, excluded)
        distances, positions = approximate_topk(target_hist, np.concatenate([s["hist"] for s in shards])[keep], weights,
                                                k, eps, candidates)
        ids, n_sources = source_ids[keep][positions], int(keep.sum())
    elif search == "exact":
        distances, ids, n_sources = _exact_topk(target_hist, sources, weights, k, eps, memory_mb, divergence, excluded)
    else:
        raise ValueError(f"unknown search {search!r} (config key retrieval.search); known: exact, nndescent")
    order = np.argsort(target_ids)
    write_h5(out, {"target_index": target_ids[order], "ids": ids[order], "distances": distances[order]},
             {"eps": eps, "n_sources": n_sources, "divergence": divergence, "search": search, "n_excluded": len(excluded)})
    log.info("top-%d of %d targets over %d sources in %.1f s", ids.shape[1], len(target_ids), n_sources, time.perf_counter() - start)


def _count_images(shards: list[str]) -> int:
    total = 0
    for shard in shards:
        with open_h5(shard) as f:
            total += len(f["index"])
    return total


def _exact_topk(target_hist: np.ndarray, source_shards: list[str], weights: np.ndarray, k: int, eps: float,
                memory_mb: float, divergence: str, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    top = retrieval.TopK(target_hist, weights, k, eps, divergence)
    block = top.block_size(memory_mb)
    log.info("%d target images, blocks of %d source images within %s MB", len(target_hist), block, memory_mb)
    start, n_sources = time.perf_counter(), 0
    for number, shard in enumerate(source_shards):
        with open_h5(shard) as f:
            hist, index = f["hist"], f["index"][:]
            if hist.shape[1:] != target_hist.shape[1:]:
                raise ValueError(f"{shard}: histograms of shape {hist.shape[1:]}, the targets' are {target_hist.shape[1:]}")
            keep = ~np.isin(index, excluded)
            for lo in range(0, len(index), block):
                part = keep[lo : lo + block]
                top.add(hist[lo : lo + block][part], index[lo : lo + block][part])
        n_sources += int(keep.sum())
        seconds = time.perf_counter() - start
        log.info("source shard %d/%d done: %d source images in %.1f s (%.0f img/s)", number + 1, len(source_shards),
                 n_sources, seconds, n_sources / max(seconds, 1e-9))
    return top.distances, top.ids, n_sources


def neighbours(out: str, targets: str, knn: str | None = None, random_pool: str | None = None, length: int = 0,
               seed: int = 0, k0: int | None = None, entropy: str | None = None, match: str | None = None,
               delta: float | None = None, sigma0: int | None = None, sigma1: int | None = None,
               previous: str | None = None, exclude: str | None = None, exclude_splits: list[str] = ()) -> None:
    """One iteration's neighbour table: a ranking (kNN or random) cut at per-target counts.

    The ranking is a kNN index (``knn``) or random lists of ``length`` source images
    (``random_pool``, less the source images the leakage audit ``exclude`` pairs with an image
    of ``exclude_splits``; a kNN index has left them out already). The counts come from ``k0`` (iteration 0), from the previous iteration's
    counts (its neighbour table, ``previous``) grown by the paper's rule on its ``entropy`` table
    (``delta``, ``sigma0``, ``sigma1``), or from another neighbour table (``match``: the same count
    per target). Each table is read from the job that made it: the data flows forward.

    Args:
        out: neighbours.csv: one row per (target image, source image) pair
        targets: the target's train manifest
        knn: rank by this kNN index
        random_pool: rank the images of this source manifest at random
        length: random ranking length
        seed: seed of the random ranking
        k0: the same count for every target image
        entropy: the previous iteration's entropy.csv (the paper's rule: entropy and correctness per target image)
        match: take the counts of this neighbour table
        delta: entropy threshold (nats) of the rule
        sigma0: K increment of misclassified images
        sigma1: K increment of uncertain correct images
        previous: with entropy, the previous iteration's neighbours.csv (the counts the rule grows)
        exclude: leakage.csv of the leakage audit (random rankings)
        exclude_splits: the target splits whose source duplicates are left out (test, train)
    """
    if (knn is None) == (random_pool is None):
        raise ValueError("neighbours: give one ranking, --knn or --random-pool")
    if sum(option is not None for option in (k0, entropy, match)) != 1:
        raise ValueError("neighbours: give one rule for the counts, --k0, --entropy or --match")
    if entropy and None in (delta, sigma0, sigma1, previous):
        raise ValueError("neighbours: --entropy needs --delta, --sigma0, --sigma1 and --previous")
    n_targets = len(read_manifest(targets))
    if knn:
        ranking = read_h5(knn, ["ids"])["ids"]
    else:
        pool = kept_sources(len(read_manifest(random_pool)), read_exclusions(exclude, exclude_splits))
        schedule.check_pool_size(len(pool), length, random_pool)
        ranking = pool[schedule.random_ranking(n_targets, len(pool), length, seed)]
    if len(ranking) != n_targets:
        raise ValueError(f"{knn} ranks {len(ranking)} target images but {targets} lists {n_targets}")
    if k0 is not None:
        counts = np.full(n_targets, k0)
    elif entropy:
        table = pd.read_csv(entropy).sort_values("index")
        if not np.array_equal(table["index"].to_numpy(), np.arange(n_targets)):
            raise ValueError(f"{entropy} lists {len(table)} target images, {targets} {n_targets}: rerun its training")
        counts = schedule.next_counts(schedule.counts_of(pd.read_csv(previous), n_targets), table["entropy"],
                                      table["correct"], delta, sigma0, sigma1)
    else:
        counts = schedule.counts_of(pd.read_csv(match), n_targets)
    table = schedule.neighbour_table(ranking, counts)
    write_csv(table, out)
    log.info("%d pairs, %d distinct source images, K from %d to %d", len(table), table["source_index"].nunique(), counts.min(), counts.max())
