"""The report jobs (rules report, paper_table, report_html): the files each reads and its settings.

The report reads the run folders of the files it is given (``layout.parse_run_folder``), so its
inputs are exactly what it reads: a changed eval.csv, train.json or neighbour list reruns it.

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

import os

from ..methods import SELECTIVE, lookup as method_spec
from .commands import cli_options
from .layout import LEAKAGE_SUMMARY, PAIRED, PRETRAIN_EPOCHS, REPORT, REPORT_HTML, RUNS, TABLE_MD, TABLE_TEX
from .layout import Layout, fill, split_token


class ReportJobs(Layout):
    """The tables and the page of each target."""

    def report_runs(self) -> list[str]:
        """The run tokens of the report: every configured method, per bank where its row says so."""
        return [self.run_token(m, b) for m in self.config["methods"]
                for b in (self.banks if method_spec(m).per_bank else [None])]

    def run_files(self, target: str, *names: str, trained_only: bool = False) -> list[str]:
        """Files ``names`` of every run the report compares: each iteration's of trained runs (with
        neighbours.csv only where the method borrows lists), the seed folder's of the others."""
        files = []
        for token in self.report_runs():
            spec = method_spec(split_token(token)[0])
            for seed in self.config["seeds"]:
                if not spec.trained:
                    files += [] if trained_only else [self.run_file(target, token, seed, None, "eval.csv")]
                    continue
                for m in range(self.iterations):
                    files += [self.run_file(target, token, seed, m, name) for name in names
                              if name != "neighbours.csv" or spec.borrows_lists]
        return files

    def report_inputs(self, wildcards) -> dict:
        target = wildcards.target
        inputs = {"train": self.target_manifest(target, "train"), "source": self.source_manifest(target),
                  "runs": self.run_files(target, "eval.csv", "train.json", "neighbours.csv"),
                  "leakage": self.leakage_table(target)}
        if self.relations(target):
            inputs["relations"] = self.relations(target)
        return inputs

    def report_files(self, wildcards, input) -> str:
        """The run folders, in the order of the report's rows, and the related-classes table."""
        folders = list(dict.fromkeys(os.path.dirname(path) for path in input["runs"]))
        options = cli_options(run_folders=folders)
        return options + (f" {cli_options(relations=input['relations'])}" if "relations" in input.keys() else "")

    def report_settings(self, wildcards) -> str:
        return self.exclusion_settings()

    # ------------------------------------------------------------ the page

    def class_tables(self, target: str) -> dict:
        """Readable class names, where the data sets have a classes.tsv (folder name, tab, name).

        The target's is looked for in its root, the source's in its root and the root's parent
        (tiny-transfer keeps it beside source/train/).
        """
        tables = {}
        root = self.targets[target].get("root")
        if root and os.path.exists(os.path.join(root, "classes.tsv")):
            tables["target_classes"] = os.path.join(root, "classes.tsv")
        root = self.sources[self.source_of(target)].get("root")
        for folder in [root, os.path.dirname(os.path.normpath(root))] if root else []:
            if os.path.exists(os.path.join(folder, "classes.tsv")):
                tables["source_classes"] = os.path.join(folder, "classes.tsv")
                break
        return tables

    def html_inputs(self, wildcards) -> dict:
        """The report tables, manifests, every bank's kNN index, selective's neighbour tables (main
        bank, first seed, every iteration), every trained run's curves and the class-name tables."""
        target = wildcards.target
        inputs = {"report": fill(REPORT, target=target), "paired": fill(PAIRED, target=target),
                  "runs": fill(RUNS, target=target), "train": self.target_manifest(target, "train"),
                  "source": self.source_manifest(target), "knn": [self.knn_index(target, b) for b in self.banks],
                  "leakage": self.leakage_table(target), "leakage_summary": fill(LEAKAGE_SUMMARY, target=target)}
        if SELECTIVE in self.config["methods"]:
            seed = self.config["seeds"][0]
            inputs["neighbours"] = [self.run_file(target, self.run_token(SELECTIVE), seed, m, "neighbours.csv")
                                    for m in range(self.iterations)]
        # the training curves: every trained run's epochs.csv, and the pretraining's when the run had one
        inputs["epochs"] = self.run_files(target, "epochs.csv", trained_only=True)
        if self.config["model"]["init"] == "pretrain":
            inputs["pretrain_epochs"] = fill(PRETRAIN_EPOCHS, source=self.source_of(target))
        inputs.update(self.class_tables(target))
        return inputs

    def html_files(self, wildcards, input) -> str:
        keys = ("neighbours", "epochs", "target_classes", "source_classes", "leakage", "leakage_summary",
                "pretrain_epochs")
        return cli_options(**{key: input[key] for key in keys if key in input.keys() and len(input[key])})

    def pretraining_pool(self, target: str) -> bool:
        """Whether the backbone was pretrained on the target's source pool: the pretrain stage's, or
        weights (the library's or a checkpoint) that sources.<pool>.pretraining_set says were trained
        on it (ImageNet weights and an ImageNet pool)."""
        init = self.config["model"]["init"]
        return init == "pretrain" or (init != "scratch" and self.sources[self.source_of(target)]["pretraining_set"])

    def html_settings(self, wildcards) -> str:
        """The leakage audit's settings of the page: the excluded splits, and whether to warn that the
        backbone saw the pool."""
        settings = cli_options(pretraining_pool=self.pretraining_pool(wildcards.target))
        return f"{settings} {self.exclusion_settings()}"

    def final_outputs(self) -> list[str]:
        """Every target's tables and page (rule all)."""
        return [fill(pattern, target=target) for target in self.targets
                for pattern in (REPORT, REPORT_HTML, TABLE_MD, TABLE_TEX)]
