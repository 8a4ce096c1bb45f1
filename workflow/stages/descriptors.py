"""Descriptor stages: equal-mass bins on the target train set, then histograms per shard.

Images are decoded by ``workers`` DataLoader processes while the main process filters and
bins the previous batch (``workers: 0`` decodes in the main process).
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..datasets import load_image, read_manifest
from ..filterbank import make_bank
from ..histograms import Binning, equal_mass_bins, fine_counts, response_range
from ..io import read_h5, write_h5

log = logging.getLogger(__name__)


class DecodedImages(Dataset):
    """Images resized and center-cropped to ``size``, in [0, 1] float32: (S, S) grayscale or (S, S, 3)."""

    def __init__(self, paths: list[str], size: int, mode: str):
        self.paths, self.size, self.mode = paths, size, mode

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = np.asarray(load_image(self.paths[i], self.size, mode=self.mode), dtype=np.float32) / 255
        return torch.from_numpy(image)


def image_batches(paths: list[str], image_size: int, batch_size: int, mode: str, workers: int = 0):
    """Batches of decoded images in manifest order, decoded by ``workers`` processes."""
    return DataLoader(DecodedImages(paths, image_size, mode), batch_size=batch_size, shuffle=False,
                      num_workers=workers, prefetch_factor=4 if workers else None)


def bounds(manifest: str, out: str, bank: str, bank_settings: dict, bins: int, intervals: int, image_size: int,
           batch_size: int, workers: int) -> None:
    """Equal-mass histogram edges of every filter response over the target training images.

    Args:
        manifest: the target's train manifest
        out: bounds.h5 (also stores the bank and its settings, which the descriptor jobs read)
        bank: filter bank name (``workflow.banks``): gabor | cnn
        bank_settings: the bank's settings, e.g. {"frequencies": [...], "orientations": 6}
        bins: equal-mass bins per filter response
        intervals: fine intervals per response of the counting pass
        image_size: images are resized and center-cropped to this before filtering
        batch_size: images per filtering batch
        workers: image decoding processes (0: the main process)
    """
    filters = make_bank(bank, bank_settings)
    paths = read_manifest(manifest)["path"].tolist()

    def responses():
        return (filters.response_layers(images) for images in image_batches(paths, image_size, batch_size, filters.mode, workers))

    start = time.perf_counter()
    low, high = response_range(responses())
    counts = fine_counts(responses(), low, high, intervals)
    binning = Binning(low, high, equal_mass_bins(counts, bins), bins)
    attrs = {"bank": bank, "bank_settings": json.dumps(bank_settings, sort_keys=True), "image_size": image_size,
             "n_bins": bins, "layer_sizes": np.array(filters.layer_sizes)}
    write_h5(out, {"low": low.numpy(), "high": high.numpy(), "interval_bins": binning.interval_bins.numpy().astype(np.int16),
                   "edges": binning.edges().numpy()}, attrs)
    log.info("bounds of %d responses x %d bins from %d images in %.1f s", len(low), bins, len(paths), time.perf_counter() - start)


def _bank_from_bounds(bounds_file: str):
    stored = read_h5(bounds_file)
    bank = make_bank(stored["attr:bank"], json.loads(stored["attr:bank_settings"]))
    binning = Binning(torch.from_numpy(stored["low"]), torch.from_numpy(stored["high"]),
                      torch.from_numpy(stored["interval_bins"].astype(np.int64)), int(stored["attr:n_bins"]))
    return bank, binning, stored


def descriptors(manifest: str, bounds: str, out: str, shard: int, shards: int, batch_size: int, workers: int) -> None:
    """Response histograms of one shard of a manifest: images [shard n / N, (shard + 1) n / N).

    Args:
        manifest: the images' manifest (target train or source pool)
        bounds: bounds.h5 of the bounds stage: the bank, its settings and the bin edges
        out: the shard's histograms (HDF5: hist, index)
        shard: which shard (0-based)
        shards: N, the number of shards of the manifest
        batch_size: images per filtering batch
        workers: image decoding processes (0: the main process)
    """
    bank, binning, stored = _bank_from_bounds(bounds)
    frame = read_manifest(manifest)
    lo, hi = len(frame) * shard // shards, len(frame) * (shard + 1) // shards
    part = frame.iloc[lo:hi]
    start, chunks, done = time.perf_counter(), [], 0
    report_every = max(1, len(part) // 10)
    for images in image_batches(part["path"].tolist(), int(stored["attr:image_size"]), batch_size, bank.mode, workers):
        chunks.append(binning.histograms(bank.response_layers(images)).half().numpy())
        done += len(images)
        if done // report_every != (done - len(images)) // report_every:
            log.info("shard %d/%d: %d/%d images (%.0f img/s)", shard, shards, done, len(part), done / (time.perf_counter() - start))
    hist = np.concatenate(chunks) if chunks else np.empty((0, binning.n_responses, binning.n_bins), dtype=np.float16)
    write_h5(out, {"hist": hist, "index": part["index"].to_numpy()}, {"layer_sizes": stored["attr:layer_sizes"]})
    seconds = time.perf_counter() - start
    log.info("shard %d/%d: %d images in %.1f s (%.0f img/s)", shard, shards, len(part), seconds, len(part) / max(seconds, 1e-9))
