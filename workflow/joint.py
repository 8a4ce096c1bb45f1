"""Joint fine-tuning (paper, 3.2): target and borrowed source images in every mini-batch.

An epoch walks the target training images in a random order; each target image brings one
source image drawn uniformly from its neighbour list, so a batch of B target images holds B
source images too. The loss is

    L = CE(target head(x_t), y_t) + source_weight * CE(source head(x_s), y_s) [+ Omega],

optimised by SGD with momentum; the learning rate drops by 10x after ``lr_step`` of the steps.
An optional regularizer Omega and DTNH's projection of everything but the target loss
against the target gradient are described in ``regularizers.py``.
With no neighbours this is plain fine-tuning, and with the source set as the "target" it is
the pretraining of the backbone on the source classes. ``predict`` gives a head's softmax on
deterministic center crops, for the entropy table and the evaluation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .datasets import load_image
from .regularizers import inner, make_regularizer, remove_conflict_
from .resume import Resume
from .stopping import Stopped, StopRequest

log = logging.getLogger(__name__)

class TrainingDiverged(ValueError):
    """A non-finite training loss: the job stops instead of saving a model that predicts noise."""


@dataclass
class TrainSettings:
    """One fit's settings, as the rules build them from the config (``config/config.yaml`` is the
    only home of their values). The fields without a default are always given; those with one are
    switches that are off unless the config turns them on, and the values a switch needs
    (``source_weight`` with source images, ``warmup_lr`` with warm-up epochs, ``alpha``, ``beta``
    and ``layers`` with a regularizer) are checked to be given."""

    epochs: int
    batch_size: int
    lr: float
    head_lr_mult: float
    lr_step: float
    momentum: float
    weight_decay: float
    input_size: int
    flip: bool
    crop_padding: int
    freeze_bn: bool
    workers: int
    seed: int
    source_weight: float | None = None  # the source loss's weight, when source images are borrowed
    regularizer: str = "none"  # none | l2sp | knowdist (see regularizers.py)
    alpha: float | None = None
    beta: float | None = None
    layers: tuple[str, ...] = ()
    dtnh: bool = False
    warmup_epochs: int = 0  # epochs of the heads alone (backbone frozen) before joint training
    warmup_lr: float | None = None
    run_epochs: int = 0  # epochs of the whole run's schedule (0: this fit's own); see make_optimizer
    first_epoch: int = 0  # where this fit starts in the run's schedule

    def __post_init__(self):
        needed = {"warmup_lr": self.warmup_epochs > 0, "alpha": self.regularizer != "none",
                  "beta": self.regularizer == "l2sp", "layers": self.regularizer == "knowdist"}
        missing = [name for name, wanted in needed.items() if wanted and getattr(self, name) in (None, ())]
        if missing:
            raise ValueError(f"training settings lack {', '.join(missing)} (regularizer {self.regularizer}, "
                             f"warmup_epochs {self.warmup_epochs})")


def to_tensor(path: str, size: int) -> torch.Tensor:
    """Decoded, resized and center-cropped image in [0, 1]: (3, size, size) float32 (the network normalises)."""
    array = np.asarray(load_image(path, size), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)


def augment(image: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """A random crop of the reflect-padded image and an optional horizontal flip."""
    if padding:
        size = image.shape[-1]
        padded = F.pad(image[None], (padding,) * 4, mode="reflect")[0]
        top, left = torch.randint(0, 2 * padding + 1, (2,), generator=generator).tolist()
        image = padded[:, top : top + size, left : left + size]
    if flip and torch.rand((), generator=generator) < 0.5:
        image = image.flip(-1)
    return image


class PairDataset(torch.utils.data.Dataset):
    """One epoch's (target image, borrowed source image) pairs; source index -1 means none."""

    def __init__(self, pairs, target_items, source_items, settings: TrainSettings, epoch: int, start: int = 0):
        self.pairs, self.target_items, self.source_items = pairs, target_items, source_items
        self.settings, self.epoch, self.start = settings, epoch, start

    def __len__(self) -> int:
        return len(self.pairs) - self.start

    def __getitem__(self, i: int):
        s = self.settings
        i += self.start  # the pair's place in the epoch seeds its crops, wherever the epoch resumed
        generator = torch.Generator().manual_seed(hash((s.seed, self.epoch, i)) % 2**63)
        target, source = self.pairs[i]
        path, label = self.target_items[target]
        item = [augment(to_tensor(path, s.input_size), s.crop_padding, s.flip, generator), label]
        if source >= 0:
            path, label = self.source_items[source]
            item += [augment(to_tensor(path, s.input_size), s.crop_padding, s.flip, generator), label]
        return tuple(item)


def epoch_pairs(n_targets: int, neighbours: list[np.ndarray] | None, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A shuffled pass over the targets, each with one uniformly drawn neighbour (or -1)."""
    order = rng.permutation(n_targets)
    if neighbours is None:
        return [(int(t), -1) for t in order]
    return [(int(t), int(neighbours[t][rng.integers(len(neighbours[t]))]) if len(neighbours[t]) else -1) for t in order]


def joint_batches(target_items, source_items, neighbours, settings: TrainSettings, epoch: int, skip: int = 0):
    """The batches of one epoch, from batch ``skip`` on: dicts head -> (images, labels)."""
    rng = np.random.default_rng([settings.seed, epoch])
    pairs = epoch_pairs(len(target_items), neighbours, rng)
    if neighbours is not None and any(s < 0 for _, s in pairs):
        raise ValueError("a target image has an empty neighbour list")
    dataset = PairDataset(pairs, target_items, source_items, settings, epoch, start=skip * settings.batch_size)
    loader = torch.utils.data.DataLoader(dataset, batch_size=settings.batch_size, num_workers=settings.workers)
    for batch in loader:
        out = {"target": (batch[0], batch[1])}
        if len(batch) == 4:
            out["source"] = (batch[2], batch[3])
        yield out


def freeze_batch_norm(model: nn.Module) -> None:
    """Keep every BatchNorm layer on its running statistics (its scale and shift still learn).

    Small fine-tuning batches give noisy batch statistics, and joint batches mix source and
    target images, whose running statistics would then differ from the target-only test set.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def make_optimizer(model: nn.Module, settings: TrainSettings, steps_per_epoch: int):
    """SGD with the heads at ``head_lr_mult`` x lr, and a 10x drop after ``lr_step`` of the run's steps.

    A run of several iterations (``run_epochs``) follows one schedule: the drop falls where
    ``lr_step`` of all its steps are done, and each iteration's fit starts at ``first_epoch``
    of it (with the previous iteration's momentum, passed to ``fit``). Without ``run_epochs``
    the fit has its own schedule.
    """
    groups = [
        {"params": list(model.backbone.parameters()), "lr": settings.lr},
        {"params": list(model.heads.parameters()), "lr": settings.lr * settings.head_lr_mult},
    ]
    optimizer = torch.optim.SGD(groups, momentum=settings.momentum, weight_decay=settings.weight_decay)
    run_epochs = settings.run_epochs or settings.epochs
    drop = int(settings.lr_step * run_epochs * steps_per_epoch)
    offset = settings.first_epoch * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.1 if offset + step >= drop else 1.0)
    return optimizer, scheduler


WARMUP_EPOCH_SEED = 10_000  # warm-up epochs draw their pairs and crops apart from the training epochs


def warm_up_heads(model: nn.Module, target_items, source_items, neighbours, settings: TrainSettings, device) -> None:
    """Train the heads alone on the frozen backbone's features for ``settings.warmup_epochs``.

    A randomly initialised head on a pretrained backbone sends large, random gradients into it
    during the first steps (an ImageNet-pretrained EfficientNet-Lite's features collapse); heads
    fitted first make the backbone's first joint steps useful (linear probing, then fine-tuning).
    """
    if not settings.warmup_epochs:
        return
    optimizer = torch.optim.SGD(model.heads.parameters(), lr=settings.warmup_lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay)
    model.to(device).backbone.eval()
    for epoch in range(settings.warmup_epochs):
        total, count = 0.0, 0
        for batch in joint_batches(target_items, source_items, neighbours, settings, WARMUP_EPOCH_SEED + epoch):
            images = torch.cat([x for x, _ in batch.values()]).to(device)
            with torch.no_grad():
                features = model.features(images)
            loss, offset = 0.0, 0
            for name, (_, labels) in batch.items():
                logits = model.heads[name](features[offset : offset + len(labels)])
                offset += len(labels)
                loss = loss + F.cross_entropy(logits, labels.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            batch_size = len(batch["target"][1])
            total, count = total + loss.item() * batch_size, count + batch_size
        log.info("warm-up %d/%d  heads loss %.4f", epoch + 1, settings.warmup_epochs, total / max(count, 1))


def fit(model, target_items, settings: TrainSettings, device, source_items=None, neighbours=None, head="target",
        anchor: nn.Module | None = None, resume: Resume | None = None, optimizer_state: dict | None = None) -> dict:
    """Train ``model`` in place for ``settings.epochs`` epochs; return timing and loss figures.

    target_items / source_items: lists of (path, label); neighbours: per target index, an
    array of source indices (None trains on the targets alone, through head ``head``).
    ``anchor`` is the starting model that ``settings.regularizer`` pulls toward. With ``resume``
    the state is saved after epochs and a matching saved state is continued from (``resume``).
    ``optimizer_state`` (the previous iteration's, in a run with one schedule) carries its
    momentum over; the returned figures hold the final one under ``optimizer_state``.
    """
    if source_items is not None and settings.source_weight is None:
        raise ValueError("training settings lack source_weight, needed with source images")
    torch.manual_seed(settings.seed)
    steps_per_epoch = -(-len(target_items) // settings.batch_size)
    steps = settings.epochs * steps_per_epoch
    optimizer, scheduler = make_optimizer(model, settings, steps_per_epoch)
    if optimizer_state is not None:  # its momentum, with this fit's learning rates
        rates = [(g["lr"], g["initial_lr"]) for g in optimizer.param_groups]
        optimizer.load_state_dict(optimizer_state)
        for group, (lr, initial) in zip(optimizer.param_groups, rates):
            group["lr"], group["initial_lr"] = lr, initial
    regularizer = make_regularizer(settings.regularizer, model, anchor, settings.alpha, settings.beta, list(settings.layers))
    start, seen, projected, last_loss, first_epoch = time.perf_counter(), 0, 0, float("nan"), 0
    partial = {"batch": 0, "total": 0.0, "correct": 0, "count": 0}  # of an epoch stopped mid-way
    state = resume.load() if resume else None
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        first_epoch, seen, projected, last_loss = state["epoch"] + 1, state["seen"], state["projected"], state["loss"]
        partial = state.get("partial", partial)
        if "rng" in state:
            torch.set_rng_state(state["rng"])
        start -= state["seconds"]
    else:
        warm_up_heads(model, target_items, source_items, neighbours, settings, device)
    model.to(device).train()
    if settings.freeze_bn:
        freeze_batch_norm(model)

    def training_state(epoch: int, **extra) -> dict:
        return {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "seen": seen, "projected": projected, "loss": last_loss,
                "rng": torch.get_rng_state(), "seconds": time.perf_counter() - start, **extra}

    with StopRequest() as stop:
        for epoch in range(first_epoch, settings.epochs):
            done, total, correct, count = partial["batch"], partial["total"], partial["correct"], partial["count"]
            partial = {"batch": 0, "total": 0.0, "correct": 0, "count": 0}
            for batch in joint_batches(target_items, source_items, neighbours, settings, epoch, skip=done):
                if head != "target":
                    batch = {head: batch["target"]}
                images = torch.cat([x for x, _ in batch.values()]).to(device)
                features = model.features(images)
                losses, offset = {}, 0
                for name, (_, labels) in batch.items():
                    logits = model.heads[name](features[offset : offset + len(labels)])
                    offset += len(labels)
                    losses[name] = F.cross_entropy(logits, labels.to(device))
                    if name == head:
                        correct += int((logits.argmax(1).cpu() == labels).sum())
                        count += len(labels)
                other = settings.source_weight * losses["source"] if head != "source" and "source" in losses else None
                optimizer.zero_grad(set_to_none=True)
                projected += set_gradients(model, losses[head], other, regularizer, images, settings.dtnh) != 0
                optimizer.step()
                scheduler.step()
                total += (losses[head].item() + (other.item() if other is not None else 0.0)) * len(batch[head][1])
                seen += len(images)
                done += 1
                if stop.requested:
                    if resume:
                        resume.save(training_state(epoch - 1, partial={"batch": done, "total": total,
                                                                       "correct": correct, "count": count}))
                    raise Stopped(f"stopped on {stop.requested} in epoch {epoch + 1} of {settings.epochs}, "
                                  f"after step {done}" + (f"; state saved to {resume.path}" if resume else ""))
            last_loss = total / max(count, 1)
            if not np.isfinite(last_loss):
                raise TrainingDiverged(f"training diverged: loss {last_loss} in epoch {epoch + 1} of {settings.epochs} "
                                       f"(lr {settings.lr}); lower the learning rate or warm the heads up")
            rate = seen / (time.perf_counter() - start)
            log.info("epoch %d/%d  loss %.4f  %s acc %.3f  %.0f img/s", epoch + 1, settings.epochs, last_loss, head,
                     correct / max(count, 1), rate)
            if resume and resume.due(last_epoch=epoch == settings.epochs - 1):  # state dicts only when saved
                resume.save(training_state(epoch))
    return {"train_seconds": time.perf_counter() - start, "images_seen": seen, "final_loss": last_loss,
            "steps": steps, "projected_steps": int(projected), "optimizer_state": optimizer.state_dict()}


def set_gradients(model: nn.Module, main_loss, other_loss, regularizer, images, dtnh: bool) -> float:
    """Fill every trained parameter's ``.grad`` for one step; return DTNH's removed coefficient.

    Without DTNH the gradient is that of main + other + Omega. With DTNH, g_J is the gradient of
    the main (target) loss alone, g_O that of the rest, and the step is g_J + g_O with g_O's
    conflicting component removed: (1 - c) g_J + g_O (``regularizers.remove_conflict_``). L2-SP's
    g_O is added in place and never formed, so DTNH costs it two inner products.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    rest = other_loss
    if regularizer is not None and not regularizer.analytic:
        penalty = regularizer.penalty(images)
        rest = penalty if rest is None else rest + penalty
    analytic = regularizer if regularizer is not None and regularizer.analytic else None
    if not dtnh:
        (main_loss if rest is None else main_loss + rest).backward()
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if analytic is not None:
            analytic.add_gradient_({p: p.grad for p in params})
        return 0.0
    g_j = _gradients(main_loss, params, retain_graph=rest is not None)
    g_o = _gradients(rest, params) if rest is not None else None
    if g_o is not None and analytic is not None:
        analytic.add_gradient_(dict(zip(params, g_o)))
    if g_o is not None:
        dot = inner(g_j, g_o)
    else:
        dot = analytic.dot(dict(zip(params, g_j))) if analytic is not None else 0.0
    coefficient = remove_conflict_(g_j, dot)
    with torch.no_grad():
        if g_o is not None:
            for g, o in zip(g_j, g_o):
                g.add_(o)
        elif analytic is not None:
            analytic.add_gradient_(dict(zip(params, g_j)))
    for p, g in zip(params, g_j):
        p.grad = g
    return coefficient


def _gradients(loss, params, retain_graph: bool = False) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


@torch.no_grad()
def predict(model, paths: list[str], input_size: int, device, head: str = "target", batch_size: int = 128) -> np.ndarray:
    """Softmax outputs of ``head`` for images (deterministic center crops): (n, classes) float32."""
    model.to(device).eval()
    out = []
    for start in range(0, len(paths), batch_size):
        images = torch.stack([to_tensor(p, input_size) for p in paths[start : start + batch_size]])
        out.append(torch.softmax(model(images.to(device), head).float(), dim=1).cpu())
    n_classes = model.heads[head].out_features
    return torch.cat(out).numpy() if out else np.empty((0, n_classes), dtype=np.float32)
