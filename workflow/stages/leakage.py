"""Leakage-audit stages: fingerprints of a manifest's images, then the duplicates of a target's in its pool.

The source pool's fingerprints do not depend on the target (unlike the histograms, whose bins
come from it), so they are computed once per pool, in shards, and every target's audit reads them.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..datasets import read_manifest
from ..fingerprints import DRAFT_SIZE, Fingerprints, fingerprint_files
from ..io import read_h5, write_csv, write_h5
from ..leakage import audit_table, summarize

log = logging.getLogger(__name__)


def fingerprints(manifest: str, out: str, shard: int = 0, shards: int = 1, workers: int = 0) -> None:
    """Perceptual hashes and content digests of one shard of a manifest, images [shard n / N,
    (shard + 1) n / N) (``workflow.fingerprints``), JPEGs decoded by DCT scaling at a small size.

    Args:
        manifest: the images' manifest (a target split or the source pool)
        out: HDF5: index, phash, phash_flip, digest (uint64 each), flat (bool)
        shard: which shard (0-based)
        shards: N, the number of shards of the manifest
        workers: image decoding processes (0: the main process)
    """
    frame = read_manifest(manifest)
    lo, hi = len(frame) * shard // shards, len(frame) * (shard + 1) // shards
    part = frame.iloc[lo:hi]
    start = time.perf_counter()

    def progress(done: int) -> None:
        if done % max(500, len(part) // 10 // 500 * 500) == 0:
            log.info("shard %d/%d: %d/%d images (%.0f img/s)", shard, shards, done, len(part),
                     done / (time.perf_counter() - start))

    prints = fingerprint_files(part["path"].tolist(), workers, progress)
    write_h5(out, {"index": part["index"].to_numpy(), "phash": prints.phash, "phash_flip": prints.phash_flip,
                   "digest": prints.digest, "flat": prints.flat}, {"draft_size": DRAFT_SIZE})
    seconds = time.perf_counter() - start
    log.info("shard %d/%d: %d images in %.1f s (%.0f img/s)", shard, shards, len(part), seconds,
             len(part) / max(seconds, 1e-9))


def _read_prints(paths: list[str], manifest, manifest_path: str) -> Fingerprints:
    """The fingerprints of a manifest's rows, from its shards in order; shards that do not cover
    the manifest row for row (a stale shard) are refused."""
    shards = [read_h5(path, ["index", "phash", "phash_flip", "digest", "flat"]) for path in paths]
    index = np.concatenate([s["index"] for s in shards]) if shards else np.empty(0, np.int64)
    if not np.array_equal(index, manifest["index"].to_numpy()):
        raise ValueError(f"the fingerprints {', '.join(paths)} do not cover {manifest_path} row for row "
                         f"({len(index)} images for {len(manifest)}): rerun them")
    return Fingerprints(*(np.concatenate([s[key] for s in shards]) for key in ("phash", "phash_flip", "digest", "flat")))


def leakage(train: str, test: str, sources: list[str], train_manifest: str, test_manifest: str, source_manifest: str,
            out: str, summary_out: str, threshold: int, flips: bool, search_threads: int = 1) -> None:
    """The source images that duplicate a target image, split by split (``workflow.leakage``).

    Args:
        train: fingerprints of the target's train manifest
        test: fingerprints of the target's test manifest
        sources: the source pool's fingerprint shards, in order
        train_manifest: the target's train manifest
        test_manifest: the target's test manifest
        source_manifest: the source pool's manifest
        out: leakage.csv: one row per (target image, source duplicate) pair
        summary_out: the counts per split
        threshold: the most bits two perceptual hashes may differ by to count as duplicates
        flips: also pair a target image's mirror image with the pool
        search_threads: threads of the search
    """
    start = time.perf_counter()
    pool = read_manifest(source_manifest)
    pool_prints = _read_prints(sources, pool, source_manifest)
    splits = {}
    for name, prints, manifest in (("train", train, train_manifest), ("test", test, test_manifest)):
        frame = read_manifest(manifest)
        splits[name] = (frame, _read_prints([prints], frame, manifest))
    table = audit_table(splits, pool, pool_prints, threshold, flips, search_threads)
    summary = summarize(table, {name: len(frame) for name, (frame, _) in splits.items()})
    write_csv(table, out)
    write_csv(summary, summary_out)
    for row in summary.itertuples(index=False):
        log.info("%s: %d of %d images have duplicates in the pool (%d pairs, %d byte-identical, %d source images)",
                 row.split, row.images_duplicated, row.images, row.pairs, row.exact_pairs, row.source_images)
    log.info("audit of %d target images against %d source images in %.1f s",
             sum(len(frame) for frame, _ in splits.values()), len(pool), time.perf_counter() - start)
