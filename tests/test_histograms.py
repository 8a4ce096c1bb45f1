"""Equal-mass bin edges and per-image response histograms against numpy definitions."""

import numpy as np
import pytest
import torch

from workflow.histograms import (
    equal_mass_edges,
    fine_counts,
    histograms,
    response_range,
)

N_INTERVALS = 2000
N_BINS = 8


def sample_responses(seed: int = 0, batch: int = 6, size: int = 24) -> torch.Tensor:
    """(batch, 3, size, size) float32: a two-normal mix, an exponential, and a skewed normal mix."""
    rng = np.random.default_rng(seed)
    n = batch * size * size
    mix = np.where(rng.random(n) < 0.3, rng.normal(-2.0, 0.5, n), rng.normal(3.0, 1.5, n))
    expo = rng.exponential(2.0, n) - 1.0
    skew = np.where(rng.random(n) < 0.8, rng.normal(0.0, 0.5, n), rng.normal(1.0, 2.0, n))
    values = np.stack([mix, expo, skew]).reshape(3, batch, size, size).transpose(1, 0, 2, 3)
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def edges_of(batches, n_bins=N_BINS, n_intervals=N_INTERVALS):
    low, high = response_range(batches)
    counts = fine_counts(batches, low, high, n_intervals)
    return equal_mass_edges(counts, low, high, n_bins), low, high, counts


def pooled(responses: torch.Tensor) -> np.ndarray:
    """(R, B*H*W) float64: every value of each response."""
    return responses.transpose(0, 1).reshape(responses.shape[1], -1).double().numpy()


def brute_histograms(responses: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin j of value v is the number of edges <= v, i.e. edges[j-1] <= v < edges[j]."""
    batch, n_responses = responses.shape[:2]
    n_bins = edges.shape[1] + 1
    out = np.zeros((batch, n_responses, n_bins))
    for b in range(batch):
        for r in range(n_responses):
            values = responses[b, r].ravel()
            bins = (values[:, None] >= edges[r][None, :]).sum(axis=1)
            out[b, r] = np.bincount(bins, minlength=n_bins) / values.size
    return out


def test_response_range_is_min_and_max():
    responses = sample_responses()
    low, high = response_range([responses])
    values = pooled(responses)
    np.testing.assert_array_equal(low.numpy(), values.min(axis=1))
    np.testing.assert_array_equal(high.numpy(), values.max(axis=1))


def test_fine_counts_match_numpy_histogram():
    responses = sample_responses()
    low, high = response_range([responses])
    counts = fine_counts([responses], low, high, N_INTERVALS).numpy()
    values = pooled(responses)
    assert counts.shape == (3, N_INTERVALS)
    for r in range(3):
        expected, _ = np.histogram(values[r], bins=N_INTERVALS, range=(float(low[r]), float(high[r])))
        # values on an interval boundary may fall either side by rounding: allow a few moves
        assert counts[r].sum() == values.shape[1]
        assert np.abs(counts[r] - expected).sum() <= 4


def test_equal_mass_edges_match_quantiles_within_one_fine_interval():
    responses = sample_responses()
    edges, low, high, _ = edges_of([responses])
    values = pooled(responses)
    assert edges.shape == (3, N_BINS - 1)
    assert torch.all(edges[:, 1:] > edges[:, :-1])
    width = (high - low).double().numpy() / N_INTERVALS
    levels = np.arange(1, N_BINS) / N_BINS
    for r in range(3):
        # the smallest value whose empirical CDF reaches the level lies in the same fine interval
        quantiles = np.quantile(values[r], levels, method="inverted_cdf")
        error = np.abs(edges[r].double().numpy() - quantiles)
        assert np.all(error <= width[r] * (1 + 1e-3)), (r, error / width[r])


def test_histograms_with_equal_mass_edges_split_the_mass_evenly():
    responses = sample_responses()
    edges, low, high, counts = edges_of([responses])
    mass = histograms(responses, edges).double().mean(dim=0).numpy()  # every image has the same pixel count
    # an edge is off by at most one fine interval, so the mass on either side of it is off by at
    # most the mass of the fine interval that holds it; a bin is off by its two edges' errors
    share = (counts / counts.sum(dim=1, keepdim=True)).numpy()
    position = ((edges.double() - low[:, None].double()) / (high - low)[:, None].double() * N_INTERVALS).numpy()
    interval = np.clip(position.astype(int), 0, N_INTERVALS - 1)
    edge_error = np.take_along_axis(share, interval, axis=1) + 1 / counts.sum(dim=1).numpy()[:, None]
    tolerance = np.pad(edge_error, ((0, 0), (1, 0))) + np.pad(edge_error, ((0, 0), (0, 1)))
    assert np.all(np.abs(mass - 1 / N_BINS) <= tolerance), np.abs(mass - 1 / N_BINS) / tolerance
    assert tolerance.max() < 0.25 / N_BINS  # the bound is tight enough to mean something


def test_histograms_equal_brute_force_counts():
    rng = np.random.default_rng(3)
    batch, n_responses, size, n_bins = 3, 4, 9, 6
    edges = np.sort(rng.normal(size=(n_responses, n_bins - 1)), axis=1).astype(np.float32)
    values = rng.normal(scale=1.5, size=(batch, n_responses, size, size)).astype(np.float32)
    # put values exactly on edges (they belong to the bin on the right) and far outside the range
    for r in range(n_responses):
        values[0, r, 0, : n_bins - 1] = edges[r]
        values[1, r, 0, 0], values[1, r, 0, 1] = -100.0, 100.0
    got = histograms(torch.from_numpy(values), torch.from_numpy(edges))

    assert got.shape == (batch, n_responses, n_bins)
    assert got.dtype == torch.float32
    expected = brute_histograms(values.astype(np.float64), edges.astype(np.float64))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-7)
    np.testing.assert_allclose(got.sum(dim=-1).numpy(), 1.0, atol=1e-6)


def test_value_on_an_edge_goes_to_the_right_bin():
    edges = torch.tensor([[0.0, 1.0]])
    responses = torch.tensor([-0.5, 0.0, 0.5, 1.0, 2.0]).reshape(1, 1, 1, 5)
    counts = histograms(responses, edges)[0, 0] * 5
    np.testing.assert_array_equal(counts.numpy(), [1, 2, 2])  # {-0.5}, {0, 0.5}, {1, 2}


@pytest.mark.parametrize("sizes", [[1, 2, 3], [4, 2], [1, 1, 1, 1, 1, 1]])
def test_streaming_over_batches_gives_the_same_edges(sizes):
    responses = sample_responses(seed=5)
    batches = list(torch.split(responses, sizes))
    whole_edges, whole_low, whole_high, whole_counts = edges_of([responses])
    edges, low, high, counts = edges_of(batches)
    torch.testing.assert_close(low, whole_low, rtol=0, atol=0)
    torch.testing.assert_close(high, whole_high, rtol=0, atol=0)
    torch.testing.assert_close(counts, whole_counts, rtol=0, atol=0)
    torch.testing.assert_close(edges, whole_edges, rtol=0, atol=0)


def test_no_batches_is_an_error():
    with pytest.raises(ValueError, match="no images"):
        response_range([])


def test_layers_of_different_resolution_are_numbered_in_order():
    """A bank with layers at two resolutions (the CNN bank): each layer binned on its own pixels."""
    fine, coarse = sample_responses(seed=1, size=24), sample_responses(seed=2, size=12)[:, :2]
    batches = [[fine, coarse]]
    low, high = response_range(batches)
    np.testing.assert_array_equal(low.numpy(), np.concatenate([pooled(fine).min(1), pooled(coarse).min(1)]).astype(np.float32))
    counts = fine_counts(batches, low, high, 50)
    np.testing.assert_array_equal(counts[:3].numpy(), fine_counts([fine], low[:3], high[:3], 50).numpy())
    np.testing.assert_array_equal(counts[3:].numpy(), fine_counts([coarse], low[3:], high[3:], 50).numpy())
    edges = equal_mass_edges(counts, low, high, N_BINS)
    together = histograms([fine, coarse], edges).numpy()
    expected = np.concatenate([brute_histograms(fine.double().numpy(), edges[:3].double().numpy()),
                               brute_histograms(coarse.double().numpy(), edges[3:].double().numpy())], axis=1)
    np.testing.assert_allclose(together, expected, atol=1e-6)
