"""The leakage audit on the page: counts per split, what was kept out, and the pairs side by side."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from .text import esc


def leakage_section(summary: pd.DataFrame, pairs: pd.DataFrame, thumbnail: Callable[[str], str | None],
                    excluded: int, exclude_splits: list[str], pretraining_pool: bool, max_pairs: int = 40) -> str:
    """The section's HTML: ``summary`` and ``pairs`` are leakage-summary.csv and leakage.csv,
    ``excluded`` the source images no method borrowed (duplicates of ``exclude_splits``),
    ``pretraining_pool`` whether the backbone was pretrained on this pool (a warning when test
    images are duplicated there). At most ``max_pairs`` pairs are shown, test images first."""
    rows = "".join(
        f'<tr><td class="l">{esc(row.split)}</td><td>{int(row.images):,}</td><td>{int(row.images_duplicated):,}</td>'
        f"<td>{int(row.pairs):,}</td><td>{int(row.exact_pairs):,}</td><td>{int(row.flipped_pairs):,}</td>"
        f"<td>{int(row.source_images):,}</td></tr>" for row in summary.itertuples(index=False))
    table = ('<table><thead><tr><th class="l">target split</th><th>images</th><th>with duplicates</th><th>pairs</th>'
             "<th>byte-identical</th><th>mirrored</th><th>source images</th></tr></thead>"
             f"<tbody>{rows}</tbody></table>")
    if exclude_splits:
        images = f"{excluded:,} source image{'' if excluded == 1 else 's'}"
        kept_out = (f"<p>Kept out of every method that borrows (the kNN search, joint-all's pool, joint-random's "
                    f"draws; <code>leakage.exclude</code>): <b>{images}</b> duplicating a "
                    f"{' or '.join(map(esc, exclude_splits))} image.</p>")
    else:
        kept_out = ("<p><b>Nothing was kept out</b> (<code>leakage.exclude: none</code>): the methods that borrow may "
                    "have trained on these duplicates.</p>")
    test = summary.loc[summary["split"] == "test", "images_duplicated"]
    n_test = int(test.iloc[0]) if len(test) else 0
    warning = ""
    if pretraining_pool and n_test:
        warning = (f'<p class="warn"><b>Warning:</b> the backbone was pretrained on this pool, so its weights have seen '
                   f"the source images paired here with {n_test:,} test images. Where a pair is a copy (look below: a "
                   "perceptual hash also pairs a few different photographs), no exclusion undoes that, and every "
                   "method, fine-tuning included, may score higher on those test images than on unseen ones.</p>")
    return (f'<p class="note">Every target image against every source image: perceptual hashes (64-bit DCT) within '
            "the threshold, or byte-identical files (<code>leakage.csv</code>).</p>"
            f"{table}{kept_out}{warning}{_pair_grid(pairs, thumbnail, max_pairs)}")


def _pair_grid(pairs: pd.DataFrame, thumbnail: Callable[[str], str | None], max_pairs: int) -> str:
    if pairs.empty:
        return '<p class="note">No source image duplicates a target image.</p>'
    ordered = pairs.assign(order=(pairs["split"] != "test").astype(int))
    ordered = ordered.sort_values(["order", "distance", "target_index", "source_index"], kind="stable")
    shown = ordered.head(max_pairs)

    def figure(path: str, caption: str) -> str:
        uri = thumbnail(path)
        image = f'<img src="{uri}" alt="{esc(caption)}" loading="lazy">' if uri else '<div class="missing">missing</div>'
        return f'<figure title="{esc(path)}">{image}<figcaption>{esc(caption)}</figcaption></figure>'

    cells = []
    for pair in shown.itertuples(index=False):
        how = "identical" if pair.kind == "exact" else f"{int(pair.distance)} bits" + (", mirrored" if pair.flipped else "")
        cells.append(f'<div class="pair">{figure(pair.target_path, f"{pair.split} {int(pair.target_index)}")}'
                     f'{figure(pair.source_path, f"source {int(pair.source_index)}")}<span class="d">{esc(how)}</span></div>')
    more = f" ({len(pairs) - len(shown):,} more in leakage.csv)" if len(pairs) > len(shown) else ""
    return (f'<p class="note">The {len(shown)} closest pairs, test images first{more}: target image, then the source '
            f'image, then the bits their hashes differ by.</p><div class="pairs">{"".join(cells)}</div>')
