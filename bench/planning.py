"""What watching the images costs at each Snakemake start: the manifests' digest over N images.

    python bench/planning.py [--images 1281167] [--classes 1000] [--work /tmp/sjft-planning-bench]

Makes an ImageFolder tree of N empty ``.JPEG`` files (ImageNet's 1,281,167 by default, made
once), then times, on a warm file cache, side by side:

- **digest**: ``workflow.datasets.folder_fingerprint``, the manifest rules' parameter, computed
  at every Snakemake start that plans a manifest (names, sizes and modification times);
- **scan**: ``scan_image_folder``, the manifest stage's own listing, the obvious alternative
  (rerun the manifest at every start and compare);
- **hash contents**: reading every byte (here 0 bytes per file, so this is its lower bound:
  real images add their reading time, ~110 KB each on ImageNet).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import time
from pathlib import Path

from workflow.datasets import folder_fingerprint, scan_image_folder


def make_tree(root: Path, n_images: int, n_classes: int) -> None:
    done = root / ".complete"
    if done.exists():
        return
    for label in range(n_classes):
        folder = root / f"n{label:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(label * n_images // n_classes, (label + 1) * n_images // n_classes):
            (folder / f"n{label:08d}_{i:07d}.JPEG").touch()
    done.touch()


def hash_contents(root: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for directory, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            with open(os.path.join(directory, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def best_of(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_281_167)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--work", default="/tmp/sjft-planning-bench")
    args = parser.parse_args()
    root = Path(args.work) / f"pool-{args.images}"
    make_tree(root, args.images, args.classes)
    folder_fingerprint(root)  # warm the cache
    rows = {
        "digest (the manifest rules' parameter)": best_of(lambda: folder_fingerprint(root)),
        "scan (the manifest stage's listing)": best_of(lambda: scan_image_folder(root)),
        "hash contents (lower bound: empty files)": best_of(lambda: hash_contents(root), repeats=1),
    }
    print(f"{args.images:,} images in {args.classes} classes; {platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| per Snakemake start | seconds | vs digest |\n| --- | --- | --- |")
    digest = next(iter(rows.values()))
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.1f} | {seconds / digest:.2f} |")


if __name__ == "__main__":
    main()
