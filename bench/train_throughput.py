"""Training throughput of the joint loop against a bare torchvision fine-tuning loop.

    python bench/train_throughput.py [--size 64] [--steps 3] [--rounds 15] [--threads 2]

"Ours" is the train stage's own code path: ``workflow.joint.fit`` (``loading.PairLoader``,
the two-head step) on the tiny-transfer target and source images, decoded from
the JPEG files by ``workflow.datasets.load_image``, each target image with one source image
drawn from its ``selection.k0`` neighbours (random ones here: retrieval does not change the
cost). "Bare" is what one would write with torchvision alone: an ``ImageFolder`` dataset
listing the very same images in the same batches (b target + b source images in one batch
of 2b, labels over the 24 + 135 classes), the usual transforms (Resize, CenterCrop,
RandomCrop with reflect padding, RandomHorizontalFlip, ToTensor, Normalize), a DataLoader,
``torchvision.models.resnet18`` with one linear head and SGD with momentum. Both run the
config's batch, workers and frozen BatchNorm, at the same image size and thread count.

Each round times, one after the other: our loop, the bare loop, our loader alone and the
bare loader alone (the same images, iterated without the network). Rounds are short and
interleave so machine noise hits both alike; after one warm-up round the table gives the
median images/s of each loop and the median of the rounds' ours/bare ratios (paired, so a
round slowed by another process counts once, not against one side), with their range. "loader
share" is the loader's time over the loop's for the same images: the part of a step that a
decoded uint8 cache could at most save.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import time
from functools import partial

import numpy as np
import torch
import torchvision
from torch.nn import functional as F
from torchvision import transforms as T

from input_pipeline import merged_config
from workflow.datasets import class_names, scan_image_folder
from workflow.joint import TrainSettings, fit, freeze_batch_norm, make_loader
from workflow.loading import epoch_pairs
from workflow.model import build_model
from workflow.stages.training import _items


def train_settings(config: dict, size: int, seed: int) -> TrainSettings:
    """The train rule's settings (workflow/plan/training.py: training_settings) for one epoch at ``size`` px."""
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    settings = {k: v for k, v in config["train"].items() if k in fields}
    return TrainSettings(**{**settings, "epochs": 1, "seed": seed, "input_size": size})


def bare_dataset(root: str, samples: list[tuple[str, int]], size: int, padding: int, flip: bool):
    """A torchvision ImageFolder (of ``root``'s layout) that lists ``samples`` in this order."""
    steps = [T.Resize(size), T.CenterCrop(size)]
    if padding:
        steps.append(T.RandomCrop(size, padding=padding, padding_mode="reflect"))
    if flip:
        steps.append(T.RandomHorizontalFlip())
    steps += [T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
    dataset = torchvision.datasets.ImageFolder(root, transform=T.Compose(steps))
    dataset.samples = dataset.imgs = samples
    dataset.targets = [label for _, label in samples]
    return dataset


def bare_loop(model, loader, settings: TrainSettings) -> int:
    """Plain fine-tuning over ``loader``: one head, cross-entropy, SGD; return images seen."""
    model.train()
    if settings.freeze_bn:
        freeze_batch_norm(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay)
    seen = 0
    for images, labels in loader:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(images)
    return seen


def our_loop(model, target_items, source_items, neighbours, settings: TrainSettings) -> int:
    """One epoch of the train stage's ``fit`` (cpu); return images seen."""
    return fit(model, target_items, settings, torch.device("cpu"), source_items, neighbours)["images_seen"]


def our_loader(target_items, source_items, neighbours, settings: TrainSettings) -> int:
    """``fit``'s batches of epoch 0, decoded and augmented but not trained on; return images seen."""
    batches = make_loader(target_items, source_items, neighbours, settings, torch.device("cpu")).epochs([0])
    return sum(len(batch["images"]) for batch in batches)


def bare_loader(loader) -> int:
    return sum(len(x) for x, _ in loader)


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/tiny-transfer.yaml")
    parser.add_argument("--target", default="invertebrates", help="a target of the config")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (64 native, or 32)")
    parser.add_argument("--steps", type=int, default=3, help="training steps per round and loop")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (after one warm-up round)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = merged_config(["config/config.yaml", args.config])  # as snakemake --configfile layers them
    target_cfg = config["targets"][args.target]
    target_root, source_root = f"{target_cfg['root']}/train", config["sources"][target_cfg["source"]]["root"]
    target_frame, source_frame = scan_image_folder(target_root), scan_image_folder(source_root)
    classes = {"target": class_names(target_frame), "source": class_names(source_frame)}
    target_pool, source_items = _items(target_frame), _items(source_frame)
    settings = train_settings(config, args.size, seed=0)
    b = settings.batch_size
    target_items = [target_pool[i % len(target_pool)] for i in range(args.steps * b)]  # `steps` full batches
    rng = np.random.default_rng(0)
    k = config["selection"]["k0"]
    neighbours = [rng.choice(len(source_items), k, replace=False) for _ in target_items]

    torch.manual_seed(0)
    ours = build_model(config["model"]["arch"], classes, "scratch")
    bare = torchvision.models.get_model(config["model"]["arch"], num_classes=len(classes["target"]) + len(classes["source"]))
    n_target_classes = len(classes["target"])
    times = {name: [] for name in ("ours", "bare", "ours loader", "bare loader")}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        round_settings = dataclasses.replace(settings, seed=round_)
        # the images our loop will see this round (fit's epoch 0), for the bare loop in the same batches
        pairs = epoch_pairs(len(target_items), neighbours, np.random.default_rng([round_settings.seed, 0]))
        samples = []
        for start in range(0, len(pairs), b):
            chunk = pairs[start : start + b]
            samples += [target_items[t] for t, _ in chunk]
            samples += [(source_items[s][0], n_target_classes + source_items[s][1]) for _, s in chunk]
        dataset = bare_dataset(target_root, samples, args.size, settings.crop_padding, settings.flip)
        loader = torch.utils.data.DataLoader(dataset, batch_size=2 * b, num_workers=settings.workers)
        n_images = len(samples)
        runs = {
            "ours": partial(our_loop, ours, target_items, source_items, neighbours, round_settings),
            "bare": partial(bare_loop, bare, loader, settings),
            "ours loader": partial(our_loader, target_items, source_items, neighbours, round_settings),
            "bare loader": partial(bare_loader, loader),
        }
        for name, run in runs.items():
            seconds, seen = timed(run)
            if seen != n_images:
                raise RuntimeError(f"{name} saw {seen} images, expected {n_images}")
            if round_:
                times[name].append(seconds)

    rate = {name: statistics.median(n_images / s for s in ts) for name, ts in times.items()}
    ratios = [bare_s / ours_s for ours_s, bare_s in zip(times["ours"], times["bare"])]  # = images/s ours / bare
    share = {loop: statistics.median(lt / t for lt, t in zip(times[f"{loop} loader"], times[loop])) for loop in ("ours", "bare")}
    print(f"{config['model']['arch']}, {args.size} px, {b} target + {b} source images per step, {args.steps} steps "
          f"x {args.rounds} interleaved rounds, {args.threads} threads, workers {settings.workers}, "
          f"freeze_bn {settings.freeze_bn}; {platform.machine()}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}\n")
    print("| loop | images/s | ms/step | ours/bare (range) | loader alone (images/s) | loader share of step |")
    print("| --- | --- | --- | --- | --- | --- |")
    for loop in ("ours", "bare"):
        ratio = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})" if loop == "ours" else ""
        print(f"| {loop} | {rate[loop]:.0f} | {1000 * 2 * b / rate[loop]:.0f} | {ratio} | "
              f"{rate[f'{loop} loader']:.0f} | {100 * share[loop]:.0f}% |")


if __name__ == "__main__":
    main()
