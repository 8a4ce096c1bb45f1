"""Weighted symmetric KL and Jensen-Shannon: the fast forms, smoothing, and the blockwise exact top-k."""

import itertools

import numpy as np
import pandas as pd
import pytest

from workflow import retrieval
from workflow.io import read_h5, write_h5
from workflow.retrieval import (
    TopK,
    jensen_shannon_direct,
    merge_topk,
    response_weights,
    smooth,
    symmetric_kl,
    symmetric_kl_direct,
)
from workflow.schedule import PoolTooSmall
from workflow.stages.retrieval import knn, neighbours

LAYERS = [2, 3]
N_BINS = 6
EPS = 1e-3
EXACT = {"divergence": "symmetric_kl", "search": "exact", "candidates": 4}  # the knn stage's plain search


def random_histograms(rng: np.random.Generator, n: int, n_responses: int = sum(LAYERS)) -> np.ndarray:
    """(n, R, N_BINS) histograms summing to one per response, with some empty bins."""
    hist = rng.dirichlet(np.full(N_BINS, 0.7), size=(n, n_responses))
    hist[rng.random(hist.shape) < 0.15] = 0.0
    hist[..., 0] += 1e-9  # keep every response non-empty before renormalising
    return (hist / hist.sum(axis=-1, keepdims=True)).astype(np.float32)


def reference_topk(targets, sources, ids, weights, k):
    """Distances by the definition and a full sort by (distance, id)."""
    d = symmetric_kl_direct(smooth(targets, EPS), smooth(sources, EPS), weights)
    order = np.lexsort((np.broadcast_to(ids, d.shape), d), axis=1)[:, :k]
    return np.take_along_axis(d, order, 1), ids[order]


def run_topk(targets, sources, ids, weights, k, block_sizes):
    assert sum(block_sizes) == len(sources)
    topk = TopK(targets, weights, k, EPS)
    start = 0
    for size in block_sizes:
        topk.add(sources[start : start + size], ids[start : start + size])
        start += size
    return topk


def test_response_weights_are_one_over_layer_size():
    weights = response_weights([2, 3, 1])
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights, [1 / 2, 1 / 2, 1 / 3, 1 / 3, 1 / 3, 1.0], rtol=1e-7)
    np.testing.assert_allclose(response_weights([48]).sum(), 1.0, rtol=1e-6)  # each layer weighs one in all


def test_smooth_is_positive_normalised_and_matches_formula():
    hist = random_histograms(np.random.default_rng(0), 4)
    assert (hist == 0).any()
    out = smooth(hist, EPS)
    assert out.dtype == np.float32
    assert np.all(out > 0)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out, (hist.astype(np.float64) + EPS) / (1 + N_BINS * EPS), rtol=1e-6)


def test_symmetric_kl_direct_matches_a_pair_by_pair_loop():
    rng = np.random.default_rng(1)
    weights = response_weights(LAYERS).astype(np.float64)
    p, q = smooth(random_histograms(rng, 3), EPS), smooth(random_histograms(rng, 4), EPS)
    got = symmetric_kl_direct(p, q, weights)
    for i in range(3):
        for j in range(4):
            a, b = p[i].astype(np.float64), q[j].astype(np.float64)
            value = sum(
                weights[h] * sum(a[h, x] * np.log(a[h, x] / b[h, x]) + b[h, x] * np.log(b[h, x] / a[h, x]) for x in range(N_BINS))
                for h in range(len(weights))
            )
            assert got[i, j] == pytest.approx(value, rel=1e-10)


def test_inner_product_form_equals_definition():
    rng = np.random.default_rng(2)
    weights = response_weights(LAYERS)
    p, q = smooth(random_histograms(rng, 7), EPS), smooth(random_histograms(rng, 11), EPS)
    got = symmetric_kl(p, q, weights)
    expected = symmetric_kl_direct(p, q, weights)
    assert got.shape == (7, 11)
    assert expected.min() > 0.1  # distinct random histograms are far apart
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # and D(p, p) = 0 on identical inputs
    np.testing.assert_allclose(np.diag(symmetric_kl(p, p, weights)), 0.0, atol=1e-4)


@pytest.mark.parametrize("block_sizes", [[40], [1, 39], [13, 0, 13, 14], [5] * 8, [3, 30, 7]])
def test_blockwise_topk_equals_full_sort(block_sizes):
    rng = np.random.default_rng(3)
    weights = response_weights(LAYERS)
    targets, sources = random_histograms(rng, 5), random_histograms(rng, 40)
    ids = rng.permutation(1000)[:40].astype(np.int64)  # ids need not be positions
    k = 7
    expected_d, expected_i = reference_topk(targets, sources, ids, weights, k + 1)
    # float32 against float64 distances: the reference order must be well separated to be comparable
    assert np.diff(expected_d, axis=1).min() > 1e-3

    topk = run_topk(targets, sources, ids, weights, k, block_sizes)
    np.testing.assert_array_equal(topk.ids, expected_i[:, :k])
    np.testing.assert_allclose(topk.distances, expected_d[:, :k], rtol=1e-4, atol=1e-4)


def duplicated_problem():
    """3 targets; 8 distinct source histograms in three copies each, with ids 10 + 3j + c for copy c
    of histogram j. The copy with the largest id comes first in the stream and the smallest in the
    middle, so blocks see each group out of id order. Returns what k = 5 must give: all three copies
    of the nearest histogram, then the two smaller ids of the second nearest (the cut falls between
    two exactly tied copies, so the third must lose by its id alone)."""
    rng = np.random.default_rng(4)
    weights = response_weights(LAYERS)
    targets, distinct = random_histograms(rng, 3), random_histograms(rng, 8)
    copies = (2, 0, 1)
    sources = np.concatenate([distinct] * len(copies))
    ids = np.array([10 + 3 * j + c for c in copies for j in range(len(distinct))], dtype=np.int64)
    d = symmetric_kl_direct(smooth(targets, EPS), smooth(distinct, EPS), weights)
    nearest = np.argsort(d, axis=1)
    assert np.diff(np.sort(d, axis=1), axis=1)[:, :2].min() > 1e-3  # distinct histograms well separated
    first, second = 10 + 3 * nearest[:, :1], 10 + 3 * nearest[:, 1:2]
    expected_i = np.concatenate([first, first + 1, first + 2, second, second + 1], axis=1)
    expected_d = np.take_along_axis(d, nearest[:, [0, 0, 0, 1, 1]], 1)
    return targets, sources, ids, weights, expected_d, expected_i


@pytest.mark.parametrize("block_sizes", [[1] * 24, [8, 8, 8]])
def test_duplicate_sources_are_ordered_by_smaller_id(block_sizes):
    """Each copy arrives in a block of the same shape at the same position, so tied copies get
    bit-identical distances and only the id tie-break (merge_topk) orders them."""
    targets, sources, ids, weights, expected_d, expected_i = duplicated_problem()
    topk = run_topk(targets, sources, ids, weights, 5, block_sizes)
    np.testing.assert_array_equal(topk.ids, expected_i)
    np.testing.assert_allclose(topk.distances, expected_d, rtol=1e-4, atol=1e-4)


def test_duplicate_sources_order_does_not_depend_on_block_layout():
    targets, sources, ids, weights, _, expected_i = duplicated_problem()
    got = {}
    for block_sizes in ([24], [5, 7, 12], [9, 15], [20, 4], [11, 13], [7, 17]):
        got[str(block_sizes)] = run_topk(targets, sources, ids, weights, 5, block_sizes).ids.tolist()
    assert got == {layout: expected_i.tolist() for layout in got}


def test_merge_topk_keeps_every_candidate_tied_with_the_kth():
    best_d, best_i = np.array([[1.0, 2.0]]), np.array([[5, 9]])
    new_d, new_i = np.array([[2.0, 2.0, 0.5, 3.0]]), np.array([[7, 3, 8, 1]])
    d, i = merge_topk(best_d, best_i, new_d, new_i, 3)
    # by (distance, id): (0.5, 8), (1, 5), (2, 3), (2, 7), (2, 9), (3, 1)
    np.testing.assert_array_equal(i, [[8, 5, 3]])
    np.testing.assert_array_equal(d, [[0.5, 1.0, 2.0]])


def test_k_larger_than_the_sources_returns_them_all_sorted():
    rng = np.random.default_rng(5)
    weights = response_weights(LAYERS)
    targets, sources = random_histograms(rng, 2), random_histograms(rng, 6)
    ids = np.arange(6, dtype=np.int64)
    topk = run_topk(targets, sources, ids, weights, 10, [4, 2])
    _, expected_i = reference_topk(targets, sources, ids, weights, 6)
    np.testing.assert_array_equal(topk.ids, expected_i)


def test_jensen_shannon_tiles_equal_the_definition(monkeypatch):
    rng = np.random.default_rng(7)
    weights = response_weights(LAYERS)
    p, q = smooth(random_histograms(rng, 5), EPS), smooth(random_histograms(rng, 11), EPS)
    expected = jensen_shannon_direct(p, q, weights)
    # tiles of a few elements: every tiling of the pairs must give the same distances
    monkeypatch.setattr(retrieval, "TILE_ELEMENTS", 3 * sum(LAYERS) * N_BINS)
    np.testing.assert_allclose(retrieval.jensen_shannon(p, q, weights), expected, rtol=1e-5, atol=1e-6)
    # JS is at most log 2 per response; the weights of each layer sum to one
    assert (expected >= 0).all() and (expected <= len(LAYERS) * np.log(2)).all()


def test_jensen_shannon_topk_equals_full_sort():
    rng = np.random.default_rng(8)
    weights = response_weights(LAYERS)
    targets, sources = random_histograms(rng, 4), random_histograms(rng, 30)
    ids = np.arange(30, dtype=np.int64)
    d = jensen_shannon_direct(smooth(targets, EPS), smooth(sources, EPS), weights)
    expected = np.argsort(d, axis=1, kind="stable")[:, :6]
    topk = TopK(targets, weights, 6, EPS, divergence="jensen_shannon")
    for lo in range(0, 30, 7):
        topk.add(sources[lo : lo + 7], ids[lo : lo + 7])
    np.testing.assert_array_equal(topk.ids, expected)


def test_unknown_divergence_names_the_config_key():
    with pytest.raises(ValueError, match="retrieval.divergence"):
        TopK(np.zeros((1, 5, N_BINS), np.float32), response_weights([5]), 3, EPS, divergence="cosine")


def write_shard(path, hist, index):
    write_h5(path, {"hist": hist.astype(np.float16), "index": index}, {"layer_sizes": np.array(LAYERS)})


def knn_budget(n_targets: int, sources_per_block: int) -> float:
    """The memory_mb at which TopK.block_size gives ``sources_per_block`` for these test sizes."""
    top = TopK(random_histograms(np.random.default_rng(0), n_targets), response_weights(LAYERS), 9, EPS)
    low, high = 0.0, 1.0
    while top.block_size(high) < sources_per_block:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        try:
            enough = top.block_size(middle) >= sources_per_block
        except ValueError:
            enough = False
        low, high = (low, middle) if enough else (middle, high)
    return high


@pytest.mark.parametrize("per_block", [1, 4, 1000])
def test_knn_stage_streams_shards_in_budget_sized_blocks_and_equals_brute_force(tmp_path, per_block, monkeypatch):
    """Sources in three HDF5 shards, read in blocks sized from the memory budget (1, 4 or all
    sources per block): ids and distances equal a full sort of the definition's distances."""
    rng = np.random.default_rng(11)
    targets, sources = random_histograms(rng, 6), random_histograms(rng, 37)
    ids = rng.permutation(500)[:37].astype(np.int64)
    write_shard(tmp_path / "t.h5", targets, np.arange(6))
    bounds = [0, 10, 11, 37]
    shards = []
    for n, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        shards.append(str(tmp_path / f"s{n}.h5"))
        write_shard(shards[-1], sources[lo:hi], ids[lo:hi])
    blocks = []
    original_add = TopK.add
    monkeypatch.setattr(TopK, "add", lambda self, s, i: (blocks.append(len(s)), original_add(self, s, i)))

    knn([str(tmp_path / "t.h5")], shards, str(tmp_path / "knn.h5"), k=9, eps=EPS, memory_mb=knn_budget(6, per_block),
        **EXACT)

    got = read_h5(tmp_path / "knn.h5")
    # the shards hold float16 histograms: the reference sees the same rounded values
    as_read = lambda h: h.astype(np.float16).astype(np.float32)
    expected_d, expected_i = reference_topk(as_read(targets), as_read(sources), ids, response_weights(LAYERS), 9)
    np.testing.assert_array_equal(got["ids"], expected_i)
    np.testing.assert_allclose(got["distances"], expected_d, rtol=1e-4, atol=1e-4)
    assert max(blocks) == min(per_block, 26) and sum(blocks) == 37


def test_block_size_grows_with_the_budget_and_refuses_too_small_a_one():
    top = TopK(random_histograms(np.random.default_rng(12), 2000, n_responses=48), response_weights([48]), 100, EPS)
    sizes = [top.block_size(mb) for mb in (256, 512, 1024)]
    assert 0 < sizes[0] < sizes[1] < sizes[2]
    assert sizes[2] - sizes[1] == pytest.approx(2 * (sizes[1] - sizes[0]), abs=2)  # linear in the budget
    with pytest.raises(ValueError, match="retrieval.memory_mb = 10 is too small for 2000 target images"):
        top.block_size(10)


def test_a_pool_smaller_than_k_is_refused_naming_the_numbers(tmp_path):
    """Capping K at the pool's size would give every target fewer neighbours than configured, silently."""
    rng = np.random.default_rng(13)
    write_shard(tmp_path / "t.h5", random_histograms(rng, 3), np.arange(3))
    write_shard(tmp_path / "s.h5", random_histograms(rng, 7), np.arange(7))
    with pytest.raises(PoolTooSmall, match=r"has 7 images, fewer than the 9 neighbours.*selection\.k0"):
        knn([str(tmp_path / "t.h5")], [str(tmp_path / "s.h5")], str(tmp_path / "knn.h5"), k=9, eps=EPS, memory_mb=64, **EXACT)
    assert not (tmp_path / "knn.h5").exists()
    knn([str(tmp_path / "t.h5")], [str(tmp_path / "s.h5")], str(tmp_path / "knn.h5"), k=7, eps=EPS, memory_mb=64, **EXACT)


def test_a_random_pool_smaller_than_the_list_is_refused(tmp_path):
    targets, pool = tmp_path / "targets.csv", tmp_path / "pool.csv"
    rows = lambda n: "index,path,label,class_name\n" + "".join(f"{i},/x/{i}.png,0,a\n" for i in range(n))
    targets.write_text(rows(2))
    pool.write_text(rows(5))
    match = tmp_path / "match.csv"
    match.write_text("target_index,rank,source_index\n0,0,1\n1,0,2\n")
    with pytest.raises(PoolTooSmall, match=f"{pool}.*has 5 images, fewer than the 6"):
        neighbours(str(tmp_path / "out.csv"), str(targets), random_pool=str(pool), length=6, match=str(match))


def test_the_entropy_rule_grows_the_previous_iterations_own_counts(tmp_path):
    """The counts come from the previous neighbour table, not from a K the training job copied back."""
    rows = lambda n: "index,path,label,class_name\n" + "".join(f"{i},/x/{i}.png,0,a\n" for i in range(n))
    (tmp_path / "targets.csv").write_text(rows(3))
    write_h5(tmp_path / "knn.h5", {"ids": np.arange(3 * 20).reshape(3, 20), "target_index": np.arange(3)})
    previous = pd.DataFrame({"target_index": [0, 0, 1, 1, 1, 2], "rank": [0, 1, 0, 1, 2, 0],
                             "source_index": [0, 1, 20, 21, 22, 40]})  # K = 2, 3, 1
    previous.to_csv(tmp_path / "previous.csv", index=False)
    # misclassified (+sigma0 = 4), uncertain and correct (+sigma1 = 2), certain and correct (+0); rows unordered,
    # and a k column that says otherwise: it is not read
    pd.DataFrame({"index": [2, 0, 1], "label": 0, "entropy": [0.01, 0.5, 0.9], "correct": [True, False, True],
                  "k": 99}).to_csv(tmp_path / "entropy.csv", index=False)
    neighbours(str(tmp_path / "out.csv"), str(tmp_path / "targets.csv"), knn=str(tmp_path / "knn.h5"),
               entropy=str(tmp_path / "entropy.csv"), previous=str(tmp_path / "previous.csv"), delta=0.1, sigma0=4,
               sigma1=2)
    table = pd.read_csv(tmp_path / "out.csv")
    assert np.bincount(table["target_index"], minlength=3).tolist() == [2 + 4, 3 + 2, 1]
    with pytest.raises(ValueError, match="--previous"):
        neighbours(str(tmp_path / "out.csv"), str(tmp_path / "targets.csv"), knn=str(tmp_path / "knn.h5"),
                   entropy=str(tmp_path / "entropy.csv"), delta=0.1, sigma0=4, sigma1=2)
