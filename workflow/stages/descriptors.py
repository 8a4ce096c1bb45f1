"""Descriptor stages: equal-mass bounds on the target train set, then histograms per shard."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import torch

from ..datasets import load_image, read_manifest
from ..filterbank import make_bank
from ..histograms import equal_mass_edges, fine_counts, histograms, response_range
from ..io import read_h5, write_h5

log = logging.getLogger(__name__)


def _image_batches(paths: list[str], image_size: int, batch_size: int, mode: str):
    """Images in [0, 1] as float32 tensors, (B, S, S) grayscale or (B, S, S, 3) colour, in manifest order."""
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        arrays = [np.asarray(load_image(p, image_size, mode=mode), dtype=np.float32) / 255 for p in chunk]
        yield torch.from_numpy(np.stack(arrays))


def bounds(manifest: str, out: str, bank_name: str, bank_settings: dict, n_bins: int, n_intervals: int, image_size: int, batch_size: int) -> None:
    """Equal-mass bin edges of every filter response over the target training images."""
    bank = make_bank(bank_name, bank_settings)
    paths = read_manifest(manifest)["path"].tolist()

    def responses():
        return (bank.response_layers(images) for images in _image_batches(paths, image_size, batch_size, bank.mode))

    start = time.perf_counter()
    low, high = response_range(responses())
    counts = fine_counts(responses(), low, high, n_intervals)
    edges = equal_mass_edges(counts, low, high, n_bins)
    attrs = {"bank": bank_name, "bank_settings": json.dumps(bank_settings, sort_keys=True), "image_size": image_size,
             "n_bins": n_bins, "layer_sizes": np.array(bank.layer_sizes)}
    write_h5(out, {"edges": edges.numpy(), "low": low.numpy(), "high": high.numpy()}, attrs)
    log.info("bounds of %d responses x %d bins from %d images in %.1f s", len(edges), n_bins, len(paths), time.perf_counter() - start)


def _bank_from_bounds(bounds_file: str):
    stored = read_h5(bounds_file)
    return make_bank(stored["attr:bank"], json.loads(stored["attr:bank_settings"])), stored


def descriptors(manifest: str, bounds_file: str, out: str, shard: int, n_shards: int, batch_size: int) -> None:
    """Histograms of one shard of a manifest: images [shard n / N, (shard + 1) n / N)."""
    bank, stored = _bank_from_bounds(bounds_file)
    frame = read_manifest(manifest)
    lo, hi = len(frame) * shard // n_shards, len(frame) * (shard + 1) // n_shards
    part = frame.iloc[lo:hi]
    edges = torch.from_numpy(stored["edges"])
    start, chunks = time.perf_counter(), []
    for images in _image_batches(part["path"].tolist(), int(stored["attr:image_size"]), batch_size, bank.mode):
        chunks.append(histograms(bank.response_layers(images), edges).half().numpy())
    n_bins = edges.shape[1] + 1
    hist = np.concatenate(chunks) if chunks else np.empty((0, len(edges), n_bins), dtype=np.float16)
    write_h5(out, {"hist": hist, "index": part["index"].to_numpy()}, {"layer_sizes": stored["attr:layer_sizes"]})
    seconds = time.perf_counter() - start
    log.info("shard %d/%d: %d images in %.1f s (%.0f img/s)", shard, n_shards, len(part), seconds, len(part) / max(seconds, 1e-9))
