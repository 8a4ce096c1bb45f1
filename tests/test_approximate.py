"""Approximate retrieval: pynndescent candidates on the Hellinger proxy, re-ranked exactly."""

import numpy as np
import pytest

from workflow.approximate import hellinger_features, rerank
from workflow.io import read_h5, write_h5
from workflow.retrieval import response_weights, smooth, symmetric_kl_direct
from workflow.stages.retrieval import knn

EPS = 1e-3
LAYERS = [4, 2]


def histograms(rng, n, bins=8):
    x = rng.gamma(1.0, size=(n, sum(LAYERS), bins))
    return (x / x.sum(-1, keepdims=True)).astype(np.float16).astype(np.float32)


def test_hellinger_features_give_the_weighted_hellinger_distance():
    rng = np.random.default_rng(0)
    p, q = histograms(rng, 3), histograms(rng, 4)
    w = response_weights(LAYERS)
    fp, fq = hellinger_features(p, w, EPS), hellinger_features(q, w, EPS)
    sp, sq = smooth(p, EPS).astype(np.float64), smooth(q, EPS).astype(np.float64)
    definition = ((np.sqrt(sp[:, None]) - np.sqrt(sq[None])) ** 2).sum(-1) @ w  # sum_h w_h sum_b (sqrt p - sqrt q)^2
    np.testing.assert_allclose(((fp[:, None] - fq[None]) ** 2).sum(-1), definition, rtol=1e-4)


def test_rerank_orders_candidates_by_the_exact_divergence():
    rng = np.random.default_rng(1)
    targets, sources = histograms(rng, 5), histograms(rng, 30)
    w = response_weights(LAYERS)
    candidates = np.stack([rng.permutation(30)[:12] for _ in range(5)])
    d, i = rerank(targets, sources, candidates, w, 4, EPS)
    exact = symmetric_kl_direct(smooth(targets, EPS), smooth(sources, EPS), w)
    for t in range(5):
        best = sorted(candidates[t], key=lambda c: exact[t, c])[:4]
        np.testing.assert_array_equal(i[t], best)
        np.testing.assert_allclose(d[t], exact[t, best], rtol=1e-4)


@pytest.mark.slow
def test_nndescent_search_through_the_knn_stage(tmp_path):
    """With candidates covering the pool the result is the exact search's; with 4 x K it keeps
    most of the exact neighbours of clustered histograms (numba compiles on first use: slow)."""
    rng = np.random.default_rng(2)
    centres = histograms(rng, 20)
    noise = lambda n: rng.normal(0, 0.02, size=(n, *centres.shape[1:]))
    sources = np.clip(np.repeat(centres, 30, axis=0) + noise(600), 1e-3, None)
    sources = (sources / sources.sum(-1, keepdims=True)).astype(np.float16)
    targets = np.clip(centres[:10] + noise(10), 1e-3, None)
    targets = (targets / targets.sum(-1, keepdims=True)).astype(np.float16)
    layers = {"layer_sizes": np.array(LAYERS)}
    write_h5(tmp_path / "t.h5", {"hist": targets, "index": np.arange(10)}, layers)
    ids = rng.permutation(10_000)[:600]
    write_h5(tmp_path / "s0.h5", {"hist": sources[:250], "index": ids[:250]}, layers)
    write_h5(tmp_path / "s1.h5", {"hist": sources[250:], "index": ids[250:]}, layers)
    shards = [str(tmp_path / "s0.h5"), str(tmp_path / "s1.h5")]
    common = {"targets": [str(tmp_path / "t.h5")], "sources": shards, "k": 10, "eps": EPS, "memory_mb": 64,
              "divergence": "symmetric_kl"}

    knn(out=str(tmp_path / "exact.h5"), search="exact", candidates=4, **common)
    knn(out=str(tmp_path / "all.h5"), search="nndescent", candidates=60, **common)
    knn(out=str(tmp_path / "four.h5"), search="nndescent", candidates=4, **common)

    exact, every, four = (read_h5(tmp_path / f"{name}.h5") for name in ("exact", "all", "four"))
    np.testing.assert_array_equal(every["ids"], exact["ids"])
    np.testing.assert_allclose(every["distances"], exact["distances"], rtol=1e-5)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(four["ids"], exact["ids"])])
    assert recall >= 0.8, recall
    assert str(four["attr:search"]) == "nndescent"
