"""The input pipeline of training and evaluation: uint8 crops from worker processes, one loader per fit.

A GPU trains ResNet-50 at 224 px on thousands of images a second; decoding a JPEG, resizing
and cropping it costs milliseconds of a CPU core. So the images are decoded in
``workers`` DataLoader processes that live as long as the fit (``persistent_workers``: no
process start per epoch), travel as uint8 (a quarter of float32's bytes) in pinned memory,
and are copied to the device without blocking; only there do they become floats in [0, 1]
(the network normalises them itself: ``model.JointNet.normalize``).

Reproducibility is that of a single process: which target image comes when, which neighbour it
brings, and each image's crop and flip are drawn from (seed, epoch, place in the epoch), never
from a generator that runs on, so any number of workers, a resumed epoch and a rerun give the
same batches. The batch sampler (``EpochBatches``) runs in the main process and is told the
epochs before each pass; the workers only decode the keys it hands them. A fit makes one pass
over all its epochs, so the workers never wait for an epoch to start. The loaders draw their
workers' seeds from generators of their own, so torch's global generator (dropout's) advances
with the network alone, the same in a resumed fit as in an uninterrupted one.
"""

from __future__ import annotations

import signal

import numpy as np
import torch

from .datasets import load_image
from .devices import forget_claims

AUGMENTATIONS = ("pad-crop", "scale")


def decode(path: str, size: int, draft: bool) -> np.ndarray:
    """The deterministic (size, size, 3) uint8 center crop of an image (``datasets.load_image``)."""
    return np.asarray(load_image(path, size, draft=draft), dtype=np.uint8)


def decode_resized(path: str, shorter: int, draft: bool) -> np.ndarray:
    """An image with its shorter side resized to ``shorter``, aspect kept: (H, W, 3) uint8; its center
    square is ``decode(path, shorter, draft)``."""
    return np.asarray(load_image(path, shorter, draft=draft, crop=False), dtype=np.uint8)


def augment(image: np.ndarray, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """A random crop of the reflect-padded (H, W, 3) image and an optional horizontal flip: (3, H, W) uint8.

    The draws (crop corner, then flip) are the same, in the same order, whatever the image.
    """
    if padding:
        size = image.shape[0]
        padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)), mode="reflect")
        top, left = torch.randint(0, 2 * padding + 1, (2,), generator=generator).tolist()
        image = padded[top : top + size, left : left + size]
    if flip and torch.rand((), generator=generator) < 0.5:
        image = image[:, ::-1]
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def scale_crop(path: str, size: int, sizes: tuple[int, int], flip: bool, draft: bool,
               generator: torch.Generator) -> torch.Tensor:
    """The ResNet paper's scale augmentation: the shorter side resized to a length drawn uniformly
    from ``sizes`` (inclusive), a random ``size`` x ``size`` crop of it, an optional flip: (3, size, size) uint8.

    The draws (length, crop corner, flip) come in that order whatever the image.
    """
    shorter = int(torch.randint(sizes[0], sizes[1] + 1, (), generator=generator))
    image = decode_resized(path, shorter, draft)
    height, width = image.shape[:2]
    top = int(torch.randint(0, height - size + 1, (), generator=generator))
    left = int(torch.randint(0, width - size + 1, (), generator=generator))
    image = image[top : top + size, left : left + size]
    if flip and torch.rand((), generator=generator) < 0.5:
        image = image[:, ::-1]
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class TrainCrops:
    """How a training image becomes a crop: ``pad-crop`` (resize and center-crop to ``size``, then a
    random crop of it reflect-padded by ``padding``: small images) or ``scale`` (``scale_crop``: the
    ResNet paper's, for 224-px training); both with optional flips."""

    def __init__(self, augmentation: str, size: int, padding: int, flip: bool, draft: bool,
                 scale_sizes: tuple[int, int] | None = None):
        if augmentation not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {augmentation!r}; known: {', '.join(AUGMENTATIONS)}")
        if augmentation == "scale" and not (scale_sizes and size <= scale_sizes[0] <= scale_sizes[1]):
            raise ValueError(f"augmentation scale: scale_sizes is {scale_sizes}, needs [shortest, longest] with "
                             f"input_size {size} <= shortest <= longest")
        self.augmentation, self.size, self.padding, self.flip, self.draft = augmentation, size, padding, flip, draft
        self.scale_sizes = scale_sizes

    def __call__(self, path: str, generator: torch.Generator) -> torch.Tensor:
        if self.augmentation == "scale":
            return scale_crop(path, self.size, self.scale_sizes, self.flip, self.draft, generator)
        return augment(decode(path, self.size, self.draft), self.padding, self.flip, generator)


class EvaluationViews:
    """The views a model is evaluated on: ``crops`` = 1, the center ``size`` crop of the image resized
    to ``resize`` on its shorter side (``resize`` = ``size``: the whole central square); ``crops`` = 10,
    the center and the four corner crops and their mirror images (multi-crop testing), the center first.
    (V, 3, size, size) uint8."""

    def __init__(self, size: int, resize: int, crops: int, draft: bool):
        if crops not in (1, 10):
            raise ValueError(f"test_crops is {crops}: 1 (center crop) or 10 (center, corners and their mirrors)")
        if resize < size:
            raise ValueError(f"test_resize {resize} is smaller than input_size {size}")
        self.size, self.resize, self.crops, self.draft = size, resize, crops, draft

    def __call__(self, path: str) -> torch.Tensor:
        image, size = decode_resized(path, self.resize, self.draft), self.size
        height, width = image.shape[:2]
        corners = [((height - size) // 2, (width - size) // 2)]
        if self.crops == 10:
            corners += [(0, 0), (0, width - size), (height - size, 0), (height - size, width - size)]
        views = [image[top : top + size, left : left + size] for top, left in corners]
        if self.crops == 10:
            views += [view[:, ::-1] for view in views]
        return torch.from_numpy(np.ascontiguousarray(np.stack(views).transpose(0, 3, 1, 2)))


def quiet_worker(_: int) -> None:
    """A decoding process's start: stop requests are the job's, and GPU claims its main process's.

    SIGINT and SIGTERM sent to the job's process group (Ctrl-C, a batch system's time limit or
    scancel) reach the training loop, which saves its state and stops (``stopping.py``); a worker
    that died of one first would make the loader raise instead, and the state would be lost.
    The worker exits when the loader shuts down or its parent dies. It also closes its copies of
    the GPU lock files, so that a killed job's GPU is free the moment its main process is gone.
    """
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    forget_claims()


def to_tensor(path: str, size: int) -> torch.Tensor:
    """One image as evaluation sees it: (3, size, size) float32 in [0, 1]."""
    return to_unit(torch.from_numpy(decode(path, size, draft=False).transpose(2, 0, 1).copy()))


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as float32 in [0, 1] (the same values as dividing float32 pixels by 255)."""
    return images.float().div_(255.0)


def to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A uint8 batch on ``device`` as float32 in [0, 1], without waiting for the copy; channels-last on CUDA
    (the layout its convolution kernels are fastest in)."""
    images = images.to(device, non_blocking=True)
    if device.type == "cuda":  # the layout change on uint8: a quarter of float32's bytes to move
        images = images.contiguous(memory_format=torch.channels_last)
    return to_unit(images)


class PairImages(torch.utils.data.Dataset):
    """Decodes keys (epoch, place, target index, source index or -1) into augmented uint8 crops."""

    def __init__(self, target_items, source_items, crop: TrainCrops, seed: int):
        self.target_items, self.source_items, self.crop, self.seed = target_items, source_items, crop, seed

    def __len__(self) -> int:
        return len(self.target_items)

    def __getitem__(self, key: tuple[int, int, int, int]):
        epoch, place, target, source = key
        # the pair's place in its epoch seeds its crops, wherever the epoch resumed and whichever worker decodes it
        generator = torch.Generator().manual_seed(hash((self.seed, epoch, place)) % 2**63)
        path, label = self.target_items[target]
        item = [self.crop(path, generator), label]
        if source >= 0:
            path, source_label = self.source_items[source]
            item += [self.crop(path, generator), source_label]
        return tuple(item)


def epoch_pairs(n_targets: int, neighbours: list[np.ndarray] | None, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A shuffled pass over the targets, each with one uniformly drawn neighbour (or -1)."""
    order = rng.permutation(n_targets)
    if neighbours is None:
        return [(int(t), -1) for t in order]
    return [(int(t), int(neighbours[t][rng.integers(len(neighbours[t]))]) if len(neighbours[t]) else -1) for t in order]


class EpochBatches(torch.utils.data.Sampler):
    """The batches of keys of the epochs last set by ``set_epochs``, one epoch after the other, from a
    given batch of the first on.

    An epoch walks the target images in an order drawn from (seed, epoch); each brings one
    neighbour drawn uniformly from its list. Its last batch may be short; the next epoch's
    batches follow at once, so one pass of a loader covers a whole fit.
    """

    def __init__(self, n_targets: int, neighbours: list[np.ndarray] | None, batch_size: int, seed: int):
        self.n_targets, self.neighbours, self.batch_size, self.seed = n_targets, neighbours, batch_size, seed
        self.epochs, self.skip = [0], 0

    def set_epochs(self, epochs, skip: int = 0) -> None:
        self.epochs, self.skip = list(epochs), skip

    def __len__(self) -> int:
        return len(self.epochs) * -(-self.n_targets // self.batch_size) - self.skip

    def __iter__(self):
        for i, epoch in enumerate(self.epochs):
            pairs = epoch_pairs(self.n_targets, self.neighbours, np.random.default_rng([self.seed, epoch]))
            if self.neighbours is not None and any(s < 0 for _, s in pairs):
                raise ValueError("a target image has an empty neighbour list")
            keys = [(epoch, place, t, s) for place, (t, s) in enumerate(pairs)]
            for start in range(self.skip * self.batch_size if i == 0 else 0, len(keys), self.batch_size):
                yield keys[start : start + self.batch_size]


def collate_pairs(items) -> dict:
    """One batch: ``images`` (target images, then their source images: one tensor, one copy to the
    device) and ``labels`` per head."""
    images = [item[0] for item in items] + [item[2] for item in items if len(item) == 4]
    labels = {"target": torch.tensor([item[1] for item in items])}
    if len(items[0]) == 4:
        labels["source"] = torch.tensor([item[3] for item in items])
    return {"images": torch.stack(images), "labels": labels}


class PairLoader:
    """The joint batches of a whole fit (warm-up included) from one DataLoader and its workers.

    target_items / source_items: lists of (path, label); neighbours: per target index, an array
    of source indices (None: target images alone).
    """

    def __init__(self, target_items, source_items, neighbours, *, batch_size: int, crop: TrainCrops, seed: int,
                 workers: int, pin_memory: bool):
        self.sampler = EpochBatches(len(target_items), neighbours, batch_size, seed)
        dataset = PairImages(target_items, source_items, crop, seed)
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=self.sampler, num_workers=workers, collate_fn=collate_pairs,
            persistent_workers=workers > 0, pin_memory=pin_memory, prefetch_factor=4 if workers else None,
            worker_init_fn=quiet_worker, generator=torch.Generator().manual_seed(seed))  # its workers' seeds: not drawn from torch's global generator

    def epochs(self, epochs, skip: int = 0):
        """The batches of ``epochs`` in one pass, from batch ``skip`` of the first on."""
        self.sampler.set_epochs(epochs, skip)
        return iter(self.loader)


class ViewImages(torch.utils.data.Dataset):
    """Images as evaluation sees them: each path's deterministic views (``EvaluationViews``) of its list."""

    def __init__(self, paths: list[str], lists: np.ndarray, views: list[EvaluationViews]):
        self.paths, self.lists, self.views = paths, lists, views

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.views[self.lists[i]](self.paths[i])


def view_batches(path_lists: list[list[str]], views: list[EvaluationViews], batch_size: int, workers: int,
                 pin_memory: bool):
    """The images of several lists of paths in one pass, in order, as uint8 batches (B, V, 3, S, S) of
    each list's views, decoded by ``workers`` processes; no batch mixes two lists (a list's batches
    are the same as if it came alone)."""
    paths = [path for paths in path_lists for path in paths]
    ends = np.cumsum([len(paths) for paths in path_lists])
    lists = np.repeat(np.arange(len(path_lists)), [len(paths) for paths in path_lists])
    batches = [list(range(start, min(start + batch_size, end)))
               for begin, end in zip([0, *ends[:-1]], ends) for start in range(begin, end, batch_size)]
    return torch.utils.data.DataLoader(ViewImages(paths, lists, views), batch_sampler=batches, num_workers=workers,
                                       pin_memory=pin_memory, prefetch_factor=4 if workers else None,
                                       worker_init_fn=quiet_worker, generator=torch.Generator())
