"""The methods of the comparison (README, "Methods"): one row each, read by the rules, the report and the page.

A trained method is a ``Method``: which source images it borrows (none; ``all`` of the pool;
``random`` ones matching selective's counts; its ``knn`` neighbours, whose counts grow by its
own entropies when it ``mining``), whether it starts from the ``pretrained`` model or from
``scratch``, its ``regularizer`` toward the starting model (workflow/regularizers.py), and
whether ``dtnh`` projects the non-target gradient. ``fusion`` is not trained: it averages the
softmax of selective's iterations (workflow/evaluation.py).

Adding a baseline is one row of ``METHODS`` (and its README row); the rules plan it from the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SELECTIVE = "selective"  # the paper's method, the report's main one
FINETUNE = "finetune"  # the reference every other method is compared with on the page
FUSION = "fusion"  # the softmax average of selective's iterations (rule fusion)


@dataclass(frozen=True)
class Method:
    """How a trained method runs (README, "Methods")."""

    borrows: Literal[None, "all", "random", "knn"] = None
    init: Literal["pretrained", "scratch"] = "pretrained"
    mining: bool = True  # knn: K grows by the hard-sample rule after iteration 0 (else K = k0 throughout)
    regularizer: Literal["none", "l2sp", "knowdist"] = "none"
    dtnh: bool = False


METHODS: dict[str, Method] = {
    FINETUNE: Method(),
    "scratch": Method(init="scratch"),
    "joint-all": Method(borrows="all"),
    "joint-random": Method(borrows="random"),
    "selective-noiter": Method(borrows="knn", mining=False),
    SELECTIVE: Method(borrows="knn"),
    "selective-scratch": Method(borrows="knn", init="scratch"),
    "selective-dtnh": Method(borrows="knn", dtnh=True),
    "l2sp": Method(regularizer="l2sp"),
    "dtnh-l2sp": Method(regularizer="l2sp", dtnh=True),
    "knowdist": Method(regularizer="knowdist"),
    "dtnh-knowdist": Method(regularizer="knowdist", dtnh=True),
}
# every name the config's `methods` may list
NAMES = (*METHODS, FUSION)
# the rows' names in a paper's table (workflow/tables.py): Ge & Yu's for theirs, Wan et al.'s for DTNH's
PAPER_NAMES = {
    FINETUNE: "Fine-tuning w/o source domain",
    "scratch": "Training from scratch (target only)",
    "joint-all": "Joint fine-tuning with all source images",
    "joint-random": "Joint fine-tuning with random source images",
    "selective-noiter": "Selective joint FT w/o iterative NN retrieval",
    SELECTIVE: "Selective joint FT",
    "selective-scratch": "Selective joint training from scratch",
    FUSION: "Selective joint FT with model fusion",
    "selective-dtnh": "Selective joint FT with DTNH",
    "l2sp": "L2-SP",
    "dtnh-l2sp": "DTNH (L2-SP)",
    "knowdist": "Feature-map distillation",
    "dtnh-knowdist": "DTNH (feature-map distillation)",
}
# Runs of methods that use a filter bank live under it: results/<target>/bank-<bank>/<method>/...
# These run once per bank of bank.names, the other kNN methods (the ablations) with the main
# (first) bank only.
PER_BANK = (SELECTIVE, FUSION)
# methods that read another's runs, and why (config methods must list that one too)
NEEDS = {
    FUSION: (SELECTIVE, "fusion averages the selective iterations"),
    "joint-random": (SELECTIVE, "joint-random matches selective's counts"),
}


def lookup(name: str) -> Method:
    """The row of a trained method; an unknown name is refused with the known ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; the trained methods are: {', '.join(METHODS)}")
    return METHODS[name]


def uses_bank(name: str) -> bool:
    """Whether a method's runs depend on a filter bank (its retrieval, or selective's for fusion)."""
    return name == FUSION or lookup(name).borrows == "knn"


def check_methods(names: list[str]) -> None:
    """The config's `methods`: known names, and each with the method it reads."""
    for name in names:
        if name not in NAMES:
            raise ValueError(f"config methods: {name!r} is not a method; known: {', '.join(NAMES)}")
    for name, (needed, why) in NEEDS.items():
        if name in names and needed not in names:
            raise ValueError(f"config methods: {why}; add {needed}")
