"""Gabor descriptor throughput: the workflow's bank against the obvious implementations.

    python bench/descriptors.py [--images 512] [--naive-images 3] [--size 64] [--threads 1]

Real tiny-transfer source photographs (``--data``), decoded once up front so that every way
filters the same pixels. Side by side in one run, images per second for:

- PIL decode + grayscale + resize: the rate a descriptor job cannot beat;
- naive: ``skimage.filters.gabor`` per filter and image, ``np.histogram`` per response;
- plain torch FFT: every filter at full size on the image zero-padded to 256 px, ``searchsorted``;
- the workflow without the pyramid (``pyramid: false``), and with it (the default);
- the CNN bank (ResNet-18 conv1 + layer1.0.conv1, random weights: the cost does not depend on them).

All but decoding use the same 48 responses x 32 equal-mass bins; ratios are against naive.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import platform
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from workflow.datasets import load_image
from workflow.filterbank import ONE_OCTAVE, CNNBank, GaborBank, make_bank
from workflow.histograms import Binning, equal_mass_bins, fine_counts, response_range

DATA = "../shared/data/tiny-transfer/source/train"


def decode(paths: list[str], size: int) -> float:
    start = time.perf_counter()
    for path in paths:
        np.asarray(load_image(path, size, mode="L"))
    return len(paths) / (time.perf_counter() - start)


def naive(images: np.ndarray, bank: GaborBank, edges: np.ndarray) -> float:
    """skimage's gabor per (image, filter), numpy's histogram per response."""
    from skimage.filters import gabor

    start = time.perf_counter()
    for image in images:
        r = 0
        for frequency, angle in bank.filters:
            sigma = ONE_OCTAVE / frequency
            real, imag = gabor(image, frequency, theta=angle, sigma_x=sigma, sigma_y=sigma, n_stds=3, mode="reflect")
            for part in (real, imag):
                np.histogram(part, bins=np.concatenate([[-np.inf], edges[r], [np.inf]]))
                r += 1
    return len(images) / (time.perf_counter() - start)


def plain_fft(images: torch.Tensor, bank: GaborBank, edges: torch.Tensor, batch: int) -> float:
    """Every filter at full size, the image zero-padded to 256 x 256, torch.searchsorted binning."""
    spectra = bank._spectra_cache(tuple(bank.filters), 256, 256)
    start = time.perf_counter()
    for lo in range(0, len(images), batch):
        x = images[lo : lo + batch]
        size = x.shape[-1]
        response = torch.fft.ifft2(torch.fft.fft2(x, s=(256, 256))[:, None] * spectra[None])[..., :size, :size]
        values = torch.view_as_real(response).permute(1, 4, 0, 2, 3).reshape(2 * len(bank.filters), -1).contiguous()
        bins = torch.searchsorted(edges, values, right=True)
        for r in range(len(bins)):
            torch.bincount(bins[r], minlength=edges.shape[1] + 1)
    return len(images) / (time.perf_counter() - start)


def workflow_rate(images: torch.Tensor, bank, binning: Binning, batch: int) -> float:
    start = time.perf_counter()
    for lo in range(0, len(images), batch):
        binning.histograms(bank.response_layers(images[lo : lo + batch]))
    return len(images) / (time.perf_counter() - start)


def binning_for(bank, images: torch.Tensor, batch: int) -> Binning:
    batches = [bank.response_layers(images[lo : lo + batch]) for lo in range(0, len(images), batch)]
    low, high = response_range(batches)
    return Binning(low, high, equal_mass_bins(fine_counts(batches, low, high, 2000), 32), 32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--naive-images", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    paths = sorted(glob.glob(f"{args.data}/*/*"))[:: max(1, 27000 // args.images)][: args.images]
    gray = np.stack([np.asarray(load_image(p, args.size, mode="L"), dtype=np.float32) / 255 for p in paths])
    colour = np.stack([np.asarray(load_image(p, args.size, mode="RGB"), dtype=np.float32) / 255 for p in paths])
    gray_t, colour_t = torch.from_numpy(gray), torch.from_numpy(colour)

    gabor = yaml.safe_load((Path(__file__).parent.parent / "config" / "config.yaml").read_text())["bank"]["gabor"]
    pyramid, flat = make_bank("gabor", {**gabor, "pyramid": True}), make_bank("gabor", {**gabor, "pyramid": False})
    flat_binning = binning_for(flat, gray_t[:64], args.batch)
    edges = torch.nan_to_num(flat_binning.edges(), nan=0.0).sort(dim=1).values.contiguous()
    torch.manual_seed(0)
    import os
    import tempfile

    from workflow.model import build_model, save_checkpoint

    with tempfile.TemporaryDirectory() as folder:
        checkpoint = os.path.join(folder, "model.pt")
        save_checkpoint(build_model("resnet18", {"t": ["a"]}, "scratch"), {"t": ["a"]}, checkpoint)
        cnn = CNNBank(model=checkpoint, arch="resnet18", layers=None, activation=False)
    rows = [("PIL decode + grayscale + resize", decode(paths, args.size))]
    rows.append(("naive: skimage gabor + np.histogram", naive(gray[: args.naive_images], flat, edges.numpy())))
    rows.append(("plain torch FFT at 256 px + searchsorted", plain_fft(gray_t[: max(args.batch, args.images // 8)], flat, edges, args.batch)))
    rows.append(("workflow, pyramid: false", workflow_rate(gray_t, flat, flat_binning, args.batch)))
    rows.append(("workflow, pyramid: true (default)", workflow_rate(gray_t, pyramid, binning_for(pyramid, gray_t[:64], args.batch), args.batch)))
    rows.append(("CNN bank (ResNet-18 stem, colour)", workflow_rate(colour_t, cnn, binning_for(cnn, colour_t[:64], args.batch), args.batch)))

    naive_rate, decode_rate = rows[1][1], rows[0][1]
    print(f"{args.images} tiny-transfer images at {args.size} px (naive: {args.naive_images}), batch {args.batch}, "
          f"{args.threads} thread(s); {platform.machine()}, torch {torch.__version__}, {datetime.date.today()}\n")
    print("| way | images/s | vs naive | vs decode |")
    print("| --- | --- | --- | --- |")
    for name, rate in rows:
        print(f"| {name} | {rate:,.2f} | {rate / naive_rate:,.0f}x | {rate / decode_rate:.2f} |")


if __name__ == "__main__":
    main()
