"""Carve a tiny-transfer target whose classes the source pool also holds (the paper's Dogs-in-ImageNet case).

    python bench/related_pool.py          # -> results/data/tiny-related/{target,source,relations.csv}
    snakemake --cores 2 --configfile config/tiny-transfer-imagenet.yaml config/tiny-transfer-related.yaml \\
        -- results/related/report.html

On the invertebrates target the pool holds no related class, and selection found little class
signal in it (BENCHMARKS.md). This carve asks the other half of the question: when the pool
does hold the target's classes, as ImageNet holds Stanford Dogs' and the paper's Flowers102 pool
held flowers, does selecting source images beat fine-tuning and borrowing everything? It draws
``--classes`` of the pool's 135 classes at random; of each, ``--train`` images become the target's
training split and ``--test`` its test split, and the rest stay in the pool (disjoint images, as
the paper's). The other classes stay whole. ``relations.csv`` pairs each target class with its
own pool class, so the report's retrieval_precision is the share of borrowed images of the
target image's class. Everything is symbolic links into the data folder: nothing is copied.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

DATA = "../shared/data/tiny-transfer/source/train"


def carve(pool: Path, out: Path, n_classes: int, n_train: int, n_test: int, seed: int) -> list[str]:
    """Link the split images under ``out``; the chosen class folders, in order."""
    classes = sorted(p.name for p in pool.iterdir() if p.is_dir() and not p.name.startswith("."))
    rng = random.Random(seed)
    chosen = sorted(rng.sample(classes, n_classes))
    for name in classes:
        images = sorted(p for p in (pool / name).iterdir() if not p.name.startswith("."))
        parts = {"source": images}
        if name in chosen:
            if len(images) < n_train + n_test + 1:
                raise ValueError(f"{pool / name} has {len(images)} images, fewer than --train + --test + 1")
            images = rng.sample(images, len(images))
            parts = {"target/train": images[:n_train], "target/test": images[n_train : n_train + n_test],
                     "source": sorted(images[n_train + n_test :])}
        for part, files in parts.items():
            folder = out / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for image in files:
                (folder / image.name).symlink_to(image.resolve())
    (out / "relations.csv").write_text("target_class,source_class\n" + "".join(f"{c},{c}\n" for c in chosen))
    names = pool.parent / "classes.tsv"
    if names.exists():  # readable class names for the report page: beside the target's splits, above the pool
        for where in (out / "target", out):
            shutil.copyfile(names, where / "classes.tsv")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA, help="the pool: <class>/<image> (tiny-transfer's source/train)")
    parser.add_argument("--out", default="results/data/tiny-related")
    parser.add_argument("--classes", type=int, default=24, help="target classes drawn from the pool")
    parser.add_argument("--train", type=int, default=10, help="training images per target class")
    parser.add_argument("--test", type=int, default=50, help="test images per target class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists: remove it to carve again (its images' links are what the manifests key on)")
    chosen = carve(Path(args.data), out, args.classes, args.train, args.test, args.seed)
    print(f"{out}: {len(chosen)} target classes x ({args.train} train + {args.test} test); the rest of the pool under source/")


if __name__ == "__main__":
    main()
