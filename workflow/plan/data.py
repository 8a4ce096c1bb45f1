"""The dataset jobs (rules of rules/data.smk): exports of datasets with official lists, the
torchvision exports, and the manifests (one row per image) of targets and sources.

A user's image folders are not outputs of a rule, so their changes reach the manifests as a
parameter: a digest of every image's path, size and modification time (rewritten, added or
removed images rerun the manifest and what depends on it). The folders a rule makes
(workflow/kinds.py) are tracked as inputs.

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

import functools
import os
import shlex

from ..datasets import folder_fingerprint
from ..kinds import MIT_INDOOR67_DATA, PLACES_DATA, STANFORD_DOGS_DATA, TORCHVISION
from ..kinds import images_folder, lookup as kind_spec, made_folders, torchvision_folder, user_root
from ..official import mit_indoor67_lists, stanford_dogs_lists
from .commands import cli_options
from .layout import Layout

images_digest = functools.cache(folder_fingerprint)  # params are asked for more than once


class DataJobs(Layout):
    """The exports and manifests of the config's targets and sources."""

    def train_split(self, target: str) -> str:
        entry = self.targets[target]
        return entry.get("train_split", kind_spec(entry["kind"]).train_split(entry))

    def test_split(self, target: str) -> str:
        return self.targets[target].get("test_split", "test")

    def carves_validation(self, target: str) -> bool:
        """Whether a target's test split is carved out of its train split (holdout_folds, holdout_per_class)."""
        entry = self.targets[target]
        return bool(entry.get("holdout_folds") or entry.get("holdout_per_class"))

    # ------------------------------------------------------------ manifests

    def lists_test_folder(self, wildcards) -> bool:
        """Whether a manifest job lists the target's test folder; it then reads train.csv too, whose
        classes number it (a carved validation split is made from the train folder)."""
        return wildcards.split == "test" and not self.carves_validation(wildcards.target)

    def target_manifest_inputs(self, wildcards) -> dict:
        """The target's images when a rule makes them (the demo generator, the torchvision export),
        and the train manifest of the test split's job."""
        inputs = {"images": made_folders("target", self.targets[wildcards.target])}
        if self.lists_test_folder(wildcards):
            inputs["train_manifest"] = self.target_manifest(wildcards.target, "train")
        return inputs

    def target_manifest_options(self, wildcards) -> str:
        """The splits of a target, or the carve of its validation split out of the train split; the
        test job's train manifest."""
        target, entry = wildcards.target, self.targets[wildcards.target]
        options = cli_options(train_split=self.train_split(target), test_split=self.test_split(target))
        if self.lists_test_folder(wildcards):
            options += f" {cli_options(train_manifest=self.target_manifest(target, 'train'))}"
        seed = f" --holdout-seed {entry.get('holdout_seed', 0)}"
        if entry.get("holdout_folds"):
            options += f" --holdout-folds {entry['holdout_folds']} --holdout-fold {entry.get('holdout_fold', 0)}{seed}"
        elif entry.get("holdout_per_class"):
            options += f" --holdout-per-class {entry['holdout_per_class']}{seed}"
        return options

    def target_root(self, wildcards) -> str:
        return images_folder("target", self.targets[wildcards.target])

    def target_images(self, wildcards) -> str:
        """The digest of the images a manifest job lists: its split's folder (the train folder for a
        carved validation split), so a changed test image reruns test.csv alone."""
        root = user_root(self.targets[wildcards.target])
        if root is None:
            return ""
        split = (self.test_split if self.lists_test_folder(wildcards) else self.train_split)(wildcards.target)
        return images_digest(os.path.join(root, split))

    def source_files(self, wildcards) -> list[str]:
        return made_folders("source", self.sources[wildcards.source])

    def source_root(self, wildcards) -> str:
        return images_folder("source", self.sources[wildcards.source])

    def source_images(self, wildcards) -> str:
        root = user_root(self.sources[wildcards.source])
        return "" if root is None else images_digest(root)

    def source_cap(self, wildcards) -> str:
        cap = self.sources[wildcards.source].get("max_per_class")
        return f"--max-per-class {cap}" if cap else ""

    # ------------------------------------------------------------ exports

    @property
    def torchvision_exports(self) -> dict[str, dict]:
        """The export folders of the torchvision targets (workflow/kinds.py: the dataset, and its carve if set)."""
        return {torchvision_folder(t): t for t in self.targets.values() if t["kind"] == TORCHVISION}

    def torchvision_export_options(self, wildcards) -> str:
        """The dataset of an export folder, and its carve when it has no official splits."""
        entry = self.torchvision_exports[wildcards.export]
        options = f"--name {shlex.quote(entry['name'])} --split-seed {entry.get('split_seed', 0)}"
        if "train_per_class" in entry:
            options += f" --train-per-class {entry['train_per_class']}"
        return options

    # datasets with official lists (workflow/official.py): one export per folder, each made from the
    # download folder (`root`) of the entries that use it (check_exports: they agree), its lists tracked as inputs

    def exported_entry(self, folder: str) -> dict:
        """The config entry (target or source) whose images the export ``folder`` holds."""
        for domain, entries in (("target", self.targets), ("source", self.sources)):
            for entry in entries.values():
                if made_folders(domain, entry) == [folder]:
                    return entry
        raise ValueError(f"no entry of config targets or sources is exported to {folder}")

    def export_root(self, folder: str):
        return lambda wildcards: self.exported_entry(folder)["root"]

    def stanford_dogs_lists(self, wildcards) -> dict:
        """train_list.mat and test_list.mat: in the root's lists/ folder, or straight in the root."""
        train, test = stanford_dogs_lists(self.exported_entry(STANFORD_DOGS_DATA)["root"])
        return {"train": str(train), "test": str(test)}

    def mit_indoor67_lists(self, wildcards) -> dict:
        train, test = mit_indoor67_lists(self.exported_entry(MIT_INDOOR67_DATA)["root"])
        return {"train": str(train), "test": str(test)}

    def places_exports(self) -> list[str]:
        """The folder names below PLACES_DATA of the Places sources (their lists' names)."""
        folders = [made_folders("source", s)[0] for s in self.sources.values() if s["kind"] == "places"]
        return [os.path.basename(folder) for folder in folders]

    def places_list(self, wildcards) -> str:
        return self.exported_entry(f"{PLACES_DATA}/{wildcards.places}")["list"]

    def places_root(self, wildcards) -> str:
        return self.exported_entry(f"{PLACES_DATA}/{wildcards.places}")["root"]
