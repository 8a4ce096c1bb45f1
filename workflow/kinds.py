"""The dataset kinds (config `targets.<name>.kind`, `sources.<name>.kind`): where each one's images come from.

A kind's images are either a folder that a rule of the workflow makes (the demo generator,
the torchvision export: an input of the manifest jobs, tracked as a file) or a user's folder
(`root`: not a rule's output, so its images' digest is a parameter of the manifest jobs and a
changed image reruns them). Adding a kind is one row here (and, when a rule makes its images,
that rule in rules/data.smk).

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

DEMO_DATA = "results/data/demo"  # the demo_data rule's output: source/, target/, relations.csv
TORCHVISION_DATA = "results/data/torchvision"  # the torchvision_export rule's: <name>/<split>/<class>/<image>
TORCHVISION = "torchvision"


@dataclass(frozen=True)
class Kind:
    """``made(domain, entry)``: the folder a rule makes for a config entry (domain ``target`` or
    ``source``), None when the images are the user's folder ``entry["root"]``. ``relations(entry)``:
    the related-classes table the kind always has, else None (the entry's optional ``relations``).
    ``train_split(entry)``: the default training split of a target. ``domains``: where it may be used."""

    made: Callable[[str, dict], str] | None = None
    relations: Callable[[dict], str | None] = lambda entry: None
    train_split: Callable[[dict], str] = lambda entry: "train"
    domains: tuple[str, ...] = ("target", "source")


def _torchvision_train_split(entry: dict) -> str:
    from .tvdatasets import DATASETS

    return DATASETS[entry["name"]].train_split


KINDS: dict[str, Kind] = {
    # procedural textures of the demo_data rule, with the table of related classes
    "demo": Kind(
        made=lambda domain, entry: f"{DEMO_DATA}/{domain}",
        relations=lambda entry: f"{DEMO_DATA}/relations.csv",
    ),
    # the user's folder: root/<split>/<class>/<image> (a target) or root/<class>/<image> (a source)
    "imagefolder": Kind(),
    # a torchvision dataset by name, exported by the torchvision_export rule (workflow/tvdatasets.py)
    TORCHVISION: Kind(
        made=lambda domain, entry: f"{TORCHVISION_DATA}/{entry['name']}",
        train_split=_torchvision_train_split,
        domains=("target",),
    ),
}


def check_torchvision_targets(targets: dict) -> None:
    """Known dataset names; one export per dataset, so targets sharing one agree on its carve."""
    from .tvdatasets import DATASETS

    carved = [n for n, spec in DATASETS.items() if spec.splits is None]
    exports = {}
    for name, target in targets.items():
        if target["kind"] != TORCHVISION:
            continue
        dataset = target["name"]
        if dataset not in DATASETS:
            raise ValueError(
                f"config targets.{name}.name is {dataset!r}, not a known torchvision dataset: {', '.join(DATASETS)}"
            )
        if DATASETS[dataset].splits is not None and ("train_per_class" in target or "split_seed" in target):
            raise ValueError(
                f"config targets.{name}.train_per_class/split_seed: {dataset} has official splits; "
                f"these keys apply only to {', '.join(carved)}"
            )
        carve = (target.get("train_per_class"), target.get("split_seed", 0))
        first, first_carve = exports.setdefault(dataset, (name, carve))
        if carve != first_carve:
            raise ValueError(
                f"config targets.{name}: {dataset} is exported once, to {TORCHVISION_DATA}/{dataset}; "
                f"its train_per_class and split_seed must match those of targets.{first}"
            )


def lookup(kind: str) -> Kind:
    """A kind's row; an unknown kind is refused with the known ones."""
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind]


def check_kinds(config: dict) -> None:
    """Every target's and source's `kind`: known, and allowed there."""
    for section, domain in (("targets", "target"), ("sources", "source")):
        for name, entry in config[section].items():
            allowed = [k for k, row in KINDS.items() if domain in row.domains]
            if entry["kind"] not in allowed:
                raise ValueError(
                    f"config {section}.{name}.kind is {entry['kind']!r}, not a dataset kind of a {domain}: "
                    f"{', '.join(allowed)}"
                )
    check_torchvision_targets(config["targets"])


def images_folder(domain: str, entry: dict) -> str:
    """The folder holding a target's or source's images: the one its rule makes, or its root."""
    kind = lookup(entry["kind"])
    return kind.made(domain, entry) if kind.made else entry["root"]


def made_folders(domain: str, entry: dict) -> list[str]:
    """The rule outputs holding its images (the manifest job's input), [] for a user's folder."""
    kind = lookup(entry["kind"])
    return [kind.made(domain, entry)] if kind.made else []


def user_root(entry: dict) -> str | None:
    """The user's folder of an entry whose images no rule makes (their digest is a parameter), else None."""
    return None if lookup(entry["kind"]).made else entry["root"]


def relations(entry: dict) -> str | None:
    """The related-classes table of a target, if it has one (the demo always does)."""
    return lookup(entry["kind"]).relations(entry) or entry.get("relations")
