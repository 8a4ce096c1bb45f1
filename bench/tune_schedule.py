"""Choose the shared fine-tuning schedule on validation folds (never the test split).

Runs the workflow once per grid point on the validation targets of a tuning config (targets
with ``holdout_folds``/``holdout_fold`` or ``holdout_per_class``: carved out of the training
images), with config keys overridden, and tabulates each method's validation mean-class accuracy
of the last iteration, averaged over the folds and the tuning config's seeds, and over the
methods. The schedule is shared by every method, so it is chosen by that average over the
methods: no method is favoured by a schedule tuned to it alone.

Every setting is then compared with the best, paired by fold and seed (the same validation
images and seed): the mean difference in that average, its 95% Student t interval over the
folds x seeds (``workflow.statistics``), and the verdict; the last line says whether the choice
is clear of the runner-up or within noise of it (``tied``: the interval holds zero), in which
case more folds or seeds, not the table, would have to decide.

    python bench/tune_schedule.py --configs config/tiny-transfer-imagenet.yaml config/tiny-transfer-imagenet-tune.yaml \\
        --set train.epochs_per_iteration=4,8 train.lr=0.001,0.003
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from workflow.statistics import TIED, UNTESTED, t_interval, verdict

REPO = Path(__file__).resolve().parent.parent


def parse_grid(items: list[str]) -> dict[str, list]:
    """``section.key=v1,v2`` items -> {dotted key: [values parsed as YAML]}; a value may be a
    YAML list, whose commas stay inside its brackets (``methods=[finetune,selective]``)."""
    grid = {}
    for item in items:
        key, _, values = item.partition("=")
        if not values:
            raise SystemExit(f"--set {item!r}: expected section.key=value1,value2")
        grid[key] = [yaml.safe_load(v) for v in split_top_level(values)]
    return grid


def split_top_level(text: str) -> list[str]:
    """``a,[b,c],d`` -> ['a', '[b,c]', 'd']."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def nested(point: dict[str, object]) -> dict:
    """{'train.lr': 0.1} -> {'train': {'lr': 0.1}}."""
    out: dict = {}
    for key, value in point.items():
        *sections, last = key.split(".")
        place = out
        for section in sections:
            place = place.setdefault(section, {})
        place[last] = value
    return out


def validation_targets(configs: list[str]) -> list[str]:
    """The targets of the configs that are carved out of their training images."""
    targets: dict = {}
    for config in configs:
        targets.update((yaml.safe_load((REPO / config).read_text()) or {}).get("targets", {}))
    return [name for name, t in targets.items() if t.get("holdout_folds") or t.get("holdout_per_class")]


def run_point(configs: list[str], targets: list[str], point: dict, cores: int) -> pd.DataFrame:
    """Every validation target's runs.csv for one grid point, with a ``target`` column."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as override:
        yaml.safe_dump(nested(point), override)
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", *configs, override.name,
               "--", *(f"results/{t}/runs.csv" for t in targets)]
    try:
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    finally:
        Path(override.name).unlink()
    return pd.concat([pd.read_csv(REPO / "results" / t / "runs.csv").assign(target=t) for t in targets])


def summarise(runs: pd.DataFrame, point: dict) -> dict:
    """Last-iteration validation mean-class accuracy per method (over folds and seeds), and their mean."""
    last = runs[runs.iteration == runs.iteration.max()].copy()
    last["run"] = last["method"] + last["bank"].fillna("").map(lambda b: f" [{b}]" if b else "")
    per_method = last.groupby("run")["mean_class_acc"].mean()
    return {**point, **{f"val {run}": acc for run, acc in per_method.items()}, "val mean of methods": per_method.mean(),
            "folds x seeds": len(last.groupby(["target", "seed"]))}


def fold_scores(runs: pd.DataFrame) -> pd.Series:
    """Last-iteration validation mean-class accuracy per (target, seed), averaged over the methods."""
    last = runs[runs.iteration == runs.iteration.max()]
    return last.groupby(["target", "seed"])["mean_class_acc"].mean()


def with_margins(table: pd.DataFrame, scores: list[pd.Series]) -> pd.DataFrame:
    """``table`` (a row per grid point, ``scores[i]`` its ``fold_scores``) best first, with the best minus
    each row paired by fold and seed: mean, 95% t interval over the folds x seeds, and its verdict."""
    order = table["val mean of methods"].sort_values(ascending=False, kind="stable").index
    best = scores[order[0]]
    margins = []
    for i in order:
        diffs = (best - scores[i]).dropna()
        mean, low, high = t_interval(diffs)
        margins.append({"best minus": mean, "95% low": low, "95% high": high, "pairs": len(diffs),
                        "best vs this": "" if i == order[0] else verdict(low, high)})
    return pd.concat([table.loc[order].reset_index(drop=True), pd.DataFrame(margins)], axis=1)


def choice_note(table: pd.DataFrame, keys: list[str]) -> str:
    """One line on the best setting of ``with_margins``' table against the runner-up."""

    def setting(row: pd.Series) -> str:
        return ", ".join(f"{key} {row[key]}" for key in keys)

    best = table.iloc[0]
    if len(table) < 2:
        return f"best on validation: {setting(best)} (the only setting)"
    runner = table.iloc[1]
    interval = ("no interval: one fold x seed" if runner["pairs"] < 2 else
                f"95% t interval over {runner['pairs']} folds x seeds [{100 * runner['95% low']:+.1f}, "
                f"{100 * runner['95% high']:+.1f}]")
    noise = ("within noise of the runner-up: more folds or seeds would have to decide"
             if runner["best vs this"] in (TIED, UNTESTED) else "clear of the runner-up")
    return (f"best on validation: {setting(best)}; {100 * runner['best minus']:+.1f} points over the runner-up "
            f"({setting(runner)}), {interval}: {noise}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["config/tiny-transfer-imagenet.yaml",
                                                         "config/tiny-transfer-imagenet-tune.yaml"])
    parser.add_argument("--set", dest="grid", nargs="+", default=["train.epochs_per_iteration=4,8"],
                        help="section.key=value1,value2 ...: the grid")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", default="results/tune-schedule.csv")
    args = parser.parse_args()

    targets = validation_targets(args.configs)
    if not targets:
        raise SystemExit(f"{args.configs}: no target carved out of its training images (holdout_folds, holdout_per_class)")
    grid = parse_grid(args.grid)
    rows, scores = [], []
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        start = time.perf_counter()
        runs = run_point(args.configs, targets, point, args.cores)
        rows.append({**summarise(runs, point), "minutes": (time.perf_counter() - start) / 60})
        scores.append(fold_scores(runs))
        print(pd.DataFrame(rows).tail(1).to_string(index=False, float_format=lambda v: f"{v:.4f}"), flush=True)
    table = with_margins(pd.DataFrame(rows), scores)
    (REPO / args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(REPO / args.out, index=False)
    print("\n| " + " | ".join(table.columns) + " |\n|" + " --- |" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")
    print("\n" + choice_note(table, list(grid)))


if __name__ == "__main__":
    main()
