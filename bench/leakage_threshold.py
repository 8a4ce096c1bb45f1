"""The leakage audit's threshold, measured: recall on planted copies, false positives on distinct images.

    python bench/leakage_threshold.py                           # tiny-transfer: invertebrates vs the pool
    python bench/leakage_threshold.py --sheet /tmp/closest.png  # also a contact sheet of the closest pairs

Copies of every invertebrates image (train and test, 1,440) are made the ways a dataset's
builders copy images (a byte copy, JPEG re-encodes, resizes, crops of a few pixels, a mirror,
grayscale, and all at once) and fingerprinted as the workflow does (``fingerprints.file_fingerprint``,
draft decoding included). Recall at a threshold is the share of copies within that many bits of
their original, the way ``leakage.duplicate_pairs`` pairs them: byte-identical files always, the
image's own hash, and with flips also its mirror's. False positives are the pairs of the 1,440
target images x the 27,000 pool images within the threshold: Tiny ImageNet's classes in the pool
are disjoint from the target's, so such pairs are distinct photographs unless the contact sheet
shows otherwise. Their rate per pair, times a paper target's pairs (Stanford Dogs' 20,580 images x
ImageNet's 1.28M), is the number of pool images a full-size audit would flag wrongly.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from workflow.fingerprints import Fingerprints, fingerprint_files, hamming  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "tiny-transfer"
THRESHOLDS = range(0, 17, 2)  # every distance is even: a hash has 32 bits set, so odd thresholds add nothing
SHOWN = (0, 2, 4, 6, 8, 10, 12, 14, 16)
PAPER_PAIRS = 20_580 * 1_281_167  # Stanford Dogs' images x ImageNet train
SAVE_QUALITY = 90  # the copies that are not JPEG re-encodes at a stated quality are saved at this


def _crop(pixels: int):
    return lambda image: image.crop((pixels, pixels, image.width - pixels, image.height - pixels))


def _resize(factor: float):
    return lambda image: image.resize((round(image.width * factor), round(image.height * factor)), Image.BICUBIC)


# name -> (how the copy's image is made from the original's, its JPEG quality); None: a byte copy
TRANSFORMS = {
    "exact (byte copy)": None,
    "JPEG q95": (lambda image: image, 95),
    "JPEG q75": (lambda image: image, 75),
    "JPEG q50": (lambda image: image, 50),
    "resize 0.5x": (_resize(0.5), SAVE_QUALITY),
    "resize 0.75x": (_resize(0.75), SAVE_QUALITY),
    "resize 1.5x": (_resize(1.5), SAVE_QUALITY),
    "resize 2x": (_resize(2.0), SAVE_QUALITY),
    "crop 1 px a side": (_crop(1), SAVE_QUALITY),
    "crop 2 px a side": (_crop(2), SAVE_QUALITY),
    "crop 4 px a side": (_crop(4), SAVE_QUALITY),
    "grayscale": (lambda image: ImageOps.grayscale(image).convert("RGB"), SAVE_QUALITY),
    "0.75x + crop 2 px + q75": (lambda image: _crop(2)(_resize(0.75)(image)), 75),
    "mirror": (ImageOps.mirror, SAVE_QUALITY),
}


def images(folder: Path) -> list[str]:
    return sorted(str(path) for path in folder.glob("*/*.JPEG"))


def plant(originals: list[str], folder: Path) -> dict[str, list[str]]:
    """Every transform's copies of ``originals`` written under ``folder``, in the originals' order."""
    copies = {}
    for number, (name, transform) in enumerate(TRANSFORMS.items()):
        paths = []
        for index, original in enumerate(originals):
            path = folder / f"{number:02d}-{index:05d}.jpg"
            if transform is None:
                path.write_bytes(Path(original).read_bytes())
            else:
                make, quality = transform
                make(Image.open(original).convert("RGB")).save(path, quality=quality)
            paths.append(str(path))
        copies[name] = paths
    return copies


def nearest_distance(original: Fingerprints, copy: Fingerprints, flips: bool) -> np.ndarray:
    """The distance the audit gives each (original, its copy) pair: 0 for byte-identical files,
    else the bits between the hashes (the nearer of the image's and its mirror's with flips)."""
    distance = hamming(original.phash, copy.phash).astype(int)
    if flips:
        distance = np.minimum(distance, hamming(original.phash_flip, copy.phash))
    return np.where(original.digest == copy.digest, 0, distance)


def pair_distances(queries: np.ndarray, pool: np.ndarray, block: int = 64) -> np.ndarray:
    """The (queries, pool) matrix of Hamming distances, uint8."""
    out = np.empty((len(queries), len(pool)), np.uint8)
    for start in range(0, len(queries), block):
        out[start : start + block] = hamming(queries[start : start + block, None], pool[None, :])
    return out


def recall_table(target: Fingerprints, copies: dict[str, Fingerprints]) -> str:
    header = "| copy | flips | " + " | ".join(f"<= {t}" for t in SHOWN) + " |"
    lines = [header, "|" + " --- |" * (len(SHOWN) + 2)]
    for name, copy in copies.items():
        for flips in (False, True):
            distance = nearest_distance(target, copy, flips)
            cells = " | ".join(f"{np.mean(distance <= t):.3f}" for t in SHOWN)
            lines.append(f"| {name} | {'yes' if flips else 'no'} | {cells} |")
    return "\n".join(lines)


def false_positive_table(target: Fingerprints, pool: Fingerprints) -> tuple[str, dict[bool, np.ndarray]]:
    matrices = {False: pair_distances(target.phash, pool.phash)}
    matrices[True] = np.minimum(matrices[False], pair_distances(target.phash_flip, pool.phash))
    pairs = matrices[False].size
    lines = ["| threshold | flips | pairs within | per pair | target images with one | pool images in one "
             "| expected at Dogs x ImageNet |", "|" + " --- |" * 7]
    for t in THRESHOLDS:
        for flips, matrix in matrices.items():
            within = matrix <= t
            count = int(within.sum())
            lines.append(f"| {t} | {'yes' if flips else 'no'} | {count:,} | {count / pairs:.2e} | "
                         f"{int(within.any(1).sum()):,} | {int(within.any(0).sum()):,} | "
                         f"{count / pairs * PAPER_PAIRS:,.0f} |")
    return "\n".join(lines), matrices


def contact_sheet(pairs: list[tuple[str, str, int]], out: str, side: int = 96) -> None:
    """The pairs side by side, a row each, nearest first."""
    sheet = Image.new("RGB", (2 * side + 8, len(pairs) * (side + 4)), "white")
    for row, (left, right, _) in enumerate(pairs):
        for column, path in enumerate((left, right)):
            sheet.paste(Image.open(path).convert("RGB").resize((side, side)), (column * (side + 8), row * (side + 4)))
    sheet.save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the tiny-transfer folder")
    parser.add_argument("--workers", type=int, default=2, help="fingerprinting processes")
    parser.add_argument("--sheet", help="write the closest target/pool pairs side by side to this PNG")
    parser.add_argument("--closest", type=int, default=30, help="pairs listed (and drawn) nearest first")
    args = parser.parse_args()

    target_paths = images(args.data / "invertebrates" / "train") + images(args.data / "invertebrates" / "test")
    pool_paths = images(args.data / "source" / "train")
    started = time.perf_counter()
    target = fingerprint_files(target_paths, args.workers)
    pool = fingerprint_files(pool_paths, args.workers)
    with tempfile.TemporaryDirectory() as folder:
        planted = plant(target_paths, Path(folder))
        copies = {name: fingerprint_files(paths, args.workers) for name, paths in planted.items()}
    seconds = time.perf_counter() - started

    print(f"Machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}; {date.today()}; "
          f"{len(target_paths):,} target images, {len(pool_paths):,} pool images, "
          f"{len(target_paths) * len(TRANSFORMS):,} planted copies fingerprinted and searched in {seconds:.0f} s.")
    print("\nRecall: the share of planted copies within the threshold of their original\n")
    print(recall_table(target, copies))
    table, matrices = false_positive_table(target, pool)
    print(f"\nFalse positives: pairs of the {len(target_paths):,} target images x {len(pool_paths):,} distinct pool "
          "images within the threshold (the image's hash, and with flips its mirror's)\n")
    print(table)
    exact = int(np.isin(target.digest, pool.digest).sum())
    print(f"\nByte-identical files between target and pool: {exact}.")
    trains = sum(path.split("/invertebrates/")[1].startswith("train/") for path in target_paths)
    within = np.minimum(pair_distances(target.phash[:trains], target.phash[trains:]),
                        pair_distances(target.phash_flip[:trains], target.phash[trains:]))
    counts = ", ".join(f"{int((within <= t).sum())} within {t} bits" for t in (4, 8, 10))
    print(f"Within the target, its {trains} training x {len(target_paths) - trains:,} test images (flips included): "
          f"{counts}.")

    distances = matrices[True]
    order = np.argsort(distances, axis=None, kind="stable")[: args.closest]
    rows, columns = np.unravel_index(order, distances.shape)
    closest = [(target_paths[r], pool_paths[c], int(distances[r, c])) for r, c in zip(rows, columns)]
    print(f"\nThe {args.closest} closest target/pool pairs (flips included):\n")
    print("| distance | target image | pool image |\n| --- | --- | --- |")
    for left, right, distance in closest:
        print(f"| {distance} | {Path(left).relative_to(args.data)} | {Path(right).relative_to(args.data)} |")
    if args.sheet:
        contact_sheet(closest, args.sheet)


if __name__ == "__main__":
    main()
