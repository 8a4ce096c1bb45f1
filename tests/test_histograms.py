"""Equal-mass bins and per-image response histograms against numpy and per-value definitions."""

import numpy as np
import pytest
import torch

from workflow.histograms import Binning, equal_mass_bins, fine_counts, response_range

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


def binning_of(batches, n_bins=N_BINS, n_intervals=N_INTERVALS) -> tuple[Binning, torch.Tensor]:
    low, high = response_range(batches)
    counts = fine_counts(batches, low, high, n_intervals)
    return Binning(low, high, equal_mass_bins(counts, n_bins), n_bins), counts


def pooled(responses: torch.Tensor) -> np.ndarray:
    """(R, B*H*W) float64: every value of each response."""
    return responses.transpose(0, 1).reshape(responses.shape[1], -1).double().numpy()


def interval_of(value: float, low: float, high: float, n_intervals: int) -> int:
    """The definition, one value at a time: floor((v - low) * n / (high - low)) in float32, clamped."""
    scale = np.float32(n_intervals / max(np.float32(high) - np.float32(low), 1e-12))
    position = np.float32(np.float32(value) - np.float32(low)) * scale
    return int(min(max(np.floor(position), 0), n_intervals - 1))


def brute_histograms(responses: np.ndarray, binning: Binning) -> np.ndarray:
    """Value by value: its fine interval, that interval's bin, counted and divided by the pixels."""
    batch, n_responses = responses.shape[:2]
    out = np.zeros((batch, n_responses, binning.n_bins))
    for b in range(batch):
        for r in range(n_responses):
            values = responses[b, r].ravel()
            for v in values:
                i = interval_of(v, float(binning.low[r]), float(binning.high[r]), binning.n_intervals)
                out[b, r, binning.interval_bins[r, i]] += 1
            out[b, r] /= values.size
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


def test_equal_mass_bins_are_runs_of_fine_intervals_starting_near_the_quantiles():
    responses = sample_responses()
    binning, _ = binning_of([responses])
    bins = binning.interval_bins.numpy()
    assert bins.shape == (3, N_INTERVALS)
    assert np.all(np.diff(bins, axis=1) >= 0) and np.all(bins[:, 0] == 0) and np.all(bins[:, -1] == N_BINS - 1)
    values = pooled(responses)
    edges = binning.edges().double().numpy()
    width = (binning.high - binning.low).double().numpy() / N_INTERVALS
    for r in range(3):
        # a bin starts at a fine-interval boundary within one interval of the level's quantile
        quantiles = np.quantile(values[r], np.arange(1, N_BINS) / N_BINS, method="inverted_cdf")
        error = np.abs(edges[r] - quantiles)
        assert np.all(error <= width[r] * (1 + 1e-3)), (r, error / width[r])


def test_bins_split_the_mass_evenly():
    responses = sample_responses()
    binning, counts = binning_of([responses])
    mass = binning.histograms(responses).double().mean(dim=0).numpy()  # every image has the same pixel count
    # interval i joins bin floor(n_bins * m_i), m_i the mass below its middle, so each bin end
    # is off by at most half the mass of the interval that holds the quantile, plus one value
    share = (counts / counts.sum(dim=1, keepdim=True)).numpy()
    bins = binning.interval_bins.numpy()
    first = np.stack([np.searchsorted(bins[r], np.arange(1, N_BINS)) for r in range(3)])
    edge_error = np.maximum(np.take_along_axis(share, first, 1), np.take_along_axis(share, first - 1, 1))
    edge_error = edge_error + 1 / counts.sum(dim=1).numpy()[:, None]
    tolerance = np.pad(edge_error, ((0, 0), (1, 0))) + np.pad(edge_error, ((0, 0), (0, 1)))
    assert np.all(np.abs(mass - 1 / N_BINS) <= tolerance), np.abs(mass - 1 / N_BINS) / tolerance
    assert tolerance.max() < 0.25 / N_BINS  # the bound is tight enough to mean something


def test_histograms_equal_value_by_value_counts():
    rng = np.random.default_rng(3)
    batch, n_responses, size, n_bins, n_intervals = 3, 4, 9, 6, 50
    interval_bins = np.sort(rng.integers(0, n_bins, size=(n_responses, n_intervals)), axis=1)
    low = rng.normal(size=n_responses).astype(np.float32)
    high = low + rng.uniform(1, 3, size=n_responses).astype(np.float32)
    binning = Binning(torch.from_numpy(low), torch.from_numpy(high), torch.from_numpy(interval_bins), n_bins)
    values = rng.normal(scale=1.5, size=(batch, n_responses, size, size)).astype(np.float32)
    for r in range(n_responses):  # outside the range: the open outer bins
        values[1, r, 0, 0], values[1, r, 0, 1] = -100.0, 100.0
    got = binning.histograms(torch.from_numpy(values))

    assert got.shape == (batch, n_responses, n_bins)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), brute_histograms(values, binning), atol=1e-7)
    np.testing.assert_allclose(got.sum(dim=-1).numpy(), 1.0, atol=1e-6)
    assert got[1, :, 0].min() > 0 and got[1, :, -1].min() > 0


@pytest.mark.parametrize("sizes", [[1, 2, 3], [4, 2], [1, 1, 1, 1, 1, 1]])
def test_streaming_over_batches_gives_the_same_bins(sizes):
    responses = sample_responses(seed=5)
    batches = list(torch.split(responses, sizes))
    whole, whole_counts = binning_of([responses])
    streamed, counts = binning_of(batches)
    torch.testing.assert_close(streamed.low, whole.low, rtol=0, atol=0)
    torch.testing.assert_close(streamed.high, whole.high, rtol=0, atol=0)
    torch.testing.assert_close(counts, whole_counts, rtol=0, atol=0)
    torch.testing.assert_close(streamed.interval_bins, whole.interval_bins, rtol=0, atol=0)


def test_no_batches_is_an_error():
    with pytest.raises(ValueError, match="no images"):
        response_range([])


def test_layers_of_different_resolution_are_numbered_in_order():
    """A bank with layers at two resolutions (CNN bank, Gabor pyramid): each binned on its own pixels."""
    fine, coarse = sample_responses(seed=1, size=24), sample_responses(seed=2, size=12)[:, :2]
    batches = [[fine, coarse]]
    low, high = response_range(batches)
    np.testing.assert_array_equal(low.numpy(), np.concatenate([pooled(fine).min(1), pooled(coarse).min(1)]).astype(np.float32))
    counts = fine_counts(batches, low, high, 50)
    np.testing.assert_array_equal(counts[:3].numpy(), fine_counts([fine], low[:3], high[:3], 50).numpy())
    np.testing.assert_array_equal(counts[3:].numpy(), fine_counts([coarse], low[3:], high[3:], 50).numpy())
    binning = Binning(low, high, equal_mass_bins(counts, N_BINS), N_BINS)
    together = binning.histograms([fine, coarse]).numpy()
    first = Binning(low[:3], high[:3], binning.interval_bins[:3], N_BINS)
    second = Binning(low[3:], high[3:], binning.interval_bins[3:], N_BINS)
    expected = np.concatenate([brute_histograms(fine.numpy(), first), brute_histograms(coarse.numpy(), second)], axis=1)
    np.testing.assert_allclose(together, expected, atol=1e-6)
    with pytest.raises(ValueError, match="gave 4 responses but the bounds have 5"):
        Binning(low, high, binning.interval_bins, N_BINS).histograms([fine, coarse[:, :1]])
