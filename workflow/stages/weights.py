"""Stage of rule fetch_weights: library weights into the library's cache, once (``workflow/weights.py``)."""

from __future__ import annotations

import logging

from .. import weights as library_weights
from ..backbones import library_of
from ..io import write_json

log = logging.getLogger(__name__)


def fetch_weights(arch: str, weights: str, out: str) -> None:
    """Download a model's library weights into the library's cache (unless there) and record the file.

    The one stage that uses the network for weights; every other job reads the cached file.

    Args:
        arch: the model (config key model.arch; alexnet for bank.cnn.model alexnet)
        weights: which weights: imagenet
        out: the record (JSON: library, arch, weights, source, file, size, sha256)
    """
    if weights not in library_weights.FETCHED:
        known = ", ".join(library_weights.FETCHED)
        raise ValueError(f"weights {weights!r} are not fetched by a library; known: {known}")
    library, name = library_of(arch)
    if library == "sjft":
        raise ValueError(f"model.arch {arch} has no {weights} weights: start it from pretrain, scratch or a checkpoint")
    source = library_weights.source_of(library, name)
    path = library_weights.fetch(source)
    write_json(library_weights.record(library, arch, weights, source, path), out)
    log.info("%s %s weights of %s: %s", library, weights, arch, path)
