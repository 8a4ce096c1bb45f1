"""Descriptors at ImageNet's image sizes: decoding once for both banks, and JPEG draft decoding.

    python bench/descriptors_fullsize.py              # 128 JPEGs, 64 and 224 px, 6 rounds: ~6 minutes, one core
    python bench/descriptors_fullsize.py --quick      # a CPU check of every part: 48 JPEGs, 1 round, ~1.5 minutes

ImageNet's train JPEGs are ~400x350 px (~110 KB), not the 64-px images of the other benchmarks,
and there decoding costs more than filtering. This generates ``--images`` 500x375 JPEGs
(quality 90) from real photographs: tiny-transfer source images (``--data``), upscaled, cropped,
with multi-scale detail added for the entropy coder to carry (photographs hold detail at
every scale; an upscaled 64-px image alone would decode too fast). Written to a temporary folder,
never to the repository.

Per descriptor size (64 and 224 px), the Gabor bank of config/config.yaml and a CNN bank on
torchvision's ResNet-50 (random init: conv1 + layer1.0.conv1, 64 + 64 responses; the cost does not
depend on the weights) run through the descriptor stage's own loop
(``workflow.stages.descriptors.bank_histograms``, one torch thread, decoding in the same
process, so images/s is per core), three ways side by side in interleaved rounds:

- (a) a job per bank, each decoding every image at full size (the workflow before one job served both);
- (b) one job for both banks, each image decoded once, in full;
- (c) one job for both banks, decoded once with ``descriptors.jpeg_draft`` (the decoder's DCT
  scaling to 1/2, 1/4 or 1/8, never below the descriptor size);

and, in the same rounds, decoding alone (the job's dataset, ``DecodedImages``: one decode, in
full or drafted, fitted to grayscale and colour): the floor of (b) and (c). Ratios are the medians of the rounds' paired ratios to (a).

Bounds come from the bounds stage on the first 32 images, with the draft setting of the way.
Then what draft does to the descriptors (at each size, each bank): the weighted symmetric KL
(retrieval's, eps 1e-4) between the draft and the full-decode histograms of the same image,
against that of an image to its nearest other image and to a random other image, and the overlap
of the top-10 source lists of the first 32 images (the rest as the pool) under the two settings.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import PIL
import torch
import yaml
from PIL import Image

from workflow.datasets import decode_image
from workflow.retrieval import TopK, response_weights, smooth, symmetric_kl
from workflow.stages.descriptors import BoundBank, DecodedImages, bank_histograms, bounds

DATA = "../shared/data/tiny-transfer/source/train"
POOL = 1_281_167  # ILSVRC-2012 train images
A = "(a) a job per bank, full decode each"
WIDTH, HEIGHT = 500, 375


def natural_jpeg(source: str, rng: np.random.Generator) -> Image.Image:
    """A 500x375 image from a 64-px photograph: upscaled (bicubic), its middle rows, and detail
    at the four finest octaves (upsampled noise, weights falling with scale) plus pixel noise."""
    base = Image.open(source).convert("RGB").resize((WIDTH, WIDTH), Image.BICUBIC)
    top = (WIDTH - HEIGHT) // 2
    pixels = np.asarray(base.crop((0, top, WIDTH, top + HEIGHT)), dtype=np.float64)
    detail = np.zeros_like(pixels)
    for octave in range(4, 8):
        noise = rng.integers(0, 256, (3 * 2**octave, 4 * 2**octave, 3), dtype=np.uint8)
        upsampled = np.asarray(Image.fromarray(noise).resize((WIDTH, HEIGHT), Image.BICUBIC), dtype=np.float64)
        detail += (upsampled - 127.5) / 2 ** (0.5 * (octave - 4))
    pixels += detail / detail.std() * 26 + rng.normal(0, 10, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_images(folder: Path, data: str, n: int) -> list[str]:
    """``n`` JPEGs (quality 90) from photographs spread over the source classes."""
    sources = sorted(glob.glob(f"{data}/*/*"))
    if not sources:
        raise SystemExit(f"no images under {data} (--data): the tiny-transfer source folder")
    rng, paths = np.random.default_rng(0), []
    for i, source in enumerate(sources[:: max(1, len(sources) // n)][:n]):
        paths.append(str(folder / f"{i:04d}.jpg"))
        natural_jpeg(source, rng).save(paths[-1], quality=90)
    return paths


def cnn_checkpoint(folder: Path, arch: str) -> str:
    """A random-init torchvision network (the filtering cost does not depend on the weights)."""
    from workflow.model import build_model, save_checkpoint

    torch.manual_seed(0)
    path = str(folder / f"{arch}.pt")
    save_checkpoint(build_model(arch, {"t": ["a"]}, "scratch"), {"t": ["a"]}, path)
    return path


def make_banks(folder: Path, paths: list[str], size: int, draft: bool, gabor: dict, checkpoint: str,
               arch: str, activation: bool) -> list[BoundBank]:
    """The Gabor and the CNN bank with bounds from the bounds stage on the first 32 images."""
    train = folder / "train.csv"
    pd.DataFrame({"index": range(32), "path": paths[:32], "label": 0, "class_name": "a"}).to_csv(train, index=False)
    banks = []
    for name, settings in (("gabor", gabor), ("cnn", {"model": checkpoint, "arch": arch, "activation": activation})):
        out = folder / f"bounds-{name}-{size}-{draft}.h5"
        bounds(str(train), str(out), name, settings, 32, 2000, size, draft, 16, 0)
        banks.append(BoundBank(str(out)))
    return banks


def all_histograms(paths: list[str], banks: list[BoundBank], batch: int) -> list[np.ndarray]:
    """Every bank's histograms of ``paths``: [(n, R_b, bins) float16]."""
    chunks = [[] for _ in banks]
    for batch_hists in bank_histograms(paths, banks, batch, 0):
        for bank_chunks, hist in zip(chunks, batch_hists):
            bank_chunks.append(hist)
    return [np.concatenate(c) for c in chunks]


def decode_all(paths: list[str], size: int, draft: bool) -> None:
    """What a job's decoding does (its DataLoader's dataset): decode once, fit to grayscale and colour."""
    images = DecodedImages(paths, size, ["L", "RGB"], draft)
    for i in range(len(images)):
        images[i]


def timed_ways(paths: list[str], full: list[BoundBank], drafted: list[BoundBank], size: int, batch: int,
               rounds: int) -> dict:
    """Seconds per round of each way (and of decoding alone), rounds interleaved, the order rotating."""
    ways = {
        A: lambda: [all_histograms(paths, [bank], batch) for bank in full],
        "(b) one job, decoded once, full": lambda: all_histograms(paths, full, batch),
        "(c) one job, decoded once, draft": lambda: all_histograms(paths, drafted, batch),
        "decoding alone, full": lambda: decode_all(paths, size, False),
        "decoding alone, draft": lambda: decode_all(paths, size, True),
    }
    names = list(ways)
    for banks in (full, drafted):  # warm: page cache, FFT plans, the spectra caches
        all_histograms(paths[:batch], banks, batch)
    seconds = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            ways[name]()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def draft_effect(full: np.ndarray, drafted: np.ndarray, layer_sizes, targets: int, k: int) -> dict:
    """Divergences of draft against full histograms, and the overlap of the two top-k lists."""
    weights = response_weights(list(layer_sizes))
    p, q = smooth(full, 1e-4), smooth(drafted, 1e-4)
    between = symmetric_kl(p, p, weights).astype(np.float64)
    np.fill_diagonal(between, np.inf)
    same = np.diag(symmetric_kl(p, q, weights)).astype(np.float64)
    random_other = between[np.arange(len(p)), (np.arange(len(p)) + len(p) // 2) % len(p)]
    lists = []
    for hist in (full, drafted):
        top = TopK(hist[:targets], weights, k, 1e-4)
        top.add(hist[targets:], np.arange(targets, len(hist)))
        lists.append(top.ids)
    overlap = [len(set(a) & set(b)) / k for a, b in zip(*lists)]
    return {"same": float(np.mean(np.maximum(same, 0))), "nearest": float(np.mean(between.min(axis=1))),
            "random": float(np.mean(random_other)), "overlap": float(np.mean(overlap)), "first_same": float(np.mean(lists[0][:, 0] == lists[1][:, 0]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA, help="tiny-transfer source images (read, never copied)")
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--cnn-arch", default="resnet50", help="the CNN bank's torchvision network (its first two "
                        "Conv2d layers; config/paper.yaml's: alexnet)")
    parser.add_argument("--cnn-activation", action="store_true", help="the CNN bank's layers after their nonlinearity "
                        "(bank.cnn.activation; config/paper.yaml's)")
    parser.add_argument("--quick", action="store_true", help="a CPU check of every part: 48 images, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.images, args.rounds = 48, 1
    torch.set_num_threads(1)
    gabor = yaml.safe_load((Path(__file__).parent.parent / "config" / "config.yaml").read_text())["bank"]["gabor"]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_images(folder, args.data, args.images)
        kb = np.mean([os.path.getsize(p) for p in paths]) / 1024
        checkpoint = cnn_checkpoint(folder, args.cnn_arch)
        speed, effect = [], []
        for size in args.sizes:
            banks = (gabor, checkpoint, args.cnn_arch, args.cnn_activation)
            full = make_banks(folder, paths, size, False, *banks)
            drafted = make_banks(folder, paths, size, True, *banks)
            seconds = timed_ways(paths, full, drafted, size, args.batch, args.rounds)
            drafted_size = "x".join(map(str, decode_image(paths[0], size).size))
            speed.append((size, seconds, drafted_size))
            histograms = [all_histograms(paths, full, args.batch), all_histograms(paths, drafted, args.batch)]
            for b, bank in enumerate(full):
                row = draft_effect(histograms[0][b], histograms[1][b], bank.layer_sizes, 32, 10)
                identical = np.array_equal(histograms[0][b], histograms[1][b])
                effect.append((size, bank.name, drafted_size, identical, row))

    print(f"{len(paths)} generated {WIDTH}x{HEIGHT} JPEGs (quality 90, mean {kb:.0f} KB, from tiny-transfer photographs), "
          f"batch {args.batch}, 1 torch thread, decoding in the same process, {args.rounds} interleaved round(s); "
          f"banks: gabor (config/config.yaml) + cnn (torchvision {args.cnn_arch}, random init: its first two Conv2d"
          f"{', after their nonlinearity' if args.cnn_activation else ''}); "
          f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, Pillow {PIL.__version__}, "
          f"{datetime.date.today()}\n")
    print("| px | way | images/s | ms/image | vs (a) (range) | core-hours for 1.28M images |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size, seconds, drafted_size in speed:
        for name, times in seconds.items():
            rate = len(paths) / statistics.median(times)
            ratios = [a / t for a, t in zip(seconds[A], times)]
            ratio = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            shown = f"{name} (at {drafted_size})" if name == "decoding alone, draft" else name
            print(f"| {size} | {shown} | {rate:.0f} | {1000 / rate:.1f} | {ratio} | {POOL / rate / 3600:.1f} |")
    print("\nWhat draft does to the descriptors (bounds and histograms both with or both without draft): "
          "mean weighted symmetric KL (eps 1e-4); top-10 of the first 32 images among the others\n")
    print("| px | bank | decoded at | D(full, draft), same image | D to its nearest other image | D to a random other image "
          "| top-10 overlap | same first neighbour |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, name, drafted_size, identical, row in effect:
        if identical:
            print(f"| {size} | {name} | {drafted_size} | 0 (identical histograms) | {row['nearest']:.3f} | {row['random']:.3f} "
                  "| 1.00 | 1.00 |")
            continue
        print(f"| {size} | {name} | {drafted_size} | {row['same']:.4f} | {row['nearest']:.3f} | {row['random']:.3f} "
              f"| {row['overlap']:.2f} | {row['first_same']:.2f} |")


if __name__ == "__main__":
    main()
