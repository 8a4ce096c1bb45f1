"""Choose the shared fine-tuning schedule on a validation split (never the test split).

Runs the workflow once per grid point on the validation target of a tuning config (by default
``invertebrates-val`` of config/tiny-transfer-tune.yaml: 3 training images per class held out),
with the learning rate and epochs per iteration overridden, and tabulates the validation
mean-class accuracy of the last iteration averaged over the tuning config's seeds. Only the
baseline (plain fine-tuning) is tuned, so the schedule every method then shares is the
baseline's best and gives the joint methods no advantage.

    python bench/tune_schedule.py --lr 0.003 0.01 0.03 --epochs 10 20
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

REPO = Path(__file__).resolve().parent.parent


def run_point(configs: list[str], target: str, lr: float, epochs: int, cores: int) -> pd.DataFrame:
    """The workflow's runs.csv for one grid point."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as override:
        yaml.safe_dump({"train": {"lr": lr, "epochs_per_iteration": epochs}}, override)
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", *configs, override.name,
               "--", f"results/{target}/runs.csv"]
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    Path(override.name).unlink()
    return pd.read_csv(REPO / "results" / target / "runs.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["config/tiny-transfer.yaml", "config/tiny-transfer-tune.yaml"])
    parser.add_argument("--target", default="invertebrates-val")
    parser.add_argument("--lr", nargs="+", type=float, default=[0.003, 0.01, 0.03])
    parser.add_argument("--epochs", nargs="+", type=int, default=[10, 20])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", default="results/tune-schedule.csv")
    args = parser.parse_args()

    rows = []
    for lr, epochs in itertools.product(args.lr, args.epochs):
        start = time.perf_counter()
        runs = run_point(args.configs, args.target, lr, epochs, args.cores)
        last = runs[runs.iteration == runs.iteration.max()]
        by_iteration = runs.groupby("iteration")["mean_class_acc"].mean()
        rows.append({"lr": lr, "epochs_per_iteration": epochs, "seeds": last.seed.nunique(),
                     "val_mca_last": last.mean_class_acc.mean(), "val_mca_std": last.mean_class_acc.std(),
                     "val_mca_per_iteration": " / ".join(f"{v:.3f}" for v in by_iteration),
                     "minutes": (time.perf_counter() - start) / 60})
        print(pd.DataFrame(rows).tail(1).to_string(index=False, float_format=lambda v: f"{v:.4f}"), flush=True)
    table = pd.DataFrame(rows).sort_values("val_mca_last", ascending=False)
    table.to_csv(REPO / args.out, index=False)
    print("\n| " + " | ".join(table.columns) + " |\n|" + " --- |" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")
    best = table.iloc[0]
    print(f"\nbest on validation: lr {best.lr}, {int(best.epochs_per_iteration)} epochs per iteration")


if __name__ == "__main__":
    main()
