"""The methods of the comparison (README, "Methods"): one row each, read by the planner, the report and the page.

A method is a ``Method``: which source images it borrows (none; ``all`` of the pool; ``random``
ones matching selective's counts; its ``knn`` neighbours, whose counts grow by its own entropies
when it ``mining``), whether it starts from the ``pretrained`` model or from ``scratch``, its
``regularizer`` toward the starting model (workflow/regularizers.py), and whether ``dtnh``
projects the non-target gradient. A method that is not ``trained`` (``fusion``) averages the
softmax outputs of the iterations of the method it ``reads`` (workflow/evaluation.py).

Adding a baseline is one row of ``METHODS`` (and its README row); the planner plans it from the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SELECTIVE = "selective"  # the paper's method, the report's main one
FINETUNE = "finetune"  # the reference every other method is compared with on the page
FUSION = "fusion"  # the softmax average of selective's iterations (rule fusion)


@dataclass(frozen=True)
class Method:
    """How a method runs (README, "Methods"), and its name in the paper's tables (workflow/tables.py:
    Ge & Yu's for theirs, Wan et al.'s for DTNH's)."""

    paper_name: str
    borrows: Literal[None, "all", "random", "knn"] = None
    init: Literal["pretrained", "scratch"] = "pretrained"
    mining: bool = True  # knn: K grows by the hard-sample rule after iteration 0 (else K = k0 throughout)
    regularizer: Literal["none", "l2sp", "knowdist"] = "none"
    dtnh: bool = False
    # the method whose runs this one reads, and why (config methods must list that one too)
    reads: str | None = None
    reads_because: str = ""
    # False: not trained; its seed folder averages the softmax outputs of the iterations of ``reads``
    trained: bool = True
    # runs once per bank of bank.names (results/<target>/bank-<bank>/<method>/...); the other
    # kNN methods (the ablations) run with the main (first) bank only
    per_bank: bool = False

    @property
    def borrows_lists(self) -> bool:
        """Whether its source images come as per-target lists (neighbours.csv, rule neighbours)."""
        return self.trained and self.borrows in ("knn", "random")


METHODS: dict[str, Method] = {
    FINETUNE: Method("Fine-tuning w/o source domain"),
    "scratch": Method("Training from scratch (target only)", init="scratch"),
    "joint-all": Method("Joint fine-tuning with all source images", borrows="all"),
    "joint-random": Method("Joint fine-tuning with random source images", borrows="random", reads=SELECTIVE,
                           reads_because="joint-random matches selective's counts"),
    "selective-noiter": Method("Selective joint FT w/o iterative NN retrieval", borrows="knn", mining=False),
    SELECTIVE: Method("Selective joint FT", borrows="knn", per_bank=True),
    "selective-scratch": Method("Selective joint training from scratch", borrows="knn", init="scratch"),
    "selective-dtnh": Method("Selective joint FT with DTNH", borrows="knn", dtnh=True),
    "l2sp": Method("L2-SP", regularizer="l2sp"),
    "dtnh-l2sp": Method("DTNH (L2-SP)", regularizer="l2sp", dtnh=True),
    "knowdist": Method("Feature-map distillation", regularizer="knowdist"),
    "dtnh-knowdist": Method("DTNH (feature-map distillation)", regularizer="knowdist", dtnh=True),
    FUSION: Method("Selective joint FT with model fusion", borrows="knn", reads=SELECTIVE, trained=False,
                   reads_because="fusion averages the selective iterations", per_bank=True),
}


def lookup(name: str) -> Method:
    """The row of a method; an unknown name is refused with the known ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; the methods are: {', '.join(METHODS)}")
    return METHODS[name]


def uses_bank(name: str) -> bool:
    """Whether a method's runs depend on a filter bank (its retrieval, or that of the method it reads)."""
    return lookup(name).borrows == "knn"


def check_methods(names: list[str]) -> None:
    """The config's `methods`: known names, and each with the method it reads."""
    for name in names:
        if name not in METHODS:
            raise ValueError(f"config methods: {name!r} is not a method; known: {', '.join(METHODS)}")
    for name in names:
        needed = METHODS[name].reads
        if needed and needed not in names:
            raise ValueError(f"config methods: {METHODS[name].reads_because}; add {needed}")
