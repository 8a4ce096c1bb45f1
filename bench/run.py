"""Run the speed benchmarks and write their tables into BENCHMARKS.md.

    python bench/run.py                        # every benchmark below (about 30 minutes on 2 cores)
    python bench/run.py knn descriptors        # some of them

Each benchmark prints markdown tables headed by the machine and the date. BENCHMARKS.md holds
each one's latest output between ``<!-- bench: NAME -->`` and ``<!-- end bench: NAME -->``;
this script replaces exactly those blocks (appending a section for a new one) and leaves the
prose around them, which says what the figures mean, to be read and revised by hand.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent
BENCHMARKS = BENCH.parent / "BENCHMARKS.md"

# name -> the command lines whose outputs make its block
RUNS = {
    "descriptors": [["bench/descriptors.py"]],
    "descriptors_fullsize": [["bench/descriptors_fullsize.py"]],
    "knn": [["bench/knn.py"]],
    "scaling": [["bench/scaling.py"]],
    "train_throughput": [["bench/train_throughput.py"]],
    "input_pipeline": [["bench/input_pipeline.py"]],
    "leakage_threshold": [["bench/leakage_threshold.py"]],
    "leakage_search": [["bench/leakage_search.py"]],
    "step_cost": [["bench/step_cost.py", "--size", "32", "--rounds", "15"], ["bench/step_cost.py", "--size", "64", "--rounds", "8"]],
}


def run(name: str) -> str:
    outputs = []
    for command in RUNS[name]:
        print(f"running {' '.join(command)}", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, *command], check=False, cwd=BENCH.parent, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        outputs.append(f"    python {' '.join(command)}\n\n{done.stdout.strip()}")
    return "\n\n".join(outputs)


def replace_block(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- bench: {name} -->", f"<!-- end bench: {name} -->"
    block = f"{begin}\n{body}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + f"\n\n## {name} (`bench/{name}.py`)\n\n{block}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(RUNS)} (default: all)")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(RUNS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {', '.join(RUNS)}")
    text = BENCHMARKS.read_text()
    for name in args.names or RUNS:
        text = replace_block(text, name, run(name))
        # after each benchmark, through a temporary file: a later failure keeps the earlier tables
        partial = BENCHMARKS.with_suffix(".md.tmp")
        partial.write_text(text)
        partial.replace(BENCHMARKS)


if __name__ == "__main__":
    main()
