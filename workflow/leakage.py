"""The leakage audit: the source images that duplicate a target's images, and the ones kept out.

Selective joint fine-tuning trains on the source images nearest to the target's; a source pool
that holds copies of the target's test images (Stanford Dogs' come from ImageNet) would have
every borrowing method train on the test set. The audit pairs every target image (train and
test splits) with the source images whose perceptual hashes are within ``threshold`` bits
(``workflow.fingerprints``; with ``flips`` also those of its mirror image), or whose files are
byte-identical. Flat images (no structure: a blank or a solid colour) pair by their digest alone. ``leakage.exclude`` then names the splits whose duplicates no method borrows:
the kNN search skips them, joint-all and joint-random draw from the pool without them.

The default threshold and flips are measured on planted copies (BENCHMARKS.md, "Leakage audit").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .fingerprints import Fingerprints, equal_pairs, hamming, near_pairs

# leakage.exclude: the target splits whose source duplicates are kept out of every borrowing method
EXCLUDED_SPLITS = {"none": (), "test": ("test",), "test+train": ("test", "train")}
COLUMNS = ["split", "target_index", "target_path", "source_index", "source_path", "distance", "kind", "flipped"]


def duplicate_pairs(target: Fingerprints, source: Fingerprints, threshold: int, flips: bool,
                    threads: int = 1) -> pd.DataFrame:
    """Every (target, source) pair of duplicates, by position in the two lists, with its distance
    (bits between the hashes, the mirror's when that is nearer), ``kind`` exact (byte-identical
    files) or near, and whether the mirror matched (``flipped``)."""
    found = []
    # a flat image's hash is rounding noise, near another's by chance: flat images pair by their digest alone
    queries, pool = np.flatnonzero(target.structured()), np.flatnonzero(source.structured())
    for flipped, hashes in ((False, target.phash), (True, target.phash_flip))[: 2 if flips else 1]:
        rows, columns, distances = near_pairs(hashes[queries], source.phash[pool], threshold, threads)
        found.append(pd.DataFrame({"t": queries[rows], "s": pool[columns], "distance": distances, "flipped": flipped,
                                   "exact": False}))
    rows, columns = equal_pairs(target.digest, source.digest)
    distances = hamming(target.phash[rows], source.phash[columns]).astype(np.uint8)
    found.append(pd.DataFrame({"t": rows, "s": columns, "distance": distances, "flipped": False, "exact": True}))
    pairs = pd.concat(found, ignore_index=True)
    # one row per pair: exact if the files are equal, else the nearer of the image and its mirror
    pairs = pairs.sort_values(["t", "s", "exact", "distance", "flipped"], ascending=[True, True, False, True, True])
    pairs = pairs.drop_duplicates(["t", "s"], keep="first")
    pairs["kind"] = np.where(pairs["exact"], "exact", "near")
    pairs.loc[pairs["exact"], "flipped"] = False
    return pairs.drop(columns="exact").reset_index(drop=True)


def audit_table(splits: dict[str, tuple[pd.DataFrame, Fingerprints]], sources: pd.DataFrame,
                source_prints: Fingerprints, threshold: int, flips: bool, threads: int = 1) -> pd.DataFrame:
    """leakage.csv: the duplicate pairs of every split (``splits``: name -> its manifest and the
    fingerprints of its rows), one row per pair, ordered by split, target image, distance."""
    tables = []
    for name, (manifest, prints) in splits.items():
        pairs = duplicate_pairs(prints, source_prints, threshold, flips, threads)
        target_rows, source_rows = manifest.iloc[pairs["t"]], sources.iloc[pairs["s"]]
        tables.append(pd.DataFrame({
            "split": name, "target_index": target_rows["index"].to_numpy(), "target_path": target_rows["path"].to_numpy(),
            "source_index": source_rows["index"].to_numpy(), "source_path": source_rows["path"].to_numpy(),
            "distance": pairs["distance"].to_numpy().astype(int), "kind": pairs["kind"].to_numpy(),
            "flipped": pairs["flipped"].to_numpy()}))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)
    return table.sort_values(["split", "target_index", "distance", "source_index"], kind="stable").reset_index(drop=True)


def summarize(table: pd.DataFrame, split_sizes: dict[str, int]) -> pd.DataFrame:
    """Counts per split: its images, those with a duplicate in the pool, the pairs (and how many are
    byte-identical), the distinct source images they involve."""
    rows = []
    for split, size in split_sizes.items():
        pairs = table[table["split"] == split]
        rows.append({"split": split, "images": size, "images_duplicated": pairs["target_index"].nunique(),
                     "pairs": len(pairs), "exact_pairs": int((pairs["kind"] == "exact").sum()),
                     "flipped_pairs": int(pairs["flipped"].astype(bool).sum()),
                     "source_images": pairs["source_index"].nunique()})
    return pd.DataFrame(rows)


def excluded_sources(table: pd.DataFrame, splits: list[str] | tuple[str, ...]) -> np.ndarray:
    """The sorted source ids that duplicate an image of ``splits``: what no method borrows."""
    return np.unique(table.loc[table["split"].isin(list(splits)), "source_index"].to_numpy(dtype=np.int64))


def read_exclusions(path: str | None, splits: list[str] | tuple[str, ...]) -> np.ndarray:
    """``excluded_sources`` of a leakage.csv (none without one)."""
    if not path or not splits:
        return np.empty(0, np.int64)
    table = pd.read_csv(path)
    missing = {"split", "source_index"} - set(table.columns)
    if missing:
        raise ValueError(f"{path} is not a leakage table: it lacks the columns {sorted(missing)}")
    unknown = sorted(set(splits) - {"train", "test"})
    if unknown:
        raise ValueError(f"exclude splits {unknown}: a leakage table has the splits train and test")
    return excluded_sources(table, splits)


def kept_sources(n_sources: int, excluded: np.ndarray) -> np.ndarray:
    """The source ids 0..n-1 less ``excluded``: the pool joint-all and joint-random draw from."""
    keep = np.ones(n_sources, dtype=bool)
    keep[excluded[excluded < n_sources]] = False
    return np.flatnonzero(keep)
