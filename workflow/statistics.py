"""Paired comparisons of two methods with their uncertainty: seeds, test images, and a verdict.

Two methods A and B run with the same seeds on the same test images, so they are compared pair
by pair. Two sources of noise answer two questions:

- **Seeds** (is A's training procedure better?): the per-seed differences d_s = score_A(s) -
  score_B(s) of n seeds give mean(d) +- t_{0.975, n-1} * std(d) / sqrt(n), Student's t interval
  with n - 1 degrees of freedom. One seed gives no interval (NaN).
- **Test images** (do these trained models differ on this test set?): every test image of every
  seed is a pair of answers, right or wrong. The exact McNemar test is the two-sided binomial
  test of the discordant pairs (right for A only against right for B only; p = 1/2 under the
  null). The paired bootstrap resamples test images, each with its pairs of every seed, and
  gives a percentile interval on the difference of the metric averaged over seeds. Neither sees
  the seed-to-seed variation of training: they say whether these models differ, not whether
  models trained with other seeds would, and are narrower than the t interval for it.

The verdict at 95% (``verdict``) reads the t interval over seeds when there are at least two,
else the bootstrap interval over test images: ``better`` when the interval lies above zero,
``worse`` below, ``tied`` when it holds zero (the data cannot tell A from B), ``untested`` when
there is no interval at all. Kept free of torch: the report and bench/tune_schedule.py use it.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

LEVEL = 0.95
RESAMPLES = 2000  # bootstrap resamples: an interval end moves by ~6% of the difference's standard error
BETTER, TIED, WORSE, UNTESTED = "better", "tied", "worse", "untested"
FROM_SEEDS, FROM_IMAGES = "t interval over seeds", "bootstrap over test images"  # what a verdict reads


def t_interval(diffs, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high) of paired differences ``diffs`` (n,): Student's t interval, n - 1 dof.

    One difference gives (d, NaN, NaN), none (NaN, NaN, NaN); equal differences give the point.
    """
    diffs = np.asarray(diffs, dtype=np.float64)
    n = len(diffs)
    mean = float(diffs.mean()) if n else float("nan")
    if n < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf((1 + level) / 2, n - 1) * diffs.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> tuple[float, int, int]:
    """(p, only_a, only_b): the exact two-sided McNemar test of paired right/wrong answers.

    ``a_correct``, ``b_correct``: bool, same shape (pairs, in any layout). only_a counts the pairs
    A answers right and B wrong, only_b the reverse; p = min(1, 2 P(X <= min(only_a, only_b)))
    for X ~ Binomial(only_a + only_b, 1/2), and 1 without a discordant pair.
    """
    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"McNemar pairs: A has shape {a.shape}, B {b.shape}; they must answer the same images")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = only_a + only_b
    p = 1.0 if n == 0 else min(1.0, float(2 * stats.binom.cdf(min(only_a, only_b), n, 0.5)))
    return p, only_a, only_b


def bootstrap_interval(diffs: np.ndarray, classes: np.ndarray | None = None, resamples: int = RESAMPLES,
                       seed: int = 0, level: float = LEVEL) -> tuple[float, float]:
    """(low, high): percentile bootstrap interval of the mean of per-image differences.

    ``diffs`` (n_images,): per test image, A's right answers minus B's, averaged over seeds (so
    the mean is the top-1 difference averaged over seeds). ``classes`` (n_images,): with them the
    images are resampled within each class and the statistic is the mean over classes of the
    class means (the mean-class accuracy difference); without, all images are resampled together
    (top-1). Deterministic for a ``seed``. Drawing n images with replacement is drawing counts
    of the distinct difference values from a multinomial, which is how it is computed.
    """
    diffs = np.asarray(diffs, dtype=np.float64)
    if not len(diffs):
        return float("nan"), float("nan")
    classes = np.zeros(len(diffs), dtype=np.int64) if classes is None else np.asarray(classes)
    rng = np.random.default_rng(seed)
    names = np.unique(classes)
    means = np.zeros(resamples)
    for name in names:
        values, counts = np.unique(diffs[classes == name], return_counts=True)
        draws = rng.multinomial(counts.sum(), counts / counts.sum(), size=resamples)  # (resamples, values)
        means += draws @ values / counts.sum()
    low, high = np.quantile(means / len(names), [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def verdict(low: float, high: float) -> str:
    """``better`` (interval above zero), ``worse`` (below), ``tied`` (holds zero), ``untested`` (none)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return UNTESTED
    return BETTER if low > 0 else WORSE if high < 0 else TIED


def compare(seed_diffs, a_correct: np.ndarray | None = None, b_correct: np.ndarray | None = None,
            classes: np.ndarray | None = None, seed: int = 0) -> dict:
    """The paired comparison of A with B: the columns of a paired.csv row (``workflow.report``).

    ``seed_diffs`` (n_seeds,): the metric's per-seed difference A - B. ``a_correct``,
    ``b_correct`` (n_seeds, n_images) bool: each seed's right answers on the same test images,
    in the same order; ``classes`` (n_images,): their labels, given when the metric is mean-class
    accuracy (the bootstrap then resamples within classes). Without the answers the image-level
    columns are NaN. ``seed``: the bootstrap's, fixed so that the report is deterministic. The
    verdict reads the t interval over seeds (two seeds or more), else the bootstrap interval over
    test images.
    """
    mean, low, high = t_interval(seed_diffs)
    n_seeds = len(np.atleast_1d(seed_diffs))
    row = {"diff_mean": mean, "ci_low": low, "ci_high": high,
           "ci_method": f"t over {n_seeds} seeds" if n_seeds > 1 else f"none: {n_seeds} seed",
           "n_image_pairs": 0, "p_mcnemar": float("nan"), "test": "none: no per-image answers",
           "boot_low": float("nan"), "boot_high": float("nan"), "boot_method": "none: no per-image answers"}
    if a_correct is not None and b_correct is not None:
        a, b = np.atleast_2d(np.asarray(a_correct, dtype=bool)), np.atleast_2d(np.asarray(b_correct, dtype=bool))
        p, _, _ = mcnemar(a, b)
        per_image = (a.astype(np.float64) - b).mean(axis=0)
        boot_low, boot_high = bootstrap_interval(per_image, classes, seed=seed)
        within = " within classes" if classes is not None else ""
        row.update(n_image_pairs=a.size, p_mcnemar=p, boot_low=boot_low, boot_high=boot_high,
                   test=f"exact McNemar on top-1 over {a.size} image pairs",
                   boot_method=f"bootstrap of {a.shape[-1]} test images{within}, each with its {len(a)} seed(s), "
                               f"{RESAMPLES} resamples, seed {seed}")
    if n_seeds > 1:
        row.update(verdict=verdict(low, high), verdict_from=FROM_SEEDS)
    elif row["n_image_pairs"]:
        row.update(verdict=verdict(row["boot_low"], row["boot_high"]), verdict_from=FROM_IMAGES)
    else:
        row.update(verdict=UNTESTED, verdict_from="none: one seed and no per-image answers")
    return row
