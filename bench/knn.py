"""Retrieval: the exact blockwise search against the definition and against pynndescent, and its growth.

    python bench/knn.py [--real results/invertebrates/bank-gabor] [--targets 2000] \
        [--scale 10000 100000] [--nndescent-up-to 100000]

Two tables, every way run side by side in one process tree, each measurement in its own
subprocess so that its peak resident memory (``ru_maxrss``) is its own:

1. **Real descriptors** (``--real``: a bank folder of a finished run, e.g. the tiny-transfer
   benchmark's; skipped if absent): the target's training images against its source pool, top-K
   (``--k``). The definition pair by pair (timed on a slice, scaled), the workflow's exact search
   (the ``knn`` stage: float64 products over blocks streamed from the shards), and pynndescent
   build + query on the Hellinger proxy with ``candidates x K`` re-ranked exactly; recall@K is
   the share of the exact K neighbours found.
2. **Generated pools**: ``--targets`` generated target histograms against 10k and 100k
   generated source histograms (48 x 32 bins, float16 shards of 100k, written under ``--work``):
   the knn stage at ``--memory-mb`` against pynndescent (up to ``--nndescent-up-to`` sources);
   ``bench/scaling.py`` takes the exact search to 1M. Random histograms
   have no near neighbours to find, so recall there is a floor; read it from table 1.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from workflow.io import write_h5

SHARD = 100_000


def measure(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints a JSON dict. Adds its peak RSS in MB."""
    script = textwrap.dedent(code) + textwrap.dedent("""
        import json as _json, resource as _resource
        result["peak_mb"] = _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss / 1024
        print(_json.dumps(result))
    """)
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def exact(targets: list[str], sources: list[str], out: str, k: int, memory_mb: float, threads: int) -> dict:
    return measure(f"""
        import time, torch
        torch.set_num_threads({threads})
        from workflow.stages.retrieval import knn
        start = time.perf_counter()
        knn({targets!r}, {sources!r}, {out!r}, k={k}, eps=1e-4, memory_mb={memory_mb}, divergence="symmetric_kl",
            search="exact", candidates=0)
        result = {{"seconds": time.perf_counter() - start}}
    """)


def nndescent(targets: list[str], sources: list[str], out: str, k: int, candidates: int) -> dict:
    return measure(f"""
        import os, time
        from pathlib import Path
        os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "sjft-numba"))
        import pynndescent  # its import (numba loading or compiling its code) is not timed
        from workflow.stages.retrieval import knn
        start = time.perf_counter()
        knn({targets!r}, {sources!r}, {out!r}, k={k}, eps=1e-4, memory_mb=1, divergence="symmetric_kl",
            search="nndescent", candidates={candidates})
        result = {{"seconds": time.perf_counter() - start}}
    """)


def definition_seconds(targets: list[str], sources: list[str], n_slice: int) -> dict:
    return measure(f"""
        import time, numpy as np
        from workflow.io import read_h5
        from workflow import retrieval
        t = np.concatenate([read_h5(f)["hist"] for f in {targets!r}])
        s = read_h5({sources!r}[0])["hist"][:{n_slice}]
        n = sum(len(read_h5(f, ["index"])["index"]) for f in {sources!r})
        w = retrieval.response_weights(list(read_h5({targets!r}[0])["attr:layer_sizes"]))
        start = time.perf_counter()
        retrieval.symmetric_kl_direct(retrieval.smooth(t, 1e-4), retrieval.smooth(s, 1e-4), w)
        result = {{"seconds": (time.perf_counter() - start) * n / {n_slice}}}
    """)


def recall(found: str, truth: str) -> float:
    from workflow.io import read_h5

    a, b = read_h5(found, ["ids"])["ids"], read_h5(truth, ["ids"])["ids"]
    return float(np.mean([len(set(x) & set(y)) / len(y) for x, y in zip(a, b)]))


def generated(work: Path, n_targets: int, n_sources: int, shape=(48, 32)) -> tuple[list[str], list[str]]:
    """Target and source shards of random histograms (each response sums to one), made once.

    A shard is named by its first image and its length and drawn from a generator seeded by
    them, so pools of different sizes share the shards they have in common.
    """

    def write(path: Path, n: int, first: int) -> str:
        if not path.exists():
            rng = np.random.default_rng([first, n])
            x = rng.random((n, *shape), dtype=np.float32) ** 4  # skewed, like filter-response histograms
            x /= x.sum(-1, keepdims=True)
            write_h5(path, {"hist": x.astype(np.float16), "index": np.arange(first, first + n)},
                     {"layer_sizes": np.array([shape[0]])})
        return str(path)

    targets = [write(work / f"targets-{n_targets}.h5", n_targets, 10**9)]
    sources = [write(work / f"source-{lo}-{min(SHARD, n_sources - lo)}.h5", min(SHARD, n_sources - lo), lo)
               for lo in range(0, n_sources, SHARD)]
    return targets, sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default="results/invertebrates/bank-gabor")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--scale", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--nndescent-up-to", type=int, default=100_000)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--memory-mb", type=float, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default="/tmp/sjft-knn-bench")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    stamp = f"{platform.machine()}, {args.threads} threads, {time.strftime('%Y-%m-%d')}"
    baseline = measure("import torch, workflow.stages.retrieval\nresult = {}")["peak_mb"]
    print(f"(peak MB includes the interpreter with torch and numpy imported: {baseline:.0f} MB)\n")

    real = Path(args.real)
    if (real / "hist/target").is_dir():
        targets = sorted(str(p) for p in (real / "hist/target").glob("shard-*.h5"))
        sources = sorted(str(p) for p in (real / "hist/source").glob("shard-*.h5"))
        truth = str(work / "real-exact.h5")
        ours = exact(targets, sources, truth, args.k, args.memory_mb, args.threads)
        ann = nndescent(targets, sources, str(work / "real-ann.h5"), args.k, args.candidates)
        direct = definition_seconds(targets, sources, 500)
        from workflow.io import read_h5

        n_t = sum(len(read_h5(f, ["index"])["index"]) for f in targets)
        n_s = sum(len(read_h5(f, ["index"])["index"]) for f in sources)
        print(f"Real descriptors ({real}): {n_t} targets x {n_s} sources, top-{args.k}; {stamp}\n")
        print("| way | seconds | peak MB | recall@K | exact's speed-up |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| definition, pair by pair (scaled from 500 sources) | {direct['seconds']:.1f} | | 1.000 | "
              f"{direct['seconds'] / ours['seconds']:.0f}x |")
        print(f"| pynndescent (Hellinger) build + query, {args.candidates} x K re-ranked | {ann['seconds']:.1f} | "
              f"{ann['peak_mb']:.0f} | {recall(str(work / 'real-ann.h5'), truth):.3f} | {ann['seconds'] / ours['seconds']:.1f}x |")
        print(f"| exact blockwise (the workflow) | {ours['seconds']:.1f} | {ours['peak_mb']:.0f} | 1.000 | 1x |\n")

    print(f"Generated histograms: {args.targets} targets, top-{args.k}, retrieval.memory_mb {args.memory_mb:g}; {stamp}\n")
    print("| sources | exact seconds | exact peak MB | pynndescent seconds | pynndescent peak MB | pynndescent recall@K |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in sorted(args.scale):
        targets, sources = generated(work, args.targets, n)
        truth = str(work / f"exact-{n}.h5")
        ours = exact(targets, sources, truth, args.k, args.memory_mb, args.threads)
        cells = ["", "", ""]
        if n <= args.nndescent_up_to:
            ann = nndescent(targets, sources, str(work / f"ann-{n}.h5"), args.k, args.candidates)
            cells = [f"{ann['seconds']:.1f}", f"{ann['peak_mb']:.0f}", f"{recall(str(work / f'ann-{n}.h5'), truth):.3f}"]
        print(f"| {n:,} | {ours['seconds']:.1f} | {ours['peak_mb']:.0f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
