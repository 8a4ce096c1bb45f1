"""The leakage audit's search at ImageNet scale: every target hash against 1M pool hashes.

    python bench/leakage_search.py                  # 1M pool hashes; 1,000 and 10,000 queries
    python bench/leakage_search.py --pool 1281167   # ImageNet train's size

``fingerprints.near_pairs`` (blocks of 16 queries x 8,192 pool hashes, XOR and popcount, the
query blocks shared among threads) against the obvious ways, side by side in one run, on the
same hashes: numpy one query at a time (the XOR of a query with the whole pool, then popcount),
the bits unpacked (a 64-byte row per hash, compared bit by bit), and the ``imagehash`` library's
own distance (``ImageHash.__sub__``) in a Python loop. The slow ways run on a slice of the
queries and are scaled to the whole. The pool is random 64-bit hashes with near copies of some
queries planted in it; every way must return the same pairs, checked on the slice.

Then the fingerprints that feed it, per ImageNet-sized JPEG (generated 500x375 at quality 90, as in
bench/input_pipeline.py): ``fingerprints.file_fingerprint`` with draft decoding (the stage's) and
without, against ``imagehash.phash`` of the fully decoded image, one process each.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from input_pipeline import write_jpegs  # noqa: E402

from workflow.fingerprints import file_fingerprint, near_pairs  # noqa: E402

THRESHOLD = 10
PAPER_QUERIES = 2 * 20_580  # Stanford Dogs' images, each as itself and as its mirror
IMAGENET = 1_281_167


def hashes_with_planted_copies(pool_size: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random pool and query hashes; every 10th query also sits in the pool with 0..12 bits flipped."""
    random = np.random.default_rng(seed)
    pool = random.integers(0, 2**64, pool_size, dtype=np.uint64)
    query = random.integers(0, 2**64, queries, dtype=np.uint64)
    for index in range(0, queries, 10):
        flipped = random.choice(64, random.integers(0, 13), replace=False)
        mask = np.uint64(sum(1 << int(bit) for bit in flipped))
        pool[random.integers(pool_size)] = query[index] ^ mask
    return query, pool


def per_query(queries: np.ndarray, pool: np.ndarray, threshold: int) -> list[tuple[int, int]]:
    found = []
    for row, query in enumerate(queries):
        columns = np.nonzero(np.bitwise_count(pool ^ query) <= threshold)[0]
        found.extend((row, int(column)) for column in columns)
    return found


def unpacked(queries: np.ndarray, pool: np.ndarray, threshold: int) -> list[tuple[int, int]]:
    bits = np.unpackbits(pool.view(np.uint8).reshape(-1, 8), axis=1)  # (pool, 64) bytes of 0/1
    found = []
    for row, query in enumerate(queries):
        query_bits = np.unpackbits(np.array([query]).view(np.uint8))
        columns = np.nonzero((bits != query_bits).sum(1) <= threshold)[0]
        found.extend((row, int(column)) for column in columns)
    return found


def imagehash_loop(queries: np.ndarray, pool: np.ndarray, threshold: int) -> list[tuple[int, int]]:
    import imagehash

    def as_hash(value: np.uint64) -> imagehash.ImageHash:
        return imagehash.hex_to_hash(f"{int(value):016x}")

    pool_hashes = [as_hash(value) for value in pool]
    return [(row, column) for row, query_hash in enumerate(map(as_hash, queries))
            for column, other in enumerate(pool_hashes) if query_hash - other <= threshold]


def imagehash_fingerprint(path: str) -> tuple[str, bytes]:
    import imagehash

    data = Path(path).read_bytes()
    return str(imagehash.phash(Image.open(path))), hashlib.blake2b(data, digest_size=8).digest()


def fingerprint_table(images: int, rounds: int = 3) -> str:
    """Milliseconds per generated 500x375 JPEG, best of ``rounds``, and what 1.28M would take."""
    ways = {"ours, draft decoding (the stage's)": lambda path: file_fingerprint(path, draft=True),
            "ours, full decoding": lambda path: file_fingerprint(path, draft=False),
            "imagehash.phash, full decoding + the same digest": imagehash_fingerprint}
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(path) for path in write_jpegs(Path(folder), 1, images, 500, 375, seed=0)]
        kilobytes = np.mean([Path(path).stat().st_size for path in paths]) / 1024
        best = {way: min(timed(lambda: [fingerprint(path) for path in paths])[0] for _ in range(rounds))
                for way, fingerprint in ways.items()}
    ours = best[next(iter(ways))]
    lines = [f"Fingerprints of {images} generated 500x375 JPEGs (quality 90, mean {kilobytes:.0f} KB), one process, "
             f"best of {rounds}:\n", "| way | ms per image | 1.28M images, core-hours | ours (draft) faster |",
             "| --- | --- | --- | --- |"]
    for way, seconds in best.items():
        lines.append(f"| {way} | {seconds / images * 1e3:.2f} | {seconds / images * IMAGENET / 3600:.1f} | "
                     f"{seconds / ours:.1f}x |")
    return "\n".join(lines)


def timed(function, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1_000_000, help="pool hashes")
    parser.add_argument("--queries", type=int, nargs="+", default=[1_000, 10_000], help="query counts to time")
    parser.add_argument("--threshold", type=int, default=THRESHOLD, help="bits")
    parser.add_argument("--images", type=int, default=200, help="generated JPEGs to fingerprint")
    args = parser.parse_args()

    queries, pool = hashes_with_planted_copies(args.pool, max(args.queries))
    threads = sorted({1, min(2, os.cpu_count() or 1)})
    print(f"Machine: {platform.machine()}, {platform.system()}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"Python {platform.python_version()}; {date.today()}; {args.pool:,} pool hashes, threshold {args.threshold}.\n")

    # the slice every way runs on, and the reference pairs
    slice_ = queries[:20]
    reference_time, reference = timed(per_query, slice_, pool, args.threshold)
    ours_rows, ours_columns, _ = near_pairs(slice_, pool, args.threshold)
    assert list(zip(ours_rows.tolist(), ours_columns.tolist())) == reference, "near_pairs differs from per-query numpy"
    unpacked_time, unpacked_pairs = timed(unpacked, slice_[:5], pool, args.threshold)
    assert unpacked_pairs == [pair for pair in reference if pair[0] < 5], "unpacked bits differ"
    small_pool = pool[:20_000]
    loop_time, loop_pairs = timed(imagehash_loop, slice_[:2], small_pool, args.threshold)
    assert loop_pairs == [pair for pair in per_query(slice_[:2], small_pool, args.threshold)], "imagehash differs"
    per_pair = {"numpy, one query at a time": reference_time / (len(slice_) * len(pool)),
                "numpy, bits unpacked": unpacked_time / (5 * len(pool)),
                "imagehash, Python loop": loop_time / (2 * len(small_pool))}

    lines = ["| queries | way | threads | seconds | pairs/s | ours on 1 thread faster | pairs found |",
             "|" + " --- |" * 7]
    best_rate = 0.0
    for count in args.queries:
        single = None
        for thread_count in threads:
            seconds, (rows, _, _) = timed(near_pairs, queries[:count], pool, args.threshold, thread_count)
            single = single or seconds
            best_rate = max(best_rate, count * len(pool) / seconds)
            lines.append(f"| {count:,} | ours (near_pairs) | {thread_count} | {seconds:.2f} | "
                         f"{count * len(pool) / seconds:.2e} | | {len(rows):,} |")
        if count == args.queries[0]:
            seconds, _ = timed(near_pairs, queries[:count], pool, args.threshold, 1, 16, 1 << 17)
            lines.append(f"| {count:,} | ours, blocks of 16 MB (16 x 131,072) | 1 | {seconds:.2f} | "
                         f"{count * len(pool) / seconds:.2e} | {seconds / single:.1f}x | |")
        for way, seconds_per_pair in per_pair.items():
            seconds = seconds_per_pair * count * len(pool)
            lines.append(f"| {count:,} | {way} (scaled) | 1 | {seconds:,.1f} | {1 / seconds_per_pair:.2e} | "
                         f"{seconds / single:,.0f}x | |")
    print("\n".join(lines))
    paper = PAPER_QUERIES * IMAGENET / best_rate
    print(f"\nStanford Dogs x ImageNet with flips ({PAPER_QUERIES:,} query hashes x {IMAGENET:,}) at the best rate "
          f"above: {paper / 60:.1f} min on this machine.\n")
    print(fingerprint_table(args.images))


if __name__ == "__main__":
    main()
