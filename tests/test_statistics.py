"""Paired statistics: the t interval over seeds, McNemar's test and the bootstrap over test images, the verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from workflow.statistics import (
    BETTER,
    FROM_IMAGES,
    FROM_SEEDS,
    TIED,
    UNTESTED,
    WORSE,
    bootstrap_interval,
    compare,
    mcnemar,
    t_interval,
    verdict,
)

A = np.array([0.53, 0.64, 0.54, 0.61, 0.58])  # made-up per-seed scores of two methods
B = np.array([0.50, 0.60, 0.55, 0.57, 0.55])


def test_t_interval_is_scipys_paired_t():
    mean, low, high = t_interval(A - B)
    expected = stats.ttest_rel(A, B).confidence_interval(0.95)
    assert mean == pytest.approx(np.mean(A - B))
    assert (low, high) == pytest.approx((expected.low, expected.high))
    half = stats.t.ppf(0.975, len(A) - 1) * np.std(A - B, ddof=1) / math.sqrt(len(A))
    assert high - mean == pytest.approx(half)
    two = t_interval([0.02, 0.04])  # one degree of freedom: t = 12.7
    assert two[2] - two[0] == pytest.approx(stats.t.ppf(0.975, 1) * np.std([0.02, 0.04], ddof=1) / math.sqrt(2))


def test_one_seed_has_no_t_interval():
    mean, low, high = t_interval([0.03])
    assert mean == 0.03 and np.isnan(low) and np.isnan(high)
    assert t_interval([0.05, 0.05, 0.05]) == pytest.approx((0.05, 0.05, 0.05))  # no spread: the point


def _brute_force_mcnemar(only_a: int, only_b: int) -> float:
    """Two-sided exact binomial p by enumeration: every outcome no likelier than the one seen."""
    n = only_a + only_b
    pmf = [math.comb(n, k) / 2**n for k in range(n + 1)]
    return min(1.0, sum(p for p in pmf if p <= pmf[only_a] * (1 + 1e-9)))


@pytest.mark.parametrize("only_a, only_b, both, neither", [(12, 3, 50, 20), (3, 12, 0, 0), (7, 7, 10, 1), (0, 5, 2, 2),
                                                          (40, 25, 900, 35), (1, 0, 0, 0)])
def test_mcnemar_is_the_binomial_test_of_the_discordant_pairs(only_a, only_b, both, neither):
    a = np.array([True] * only_a + [False] * only_b + [True] * both + [False] * neither)
    b = np.array([False] * only_a + [True] * only_b + [True] * both + [False] * neither)
    order = np.random.default_rng(0).permutation(len(a))
    p, seen_a, seen_b = mcnemar(a[order].reshape(1, -1), b[order].reshape(1, -1))
    assert (seen_a, seen_b) == (only_a, only_b)
    assert p == pytest.approx(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    assert p == pytest.approx(_brute_force_mcnemar(only_a, only_b))


def test_mcnemar_without_discordant_pairs_and_mismatched_shapes():
    same = np.array([True, False, True])
    assert mcnemar(same, same) == (1.0, 0, 0)
    with pytest.raises(ValueError, match="same images"):
        mcnemar(same, same[:2])


def test_bootstrap_is_deterministic_and_near_a_naive_one():
    rng = np.random.default_rng(1)
    diffs = rng.choice([-1.0, 0.0, 0.0, 0.0, 1.0, 1.0], size=400)
    low, high = bootstrap_interval(diffs, seed=3)
    assert bootstrap_interval(diffs, seed=3) == (low, high)
    assert bootstrap_interval(diffs, seed=4) != (low, high)
    assert low < diffs.mean() < high
    naive = np.random.default_rng(0).choice(diffs, size=(4000, len(diffs))).mean(axis=1)
    assert (low, high) == pytest.approx(tuple(np.quantile(naive, [0.025, 0.975])), abs=0.01)
    assert bootstrap_interval(np.full(50, 0.5)) == pytest.approx((0.5, 0.5))


def test_bootstrap_within_classes_is_the_mean_class_difference():
    diffs = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])  # class 0: first two images, class 1: the rest
    classes = np.array([0, 0, 1, 1, 1, 1, 1, 1])
    low, high = bootstrap_interval(diffs, classes, seed=0)
    # class 0 always resamples to 1.0; class 1 to k/6 * -1 for k of 6 draws: the mean class difference
    # ranges over (1 - k/6) / 2
    assert 0.25 <= low <= high <= 0.5
    assert low <= (1.0 + np.mean(diffs[2:])) / 2 <= high


@pytest.mark.parametrize("interval, expected", [((0.01, 0.05), BETTER), ((-0.01, 0.05), TIED), ((0.0, 0.02), TIED),
                                                ((-0.05, -0.01), WORSE), ((np.nan, np.nan), UNTESTED)])
def test_verdict(interval, expected):
    assert verdict(*interval) == expected


def _answers(n_seeds: int, n_images: int, a_rate: float, b_rate: float, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    return rng.random((n_seeds, n_images)) < a_rate, rng.random((n_seeds, n_images)) < b_rate


def test_compare_with_several_seeds_reads_the_t_interval():
    better = compare(np.array([0.031, 0.042, 0.035, 0.04, 0.028]))
    assert better["verdict"] == BETTER and better["verdict_from"] == FROM_SEEDS
    assert better["ci_method"] == "t over 5 seeds" and np.isnan(better["p_mcnemar"])
    assert compare(np.array([0.03, -0.02, 0.01]))["verdict"] == TIED
    assert compare(np.array([0.03, 0.02, -0.04, 0.03, 0.01]))["verdict"] == TIED  # 4 of 5 seeds won, yet tied
    assert compare(np.array([-0.03, -0.04, -0.035]))["verdict"] == WORSE
    # however strong the image-level evidence, several seeds are judged by the seeds
    a, b = _answers(3, 2000, 0.8, 0.5)
    row = compare(np.array([0.3, -0.01, 0.2]), a, b)
    assert row["p_mcnemar"] < 1e-6 and row["verdict"] == TIED


def test_compare_with_one_seed_reads_the_image_bootstrap():
    a, b = _answers(1, 3000, 0.7, 0.6)
    row = compare(a.mean(1) - b.mean(1), a, b, seed=0)
    assert np.isnan(row["ci_low"]) and row["ci_method"] == "none: 1 seed"
    assert row["verdict"] == BETTER and row["verdict_from"] == FROM_IMAGES
    assert row["boot_low"] > 0 and row["p_mcnemar"] < 1e-6 and row["n_image_pairs"] == 3000
    assert row["test"] == "exact McNemar on top-1 over 3000 image pairs"
    again = compare(a.mean(1) - b.mean(1), a, b, seed=0)  # deterministic
    assert (again["boot_low"], again["boot_high"]) == (row["boot_low"], row["boot_high"])
    tied = compare(np.array([0.0]), a, a.copy())
    assert tied["verdict"] == TIED and tied["p_mcnemar"] == 1.0
    assert compare(np.array([0.02]))["verdict"] == UNTESTED  # one seed, no answers


def test_compare_pools_the_images_of_every_seed():
    a, b = _answers(4, 250, 0.7, 0.6, seed=2)
    row = compare(a.mean(1) - b.mean(1), a, b)
    assert row["n_image_pairs"] == 1000 and row["test"] == "exact McNemar on top-1 over 1000 image pairs"
    assert row["p_mcnemar"] == mcnemar(a.ravel(), b.ravel())[0]
    assert row["boot_low"] < row["diff_mean"] < row["boot_high"]
    assert row["boot_method"] == "bootstrap of 250 test images, each with its 4 seed(s), 2000 resamples, seed 0"
