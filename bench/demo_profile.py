"""Where a workflow run's time goes: per rule, job count and summed job wall time; for training
jobs, the part spent fitting (``train.json``) against the rest (process start, imports, model
building, evaluation, writing); and what a fresh interpreter takes to import a training job's
modules.

    snakemake --cores 2 results/demo/report.csv > run.log 2>&1
    python bench/demo_profile.py run.log [--results results]

``run.log`` is Snakemake's own output (its ``[date]``, ``rule``, ``jobid`` and ``Finished
jobid`` lines; timestamps have 1 s resolution, so per-job figures are rough, sums are not).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

IMPORTS = "import torch, torchvision, timm, pandas, h5py"


def job_times(log: str) -> tuple[dict[str, list[float]], float, list[int]]:
    """rule -> job wall times, the span from the first job's start to the last one's end, and
    per second of that span how many jobs were running."""
    stamp, rule, start, end, rules = None, None, {}, {}, {}
    for line in Path(log).read_text().splitlines():
        if match := re.match(r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]", line):
            stamp = datetime.datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
        elif match := re.match(r"(?:local)?rule (\w+):", line):
            rule = match.group(1)
        elif (match := re.match(r"\s+jobid: (\d+)", line)) and rule:
            start[match.group(1)], rules[match.group(1)], rule = stamp, rule, None
        elif match := re.match(r"Finished jobid: (\d+)", line):
            end[match.group(1)] = stamp
    first = min(start.values())
    span = (max(end.values()) - first).total_seconds()
    running = [0] * (int(span) + 1)
    per_rule = collections.defaultdict(list)
    for job, finished in end.items():
        per_rule[rules[job]].append((finished - start[job]).total_seconds())
        begin = int((start[job] - first).total_seconds())
        for second in range(begin, max(int((finished - first).total_seconds()), begin + 1)):
            running[second] += 1
    return per_rule, span, running


def import_seconds(repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        code = f"import time; t = time.perf_counter(); {IMPORTS}; print(time.perf_counter() - t)"
        times.append(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--results", default="results")
    args = parser.parse_args()
    per_rule, span, running = job_times(args.log)
    fitting = sum(json.loads(p.read_text())["train_seconds"] for p in Path(args.results).rglob("iter-*/train.json"))
    print(f"jobs from first start to last end: {span:.0f} s; seconds with 0, 1, 2+ jobs running: "
          f"{running.count(0)}, {running.count(1)}, {sum(r >= 2 for r in running)}\n")
    print("| rule | jobs | summed wall s | s per job |\n| --- | --- | --- | --- |")
    for rule, times in sorted(per_rule.items(), key=lambda item: -sum(item[1])):
        print(f"| {rule} | {len(times)} | {sum(times):.0f} | {sum(times) / len(times):.1f} |")
    training = per_rule.get("train", []) + per_rule.get("train_step", [])
    print(f"\ntraining jobs: {len(training)}, {sum(training):.0f} s summed wall, of which fitting "
          f"{fitting:.0f} s; the rest ({sum(training) - fitting:.0f} s, {(sum(training) - fitting) / len(training):.1f} s "
          f"per job) is process start, imports, evaluation and writing")
    print(f"`{IMPORTS}` in a fresh interpreter: {import_seconds():.1f} s (median of 3)")


if __name__ == "__main__":
    main()
