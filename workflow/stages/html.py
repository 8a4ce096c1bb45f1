"""The HTML report stage: ``results/<target>/report.html``, one self-contained page."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..datasets import read_manifest
from ..html.mining import k_section
from ..html.neighbours import neighbour_grid, read_class_names, thumbnail_uri
from ..html.page import build_page
from ..html.text import short_name
from ..io import atomic_path, read_h5
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


def report_html(out: str, target: str, report: str, target_manifest: str, source_manifest: str,
                knn_files: list[str], banks: list[str], paired: str | None = None, runs: str | None = None,
                neighbour_files: list[str] | None = None, target_classes: str | None = None,
                source_classes: str | None = None, max_classes: int = 24, per_class: int = 1, top: int = 8,
                thumb_size: int = 64) -> None:
    """Write the report page of one target (see ``workflow.html``).

    ``knn_files`` and ``banks`` go together, the first bank being the one selective's
    ``neighbour_files`` (one per iteration, in order) were drawn from.
    """
    if len(knn_files) != len(banks):
        raise ValueError(f"{len(knn_files)} kNN files for {len(banks)} banks ({', '.join(banks)})")
    table = pd.read_csv(report)
    targets, sources = read_manifest(target_manifest), read_manifest(source_manifest)
    target_names, source_names = read_class_names(target_classes), read_class_names(source_classes)

    ordered = targets.sort_values("index")
    counts = [counts_of(pd.read_csv(f), len(targets)) for f in neighbour_files or []]
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
    for i, (bank, knn_file) in enumerate(zip(banks, knn_files)):
        knn = read_h5(knn_file, ["target_index", "ids", "distances"])
        grids[bank] = neighbour_grid(
            targets, sources, knn["target_index"], knn["ids"], knn["distances"], thumbnail, target_names,
            source_names, max_classes=max_classes, per_class=per_class, top=top, k_trail=trail if i == 0 else None)

    seeds = _read_table(runs)
    n_seeds = seeds["seed"].nunique() if seeds is not None and "seed" in seeds else int(table["n_seeds"].max())
    facts = {"target classes": f"{targets['label'].nunique()}", "training images": f"{len(targets):,}",
             "source pool": f"{len(sources):,} images, {sources['label'].nunique()} classes",
             "seeds": str(n_seeds), "iterations": str(int(table["iteration"].max()) + 1),
             "filter banks": ", ".join(banks)}
    if counts:
        facts["K at iteration 0"] = f"{int(np.median(counts[0]))}"
    html = build_page(target, table, _read_table(paired), seeds, grids, k_html, facts)
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
        tmp.chmod(0o644)  # a page to share: readable by others, unlike mkstemp's 0600
    log.info("wrote %s (%.0f kB, %d thumbnails)", out, len(html) / 1024, thumbnail.cache_info().currsize)
