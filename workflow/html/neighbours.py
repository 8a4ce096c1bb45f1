"""The retrieved neighbours: training images of every target class beside their nearest sources.

The images are inline JPEG thumbnails (``thumbnail_uri``) and the classes are shown by their
readable names from a ``classes.tsv`` (``read_class_names``): these two read files.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .text import esc, short_name


def read_class_names(path: str | None) -> dict[str, str]:
    """A ``classes.tsv`` (folder name, tab, readable name per line) as a dict; {} without one."""
    if not path:
        return {}
    names = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            key, _, name = line.rstrip("\n").partition("\t")
            if key.strip() and name.strip():
                names[key.strip()] = name.strip()
    return names


def thumbnail_uri(path: str, size: int = 64, quality: int = 85) -> str | None:
    """A square, center-cropped JPEG thumbnail of an image file as a data URI; None if unreadable."""
    from ..datasets import DatasetError, load_image

    try:
        image = load_image(path, size)
    except (DatasetError, OSError):
        return None
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def neighbour_grid(targets: pd.DataFrame, sources: pd.DataFrame, target_index: np.ndarray, ids: np.ndarray,
                   distances: np.ndarray, thumbnail: Callable[[str], str | None],
                   target_names: dict[str, str] | None = None, source_names: dict[str, str] | None = None,
                   max_classes: int = 24, per_class: int = 1, top: int = 8,
                   k_trail: dict[int, Sequence[int]] | None = None) -> str:
    """The first ``per_class`` training images of each class with their ``top`` nearest source images.

    ``target_index``/``ids``/``distances`` are a kNN index (rows: target images, ids nearest
    first); ``thumbnail`` maps an image path to a data URI (None: unreadable); ``k_trail``
    gives a target image's K per iteration, shown under it.
    """
    target_names, source_names = target_names or {}, source_names or {}
    row_of = {int(t): r for r, t in enumerate(np.asarray(target_index))}
    source_rows = sources.set_index("index")
    chosen = targets[targets["index"].isin(row_of)].sort_values(["label", "index"], kind="stable")
    chosen = chosen.groupby("label", sort=True).head(per_class)
    labels = list(dict.fromkeys(chosen["label"]))
    n_classes = targets["label"].nunique()
    shown_labels = labels[:max_classes]
    chosen = chosen[chosen["label"].isin(shown_labels)]

    def figure(path, caption_html, title, cls=""):
        uri = thumbnail(path)
        image = (f'<img src="{uri}" alt="{esc(title)}" loading="lazy">' if uri
                 else f'<div class="missing" role="img" aria-label="{esc(title)}">missing</div>')
        return f'<figure class="{cls}" title="{esc(title)}">{image}<figcaption>{caption_html}</figcaption></figure>'

    rows = []
    for target in chosen.itertuples(index=False):
        r = row_of[int(target.index)]
        full = target_names.get(str(target.class_name), str(target.class_name))
        trail = ""
        if k_trail and int(target.index) in k_trail:
            trail = f'<span class="k">K {"→".join(str(int(k)) for k in k_trail[int(target.index)])}</span>'
        cells = [figure(target.path, f'<span class="name">{esc(short_name(full))}</span>{trail}',
                        f"target: {full} ({target.class_name}), image {target.index}", "target")]
        for rank in range(min(top, ids.shape[1])):
            sid = int(ids[r, rank])
            if sid not in source_rows.index:
                continue
            source = source_rows.loc[sid]
            sfull = source_names.get(str(source["class_name"]), str(source["class_name"]))
            distance = float(distances[r, rank])
            caption = f'{esc(short_name(sfull))}<br><span class="d">{distance:.3g}</span>'
            cells.append(figure(source["path"], caption,
                                f"#{rank + 1}: {sfull} ({source['class_name']}), source image {sid}, distance {distance:.4g}"))
        rows.append(f'<div class="nrow">{"".join(cells)}</div>')
    shown = f"{len(shown_labels)} of {n_classes} classes" if len(shown_labels) < n_classes else f"all {n_classes} classes"
    note = (f'<p class="note">Showing {shown}, {per_class} training image{"s" if per_class > 1 else ""} each (framed), '
            f"followed by its {top} nearest source images, nearest first: source class and distance (weighted "
            "symmetric KL of the filter-response histograms; smaller is closer).</p>")
    return note + f'<div class="grid">{"".join(rows)}</div>'
