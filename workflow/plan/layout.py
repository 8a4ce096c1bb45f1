"""The results layout: where every file lives below ``results/``, as patterns and as paths.

The patterns are Snakemake's (``{target}``, ``{run}``, ``{seed}``, ...): the rules take their
outputs from them and the planner fills the same patterns for the inputs it plans (``fill``), so
each file has one spelling. A run token names a run folder: the method (``finetune``), or
``bank-<bank>/<method>`` for the methods that use a filter bank, so that the runs of every bank
sit side by side. Below it, a folder per seed and, for trained runs, per iteration; the report
and the page read a run's identity back from its folder (``parse_run_folder``).

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from ..backbones import LIBRARY_WEIGHTS
from ..kinds import relations
from ..leakage import EXCLUDED_SPLITS
from ..methods import FUSION, METHODS, lookup as method_spec, uses_bank
from ..weights import record_of
from .commands import cli_options

BANK_PREFIX = "bank-"

TARGET = "results/{target}"
SOURCE = "results/source/{source}"
TARGET_MANIFEST = f"{TARGET}/manifest/{{split}}.csv"  # split: train | test
SOURCE_MANIFEST = f"{SOURCE}/manifest.csv"
SOURCE_FINGERPRINTS = f"{SOURCE}/fingerprints/shard-{{shard}}.h5"
TARGET_FINGERPRINTS = f"{TARGET}/fingerprints/{{split}}.h5"
LEAKAGE = f"{TARGET}/leakage.csv"
LEAKAGE_SUMMARY = f"{TARGET}/leakage-summary.csv"
BANK = f"{TARGET}/{BANK_PREFIX}{{bank}}"
BOUNDS = f"{BANK}/bounds.h5"
SHARD = f"{BANK}/hist/{{domain}}/shard-{{shard}}.h5"  # domain: target | source
KNN = f"{BANK}/knn.h5"
PRETRAINED = f"{SOURCE}/pretrain/model.pt"
PRETRAIN_EPOCHS = f"{SOURCE}/pretrain/epochs.csv"
SEED_FOLDER = f"{TARGET}/{{run}}/seed-{{seed}}"
RUN_FOLDER = f"{SEED_FOLDER}/iter-{{iter}}"
# the files of one iteration of a trained run (rules train, train_step), by output name
RUN_FILES = {"model": "model.pt", "entropy": "entropy.csv", "epochs": "epochs.csv", "stats": "train.json",
             "predictions": "eval.csv", "probs": "probs.h5"}
RUN_OUTPUTS = {name: f"{RUN_FOLDER}/{file}" for name, file in RUN_FILES.items()}
NEIGHBOURS = f"{RUN_FOLDER}/neighbours.csv"  # of the methods that borrow lists (rule neighbours)
# fusion's files (rule fusion), in its seed folder: it averages selective's iterations
FUSION_FOLDER = f"{BANK}/{FUSION}/seed-{{seed}}"
FUSION_OUTPUTS = {"predictions": f"{FUSION_FOLDER}/eval.csv", "probs": f"{FUSION_FOLDER}/probs.h5"}
REPORT = f"{TARGET}/report.csv"
RUNS = f"{TARGET}/runs.csv"
PAIRED = f"{TARGET}/paired.csv"
TABLE_MD = f"{TARGET}/table.md"
TABLE_TEX = f"{TARGET}/table.tex"
REPORT_HTML = f"{TARGET}/report.html"


def fill(pattern: str, **values) -> str:
    """``pattern`` with the wildcards named in ``values`` filled in, the others left as they are."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]) if m[1] in values else m[0], pattern)


def one_of(names) -> str:
    """A wildcard constraint that matches exactly ``names`` (none: nothing)."""
    return "|".join(re.escape(str(name)) for name in names) or "(?!)"  # (?!) matches nothing


def run_token(method: str, bank: str | None = None) -> str:
    """The run folder of ``method`` below results/<target>/, under its filter bank if it has one."""
    return f"{BANK_PREFIX}{bank}/{method}" if bank else method


def split_token(token: str) -> tuple[str, str]:
    """(method, bank) of a run token: ``finetune`` -> (finetune, ""), ``bank-gabor/selective`` -> (selective, gabor)."""
    if token.startswith(BANK_PREFIX):
        bank, method = token[len(BANK_PREFIX) :].split("/")
        return method, bank
    return token, ""


def run_folder(results: str, token: str, seed: int | str, iteration: int | str | None = None) -> str:
    """``<results>/<token>/seed-<seed>[/iter-<iteration>]``, ``results`` a target's results folder."""
    folder = f"{results}/{token}/seed-{seed}"
    return folder if iteration is None else f"{folder}/iter-{iteration}"


def parse_run_folder(folder: str) -> tuple[str, int, int | None]:
    """(run token, seed, iteration) of ``.../<token>/seed-<seed>[/iter-<iteration>]``: ``run_folder``'s
    inverse; the iteration is None for a seed folder (a method that averages another's iterations).

    A token is ``bank-<bank>/<method>`` when the folder above the method's is a bank's, else the method.
    """
    parts = PurePath(folder).parts
    iteration = re.fullmatch(r"iter-(\d+)", parts[-1]) if parts else None
    if iteration:
        parts = parts[:-1]
    seed = re.fullmatch(r"seed-(\d+)", parts[-1]) if len(parts) >= 3 else None
    if seed is None:
        raise ValueError(f"{folder} is not a run folder <results>/<run token>/seed-<seed>[/iter-<iteration>]")
    banked = len(parts) >= 4 and parts[-3].startswith(BANK_PREFIX)
    token = f"{parts[-3]}/{parts[-2]}" if banked else parts[-2]
    return token, int(seed[1]), int(iteration[1]) if iteration else None


class Layout:
    """The paths of one validated config's files, and the facts every job's plan shares."""

    def __init__(self, config: dict):
        self.config = config
        self.targets, self.sources = config["targets"], config["sources"]
        self.banks = config["bank"]["names"]  # the first is the main one (methods.Method.per_bank)
        self.iterations = config["selection"]["iterations"]
        # the run folders of the trained methods (rules train, train_step) and of those with lists to borrow
        self.run_tokens = [self.run_token(m, b) for m in METHODS for b in (self.banks if uses_bank(m) else [None])
                           if method_spec(m).trained]
        self.listed_tokens = [t for t in self.run_tokens if method_spec(split_token(t)[0]).borrows_lists]

    def source_of(self, target: str) -> str:
        return self.targets[target]["source"]

    def run_token(self, method: str, bank: str | None = None) -> str:
        """A method's run token: under its bank (the main one unless named) if it uses one."""
        return run_token(method, (bank or self.banks[0]) if uses_bank(method) else None)

    def target_manifest(self, target: str, split: str) -> str:
        return fill(TARGET_MANIFEST, target=target, split=split)

    def source_manifest(self, target: str) -> str:
        return fill(SOURCE_MANIFEST, source=self.source_of(target))

    def knn_index(self, target: str, bank: str) -> str:
        return fill(KNN, target=target, bank=bank)

    def leakage_table(self, target: str) -> str:
        return fill(LEAKAGE, target=target)

    def run_file(self, target: str, token: str, seed, iteration, name: str) -> str:
        """File ``name`` of a run folder (``iteration`` None: the seed folder)."""
        return f"{run_folder(fill(TARGET, target=target), token, seed, iteration)}/{name}"

    def pretrained_checkpoint(self, target: str) -> str | None:
        """The checkpoint the pretrained methods start from: the pretrain stage's, a file of the
        user's (model.init), or None for library weights."""
        init = self.config["model"]["init"]
        if init == "pretrain":
            return fill(PRETRAINED, source=self.source_of(target))
        return None if init in LIBRARY_WEIGHTS else init

    def start_model(self, method: str) -> str:
        """What a method's first iteration starts from: the configured init, or scratch."""
        return "scratch" if method_spec(method).init == "scratch" else self.config["model"]["init"]

    def weights_inputs(self, *starts) -> dict:
        """The records of rule fetch_weights (rules/weights.smk) for the library weights among ``starts``
        (model.init or bank.cnn.model values), as a job's input ``weights``: the local fetch runs first."""
        records = sorted({r for r in (record_of(self.config["model"]["arch"], s) for s in starts if s) if r})
        return {"weights": records} if records else {}

    def relations(self, target: str) -> str | None:
        """The related-classes table of a target, if it has one (the demo always does)."""
        return relations(self.targets[target])

    @property
    def excluded_splits(self) -> tuple[str, ...]:
        """The target splits whose duplicates in the pool no method borrows (config leakage.exclude)."""
        return EXCLUDED_SPLITS[self.config["leakage"]["exclude"]]

    def exclusion_input(self, target: str, applies: bool = True) -> dict:
        """The audit's table as input ``leakage`` of a job that keeps the duplicates out (``applies``):
        the kNN search, the random rankings of joint-random and the pool of joint-all."""
        return {"leakage": self.leakage_table(target)} if self.excluded_splits and applies else {}

    def exclusion_settings(self, applies: bool = True) -> str:
        """--exclude-splits, a setting: it goes in a job's params of wildcards only, the rerun trigger's."""
        return cli_options(exclude_splits=self.excluded_splits) if self.excluded_splits and applies else ""
