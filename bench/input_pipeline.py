"""The training input pipeline (decode, augment, collate; no network) against bare torchvision, and draft decoding.

    python bench/input_pipeline.py [--rounds 10] [--threads 1] [--quick] [--profile]

1. Pipeline. "Ours" is what the train rule builds: ``workflow.joint.make_loader`` with the
   TrainSettings of ``config/config.yaml`` + ``config/tiny-transfer.yaml`` (batch 32 target +
   32 source images, reflect padding 4, flip, ``jpeg_draft``), one loader per workers count
   that iterates one epoch per round (``epochs([e])``): each target image with one source neighbour
   drawn from its 20, decoded by ``datasets.load_image``, cropped and flipped on uint8, collated
   into one uint8 tensor of 2b images. "Bare" is a torchvision ``ImageFolder`` + ``DataLoader``
   over the very same images in the very same batches (a sampler hands it our epoch's order:
   b targets, then their b neighbours), batch 2b, the same workers (persistent too, so neither
   side restarts processes between epochs), with Resize, CenterCrop, RandomCrop(padding,
   reflect), RandomHorizontalFlip and then either ``PILToTensor`` ("bare uint8": the same output
   as ours) or ``ToTensor`` + ``Normalize`` ("bare float": what a torchvision user usually
   writes; 4x the bytes from the workers). Two data sets: the real tiny-transfer JPEGs (64 px,
   the 240 invertebrates training images repeated to whole batches, neighbours among the
   27,000 source images) at 64 px, and generated ImageNet-sized JPEGs (500x375, quality 90,
   smooth random content at every scale, about 80 KB each against ImageNet's ~110 KB) at
   224 px, the size GPU users train at. The main process runs one torch thread, as the train
   rule's jobs do here: with two on two busy cores, OpenMP's waiting makes ToTensor + Normalize
   (bare float, workers 0) several times slower, which would measure the machine's load.
2. Draft. ``load_image(path, size, draft=True)`` (the JPEG decoder's DCT scaling to 1/2, 1/4
   or 1/8, never below ``size``) against ``draft=False`` on generated 500x375 and 1000x750
   JPEGs at 64 and 224 px, one process; with the mean absolute difference of the two crops
   (0-255 levels) and their PSNR (from the mean squared difference over all pixels).

Every comparison runs side by side in interleaved rounds (the order of the ways rotates from
round to round); after one warm-up round (workers start, file cache fills) the tables give each
way's median images/s and the median of the rounds' paired ratios, with their range, so a round
slowed by another process counts once, not against one side. ``--profile`` adds cProfile's top
functions of ours and bare uint8 (workers 0) for a few batches of each data set.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import platform
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL
import torch
import torchvision
import yaml
from PIL import Image, features
from torchvision import transforms as T

from workflow.datasets import load_image, scan_image_folder
from workflow.joint import TrainSettings, make_loader
from workflow.loading import epoch_pairs
from workflow.stages.training import _items

CONFIGS = ("config/config.yaml", "config/tiny-transfer.yaml")  # as snakemake --configfile layers them
TINY = "invertebrates"
WORKERS = (0, 1, 2)
VARIANTS = ("ours", "bare uint8", "bare float")


def merged_config(paths) -> dict:
    """The config files layered as Snakemake layers them: later files update earlier ones, key by key."""

    def update(base: dict, new: dict) -> dict:
        for key, value in new.items():
            nested = isinstance(value, dict) and isinstance(base.get(key), dict)
            base[key] = update(base[key], value) if nested else value
        return base

    config: dict = {}
    for path in paths:
        with open(path) as file:
            update(config, yaml.safe_load(file))
    return config


def train_settings(config: dict, size: int, workers: int) -> TrainSettings:
    """The train rule's settings (workflow/plan/training.py: training_settings) for one epoch at ``size`` px."""
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    settings = {k: v for k, v in config["train"].items() if k in fields}
    return TrainSettings(**{**settings, "epochs": 1, "seed": 0, "input_size": size, "workers": workers})


# --- generated images -------------------------------------------------------------------------


def smooth_image(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """Random content at every scale (octaves of upsampled noise, weights falling as 1/scale) and
    a little pixel noise: smooth like a photograph, with detail for the entropy coder to carry."""
    total = np.zeros((height, width, 3))
    for octave in range(8):
        h, w = 3 * 2**octave, 4 * 2**octave
        noise = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        total += np.asarray(noise.resize((width, height), Image.BICUBIC), dtype=np.float64) / 2 ** (0.3 * octave)
    total = (total - total.mean()) / total.std() * 50 + 120 + rng.normal(0, 6, total.shape)
    return Image.fromarray(np.clip(total, 0, 255).astype(np.uint8))


def write_jpegs(folder: Path, classes: int, per_class: int, width: int, height: int, seed: int) -> list[Path]:
    """``classes`` x ``per_class`` JPEGs (quality 90) in an ImageFolder layout under ``folder``."""
    rng, paths = np.random.default_rng(seed), []
    for c in range(classes):
        (folder / f"c{c:02d}").mkdir(parents=True)
        for i in range(per_class):
            paths.append(folder / f"c{c:02d}" / f"{i:04d}.jpg")
            smooth_image(width, height, rng).save(paths[-1], quality=90)
    return paths


# --- the two pipelines ------------------------------------------------------------------------


class OrderSampler(torch.utils.data.Sampler):
    """The indices of the order last set (the bare loader's: our epoch's images, batch by batch)."""

    def __init__(self):
        self.order: list[int] = []

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        return iter(self.order)


def bare_dataset(root: str, samples: list[tuple[str, int]], size: int, padding: int, flip: bool, uint8: bool):
    """A torchvision ImageFolder (of ``root``'s layout) listing ``samples``, with the usual transforms."""
    steps = [T.Resize(size), T.CenterCrop(size)]
    if padding:
        steps.append(T.RandomCrop(size, padding=padding, padding_mode="reflect"))
    if flip:
        steps.append(T.RandomHorizontalFlip())
    steps += [T.PILToTensor()] if uint8 else [T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
    dataset = torchvision.datasets.ImageFolder(root, transform=T.Compose(steps))
    dataset.samples = dataset.imgs = samples
    dataset.targets = [label for _, label in samples]
    return dataset


def bare_order(n_targets: int, neighbours, settings: TrainSettings, epoch: int) -> list[int]:
    """Our epoch's images as indices of the bare dataset (targets, then sources): b targets, their b neighbours, ..."""
    pairs = epoch_pairs(n_targets, neighbours, np.random.default_rng([settings.seed, epoch]))
    order = []
    for start in range(0, len(pairs), settings.batch_size):
        chunk = pairs[start : start + settings.batch_size]
        order += [t for t, _ in chunk] + [n_targets + s for _, s in chunk]
    return order


def one_epoch(loader, epoch: int):
    """The batches of one epoch of a ``PairLoader``: ``epochs([epoch])`` (``epoch(epoch)`` before a fit's
    epochs became one pass)."""
    return loader.epochs([epoch]) if hasattr(loader, "epochs") else loader.epoch(epoch)


class Pipelines:
    """Ours and the two bare loaders, for one workers count: each ``run(variant, epoch)`` iterates one epoch."""

    def __init__(self, data: dict, settings: TrainSettings):
        self.data, self.settings = data, settings
        self.ours = make_loader(data["targets"], data["sources"], data["neighbours"], settings, torch.device("cpu"))
        n_classes = 1 + max(label for _, label in data["targets"])
        samples = data["targets"] + [(path, n_classes + label) for path, label in data["sources"]]
        self.samplers, self.bare = {}, {}
        for variant in VARIANTS[1:]:
            dataset = bare_dataset(data["root"], samples, settings.input_size, settings.crop_padding, settings.flip,
                                   uint8=variant == "bare uint8")
            self.samplers[variant] = OrderSampler()
            self.bare[variant] = torch.utils.data.DataLoader(
                dataset, batch_size=2 * settings.batch_size, sampler=self.samplers[variant],
                num_workers=settings.workers, persistent_workers=settings.workers > 0)

    def run(self, variant: str, epoch: int) -> int:
        """One epoch of ``variant``; returns the images it delivered."""
        if variant == "ours":
            return sum(len(batch["images"]) for batch in one_epoch(self.ours, epoch))
        data = self.data
        self.samplers[variant].order = bare_order(len(data["targets"]), data["neighbours"], self.settings, epoch)
        return sum(len(images) for images, _ in self.bare[variant])


def timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def ratio_text(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def pipeline_table(data: dict, settings: TrainSettings, rounds: int) -> str:
    """Interleaved rounds of every (workers, variant); the markdown table of images/s and ours/bare."""
    pipelines = {w: Pipelines(data, dataclasses.replace(settings, workers=w)) for w in WORKERS}
    n_images = 2 * len(data["targets"])
    seconds = {(w, v): [] for w in WORKERS for v in VARIANTS}
    for round_ in range(rounds + 1):  # round 0 warms up
        for w in WORKERS:
            for i in range(len(VARIANTS)):
                variant = VARIANTS[(i + round_) % len(VARIANTS)]
                took, seen = timed(pipelines[w].run, variant, round_)
                if seen != n_images:
                    raise RuntimeError(f"{variant} with {w} workers delivered {seen} images, expected {n_images}")
                if round_:
                    seconds[w, variant].append(took)
    del pipelines  # their workers end
    lines = [f"{data['name']}: {settings.input_size} px, {settings.batch_size} target + {settings.batch_size} source "
             f"images per batch, {n_images} images per epoch, {rounds} interleaved rounds (epochs)\n",
             "| workers | ours (images/s) | bare uint8 | bare float (usual) | ours / bare uint8 (range) "
             "| ours / bare float (range) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for w in WORKERS:
        rate = {v: statistics.median(n_images / s for s in seconds[w, v]) for v in VARIANTS}
        # per round, bare's seconds over ours = ours' images/s over bare's
        ratios = {v: [b / o for o, b in zip(seconds[w, "ours"], seconds[w, v])] for v in VARIANTS[1:]}
        lines.append(f"| {w} | {rate['ours']:.0f} | {rate['bare uint8']:.0f} | {rate['bare float']:.0f} | "
                     f"{ratio_text(ratios['bare uint8'])} | {ratio_text(ratios['bare float'])} |")
    return "\n".join(lines)


def profile_text(data: dict, settings: TrainSettings, batches: int, top: int = 14) -> str:
    """cProfile of ``batches`` batches of ours and of bare uint8, workers 0: the functions with the most own time."""
    settings = dataclasses.replace(settings, workers=0)
    pipelines = Pipelines(data, settings)
    out = []
    for variant in ("ours", "bare uint8"):
        pipelines.run(variant, 0)  # warm the file cache
        if variant == "ours":
            batches_of = one_epoch(pipelines.ours, 1)
        else:
            pipelines.samplers[variant].order = bare_order(len(data["targets"]), data["neighbours"], settings, 1)
            batches_of = iter(pipelines.bare[variant])
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(batches):
            next(batches_of)
        profiler.disable()
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats("tottime").print_stats(top)
        body = stream.getvalue()
        body = body[body.index("ncalls"):] if "ncalls" in body else body
        out.append(f"{data['name']}, {variant}, {batches} batches, {stats.total_tt:.3f} s profiled:\n\n"
                   + "\n".join("    " + line for line in body.rstrip().splitlines()))
    return "\n\n".join(out)


# --- draft decoding ---------------------------------------------------------------------------


def decoded_size(path: Path, size: int) -> str:
    with Image.open(path) as image:
        image.draft(None, (size, size))
        return f"{image.size[0]}x{image.size[1]}"


def draft_table(sets: dict[str, list[Path]], sizes: tuple[int, ...], rounds: int) -> str:
    """Interleaved rounds of full and draft decoding of every (image set, size); images/s, ratio and fidelity."""
    cases = [(name, size) for name in sets for size in sizes]
    seconds = {(case, draft): [] for case in cases for draft in (False, True)}
    for round_ in range(rounds + 1):
        for case in cases:
            for draft in ((False, True) if round_ % 2 else (True, False)):
                took, _ = timed(lambda: [load_image(str(p), case[1], draft=draft) for p in sets[case[0]]])
                if round_:
                    seconds[case, draft].append(took)
    lines = ["| JPEG | px | decoded at (draft) | full (images/s) | draft (images/s) | draft / full (range) | "
             "mean abs diff (0-255) | PSNR (dB) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, size in cases:
        paths = sets[name]
        full = np.stack([np.asarray(load_image(str(p), size), dtype=np.float64) for p in paths])
        fast = np.stack([np.asarray(load_image(str(p), size, draft=True), dtype=np.float64) for p in paths])
        mae, mse = np.abs(full - fast).mean(), ((full - fast) ** 2).mean()
        psnr = "identical" if mse == 0 else f"{10 * np.log10(255**2 / mse):.1f}"
        rate = {d: statistics.median(len(paths) / s for s in seconds[(name, size), d]) for d in (False, True)}
        # per round, full's seconds over draft's = draft's images/s over full's
        ratios = [f / d for f, d in zip(seconds[(name, size), False], seconds[(name, size), True])]
        lines.append(f"| {name} | {size} | {decoded_size(paths[0], size)} | {rate[False]:.0f} | {rate[True]:.0f} | "
                     f"{ratio_text(ratios)} | {mae:.2f} | {psnr} |")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def tiny_data(config: dict, batch: int, steps: int, k: int) -> dict:
    """The tiny-transfer target's training images (repeated to ``steps`` whole batches) and random neighbours."""
    target_root = f"{config['targets'][TINY]['root']}/train"
    source_root = config["sources"][config["targets"][TINY]["source"]]["root"]
    pool, sources = _items(scan_image_folder(target_root)), _items(scan_image_folder(source_root))
    targets = [pool[i % len(pool)] for i in range(steps * batch)]
    rng = np.random.default_rng(0)
    neighbours = [rng.choice(len(sources), k, replace=False) for _ in targets]
    return {"name": "tiny-transfer (real 64x64 JPEGs)", "root": target_root, "targets": targets,
            "sources": sources, "neighbours": neighbours}


def generated_data(folder: Path, batch: int, steps: int, k: int) -> dict:
    """Generated 500x375 JPEGs: ``steps`` batches of targets (4 classes), twice as many sources (8 classes)."""
    per_class = steps * batch // 4
    write_jpegs(folder / "target", 4, per_class, 500, 375, seed=1)
    write_jpegs(folder / "source", 8, per_class, 500, 375, seed=2)
    targets, sources = _items(scan_image_folder(folder / "target")), _items(scan_image_folder(folder / "source"))
    rng = np.random.default_rng(0)
    neighbours = [rng.choice(len(sources), k, replace=False) for _ in targets]
    kb = statistics.mean(Path(p).stat().st_size for p, _ in targets + sources) / 1024
    return {"name": f"generated 500x375 JPEGs (quality 90, mean {kb:.0f} KB)", "root": str(folder / "target"),
            "targets": targets, "sources": sources, "neighbours": neighbours}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10,
                        help="timed rounds of each comparison (after one warm-up round)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of the main process (1: as the train rule's jobs)")
    parser.add_argument("--quick", action="store_true", help="fewer images and 3 rounds: a smoke test, not figures")
    parser.add_argument("--profile", action="store_true", help="also cProfile ours and bare uint8 (workers 0)")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    torch.set_num_threads(args.threads)
    config = merged_config(CONFIGS)
    k = config["selection"]["k0"]
    base = train_settings(config, 64, 0)
    turbo = features.check_feature("libjpeg_turbo")
    jpeg = f"libjpeg-turbo {features.version('libjpeg_turbo')}" if turbo else f"libjpeg {features.version('jpg')}"
    print(f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, torchvision "
          f"{torchvision.__version__}, Pillow {PIL.__version__} ({jpeg}), {time.strftime('%Y-%m-%d')}; "
          f"train settings of {' + '.join(CONFIGS)}: batch {base.batch_size}, crop_padding {base.crop_padding}, "
          f"flip {base.flip}, jpeg_draft {base.jpeg_draft}; neighbours: {k} random source images per target\n")

    tiny = tiny_data(config, base.batch_size, 4 if args.quick else 8, k)
    print(pipeline_table(tiny, base, rounds) + "\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="input-pipeline-") as tmp:
        tmp = Path(tmp)
        generated = generated_data(tmp / "pipeline", base.batch_size, 2 if args.quick else 3, k)
        at_224 = dataclasses.replace(base, input_size=224)
        print(pipeline_table(generated, at_224, rounds) + "\n", flush=True)

        n = 8 if args.quick else 32
        sets = {"500x375": write_jpegs(tmp / "draft-500", 1, n, 500, 375, seed=3),
                "1000x750": write_jpegs(tmp / "draft-1000", 1, n, 1000, 750, seed=4)}
        kb = {name: statistics.mean(p.stat().st_size for p in paths) / 1024 for name, paths in sets.items()}
        print(f"draft: workflow.datasets.load_image(path, px, draft=True / False), one process, {n} generated "
              f"JPEGs per size (quality 90, mean {kb['500x375']:.0f} / {kb['1000x750']:.0f} KB), "
              f"{rounds} interleaved rounds\n")
        print(draft_table(sets, (64, 224), rounds), flush=True)

        if args.profile:
            print("\n" + profile_text(tiny, base, 4) + "\n\n" + profile_text(generated, at_224, 2))


if __name__ == "__main__":
    main()
