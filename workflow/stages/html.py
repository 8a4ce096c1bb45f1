"""The HTML report stage: ``results/<target>/report.html``, one self-contained page."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..datasets import read_manifest
from ..html.curves import curves_section, read_epochs
from ..html.leakage import leakage_section
from ..html.mining import k_section
from ..html.neighbours import neighbour_grid, read_class_names, thumbnail_uri
from ..html.page import build_page
from ..html.text import short_name
from ..io import atomic_path, read_h5
from ..leakage import excluded_sources
from ..schedule import counts_of

log = logging.getLogger(__name__)


def _read_table(path: str | None) -> pd.DataFrame | None:
    """A CSV, or None when there is no file or it is empty."""
    if not path or not Path(path).exists():
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None


def report_html(out: str, target_name: str, report: str, target_manifest: str, source_manifest: str,
                knn: list[str], banks: list[str], paired: str | None = None, runs: str | None = None,
                neighbours: list[str] = (), target_classes: str | None = None,
                source_classes: str | None = None, leakage: str | None = None, leakage_summary: str | None = None,
                exclude_splits: list[str] = (), pretraining_pool: bool = False, epochs: list[str] = (),
                pretrain_epochs: str | None = None, max_classes: int = 24,
                per_class: int = 1, top: int = 8, thumb_size: int = 64) -> None:
    """The report page of one target, self-contained (``workflow.html``).

    ``knn`` and ``banks`` go together, the first bank being the one selective's
    ``neighbours`` tables (one per iteration, in order) were drawn from.

    Args:
        out: report.html
        target_name: the target's name (the page's title)
        report: report.csv: over seeds
        target_manifest: the target's train manifest
        source_manifest: the source pool's manifest
        knn: the kNN index of each bank, in the order of banks
        banks: filter bank names, the main one first
        paired: paired.csv
        runs: runs.csv
        neighbours: selective's neighbour tables (main bank, first seed), one per iteration in order
        target_classes: classes.tsv of the target: folder name<TAB>readable name
        source_classes: classes.tsv of the source pool
        leakage: leakage.csv of the leakage audit (its section needs leakage_summary too)
        leakage_summary: the audit's counts per split
        exclude_splits: the target splits whose source duplicates no method borrowed
        pretraining_pool: the backbone was pretrained on this source pool (a warning when test images are duplicated)
        epochs: the epochs.csv of the training runs, every method, seed and iteration
            (<results>/<run token>/seed-<s>/iter-<m>/epochs.csv): the training curves
        pretrain_epochs: the pretraining's epochs.csv (results/source/<source>/pretrain/epochs.csv), shown with
            the runs' curves
        max_classes: target classes shown in the neighbour grids
        per_class: training images shown per class
        top: source neighbours shown per training image
        thumb_size: thumbnail side in pixels
    """
    if len(knn) != len(banks):
        raise ValueError(f"{len(knn)} kNN files for {len(banks)} banks ({', '.join(banks)})")
    table = pd.read_csv(report)
    targets, sources = read_manifest(target_manifest), read_manifest(source_manifest)
    target_names, source_names = read_class_names(target_classes), read_class_names(source_classes)

    ordered = targets.sort_values("index")
    counts = [counts_of(pd.read_csv(f), len(targets)) for f in neighbours]
    trail = {int(i): [int(k[i]) for k in counts] for i in ordered["index"]} if counts else None
    readable = [short_name(target_names.get(str(c), str(c))) for c in ordered["class_name"]]
    if counts and len(counts[0]) != len(readable):  # manifest ids are not 0..n-1: no per-class K
        readable = None
    k_html = k_section(counts, readable, table, max_classes)

    @cache
    def thumbnail(path: str) -> str | None:
        uri = thumbnail_uri(path, thumb_size)
        if uri is None:
            log.warning("cannot read %s: shown as missing", path)
        return uri

    grids = {}
    for i, (bank, knn_file) in enumerate(zip(banks, knn)):
        index = read_h5(knn_file, ["target_index", "ids", "distances"])
        grids[bank] = neighbour_grid(
            targets, sources, index["target_index"], index["ids"], index["distances"], thumbnail, target_names,
            source_names, max_classes=max_classes, per_class=per_class, top=top, k_trail=trail if i == 0 else None)

    seeds = _read_table(runs)
    n_seeds = seeds["seed"].nunique() if seeds is not None and "seed" in seeds else int(table["n_seeds"].max())
    facts = {"target classes": f"{targets['label'].nunique()}", "training images": f"{len(targets):,}",
             "source pool": f"{len(sources):,} images, {sources['label'].nunique()} classes",
             "seeds": str(n_seeds), "iterations": str(int(table["iteration"].max()) + 1),
             "filter banks": ", ".join(banks)}
    if counts:
        facts["K at iteration 0"] = f"{int(np.median(counts[0]))}"
    leakage_html = ""
    if leakage and leakage_summary:
        pairs = pd.read_csv(leakage)
        excluded = len(excluded_sources(pairs, exclude_splits))
        leakage_html = leakage_section(pd.read_csv(leakage_summary), pairs, thumbnail, excluded, list(exclude_splits),
                                       pretraining_pool)
    curves_html = curves_section(read_epochs(epochs), table, _read_table(pretrain_epochs)) if epochs else ""
    html = build_page(target_name, table, _read_table(paired), seeds, grids, k_html, facts, leakage_html, curves_html)
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
        tmp.chmod(0o644)  # a page to share: readable by others, unlike mkstemp's 0600
    log.info("wrote %s (%.0f kB, %d thumbnails)", out, len(html) / 1024, thumbnail.cache_info().currsize)
