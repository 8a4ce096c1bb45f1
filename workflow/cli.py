"""Command line: ``python -m workflow <stage> ...``, one sub-command per workflow stage.

The Snakemake rules call these; each runs the same way by hand. ``--settings`` options take
JSON (the rules pass the config's sections), so that every parameter a rule's output depends
on is visible in its command line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from .datasets import DatasetError
from .stages import STAGES
from .stopping import Stopped


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workflow", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    sub = parser.add_subparsers(dest="stage", required=True)

    p = sub.add_parser("demo-data", help="generate the embedded demo images")
    p.add_argument("--out", required=True)
    p.add_argument("--settings", type=_json, default={}, help="JSON: seed, image_size, source_per_class, ...")

    p = sub.add_parser("target-manifest", help="list a target's images per split")
    p.add_argument("--root", required=True, help="folder holding <split>/<class>/<image>")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--train-split", default="train", help="sub-folder of the training images (defines the classes)")
    p.add_argument("--test-split", default="test", help="sub-folder of the test images")
    p.add_argument("--holdout-per-class", type=int, default=None,
                   help="carve this many train images per class as the test split (validation); the test folder is not read")
    p.add_argument("--holdout-seed", type=int, default=0)
    p.add_argument("--holdout-folds", type=int, default=None,
                   help="validate on one fold of a stratified split of the train images into this many folds")
    p.add_argument("--holdout-fold", type=int, default=None, help="which fold (0-based) is validated on")

    p = sub.add_parser("source-manifest", help="list the source pool's images")
    p.add_argument("--root", required=True, help="folder holding <class>/<image>")
    p.add_argument("--out", required=True)
    p.add_argument("--max-per-class", type=int, default=None)

    p = sub.add_parser("torchvision-export", help="download a torchvision dataset, export it as <split>/<class>/<image>")
    p.add_argument("--name", required=True, help="the class in torchvision.datasets: Flowers102, Caltech256, ...")
    p.add_argument("--data-dir", required=True, help="torchvision's download folder")
    p.add_argument("--out", required=True)
    p.add_argument("--train-per-class", type=int, default=None,
                   help="datasets without official splits (Caltech): train images per class (default: the paper's)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of that carve")

    p = sub.add_parser("bounds", help="equal-mass histogram edges over the target train set")
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--bank", dest="bank_name", required=True, help="filter bank name: gabor | cnn")
    p.add_argument("--bank-settings", type=_json, required=True, help="JSON, e.g. {\"frequencies\": [...], \"orientations\": 6}")
    p.add_argument("--bins", dest="n_bins", type=int, required=True)
    p.add_argument("--intervals", dest="n_intervals", type=int, default=2000)
    p.add_argument("--image-size", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="image decoding processes (0: the main process)")

    p = sub.add_parser("descriptors", help="response histograms of one shard of a manifest")
    p.add_argument("--manifest", required=True)
    p.add_argument("--bounds", dest="bounds_file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--shards", dest="n_shards", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="image decoding processes (0: the main process)")

    p = sub.add_parser("knn", help="exact top-k source images per target image")
    p.add_argument("--targets", dest="target_shards", nargs="+", required=True, help="target descriptor shards")
    p.add_argument("--sources", dest="source_shards", nargs="+", required=True, help="source descriptor shards")
    p.add_argument("--out", required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--eps", type=float, default=1e-4)
    p.add_argument("--memory-mb", type=float, default=1024, help="peak memory of the distance blocks and the top-k")
    p.add_argument("--search", default="exact", help="exact | nndescent (approximate, re-ranked exactly)")
    p.add_argument("--candidates", type=int, default=4, help="nndescent: candidates per neighbour to re-rank")
    p.add_argument("--divergence", default="symmetric_kl", help="symmetric_kl | jensen_shannon")

    p = sub.add_parser("neighbours", help="one iteration's neighbour table")
    p.add_argument("--out", required=True)
    p.add_argument("--targets", required=True, help="target train manifest")
    ranking = p.add_mutually_exclusive_group(required=True)
    ranking.add_argument("--knn", dest="knn_file", help="rank by this kNN index")
    ranking.add_argument("--random-pool", help="rank the images of this source manifest at random")
    p.add_argument("--length", type=int, default=0, help="random ranking length")
    p.add_argument("--seed", type=int, default=0)
    counts = p.add_mutually_exclusive_group(required=True)
    counts.add_argument("--k0", type=int, help="the same count for every target")
    counts.add_argument("--entropy", help="previous iteration's entropy.csv (the paper's rule)")
    counts.add_argument("--match", help="take the counts of this neighbour table")
    p.add_argument("--delta", type=float, default=0.1)
    p.add_argument("--sigma0", type=int, default=0)
    p.add_argument("--sigma1", type=int, default=0)

    for name, help_text in (("pretrain", "train the backbone on the source set"), ("train", "one training iteration and its evaluation")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--arch", required=True)
        p.add_argument("--init", required=True, help="scratch, imagenet, efficientnet-lite, or a checkpoint path")
        p.add_argument("--settings", type=_json, required=True, help="JSON of TrainSettings fields")
        p.add_argument("--device", default="auto")
        p.add_argument("--checkpoint-seconds", type=float, default=300,
                       help="save the training state this often, so a killed job resumes (0: every epoch)")
    sub.choices["pretrain"].add_argument("--manifest", required=True)
    sub.choices["pretrain"].add_argument("--out", required=True)
    p.add_argument("--target", required=True, help="target train manifest")
    p.add_argument("--test", required=True, help="target test manifest (evaluated after training)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--source", help="source manifest (joint training)")
    p.add_argument("--neighbours", dest="neighbour_table", help="neighbour table (joint training; without it: the whole pool)")
    p.add_argument("--keep-heads", nargs="*", default=[], help="heads to take from the init checkpoint")
    p.add_argument("--anchor", help="starting model of the regularizer: scratch, imagenet or a checkpoint")
    p.add_argument("--source-head", default="random", choices=["random", "imagenet"],
                   help="where a new source head starts (pretrained: --keep-heads source)")

    p = sub.add_parser("fusion", help="average the softmax of several models")
    p.add_argument("--probs", dest="probs_files", nargs="+", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--probs-out", required=True)

    p = sub.add_parser("report", help="the comparison table of one target")
    p.add_argument("--results", required=True, help="results/<target>")
    p.add_argument("--target", required=True)
    p.add_argument("--runs", nargs="+", required=True, help="run folders below --results: finetune, bank-gabor/selective, ...")
    p.add_argument("--seeds", nargs="+", type=int, required=True)
    p.add_argument("--iterations", type=int, required=True)
    p.add_argument("--target-manifest", required=True)
    p.add_argument("--source-manifest", required=True)
    p.add_argument("--relations", default=None)
    p.add_argument("--out", required=True, help="report.csv: over seeds")
    p.add_argument("--runs-out", required=True, help="runs.csv: per seed")
    p.add_argument("--paired-out", required=True, help="paired.csv: selective minus each baseline, per seed")

    p = sub.add_parser("report-html", help="the HTML report page of one target (self-contained)")
    p.add_argument("--target", required=True)
    p.add_argument("--report", required=True, help="report.csv: over seeds")
    p.add_argument("--paired", default=None, help="paired.csv")
    p.add_argument("--runs", default=None, help="runs.csv")
    p.add_argument("--target-manifest", required=True, help="target train manifest")
    p.add_argument("--source-manifest", required=True)
    p.add_argument("--banks", nargs="+", required=True, help="filter bank names, the main one first")
    p.add_argument("--knn", dest="knn_files", nargs="+", required=True, help="kNN index of each bank, in --banks order")
    p.add_argument("--neighbours", dest="neighbour_files", nargs="*", default=[],
                   help="selective's neighbour tables (main bank, first seed), one per iteration in order")
    p.add_argument("--target-classes", default=None, help="classes.tsv: folder name<TAB>readable name")
    p.add_argument("--source-classes", default=None, help="classes.tsv of the source pool")
    p.add_argument("--max-classes", type=int, default=24, help="target classes shown in the neighbour grids")
    p.add_argument("--per-class", type=int, default=1, help="training images shown per class")
    p.add_argument("--top", type=int, default=8, help="source neighbours shown per training image")
    p.add_argument("--thumb-size", type=int, default=64, help="thumbnail side in pixels")
    p.add_argument("--out", required=True, help="report.html")
    return parser


def run(args: argparse.Namespace) -> None:
    """Call the stage function of the same name with the parsed options."""
    kwargs = {k: v for k, v in vars(args).items() if k not in ("stage", "threads")}
    module = importlib.import_module(f"workflow.stages.{STAGES[args.stage]}")
    getattr(module, args.stage.replace("-", "_"))(**kwargs)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    if args.threads:
        import torch  # only here: stages without torch start seconds faster

        torch.set_num_threads(args.threads)
    try:
        run(args)
    except (DatasetError, ValueError, FileNotFoundError, KeyError) as error:
        logging.getLogger("workflow").error("%s failed: %s", args.stage, error)
        return 1
    except Stopped as error:  # its state is saved: the rerun continues it
        logging.getLogger("workflow").warning("%s %s", args.stage, error)
        return 130
    return 0
