"""Training curves on the page: the loss and accuracy of every epoch of every run, per method.

Every training job writes epochs.csv (``workflow.joint.EPOCH_COLUMNS``) in its run folder. Here
the iterations of a run are joined on one axis, the run's epochs: an iteration whose epochs start
again at 1 (``train.lr_schedule: iteration``) is shifted past the iterations before it, one that
numbers on (``run``) stays where it is. The warm-up epochs (the heads alone on the frozen
backbone, before iteration 0) sit before epoch 1, at 0, -1, ... Per epoch the seeds give a mean
(the line) and a min-max band. Small multiples on common axes: a panel per (method, bank) for
the target loss, the target accuracy on the training images and, for the methods that borrow
source images, the source loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..plan.layout import parse_run_folder, split_token
from .charts import nice_ticks, small_chart
from .methods import (
    MAIN_COLOR,
    MAIN_METHOD,
    REFERENCE_COLOR,
    REFERENCE_METHOD,
    method_colors,
    normalize_bank,
    series_label,
)
from .text import esc

WARMUP = "warmup"  # the phase of the heads' warm-up epochs (workflow.joint.warm_up_heads)
RUN_KEYS = ["method", "bank", "seed", "iteration"]
NEEDED = ["phase", "epoch", "target_loss", "target_acc", "source_loss", "source_acc"]  # of joint.EPOCH_COLUMNS
# the panels of a run: column -> (heading, scale of its values on the page)
PANELS = {"target_loss": ("Target loss", 1.0), "target_acc": ("Target accuracy on the training images (%)", 100.0),
          "source_loss": ("Source loss (methods that borrow source images)", 1.0)}
PRETRAINING_PANELS = {"source_loss": ("source loss", 1.0), "source_acc": ("source accuracy, training (%)", 100.0)}


def read_epochs(paths: Sequence[str]) -> pd.DataFrame:
    """The rows of the runs' epochs.csv files (``<results>/<run token>/seed-<s>/iter-<m>/epochs.csv``),
    each with the method, bank ('' for none), seed and iteration of its run folder in front."""
    frames = []
    for path in paths:
        token, seed, iteration = parse_run_folder(str(Path(path).parent))
        if iteration is None:
            raise ValueError(f"{path}: not a run folder of a trained run, <results>/<run token>/seed-<s>/iter-<m>")
        method, bank = split_token(token)
        frame = pd.read_csv(path)
        absent = [c for c in NEEDED if c not in frame]
        if absent:
            raise ValueError(f"{path} has no column {', '.join(absent)}: not a training job's epochs.csv")
        frames.append(frame.assign(method=method, bank=bank, seed=seed, iteration=iteration))
    if not frames:
        return pd.DataFrame(columns=RUN_KEYS + NEEDED)
    table = pd.concat(frames, ignore_index=True)
    return table[RUN_KEYS + [c for c in table if c not in RUN_KEYS]]


def join_iterations(epochs: pd.DataFrame) -> pd.DataFrame:
    """``epochs`` (``read_epochs``) with ``x``, each row's epoch on its run's axis.

    Per (method, bank), in iteration order: an iteration whose first epoch is not past the end of
    the ones before it is shifted to start right after them. The warm-up epochs end at 0.
    """
    joined = epochs.reset_index(drop=True)
    joined = joined.assign(x=joined["epoch"].astype(float))
    for _, rows in joined.groupby(["method", "bank"], sort=False):
        warm = rows[rows["phase"] == WARMUP]
        joined.loc[warm.index, "x"] = warm["epoch"] - warm["epoch"].max()
        end = 0
        for _, part in rows[rows["phase"] != WARMUP].groupby("iteration", sort=True):
            shift = max(0, end + 1 - int(part["epoch"].min()))
            joined.loc[part.index, "x"] = part["epoch"] + shift
            end = int(part["epoch"].max()) + shift
    return joined


def seed_spread(joined: pd.DataFrame, column: str, scale: float = 1.0) -> pd.DataFrame:
    """Per method, bank, phase, iteration and x (``join_iterations``): ``column`` times ``scale``
    over the seeds, its mean, low (min), high (max) and the seeds that have a value."""
    values = joined.assign(value=pd.to_numeric(joined[column], errors="coerce") * scale).dropna(subset=["value"])
    spread = values.groupby(["method", "bank", "phase", "iteration", "x"], sort=False)["value"].agg(
        mean="mean", low="min", high="max", seeds="count")
    return spread.reset_index().sort_values("x", kind="stable").reset_index(drop=True)


def _tip(label: str, row, digits: int) -> str:
    where = "warm-up" if row.phase == WARMUP else f"iteration {row.iteration}"
    spread = f" (min {row.low:.{digits}f}, max {row.high:.{digits}f} over {row.seeds} seeds)" if row.seeds > 1 else ""
    return f"{label}, {where}, epoch {row.x:g}: {row.mean:.{digits}f}{spread}"


def _panel(rows: pd.DataFrame, title: str, color: str, main: bool, axes: tuple, reference: pd.DataFrame | None,
           digits: int) -> str:
    """One run's curve (``seed_spread`` rows): the warm-up dashed on a grey band, the iterations between
    dashed lines, tooltips at their last epochs; ``reference`` (the reference method's rows) dotted behind."""
    x_range, y_ticks = axes
    series = []
    if reference is not None and len(reference):
        trained = reference[reference["phase"] != WARMUP]
        series.append({"name": f"{REFERENCE_METHOD}, mean over seeds (for reference)", "x": trained["x"],
                       "y": trained["mean"], "color": REFERENCE_COLOR, "width": 1, "opacity": 0.7, "dashed": "1.5 2"})
    several = rows["seeds"].max() > 1
    warm, trained = rows[rows["phase"] == WARMUP], rows[rows["phase"] != WARMUP]
    for part, dashed in ((warm, True), (trained, False)):
        if part.empty:
            continue
        last = part["x"] == part.groupby("iteration")["x"].transform("max")
        tips = [_tip(title, r, digits) if end else None for r, end in zip(part.itertuples(index=False), last)]
        line = {"name": title + (": warm-up" if dashed else ""), "x": part["x"], "y": part["mean"], "color": color,
                "width": 2.4 if main else 1.6, "dashed": "4 3" if dashed else "", "tips": tips}
        if several:
            line.update(low=part["low"], high=part["high"])
        series.append(line)
    iterations = trained.groupby("iteration")["x"].agg(["min", "max"])
    shades = [(float(warm["x"].min()) - 0.5, 0.5)] if len(warm) else []
    if len(iterations) > 1:  # the ticks at their ends, a dashed line and a label at their starts
        x_ticks = iterations["max"].tolist()
        marks = [end + 0.5 for end in iterations["max"].iloc[:-1]]
        notes = [(start - 0.5, f"it. {m}") for m, start in iterations["min"].items()]
    else:  # one iteration (or none): round ticks
        end = float(iterations["max"].max()) if len(iterations) else 0.0
        x_ticks, marks, notes = [t for t in nice_ticks(1, end, 4) if 1 <= t <= end] if end >= 1 else [], [], []
    return small_chart(series, title, x_range, y_ticks, x_ticks=x_ticks, shades=shades, marks=marks, notes=notes,
                       title_color=color if color == MAIN_COLOR else "#1d2329")


def _axes(spread: pd.DataFrame, joined: pd.DataFrame) -> tuple:
    """The common axes of a grid: x over every epoch of ``joined``, y ticks over the spread's values."""
    x_range = (float(joined["x"].min()) - 0.5, float(joined["x"].max()) + 0.5)
    return x_range, nice_ticks(float(spread["low"].min()), float(spread["high"].max()), 4)


def _keys(joined: pd.DataFrame, report: pd.DataFrame | None) -> list[tuple[str, str]]:
    """(method, bank) of the runs, in the report's order (that of its colours), then any others."""
    runs = list(dict.fromkeys(zip(joined["method"], joined["bank"])))
    if report is None:
        return runs
    report = normalize_bank(report)
    listed = list(dict.fromkeys(zip(report["method"], report["bank"])))
    return listed + [k for k in runs if k not in listed]


def _pretraining(pretraining: pd.DataFrame) -> str:
    """The backbone's pretraining on the source pool: its source loss and accuracy, a panel each."""
    joined = join_iterations(pretraining.assign(method="pretraining", bank="", seed=0, iteration=0))
    panels = []
    for column, (title, scale) in PRETRAINING_PANELS.items():
        spread = seed_spread(joined, column, scale)
        if len(spread):
            panels.append(_panel(spread, title, "#1d2329", False, _axes(spread, joined), None, 1 if scale > 1 else 3))
    return f'<h3>Pretraining on the source pool</h3><div class="smalls">{"".join(panels)}</div>' if panels else ""


def _note(n_seeds: int, warm_up: bool, reference: bool) -> str:
    """How to read the panels: what the line, band, dashed lines, grey band and dotted line are."""
    spread = ("the band from the lowest to the highest seed" if n_seeds > 1
              else "one seed, so no band: run more seeds to see the spread")
    warm = (" Before epoch 1, dashed on grey: the warm-up, the heads alone on the frozen backbone." if warm_up
            else "")
    grey = f" Dotted grey line: {esc(REFERENCE_METHOD)}'s mean, for reference." if reference else ""
    return ('<p class="note">Every epoch of every run, on the run\'s epochs: its iterations one after the other '
            "(it. 0, it. 1, ...), each starting from the previous one's model at a dashed line; the x ticks mark "
            f"where each ends. Line: mean over seeds; {spread}.{warm}{grey} These are training figures, on the "
            "augmented training images while the weights change (each head's cross-entropy and accuracy), not test "
            "accuracy. Axes are common to a grid; hover a dot for the values at the end of an iteration.</p>")


def curves_section(epochs: pd.DataFrame, report: pd.DataFrame | None = None,
                   pretraining: pd.DataFrame | None = None) -> str:
    """The training curves: per panel heading, a grid of one panel per (method, bank) on common axes.

    ``epochs``: the rows of the runs' epochs.csv with their run keys (``read_epochs``); ``report``
    orders and colours the methods as the accuracy charts do; ``pretraining``: the rows of the
    pretraining's epochs.csv. Nothing without epochs.
    """
    if epochs.empty:
        return ""
    joined = join_iterations(normalize_bank(epochs))
    listed = _keys(joined, report)
    colors, several_banks = method_colors(listed), len({b for _, b in listed if b}) > 1
    keys = [k for k in listed if k in set(zip(joined["method"], joined["bank"]))]
    n_seeds = joined.groupby(["method", "bank"])["seed"].nunique().max()
    parts = []
    for column, (heading, scale) in PANELS.items():
        spread = seed_spread(joined, column, scale)
        if spread.empty:
            continue
        axes, digits = _axes(spread, joined), 1 if scale > 1 else 3
        runs = dict(list(spread.groupby(["method", "bank"], sort=False)))
        reference = runs.get((REFERENCE_METHOD, ""))
        panels = [_panel(runs[key], series_label(*key, several_banks), colors[key], key[0] == MAIN_METHOD, axes,
                         reference if key != (REFERENCE_METHOD, "") else None, digits) for key in keys if key in runs]
        parts.append(f'<h3>{esc(heading)}</h3><div class="smalls">{"".join(panels)}</div>')
    parts.insert(0, _note(n_seeds, (joined["phase"] == WARMUP).any(), (REFERENCE_METHOD, "") in keys))
    pretrained = _pretraining(pretraining) if pretraining is not None and len(pretraining) else ""
    return "".join(parts) + pretrained
