"""Descriptor stages: equal-mass bins on the target train set, then histograms per shard.

One descriptor job writes a shard's histograms for every bank of ``bank.names``: it decodes
each image once, then fits it to each bank's mode (gabor: grayscale, cnn: colour) at the
common ``bank.image_size`` and filters and bins it per bank. At ImageNet's ~400 x 350 JPEGs
decoding costs more than filtering at 64 px, and a job per bank decoded every image again
(BENCHMARKS.md, "Descriptors at full size"). With ``jpeg_draft`` (``descriptors.jpeg_draft``,
stored in bounds.h5 so that the bins and the histograms see the same pixels) a large JPEG is
decoded by the decoder's DCT scaling at the smallest 1/2, 1/4 or 1/8 that stays at least the
descriptor size.

Images are decoded by ``workers`` DataLoader processes while the main process filters and
bins the previous batch (``workers: 0`` decodes in the main process).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..datasets import decode_image, fit_image, read_manifest
from ..filterbank import make_bank
from ..histograms import Binning, equal_mass_bins, fine_counts, response_range
from ..io import read_h5, write_h5

log = logging.getLogger(__name__)


class DecodedImages(Dataset):
    """Each image decoded once and fitted to every PIL mode of ``modes`` (resized, center-cropped to
    ``size``): {mode: (S, S) grayscale or (S, S, 3) colour float32 in [0, 1]}.

    Pixel for pixel what ``datasets.load_image(path, size, mode, draft)`` gives for each mode.
    """

    def __init__(self, paths: list[str], size: int, modes: list[str], draft: bool):
        self.paths, self.size, self.modes, self.draft = paths, size, modes, draft

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        path = self.paths[i]
        image = decode_image(path, self.size if self.draft else None)
        return {mode: torch.from_numpy(np.asarray(fit_image(image, self.size, mode, path), dtype=np.float32) / 255)
                for mode in self.modes}


def image_batches(paths: list[str], image_size: int, batch_size: int, modes: list[str], draft: bool, workers: int = 0):
    """Batches of decoded images in manifest order, {mode: (B, S, S[, 3])}, decoded by ``workers`` processes."""
    return DataLoader(DecodedImages(paths, image_size, modes, draft), batch_size=batch_size, shuffle=False,
                      num_workers=workers, prefetch_factor=4 if workers else None)


def bounds(manifest: str, out: str, bank: str, bank_settings: dict, bins: int, intervals: int, image_size: int,
           jpeg_draft: bool, batch_size: int, workers: int) -> None:
    """Equal-mass histogram bins of every filter response over the target training images.

    Args:
        manifest: the target's train manifest
        out: bounds.h5 (also stores the bank, its settings, the image size and the draft setting,
            which the descriptor jobs read)
        bank: filter bank name (``workflow.banks``): gabor | cnn
        bank_settings: the bank's settings, e.g. {"frequencies": [...], "orientations": 6}
        bins: equal-mass bins per filter response
        intervals: fine intervals per response of the counting pass
        image_size: images are resized and center-cropped to this before filtering
        jpeg_draft: decode a JPEG at 1/2, 1/4 or 1/8 of its size where that stays at least image_size
        batch_size: images per filtering batch
        workers: image decoding processes (0: the main process)
    """
    filters = make_bank(bank, bank_settings)
    paths = read_manifest(manifest)["path"].tolist()

    def responses():
        return (filters.response_layers(images[filters.mode])
                for images in image_batches(paths, image_size, batch_size, [filters.mode], jpeg_draft, workers))

    start = time.perf_counter()
    low, high = response_range(responses())
    counts = fine_counts(responses(), low, high, intervals)
    binning = Binning(low, high, equal_mass_bins(counts, bins), bins)
    attrs = {"bank": bank, "bank_settings": json.dumps(bank_settings, sort_keys=True), "image_size": image_size,
             "jpeg_draft": jpeg_draft, "n_bins": bins, "layer_sizes": np.array(filters.layer_sizes)}
    write_h5(out, {"low": low.numpy(), "high": high.numpy(), "interval_bins": binning.interval_bins.numpy().astype(np.int16)},
             attrs)
    log.info("bounds of %d responses x %d bins from %d images in %.1f s", len(low), bins, len(paths), time.perf_counter() - start)


class BoundBank:
    """A bank as its bounds.h5 describes it: the filters, their bins, the image size and draft setting."""

    def __init__(self, bounds_file: str):
        stored = read_h5(bounds_file)
        self.file, self.name = bounds_file, str(stored["attr:bank"])
        self.filters = make_bank(self.name, json.loads(stored["attr:bank_settings"]))
        self.binning = Binning(torch.from_numpy(stored["low"]), torch.from_numpy(stored["high"]),
                               torch.from_numpy(stored["interval_bins"].astype(np.int64)), int(stored["attr:n_bins"]))
        self.image_size = int(stored["attr:image_size"])
        # bounds.h5 files written before the setting existed were decoded in full
        self.jpeg_draft = bool(stored.get("attr:jpeg_draft", False))
        self.layer_sizes = stored["attr:layer_sizes"]

    def histograms(self, images: dict[str, torch.Tensor]) -> np.ndarray:
        """(B, R, n_bins) float16 histograms of a batch from ``image_batches``."""
        return self.binning.histograms(self.filters.response_layers(images[self.filters.mode])).half().numpy()


def shared_pixels(banks: list[BoundBank]) -> tuple[int, bool]:
    """The image size and draft setting of banks that share their decoding; banks that disagree are refused."""
    sizes = {(bank.image_size, bank.jpeg_draft) for bank in banks}
    if len(sizes) != 1:
        found = ", ".join(f"{bank.file}: image_size {bank.image_size}, jpeg_draft {bank.jpeg_draft}" for bank in banks)
        raise ValueError(f"the bounds files disagree on the pixels to filter, so they cannot share one decode ({found}); "
                         "rerun their bounds with one bank.image_size and descriptors.jpeg_draft")
    return sizes.pop()


def bank_histograms(paths: list[str], banks: list[BoundBank], batch_size: int, workers: int) -> Iterator[list[np.ndarray]]:
    """Batch by batch in ``paths`` order, each bank's histograms [(B, R_b, n_bins) float16], from
    one decode of each image."""
    size, draft = shared_pixels(banks)
    modes = list(dict.fromkeys(bank.filters.mode for bank in banks))
    for images in image_batches(paths, size, batch_size, modes, draft, workers):
        yield [bank.histograms(images) for bank in banks]


def descriptors(manifest: str, bounds: list[str], out: list[str], shard: int, shards: int, batch_size: int,
                workers: int) -> None:
    """Response histograms of one shard of a manifest, images [shard n / N, (shard + 1) n / N), for
    every bank of ``bounds``, each image decoded once for all of them.

    Args:
        manifest: the images' manifest (target train or source pool)
        bounds: bounds.h5 of each bank (the bounds stage): the bank, its settings, the bins,
            the image size and the draft setting (the same for every bank)
        out: each bank's shard histograms (HDF5: hist, index), in the order of bounds
        shard: which shard (0-based)
        shards: N, the number of shards of the manifest
        batch_size: images per filtering batch
        workers: image decoding processes (0: the main process)
    """
    if len(out) != len(bounds):
        raise ValueError(f"descriptors: {len(bounds)} bounds files but {len(out)} outputs; give one --out per --bounds")
    banks = [BoundBank(path) for path in bounds]
    frame = read_manifest(manifest)
    lo, hi = len(frame) * shard // shards, len(frame) * (shard + 1) // shards
    part = frame.iloc[lo:hi]
    start, chunks, done = time.perf_counter(), [[] for _ in banks], 0
    report_every = max(1, len(part) // 10)
    for batch in bank_histograms(part["path"].tolist(), banks, batch_size, workers):
        for bank_chunks, hist in zip(chunks, batch):
            bank_chunks.append(hist)
        before, done = done, done + len(batch[0])
        if done // report_every != before // report_every:
            log.info("shard %d/%d: %d/%d images (%.0f img/s)", shard, shards, done, len(part), done / (time.perf_counter() - start))
    for bank, bank_chunks, path in zip(banks, chunks, out):
        empty = np.empty((0, bank.binning.n_responses, bank.binning.n_bins), dtype=np.float16)
        hist = np.concatenate(bank_chunks) if bank_chunks else empty
        write_h5(path, {"hist": hist, "index": part["index"].to_numpy()}, {"layer_sizes": bank.layer_sizes})
    seconds = time.perf_counter() - start
    log.info("shard %d/%d: %d images x %d banks (%s) in %.1f s (%.0f img/s)", shard, shards, len(part), len(banks),
             ", ".join(bank.name for bank in banks), seconds, len(part) / max(seconds, 1e-9))
