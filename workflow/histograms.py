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
"""

from __future__ import annotations

from typing import Iterable

import torch


def response_range(batches: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-response minimum and maximum over batches of responses (B, R, H, W): two (R,)."""
    low = high = None
    for responses in batches:
        flat = responses.transpose(0, 1).reshape(responses.shape[1], -1)
        b_low, b_high = flat.min(dim=1).values, flat.max(dim=1).values
        low = b_low if low is None else torch.minimum(low, b_low)
        high = b_high if high is None else torch.maximum(high, b_high)
    if low is None:
        raise ValueError("no images to compute bounds from")
    return low, high


def fine_counts(batches: Iterable[torch.Tensor], low: torch.Tensor, high: torch.Tensor, n_intervals: int) -> torch.Tensor:
    """Counts of response values in ``n_intervals`` equal-width intervals of [low, high]: (R, n_intervals)."""
    width = torch.clamp(high - low, min=1e-12)
    counts = torch.zeros(len(low), n_intervals, dtype=torch.float64)
    for responses in batches:
        flat = responses.transpose(0, 1).reshape(responses.shape[1], -1).double()
        index = ((flat - low[:, None]) / width[:, None] * n_intervals).long().clamp_(0, n_intervals - 1)
        counts.scatter_add_(1, index, torch.ones_like(flat))
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


def histograms(responses: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Normalized per-response histograms.

    responses: (B, R, H, W); edges: (R, n_bins - 1) interior edges, increasing.
    Returns (B, R, n_bins) float32; value v falls in bin j when edges[j-1] <= v < edges[j].
    """
    batch, n_responses = responses.shape[:2]
    n_bins = edges.shape[1] + 1
    values = responses.transpose(0, 1).reshape(n_responses, -1).contiguous()
    bins = torch.searchsorted(edges.contiguous(), values, right=True)  # (R, B*H*W)
    pixels = responses[0, 0].numel()
    image = torch.arange(batch).repeat_interleave(pixels)
    flat = (image[None, :] * n_responses + torch.arange(n_responses)[:, None]) * n_bins + bins
    counts = torch.bincount(flat.reshape(-1), minlength=batch * n_responses * n_bins)
    return counts.reshape(batch, n_responses, n_bins).float() / pixels
