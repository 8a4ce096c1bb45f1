"""Growth of each stage with the source pool: 10k, 100k and 1M source images.

    python bench/scaling.py [--sizes 10000 100000 1000000] [--measure-descriptors-up-to 100000]

Per stage, seconds at each pool size on this machine and the fitted growth exponent
(least squares of log seconds on log size):

- **descriptors**: the ``descriptors`` stage (Gabor bank, 64 px, 1 thread + 1 decoding worker)
  on a manifest cycling the tiny-transfer source photographs, with bounds from the
  invertebrates training images; up to ``--measure-descriptors-up-to`` images measured, larger
  pools extrapolated from the fit (marked). One job: N shard jobs on N cores divide the time.
- **knn**: the exact ``knn`` stage, 2,000 generated target histograms against generated source
  shards of 100k (``bench/knn.py``'s generator), ``retrieval.memory_mb`` 1024, 2 threads.
- **neighbours**: one iteration's neighbour table from that kNN file (reads targets x Kmax).
- **train**: does not depend on the pool: an epoch is one step per target batch, each target
  image with one source image (``bench/train_throughput.py`` has its rate).
"""

from __future__ import annotations

import argparse
import csv
import glob
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from knn import exact, generated, measure

DATA = "../shared/data/tiny-transfer"


def manifest(path: Path, images: list[str], n: int) -> str:
    if not path.exists():
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["index", "path", "label", "class_name"])
            for i in range(n):
                writer.writerow([i, images[i % len(images)], 0, "pool"])
    return str(path)


def descriptor_seconds(manifest_file: str, bounds: str, out: str) -> float:
    return measure(f"""
        import time, torch
        torch.set_num_threads(1)
        from workflow.stages.descriptors import descriptors
        start = time.perf_counter()
        descriptors({manifest_file!r}, [{bounds!r}], [{out!r}], shard=0, shards=1, batch_size=16, workers=1)
        result = {{"seconds": time.perf_counter() - start}}
    """)["seconds"]


def neighbour_seconds(knn_file: str, targets: str, out: str) -> float:
    return measure(f"""
        import time
        from workflow.stages.retrieval import neighbours
        start = time.perf_counter()
        neighbours({out!r}, {targets!r}, knn={knn_file!r}, k0=20)
        result = {{"seconds": time.perf_counter() - start}}
    """)["seconds"]


def growth(sizes: list[int], seconds: list[float]) -> float:
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--measure-descriptors-up-to", type=int, default=100_000)
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--work", default="/tmp/sjft-knn-bench")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    # bounds on the invertebrates training images, as the workflow computes them
    train = sorted(glob.glob(f"{args.data}/invertebrates/train/*/*"))
    bounds = str(work / "bounds.h5")
    if not Path(bounds).exists():
        measure(f"""
            from workflow.stages.descriptors import bounds
            bounds({manifest(work / "train.csv", train, len(train))!r}, {bounds!r}, "gabor",
                   {{"frequencies": [0.05, 0.1, 0.2, 0.4], "orientations": 6}}, 32, 2000, 64, True, 16, 0)
            result = {{}}
        """)
    pool = sorted(glob.glob(f"{args.data}/source/train/*/*"))

    rows = {"descriptors": [], "knn": [], "neighbours": []}
    measured = [n for n in args.sizes if n <= args.measure_descriptors_up_to]
    for n in measured:
        rows["descriptors"].append(descriptor_seconds(manifest(work / f"pool-{n}.csv", pool, n), bounds, str(work / f"hist-{n}.h5")))
    for n in args.sizes:
        targets, sources = generated(work, 2000, n)
        knn_file = str(work / f"exact-{n}.h5")
        rows["knn"].append(exact(targets, sources, knn_file, 100, 1024, 2)["seconds"])
        targets_csv = manifest(work / "targets-2000.csv", ["t"], 2000)
        rows["neighbours"].append(neighbour_seconds(knn_file, targets_csv, str(work / f"neighbours-{n}.csv")))
        print(f"{n}: knn {rows['knn'][-1]:.1f} s", file=sys.stderr, flush=True)

    exponent = {stage: growth(args.sizes if stage != "descriptors" else measured, times) for stage, times in rows.items()}
    fit = np.polyfit(np.log(measured), np.log(rows["descriptors"]), 1)
    for n in args.sizes[len(measured):]:
        rows["descriptors"].append(float(np.exp(np.polyval(fit, np.log(n)))))

    print(f"Seconds per stage by source pool size; {platform.machine()}, 2 cores, {time.strftime('%Y-%m-%d')}\n")
    print("| stage | " + " | ".join(f"{n:,} sources" for n in args.sizes) + " | growth |")
    print("| --- |" + " --- |" * (len(args.sizes) + 1))
    for stage, times in rows.items():
        cells = [f"{t:.1f}" + (" (extrapolated)" if stage == "descriptors" and n not in measured else "")
                 for n, t in zip(args.sizes, times)]
        print(f"| {stage} | " + " | ".join(cells) + f" | n^{exponent[stage]:.2f} |")
    print("| train | " + " | ".join("independent" for _ in args.sizes) + " | n^0 |")


if __name__ == "__main__":
    main()
