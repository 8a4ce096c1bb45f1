"""Image fingerprints for the leakage audit, and the search for near-duplicates between two sets.

An image's fingerprint is a 64-bit perceptual hash and a content digest:

- ``phash``: the DCT hash of the ``imagehash`` library (its ``phash``): the image in grayscale,
  resized to 32 x 32 (Lanczos), its 2-D DCT-II, the 8 x 8 lowest frequencies compared with
  their median, the 64 bits packed row by row, first bit highest (``str(imagehash.phash(img))``
  is ``f"{phash:016x}"``). Re-encodes, resizes and small crops move few bits; distances are
  Hamming distances.
- ``phash_flip``: the hash of the image mirrored left to right, from the same coefficients (a
  mirror negates the DCT's odd horizontal frequencies), so a flipped copy is caught by one
  more search instead of a second decode.
- ``digest``: the first 8 bytes of the file's BLAKE2b, equal for byte-identical copies.
- ``flat``: whether the image has no structure for the hash to describe (its 32 x 32 grayscale
  grid varies by less than ``FLAT_STD`` gray levels): the bits of its hash are rounding noise,
  near those of any other flat image by chance, so the audit pairs flat images by their digest only.

Kept free of torch: the audit runs before any network is built.
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from multiprocessing import get_context

import numpy as np
from PIL import Image

from .datasets import decode_image

GRID = 32  # the hash's image side: imagehash's hash_size 8 x highfreq_factor 4
SIDE = 8  # the hash's frequencies per axis: 8 x 8 = 64 bits
DRAFT_SIZE = 2 * GRID  # JPEGs are decoded by DCT scaling to at least this (twice the grid: Lanczos still averages)
# standard deviation (gray levels) of the grid below which an image is flat; the least of the
# 28,440 tiny-transfer photographs is 4.8 (BENCHMARKS.md, "Leakage audit")
FLAT_STD = 2.0


@cache
def _dct_rows() -> np.ndarray:
    """The first SIDE rows of the unnormalised DCT-II of length GRID (scipy.fftpack.dct's type 2)."""
    k = np.arange(SIDE)[:, None]
    n = np.arange(GRID)[None, :]
    return 2 * np.cos(np.pi * k * (2 * n + 1) / (2 * GRID))


def low_frequencies(gray: np.ndarray) -> np.ndarray:
    """(..., SIDE, SIDE) lowest DCT-II coefficients of (..., GRID, GRID) grayscale pixels."""
    rows = _dct_rows()
    return rows @ np.asarray(gray, dtype=np.float64) @ rows.T


def mirrored(coefficients: np.ndarray) -> np.ndarray:
    """The coefficients of the left-right mirror of the image: odd horizontal frequencies negated."""
    return coefficients * np.where(np.arange(SIDE) % 2, -1.0, 1.0)


def hash_bits(coefficients: np.ndarray) -> np.ndarray:
    """(...) uint64 hashes of (..., SIDE, SIDE) coefficients: each above its image's median is a 1."""
    flat = coefficients.reshape(*coefficients.shape[:-2], SIDE * SIDE)
    bits = flat > np.median(flat, axis=-1, keepdims=True)
    return np.packbits(bits, axis=-1).view(">u8")[..., 0].astype(np.uint64)


def hash_grid(image: Image.Image) -> np.ndarray:
    """(GRID, GRID) uint8 pixels the hash is computed from, as imagehash makes them."""
    return np.asarray(image.convert("L").resize((GRID, GRID), Image.Resampling.LANCZOS))


def phash(image: Image.Image) -> int:
    """The 64-bit DCT hash of a decoded image (``imagehash.phash``'s bits)."""
    return int(hash_bits(low_frequencies(hash_grid(image))))


@dataclass(frozen=True)
class Fingerprints:
    """The fingerprints of a list of images, each array (n,) in the list's order: uint64 hashes, and
    ``flat`` (bool; None: no image is flat)."""

    phash: np.ndarray
    phash_flip: np.ndarray
    digest: np.ndarray
    flat: np.ndarray | None = None

    def structured(self) -> np.ndarray:
        """(n,) bool: the images whose perceptual hash describes something (not ``flat``)."""
        return np.ones(len(self.phash), bool) if self.flat is None else ~np.asarray(self.flat, bool)


def file_fingerprint(path: str, draft: bool = True) -> tuple[int, int, int, int]:
    """(phash, phash_flip, digest, flat) of an image file, read once; with ``draft`` a large JPEG is
    decoded at 1/2, 1/4 or 1/8 of its size, never below DRAFT_SIZE (``datasets.decode_image``)."""
    with open(path, "rb") as handle:
        data = handle.read()
    digest = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
    image = decode_image(path, DRAFT_SIZE if draft else None, data=io.BytesIO(data))
    grid = hash_grid(image)
    coefficients = low_frequencies(grid)
    flat = int(grid.astype(np.float64).std() < FLAT_STD)
    return int(hash_bits(coefficients)), int(hash_bits(mirrored(coefficients))), digest, flat


def _draft_fingerprint(path: str) -> tuple[int, int, int, int]:
    return file_fingerprint(path, draft=True)


def fingerprint_files(paths: list[str], workers: int = 0, progress=None) -> Fingerprints:
    """The fingerprints of image files in order, decoded by ``workers`` processes (0: this one).
    ``progress(done)`` is called every few hundred images."""
    rows = []
    pool = get_context("spawn" if os.name == "nt" else "forkserver").Pool(workers) if workers else None
    try:
        results = pool.imap(_draft_fingerprint, paths, chunksize=64) if pool else map(_draft_fingerprint, paths)
        for rows_done, row in enumerate(results, 1):
            rows.append(row)
            if progress and rows_done % 500 == 0:
                progress(rows_done)
    finally:
        if pool:
            pool.terminate()
    table = np.array(rows, dtype=np.uint64).reshape(-1, 4)
    return Fingerprints(table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy(), table[:, 3].astype(bool))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distances of uint64 hashes (broadcast)."""
    return np.bitwise_count(np.bitwise_xor(np.asarray(a, np.uint64), np.asarray(b, np.uint64)))


def near_pairs(queries: np.ndarray, pool: np.ndarray, threshold: int, threads: int = 1,
               query_block: int = 16, pool_block: int = 1 << 13) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (query, pool) pair of hashes within ``threshold`` bits, exactly: XOR and popcount
    block by block, ``query_block`` x ``pool_block`` at a time (1 MB: the block stays in cache,
    twice as fast as blocks of 16 MB: BENCHMARKS.md), the query blocks shared among ``threads``
    (numpy's loops release the GIL). A block's pairs are listed only when its nearest is close.

    Returns (query positions, pool positions, distances), ordered by query, then pool position.
    """
    queries, pool = np.asarray(queries, np.uint64), np.asarray(pool, np.uint64)
    if not 0 <= threshold <= 64:
        raise ValueError(f"a Hamming threshold of 64-bit hashes is 0..64, not {threshold}")

    def search(lo: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        block = queries[lo : lo + query_block, None]
        found = []
        xor = np.empty((len(block), min(pool_block, len(pool))), np.uint64)
        count = np.empty(xor.shape, np.uint8)
        for start in range(0, len(pool), pool_block):
            part = pool[start : start + pool_block]
            bits = count[:, : len(part)]
            np.bitwise_xor(block, part[None, :], out=xor[:, : len(part)])
            np.bitwise_count(xor[:, : len(part)], out=bits)
            if bits.min() <= threshold:
                rows, columns = np.nonzero(bits <= threshold)
                found.append((rows + lo, columns + start, bits[rows, columns]))
        return found

    starts = range(0, len(queries), query_block)
    with ThreadPoolExecutor(max(1, threads)) as executor:
        parts = [part for found in executor.map(search, starts) for part in found]
    if not parts:
        empty = np.empty(0, np.int64)
        return empty, empty.copy(), np.empty(0, np.uint8)
    rows, columns, distances = (np.concatenate(values) for values in zip(*parts))
    order = np.lexsort((columns, rows))
    return rows[order].astype(np.int64), columns[order].astype(np.int64), distances[order]


def equal_pairs(queries: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (query, pool) pair of equal values (the digests of byte-identical files), by sorting."""
    queries, pool = np.asarray(queries), np.asarray(pool)
    order = np.argsort(pool, kind="stable")
    ranked = pool[order]
    lo, hi = np.searchsorted(ranked, queries, "left"), np.searchsorted(ranked, queries, "right")
    counts = hi - lo
    rows = np.repeat(np.arange(len(queries)), counts)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)  # 0, 1, ... in each run
    return rows.astype(np.int64), order[np.repeat(lo, counts) + within].astype(np.int64)
