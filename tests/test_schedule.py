"""The K update rule, the size of the kNN index, random rankings, and neighbour tables."""

import itertools

import numpy as np
import pandas as pd
import pytest

from workflow.schedule import (
    counts_of,
    max_neighbours,
    neighbour_lists,
    neighbour_table,
    next_counts,
    random_ranking,
    resolve_sigmas,
)


def test_next_counts_hand_made():
    counts = np.array([4, 4, 6, 6, 3, 10])
    entropy = np.array([0.05, 0.9, 0.5, 0.2, 0.5000001, 2.0])
    correct = np.array([False, True, True, True, True, False])
    # misclassified +8; uncertain (H >= delta, H == delta included) +3; confident +0
    got = next_counts(counts, entropy, correct, delta=0.5, sigma0=8, sigma1=3)
    np.testing.assert_array_equal(got, [12, 7, 9, 6, 6, 18])


def test_next_counts_per_image_definition():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 20, 50)
    entropy = rng.choice([0.0, 0.1, 0.3, 0.7], 50)
    correct = rng.random(50) < 0.5
    got = next_counts(counts, entropy, correct, delta=0.3, sigma0=5, sigma1=2)
    for k, h, ok, new in zip(counts, entropy, correct, got):
        assert new == k + (5 if not ok else 2 if h >= 0.3 else 0)


def test_resolve_sigmas_defaults_and_overrides():
    assert resolve_sigmas(10, None, None) == (40, 20)
    assert resolve_sigmas(10, 7, None) == (7, 20)
    assert resolve_sigmas(10, None, 0) == (40, 0)


@pytest.mark.parametrize("k0, iterations, sigma0, sigma1", [(2, 3, 8, 4), (5, 1, 20, 10), (3, 4, 2, 6), (1, 3, 0, 0)])
def test_max_neighbours_is_the_largest_reachable_count(k0, iterations, sigma0, sigma1):
    # every image follows some sequence of outcomes over the M - 1 updates
    reachable = [
        k0 + sum(steps) for steps in itertools.product([sigma0, sigma1, 0], repeat=iterations - 1)
    ]
    assert max_neighbours(k0, iterations, sigma0, sigma1) == max(reachable)


def test_random_ranking_rows_are_distinct_source_ids():
    ranking = random_ranking(6, 30, 12, seed=1)
    assert ranking.shape == (6, 12)
    assert ranking.dtype == np.int64
    assert ranking.min() >= 0 and ranking.max() < 30
    for row in ranking:
        assert len(set(row.tolist())) == 12
    assert len({tuple(row) for row in ranking.tolist()}) == 6  # rows differ from one another


def test_random_ranking_row_depends_only_on_seed_and_row():
    few, many = random_ranking(3, 30, 10, seed=7), random_ranking(8, 30, 10, seed=7)
    np.testing.assert_array_equal(few, many[:3])
    np.testing.assert_array_equal(random_ranking(8, 30, 10, seed=7), many)
    assert not np.array_equal(random_ranking(8, 30, 10, seed=8), many)


def test_longer_random_ranking_extends_shorter():
    short, long = random_ranking(5, 40, 6, seed=3), random_ranking(5, 40, 25, seed=3)
    np.testing.assert_array_equal(long[:, :6], short)


def test_random_ranking_length_is_capped_by_the_source_count():
    ranking = random_ranking(4, 9, 20, seed=0)
    assert ranking.shape == (4, 9)
    for row in ranking:
        assert sorted(row.tolist()) == list(range(9))
    assert random_ranking(0, 9, 5, seed=0).shape == (0, 5)


def brute_table(ranking, counts):
    rows = [(t, r, ranking[t, r]) for t in range(len(ranking)) for r in range(min(counts[t], ranking.shape[1]))]
    return pd.DataFrame(rows, columns=["target_index", "rank", "source_index"])


def test_neighbour_table_round_trip():
    ranking = random_ranking(5, 20, 6, seed=2)
    counts = np.array([2, 0, 6, 1, 0])  # empty lists, including the last target
    table = neighbour_table(ranking, counts)
    assert list(table.columns) == ["target_index", "rank", "source_index"]
    expected = brute_table(ranking, counts)
    np.testing.assert_array_equal(table.to_numpy(), expected.to_numpy())
    np.testing.assert_array_equal(counts_of(table, 5), counts)

    lists = neighbour_lists(table, 5)
    assert len(lists) == 5
    for t in range(5):
        np.testing.assert_array_equal(lists[t], ranking[t, : counts[t]])


def test_neighbour_lists_follow_rank_order_of_a_shuffled_table():
    ranking = random_ranking(4, 30, 8, seed=4)
    counts = np.array([3, 8, 5, 2])
    table = neighbour_table(ranking, counts).sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert not table["target_index"].is_monotonic_increasing  # really shuffled
    lists = neighbour_lists(table, 4)
    for t in range(4):
        np.testing.assert_array_equal(lists[t], ranking[t, : counts[t]])


def test_counts_beyond_the_ranking_are_capped():
    ranking = random_ranking(3, 10, 4, seed=5)
    table = neighbour_table(ranking, [9, 4, 2])
    np.testing.assert_array_equal(counts_of(table, 3), [4, 4, 2])
    np.testing.assert_array_equal(table.to_numpy(), brute_table(ranking, [9, 4, 2]).to_numpy())
    assert neighbour_lists(table, 3)[0].tolist() == ranking[0].tolist()
