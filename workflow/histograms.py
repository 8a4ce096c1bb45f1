"""Adaptive response histograms: equal-mass bin edges and per-image normalized histograms.

Bounds (paper, 3.1): for each filter response r, the bin edges are chosen on the *target
training set* so that every bin holds an equal share of that set's response values. Like the
reference code we find them in two streaming passes: the range of each response, then a fine
equal-width histogram of ``n_intervals`` intervals over that range, whose cumulative mass is
interpolated at 1/n_bins, 2/n_bins, ... . Memory stays (responses x n_intervals) however many
images there are. The outer bins are open, so source values outside the target's range land
in the first or last bin.

Descriptors: an image's histogram for response r counts its pixels per bin and divides by the
pixel count, so each of its R histograms sums to one; shape (n_images, R, n_bins).

Every function takes a batch of responses as one (B, R, H, W) tensor or as a list of them, one
per layer of a bank whose layers differ in resolution (the CNN bank); responses are numbered
through the layers in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

Responses = torch.Tensor | Sequence[torch.Tensor]


def _flat_layers(responses: Responses) -> list[torch.Tensor]:
    """Each layer's responses as (R_l, B * H_l * W_l)."""
    layers = [responses] if isinstance(responses, torch.Tensor) else responses
    return [layer.transpose(0, 1).reshape(layer.shape[1], -1) for layer in layers]


def response_range(batches: Iterable[Responses]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-response minimum and maximum over batches of responses: two (R,)."""
    low = high = None
    for responses in batches:
        layers = _flat_layers(responses)
        b_low = torch.cat([flat.min(dim=1).values for flat in layers])
        b_high = torch.cat([flat.max(dim=1).values for flat in layers])
        low = b_low if low is None else torch.minimum(low, b_low)
        high = b_high if high is None else torch.maximum(high, b_high)
    if low is None:
        raise ValueError("no images to compute bounds from")
    return low, high


def fine_counts(batches: Iterable[Responses], low: torch.Tensor, high: torch.Tensor, n_intervals: int) -> torch.Tensor:
    """Counts of response values in ``n_intervals`` equal-width intervals of [low, high]: (R, n_intervals)."""
    width = torch.clamp(high - low, min=1e-12)
    counts = torch.zeros(len(low), n_intervals, dtype=torch.float64)
    for responses in batches:
        first = 0
        for flat in _flat_layers(responses):
            rows = slice(first, first + len(flat))
            flat = flat.double()
            index = ((flat - low[rows, None]) / width[rows, None] * n_intervals).long().clamp_(0, n_intervals - 1)
            counts[rows].scatter_add_(1, index, torch.ones_like(flat))
            first += len(flat)
    return counts


def equal_mass_edges(counts: torch.Tensor, low: torch.Tensor, high: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Interior edges (R, n_bins - 1) that split each response's mass into ``n_bins`` equal parts.

    The mass inside a fine interval is taken as spread uniformly, so an edge is exact up to
    the width of one fine interval.
    """
    n_intervals = counts.shape[1]
    cumulative = torch.cumsum(counts, dim=1)
    cumulative = cumulative / cumulative[:, -1:].clamp(min=1)
    cumulative = torch.cat([torch.zeros(len(counts), 1, dtype=cumulative.dtype), cumulative], dim=1)
    targets = torch.arange(1, n_bins, dtype=cumulative.dtype) / n_bins
    edges = torch.empty(len(counts), n_bins - 1, dtype=torch.float64)
    grid = torch.linspace(0, 1, n_intervals + 1, dtype=torch.float64)
    for r in range(len(counts)):
        # first fine edge whose cumulative mass reaches each target, then interpolate inside it
        right = torch.searchsorted(cumulative[r].contiguous(), targets).clamp(1, n_intervals)
        c_left, c_right = cumulative[r, right - 1], cumulative[r, right]
        share = ((targets - c_left) / (c_right - c_left).clamp(min=1e-12)).clamp(0, 1)
        edges[r] = grid[right - 1] + share * (grid[right] - grid[right - 1])
    span = (high - low).double()
    return (low.double()[:, None] + edges * span[:, None]).float()


def histograms(responses: Responses, edges: torch.Tensor) -> torch.Tensor:
    """Normalized per-response histograms.

    responses: (B, R, H, W) or a list of layers; edges: (R, n_bins - 1) interior edges, increasing.
    Returns (B, R, n_bins) float32; value v falls in bin j when edges[j-1] <= v < edges[j].
    """
    if not isinstance(responses, torch.Tensor):
        bounds = torch.tensor([0] + [layer.shape[1] for layer in responses]).cumsum(0).tolist()
        return torch.cat([_histograms(layer, edges[a:b]) for layer, a, b in zip(responses, bounds, bounds[1:])], dim=1)
    return _histograms(responses, edges)


def _histograms(responses: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    batch, n_responses = responses.shape[:2]
    n_bins = edges.shape[1] + 1
    values = responses.transpose(0, 1).reshape(n_responses, -1).contiguous()
    bins = torch.searchsorted(edges.contiguous(), values, right=True)  # (R, B*H*W)
    pixels = responses[0, 0].numel()
    image = torch.arange(batch).repeat_interleave(pixels)
    flat = (image[None, :] * n_responses + torch.arange(n_responses)[:, None]) * n_bins + bins
    counts = torch.bincount(flat.reshape(-1), minlength=batch * n_responses * n_bins)
    return counts.reshape(batch, n_responses, n_bins).float() / pixels
