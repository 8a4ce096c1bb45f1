"""The dataset kinds (config `targets.<name>.kind`, `sources.<name>.kind`): where each one's images come from.

A kind's images are either a folder that a rule of the workflow makes (the demo generator,
the torchvision export, the exports of datasets with official lists: an input of the manifest
jobs, tracked as a file) or a user's folder
(`root`: not a rule's output, so its images' digest is a parameter of the manifest jobs and a
changed image reruns them). Adding a kind is one row here (and, when a rule makes its images,
that rule in rules/data.smk).

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

DEMO_DATA = "results/data/demo"  # the demo_data rule's output: source/, target/, relations.csv
TORCHVISION_DATA = "results/data/torchvision"  # the torchvision_export rule's: <export>/<split>/<class>/<image>
TORCHVISION = "torchvision"
# datasets with official lists, exported by the rules of rules/data.smk (workflow/official.py)
STANFORD_DOGS_DATA = "results/data/stanford-dogs"  # <split>/<NNN>.<wnid>-<Breed>/<image>
MIT_INDOOR67_DATA = "results/data/mit-indoor67"  # <split>/<NNN>.<class>/<image>
PLACES_DATA = "results/data/places"  # <list's name>/<NNN>.<class>/<image>


@dataclass(frozen=True)
class Kind:
    """``made(domain, entry)``: the folder a rule makes for a config entry (domain ``target`` or
    ``source``), None when the images are the user's folder ``entry["root"]``. ``relations(entry)``:
    the related-classes table the kind always has, else None (the entry's optional ``relations``).
    ``train_split(entry)``: the default training split of a target. ``domains``: where it may be used.
    ``export_keys``: the entry's keys that the made folder is built from (one folder, one export:
    entries sharing it must agree on them)."""

    made: Callable[[str, dict], str] | None = None
    relations: Callable[[dict], str | None] = lambda entry: None
    train_split: Callable[[dict], str] = lambda entry: "train"
    domains: tuple[str, ...] = ("target", "source")
    export_keys: tuple[str, ...] = ()


def _places_folder(domain: str, entry: dict) -> str:
    from .official import places_export_name

    return f"{PLACES_DATA}/{places_export_name(entry['list'])}"


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
        made=lambda domain, entry: f"{TORCHVISION_DATA}/{torchvision_folder(entry)}",
        train_split=_torchvision_train_split,
        domains=("target",),
    ),
    # the download folder of Stanford Dogs: Images/ and the official lists (train_list.mat, test_list.mat)
    "stanford-dogs": Kind(made=lambda domain, entry: STANFORD_DOGS_DATA, domains=("target",), export_keys=("root",)),
    # the download folder of MIT Indoor 67: Images/, TrainImages.txt, TestImages.txt
    "mit-indoor67": Kind(made=lambda domain, entry: MIT_INDOOR67_DATA, domains=("target",), export_keys=("root",)),
    # a Places205 / Places365 train set: root/<letter>/<class>[/<sub>]/<image> and its official `list`
    "places": Kind(made=_places_folder, domains=("source",), export_keys=("root", "list")),
}


def torchvision_folder(entry: dict) -> str:
    """A torchvision target's export folder: the dataset's name, and its carve when the target sets one
    (Caltech256 at 15, 30, 45 and 60 training images per class: four exports side by side)."""
    if "train_per_class" not in entry and "split_seed" not in entry:
        return entry["name"]
    from .tvdatasets import DATASETS

    per_class = entry.get("train_per_class", DATASETS[entry["name"]].train_per_class)
    return f"{entry['name']}-{per_class}-per-class-seed-{entry.get('split_seed', 0)}"


def check_torchvision_targets(targets: dict) -> None:
    """Known dataset names; carves only of the datasets without official splits."""
    from .tvdatasets import DATASETS

    carved = [n for n, spec in DATASETS.items() if spec.splits is None]
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


def check_exports(config: dict) -> None:
    """One export per made folder: the entries whose kind builds it from their keys (``export_keys``)
    agree on them, e.g. two Stanford Dogs targets name one root."""
    exports: dict[str, tuple[str, dict]] = {}
    for section, domain in (("targets", "target"), ("sources", "source")):
        for name, entry in config[section].items():
            kind = lookup(entry["kind"])
            if not kind.export_keys:
                continue
            folder = kind.made(domain, entry)
            made_from = {key: os.path.normpath(entry[key]) for key in kind.export_keys}
            first, first_from = exports.setdefault(folder, (f"{section}.{name}", made_from))
            differ = [key for key in kind.export_keys if made_from[key] != first_from[key]]
            if differ:
                raise ValueError(
                    f"config {section}.{name}.{differ[0]} is {entry[differ[0]]!r}, but {first}.{differ[0]} is "
                    f"{first_from[differ[0]]!r}: {entry['kind']} is exported once, to {folder}, so the "
                    f"entries that use it must name the same {' and '.join(kind.export_keys)}"
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
    check_exports(config)


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
