"""Adaptive response histograms: equal-mass bins on the target set, per-image normalized histograms.

Bounds (paper, 3.1): for each filter response r, the bins are chosen on the *target training
set* so that every bin holds an equal share of that set's response values. Like the reference
code we find them in two streaming passes: the range [low, high] of each response, then a fine
histogram over ``n_intervals`` equal-width intervals of that range. A bin is a run of fine
intervals: interval i goes to bin floor(n_bins * m_i), m_i the share of the mass below the
middle of interval i, so every bin's mass is 1 / n_bins up to the mass of the intervals at its
two ends. Memory stays (responses x n_intervals) however many images there are. Values outside
the target's range fall in the first or last interval, so the outer bins are open.

Descriptors: an image's histogram for response r counts its pixels per bin and divides by the
pixel count, so each of its R histograms sums to one; shape (n_images, R, n_bins). Binning is a
table lookup (value -> fine interval by one multiply, interval -> bin by indexing) followed by
one ``bincount`` per image and layer; no search over bin edges.

Every function takes a batch of responses as one (B, R, H, W) tensor or as a list of them, one
per layer of a bank whose layers differ in resolution (the CNN bank, the Gabor pyramid);
responses are numbered through the layers in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

Responses = torch.Tensor | Sequence[torch.Tensor]


def _layers(responses: Responses) -> list[torch.Tensor]:
    return [responses] if isinstance(responses, torch.Tensor) else list(responses)


def _flat_layers(responses: Responses) -> list[torch.Tensor]:
    """Each layer's responses as (R_l, B * H_l * W_l)."""
    return [layer.transpose(0, 1).reshape(layer.shape[1], -1) for layer in _layers(responses)]


def response_range(batches: Iterable[Responses]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-response minimum and maximum over batches of responses: two (R,) float32."""
    low = high = None
    for responses in batches:
        layers = _flat_layers(responses)
        b_low = torch.cat([flat.min(dim=1).values for flat in layers]).float()
        b_high = torch.cat([flat.max(dim=1).values for flat in layers]).float()
        low = b_low if low is None else torch.minimum(low, b_low)
        high = b_high if high is None else torch.maximum(high, b_high)
    if low is None:
        raise ValueError("no images to compute bounds from")
    return low, high


def interval_scale(low: torch.Tensor, high: torch.Tensor, n_intervals: int) -> torch.Tensor:
    """Fine intervals per unit of each response: (R,) float32."""
    return (n_intervals / torch.clamp(high - low, min=1e-12)).float()


def fine_index(values: np.ndarray, low: np.ndarray, scale: np.ndarray, n_intervals: int) -> np.ndarray:
    """The fine interval of each value, clamp(floor((v - low) * scale), 0, n_intervals - 1), int32.

    values: (..., R, N) float32 with low, scale: (R,) float32. The one definition used by both
    the bounds pass and the histograms, in float32, so the two agree value for value.
    """
    index = np.subtract(values, low[:, None], dtype=np.float32)
    np.multiply(index, scale[:, None], out=index)
    np.clip(index, 0, n_intervals - 1, out=index)
    return index.astype(np.int32)  # truncation = floor on the clamped, non-negative values


def fine_counts(batches: Iterable[Responses], low: torch.Tensor, high: torch.Tensor, n_intervals: int) -> torch.Tensor:
    """Counts of response values in the ``n_intervals`` fine intervals of [low, high]: (R, n_intervals) float64."""
    low, scale = low.numpy(), interval_scale(low, high, n_intervals).numpy()
    counts = np.zeros(len(low) * n_intervals, dtype=np.int64)
    for responses in batches:
        first = 0
        for flat in _flat_layers(responses):
            rows = slice(first, first + len(flat))
            index = fine_index(flat.float().numpy(), low[rows], scale[rows], n_intervals)
            index += (np.arange(first, first + len(flat)) * n_intervals)[:, None]
            counts += np.bincount(index.reshape(-1), minlength=len(counts))
            first += len(flat)
    return torch.from_numpy(counts.reshape(len(low), n_intervals)).double()


def equal_mass_bins(counts: torch.Tensor, n_bins: int) -> torch.Tensor:
    """The bin of every fine interval, (R, n_intervals) int64, non-decreasing along each row.

    Interval i goes to bin floor(n_bins * m_i), m_i the share of the mass below its middle.
    """
    counts = counts.double()
    total = counts.sum(dim=1, keepdim=True).clamp(min=1e-300)
    middle = (torch.cumsum(counts, dim=1) - counts / 2) / total
    return torch.clamp((middle * n_bins).floor(), 0, n_bins - 1).long()


@dataclass
class Binning:
    """The equal-mass bins of every response, as the bounds stage stores them.

    low, high: (R,) float32, the target's response ranges; interval_bins: (R, n_intervals)
    int64, the bin of each fine interval (``equal_mass_bins``).
    """

    low: torch.Tensor
    high: torch.Tensor
    interval_bins: torch.Tensor
    n_bins: int

    @property
    def n_responses(self) -> int:
        return len(self.low)

    @property
    def n_intervals(self) -> int:
        return self.interval_bins.shape[1]

    def edges(self) -> torch.Tensor:
        """The value at which each bin after the first starts: (R, n_bins - 1) float32 (NaN: an empty bin)."""
        edges = torch.full((self.n_responses, self.n_bins - 1), float("nan"))
        width = (self.high - self.low) / self.n_intervals
        for r in range(self.n_responses):
            starts = torch.searchsorted(self.interval_bins[r].contiguous(), torch.arange(1, self.n_bins))
            first_of = torch.where(starts < self.n_intervals, starts, -1)
            shown = (first_of >= 0) & (self.interval_bins[r, first_of.clamp(min=0)] == torch.arange(1, self.n_bins))
            edges[r, shown] = self.low[r] + first_of[shown].float() * width[r]
        return edges

    def histograms(self, responses: Responses) -> torch.Tensor:
        """Normalized per-response histograms of a batch: (B, R, n_bins) float32.

        In numpy, image by image: its take and bincount are several times faster than torch's
        gather and scatter-add on random indices, and one image's index arrays stay in the CPU
        cache where a whole batch's would not (2.5x faster than binning the batch at once).
        """
        layers = _layers(responses)
        batch, n_responses, n_bins, n_intervals = layers[0].shape[0], self.n_responses, self.n_bins, self.n_intervals
        if sum(layer.shape[1] for layer in layers) != n_responses:
            raise ValueError(f"the bank gave {sum(layer.shape[1] for layer in layers)} responses but the bounds have {n_responses}")
        low, scale = self.low.numpy(), interval_scale(self.low, self.high, n_intervals).numpy()
        # one table from (response, fine interval) to (response, bin), so a lookup finds both
        table = (self.interval_bins.numpy() + np.arange(n_responses)[:, None] * n_bins).reshape(-1).astype(np.int32)
        counts = np.zeros((batch, n_responses * n_bins), dtype=np.int64)
        pixels = np.empty(n_responses)
        first = 0
        for layer in layers:
            n = layer.shape[1]
            rows = slice(first, first + n)
            values = layer.float().numpy().reshape(batch, n, -1)
            layer_low, layer_scale = low[rows], scale[rows]
            offsets = (np.arange(first, first + n, dtype=np.int32) * n_intervals)[:, None]
            for image in range(batch):
                index = fine_index(values[image], layer_low, layer_scale, n_intervals)
                index += offsets
                counts[image] += np.bincount(np.take(table, index).reshape(-1), minlength=n_responses * n_bins)
            pixels[rows] = values.shape[2]
            first += n
        hist = counts.reshape(batch, n_responses, n_bins) / pixels[None, :, None]
        return torch.from_numpy(hist.astype(np.float32))
