"""Joint fine-tuning (paper, 3.2): target and borrowed source images in every mini-batch.

An epoch walks the target training images in a random order; each target image brings one
source image drawn uniformly from its neighbour list, so a batch of B target images holds B
source images too. The loss is

    L = CE(target head(x_t), y_t) + source_weight * CE(source head(x_s), y_s) [+ Omega],

optimised by SGD with momentum; the learning rate drops by 10x after ``lr_step`` of the steps.
An optional regularizer Omega and DTNH's projection of everything but the target loss
against the target gradient are described in ``regularizers.py``, whose ``set_gradients`` fills
each step's gradients.
With no neighbours this is plain fine-tuning, and with the source set as the "target" it is
the pretraining of the backbone on the source classes. ``predict`` gives a head's softmax on
deterministic views (a center crop, or ten crops), for the entropy table and the evaluation. Images come from
``loading.py`` (decoded in worker processes, uint8 until they reach the device); the host never
waits for the device within an epoch: losses and counts add up on the device and are read once
per epoch (with fp16, the loss scaler reads its overflow flag at every step).
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import warnings
from dataclasses import dataclass, field
from typing import NoReturn

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import kernels
from .loading import PairLoader, EvaluationViews, TrainCrops, to_device, view_batches
from .regularizers import make_regularizer, set_gradients
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
    precision: str  # auto | fp32 | bf16 | fp16 (workflow/kernels.py)
    deterministic: bool  # deterministic GPU kernels instead of cuDNN's autotuner
    jpeg_draft: bool  # decode large JPEGs at a fraction of their size (datasets.load_image)
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
    augmentation: str = "pad-crop"  # pad-crop | scale (loading.TrainCrops)
    scale_sizes: tuple[int, int] | None = None  # scale: the range of the shorter side's length
    test_resize: int | None = None  # evaluation: the shorter side before the center crop (None: input_size)
    test_crops: int = 1  # evaluation: 1 (center crop) or 10 (loading.EvaluationViews)
    steps: int = 0  # optimizer steps of this fit instead of ``epochs`` (the paper's schedule)
    accumulate: int = 1  # mini-batches per optimizer step (Caffe's iter_size)
    lr_drops: tuple[int, ...] | None = None  # optimizer steps at which the lr is divided by 10 (else: lr_step)
    run_steps: int = 0  # with steps: the steps of the whole run's schedule (0: this fit's own)
    first_step: int = 0  # with steps: where this fit starts in the run's schedule
    decay: float = 1.0  # the regularizer's coefficient is multiplied by decay ** epoch (DTNH's recipe)

    def __post_init__(self):
        if (self.epochs > 0) == (self.steps > 0):
            raise ValueError(f"training settings need epochs or steps, one of them (epochs {self.epochs}, "
                             f"steps {self.steps})")
        needed = {"warmup_lr": self.warmup_epochs > 0, "alpha": self.regularizer != "none",
                  "beta": self.regularizer == "l2sp", "layers": self.regularizer == "knowdist"}
        missing = [name for name, wanted in needed.items() if wanted and getattr(self, name) in (None, ())]
        if missing:
            raise ValueError(f"training settings lack {', '.join(missing)} (regularizer {self.regularizer}, "
                             f"warmup_epochs {self.warmup_epochs})")


def freeze_batch_norm(model: nn.Module) -> None:
    """Keep every BatchNorm layer on its running statistics (its scale and shift still learn).

    Small fine-tuning batches give noisy batch statistics, and joint batches mix source and
    target images, whose running statistics would then differ from the target-only test set.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


@dataclass(frozen=True)
class FitPlan:
    """How a fit's mini-batches group into optimizer steps and epochs.

    An epoch is one pass over the target images in ``batches_per_epoch`` mini-batches; every
    ``accumulate`` of them make one optimizer step (an epoch's last step may take fewer: steps
    never straddle two epochs, so every epoch ends on a whole step and a fit resumes there).
    A fit runs ``settings.epochs`` epochs, or ``settings.steps`` steps, its last epoch cut short.
    """

    batches_per_epoch: int
    accumulate: int
    steps: int  # optimizer steps of the fit

    @classmethod
    def of(cls, n_targets: int, settings: TrainSettings) -> FitPlan:
        batches = -(-n_targets // settings.batch_size)
        per_epoch = -(-batches // settings.accumulate)
        return cls(batches, settings.accumulate, settings.steps or settings.epochs * per_epoch)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.batches_per_epoch // self.accumulate)

    @property
    def epochs(self) -> int:
        return -(-self.steps // self.steps_per_epoch)

    @property
    def mini_batches(self) -> int:
        return sum(self.batches(epoch) for epoch in range(self.epochs))

    def batches(self, epoch: int) -> int:
        """Mini-batches of epoch ``epoch`` (a whole pass, or the steps left when it is the last)."""
        return min(self.batches_per_epoch, (self.steps - epoch * self.steps_per_epoch) * self.accumulate)

    def group(self, epoch: int, batch: int) -> int:
        """How many mini-batches make the optimizer step that mini-batch ``batch`` of ``epoch`` belongs to."""
        first = batch - batch % self.accumulate
        return min(self.accumulate, self.batches(epoch) - first)


def make_optimizer(model: nn.Module, settings: TrainSettings, steps_per_epoch: int):
    """SGD with the heads at ``head_lr_mult`` x lr, and the lr divided by 10 at each of ``lr_drops``
    (optimizer steps), by default once, after ``lr_step`` of the run's steps.

    A run of several iterations (``run_epochs``, or ``run_steps`` with a step count) follows one
    schedule: its drops count the run's steps, and each iteration's fit starts at ``first_epoch``
    (``first_step``) of it, with the previous iteration's momentum, passed to ``fit``. Without
    them the fit has its own schedule. ``steps_per_epoch`` counts optimizer steps (``FitPlan``).
    """
    groups = [
        {"params": list(model.backbone.parameters()), "lr": settings.lr},
        {"params": list(model.heads.parameters()), "lr": settings.lr * settings.head_lr_mult},
    ]
    optimizer = torch.optim.SGD(groups, momentum=settings.momentum, weight_decay=settings.weight_decay)
    if settings.steps:
        run_steps, offset = settings.run_steps or settings.steps, settings.first_step
    else:
        run_steps, offset = (settings.run_epochs or settings.epochs) * steps_per_epoch, settings.first_epoch * steps_per_epoch
    drops = settings.lr_drops or (int(settings.lr_step * run_steps),)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.1 ** sum(offset + step >= drop for drop in drops))
    return optimizer, scheduler


def train_crops(settings: TrainSettings) -> TrainCrops:
    return TrainCrops(settings.augmentation, settings.input_size, settings.crop_padding, settings.flip,
                      settings.jpeg_draft, settings.scale_sizes)


def evaluation_views(settings: TrainSettings, crops: int = 1) -> EvaluationViews:
    """The evaluation views of ``settings``: ``crops`` crops of the image resized to ``test_resize``."""
    return EvaluationViews(settings.input_size, settings.test_resize or settings.input_size, crops, settings.jpeg_draft)


def make_loader(target_items, source_items, neighbours, settings: TrainSettings, device: torch.device) -> PairLoader:
    """The fit's one loader of joint batches (``loading.PairLoader``), pinned for a CUDA device."""
    return PairLoader(target_items, source_items, neighbours, batch_size=settings.batch_size,
                      crop=train_crops(settings), seed=settings.seed, workers=settings.workers,
                      pin_memory=device.type == "cuda")


def batch_on_device(batch: dict, device: torch.device, head: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A loader batch's images (float, [0, 1]) and labels per head on the device; in a fit through one
    head only (``head``, e.g. pretraining's ``source``) the target images are that head's."""
    labels = {name: y.to(device, non_blocking=True) for name, y in batch["labels"].items()}
    if head != "target":
        labels = {head: labels["target"]}
    return to_device(batch["images"], device), labels


def head_outputs(model: nn.Module, features: torch.Tensor, labels: dict[str, torch.Tensor]):
    """Per head: its logits for its share of the batch (target images first, then source images)."""
    logits, offset = {}, 0
    for name, y in labels.items():
        logits[name] = model.heads[name](features[offset : offset + len(y)])
        offset += len(y)
    return logits


WARMUP_EPOCH_SEED = 10_000  # warm-up epochs draw their pairs and crops apart from the training epochs


def warm_up_heads(model: nn.Module, loader: PairLoader, settings: TrainSettings, device, dtype) -> list[dict]:
    """Train the heads alone on the frozen backbone's features for ``settings.warmup_epochs``;
    return their rows of epochs.csv (``EPOCH_COLUMNS``, phase ``warmup``).

    A randomly initialised head on a pretrained backbone sends large, random gradients into it
    during the first steps (an ImageNet-pretrained EfficientNet-Lite's features collapse); heads
    fitted first make the backbone's first joint steps useful (linear probing, then fine-tuning).
    """
    if not settings.warmup_epochs:
        return []
    optimizer = torch.optim.SGD(model.heads.parameters(), lr=settings.warmup_lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay)
    model.backbone.eval()
    rows, step = [], 0
    for epoch in range(settings.warmup_epochs):
        tally, started = Tally(device), time.perf_counter()
        for batch in loader.epochs([WARMUP_EPOCH_SEED + epoch]):
            images, labels = batch_on_device(batch, device, "target")
            with torch.no_grad(), kernels.autocast(device, dtype):
                features = model.features(images)
            # the heads in fp32: cheap, and fp16's gradients would need a loss scaler
            logits = head_outputs(model, features.float(), labels)
            losses = {name: F.cross_entropy(logits[name], y) for name, y in labels.items()}
            loss = sum(losses.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            tally.add(loss, logits["target"], labels["target"], losses, logits, labels)
            step += 1
        rows.append(tally.row("warmup", epoch + 1, step, settings.warmup_lr, time.perf_counter() - started, None))
        log.info("warm-up %d/%d  heads loss %.4f", epoch + 1, settings.warmup_epochs, rows[-1]["loss"])
    return rows


# epochs.csv, a row per epoch of a training job: ``phase`` warmup (the heads alone) or train; the
# run's epoch and optimizer step at its end; the backbone's learning rate at its start (the heads'
# is head_lr_mult times it); ``loss`` what the step minimised (the target loss plus the weighted
# source loss); per head its mean cross-entropy and accuracy on its training images; images/s;
# the share of its steps whose gradient DTNH projected (empty without DTNH)
EPOCH_COLUMNS = ["phase", "epoch", "step", "lr", "loss", "target_loss", "target_acc", "source_loss", "source_acc",
                 "images_per_s", "projected_share"]


class Tally:
    """One epoch's loss sums and correct counts, overall and per head, kept on the device (reading
    them waits for the GPU)."""

    def __init__(self, device, batch: int = 0, total: float = 0.0, correct: int = 0, count: int = 0,
                 heads: dict | None = None):
        self.device, self.batch, self.count = device, batch, count
        self.total = torch.tensor(total, dtype=torch.float64, device=device)
        self.correct = torch.tensor(correct, dtype=torch.int64, device=device)
        self.heads = {name: [torch.tensor(t, dtype=torch.float64, device=device),
                             torch.tensor(c, dtype=torch.int64, device=device), n]
                      for name, (t, c, n) in (heads or {}).items()}

    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, head_losses: dict,
            head_logits: dict, head_labels: dict) -> None:
        """A mini-batch: the loss stepped on with the main head's logits and labels, and every head's own."""
        self.total += loss.detach().double() * len(labels)
        self.correct += (logits.argmax(1) == labels).sum()
        self.count += len(labels)
        self.batch += 1
        for name, y in head_labels.items():
            tally = self.heads.setdefault(name, [torch.zeros((), dtype=torch.float64, device=self.device),
                                                 torch.zeros((), dtype=torch.int64, device=self.device), 0])
            tally[0] += head_losses[name].detach().double() * len(y)
            tally[1] += (head_logits[name].argmax(1) == y).sum()
            tally[2] += len(y)

    def saved(self) -> dict:
        """The tally of an epoch stopped mid-way, as resume.pt keeps it."""
        return {"batch": self.batch, "total": float(self.total), "correct": int(self.correct), "count": self.count,
                "heads": {name: (float(t), int(c), n) for name, (t, c, n) in self.heads.items()}}

    def row(self, phase: str, epoch: int, step: int, lr: float, seconds: float, projected_share) -> dict:
        """The epoch's row of epochs.csv (``EPOCH_COLUMNS``)."""
        row = {"phase": phase, "epoch": epoch, "step": step, "lr": lr, "loss": float(self.total) / max(self.count, 1)}
        for name in ("target", "source"):
            total, correct, count = self.heads.get(name, (None, None, 0))
            row[f"{name}_loss"] = float(total) / count if count else None
            row[f"{name}_acc"] = int(correct) / count if count else None
        row.update(images_per_s=sum(n for _, _, n in self.heads.values()) / max(seconds, 1e-9),
                   projected_share=projected_share)
        return row


@dataclass
class Progress:
    """How far a fit has come: what resume.pt keeps besides the state dicts and random states.

    Where it starts (``first_epoch``, and ``partial``: the ``Tally.saved`` of the mini-batches of it
    already done, {} for none), the images seen, the mini-batches whose gradient DTNH projected (a
    device tensor: counting them never waits for the device), the last epoch's loss, epochs.csv's
    rows so far, and ``start``, the clock at the fit's start (moved back by a saved run's seconds).
    """

    start: float
    projected: torch.Tensor
    first_epoch: int = 0
    partial: dict = field(default_factory=dict)
    seen: int = 0
    loss: float = float("nan")
    rows: list = field(default_factory=list)


class Checkpoints:
    """A fit's saved states (``resume``; None keeps none): the saved state of this job restored into
    the fit's model, optimizer, schedule, loss scaler, torch's random generators and ``progress``,
    and the state saved after an epoch when it is due and at a stop request. That is all a rerun
    needs to end with the uninterrupted fit's weights, bit for bit (``resume.py``)."""

    def __init__(self, resume: Resume | None, model: nn.Module, optimizer, scheduler, scaler, device: torch.device,
                 progress: Progress):
        self.resume, self.model, self.optimizer, self.scheduler = resume, model, optimizer, scheduler
        self.scaler, self.device, self.progress = scaler, device, progress

    def restore(self) -> bool:
        """Continue from the saved state if ``resume`` holds one of this job (``Resume.load``): the
        model, optimizer, schedule, loss scaler and random generators take its values, ``progress``
        its counts. False, and nothing changed, without one."""
        state = self.resume.load() if self.resume else None
        if not state:
            return False
        progress = self.progress
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        progress.first_epoch, progress.seen, progress.loss = state["epoch"] + 1, state["seen"], state["loss"]
        progress.projected += state["projected"]
        progress.partial = state.get("partial") or {}
        progress.rows = list(state.get("epochs", []))
        if "rng" in state:
            torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        progress.start -= state["seconds"]
        return True

    def state(self, epoch: int, **extra) -> dict:
        """The state after epoch ``epoch`` (and ``extra``: a stop's ``partial``), as resume.pt keeps it.
        ``restore`` reads these keys back from the files of earlier runs too: keep them."""
        progress = self.progress
        state = {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "seen": progress.seen, "projected": int(progress.projected),
                 "loss": progress.loss, "rng": torch.get_rng_state(), "seconds": time.perf_counter() - progress.start,
                 "epochs": progress.rows, **extra}
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def epoch_done(self, epoch: int, last: bool) -> None:
        """Save the state after epoch ``epoch`` if it is due (``Resume.due``: never after the last, whose
        outputs follow at once); the state dicts are formed only then."""
        if self.resume and self.resume.due(last_epoch=last):
            self.resume.save(self.state(epoch))

    def stop(self, requested: str, epoch: int, epochs: int, tally: Tally) -> NoReturn:
        """Save the state of the step just taken, mini-batch ``tally.batch`` of epoch ``epoch``, and raise
        Stopped: a stop request (``requested``, the signal's name) ends the fit there, where a rerun
        takes it up (``stopping.py``)."""
        if self.resume:
            self.resume.save(self.state(epoch - 1, partial=tally.saved()))
        raise Stopped(f"stopped on {requested} in epoch {epoch + 1} of {epochs}, after mini-batch {tally.batch}"
                      + (f"; state saved to {self.resume.path}" if self.resume else ""))


def check_diverged(loss: float, epoch: int, epochs: int, lr: float) -> None:
    """Raise TrainingDiverged if epoch ``epoch``'s mean loss is not finite: weights that have gone to
    inf or nan predict noise, and every later epoch and job would build on them."""
    if not np.isfinite(loss):
        raise TrainingDiverged(f"training diverged: loss {loss} in epoch {epoch + 1} of {epochs} "
                               f"(lr {lr}); lower the learning rate or warm the heads up")


def fit(model, target_items, settings: TrainSettings, device, source_items=None, neighbours=None, head="target",
        anchor: nn.Module | None = None, resume: Resume | None = None, optimizer_state: dict | None = None) -> dict:
    """Train ``model`` in place for ``settings.epochs`` epochs; return timing and loss figures.

    target_items / source_items: lists of (path, label); neighbours: per target index, an
    array of source indices (None trains on the targets alone, through head ``head``).
    ``anchor`` is the starting model that ``settings.regularizer`` pulls toward. With ``resume``
    the state is saved after epochs and a matching saved state is continued from (``Checkpoints``).
    ``optimizer_state`` (the previous iteration's, in a run with one schedule) carries its
    momentum over; the returned figures hold the final one under ``optimizer_state``.
    """
    if source_items is not None and settings.source_weight is None:
        raise ValueError("training settings lack source_weight, needed with source images")
    torch.manual_seed(settings.seed)
    device = torch.device(device)
    kernels.configure(device, settings.deterministic)
    dtype = kernels.autocast_dtype(settings.precision, device)
    scaler = kernels.loss_scaler(device, dtype)
    if scaler is not None:  # its skipped steps (overflows) still advance the schedule, as they should
        warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
    model.to(device, memory_format=kernels.memory_format(device))
    plan = FitPlan.of(len(target_items), settings)
    optimizer, scheduler = make_optimizer(model, settings, plan.steps_per_epoch)
    if optimizer_state is not None:  # its momentum, with this fit's learning rates
        rates = [(g["lr"], g["initial_lr"]) for g in optimizer.param_groups]
        optimizer.load_state_dict(optimizer_state)
        for group, (lr, initial) in zip(optimizer.param_groups, rates):
            group["lr"], group["initial_lr"] = lr, initial
    regularizer = make_regularizer(settings.regularizer, model, anchor, settings.alpha, settings.beta, list(settings.layers))
    analytic = regularizer if regularizer is not None and regularizer.analytic else None
    loader = make_loader(target_items, source_items, neighbours, settings, device)
    progress = Progress(time.perf_counter(), torch.zeros((), dtype=torch.int64, device=device))
    checkpoints = Checkpoints(resume, model, optimizer, scheduler, scaler, device, progress)
    if not checkpoints.restore():
        progress.rows = warm_up_heads(model, loader, settings, device, dtype)
    model.train()
    if settings.freeze_bn:
        freeze_batch_norm(model)

    # the regularizer's coefficient decays per epoch of the run (settings.decay): epochs before this fit count
    decayed_epochs = settings.first_epoch + settings.first_step // plan.steps_per_epoch
    steps_before = settings.first_step if settings.steps else settings.first_epoch * plan.steps_per_epoch
    # one pass of the loader over all epochs left: its workers decode the next epoch's first
    # batches while this epoch's last steps run
    batches = loader.epochs(range(progress.first_epoch, plan.epochs), skip=progress.partial.get("batch", 0))
    with StopRequest() as stop:
        for epoch in range(progress.first_epoch, plan.epochs):
            tally = Tally(device, **(progress.partial if epoch == progress.first_epoch else {}))
            epoch_started, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
            projected_before = int(progress.projected)
            if regularizer is not None:
                regularizer.weight = settings.decay ** (decayed_epochs + epoch)
            for batch in itertools.islice(batches, plan.batches(epoch) - tally.batch):
                group = plan.group(epoch, tally.batch)  # the mini-batches of this optimizer step
                images, labels = batch_on_device(batch, device, head)
                with kernels.autocast(device, dtype):
                    logits = head_outputs(model, model.features(images), labels)
                    losses = {name: F.cross_entropy(logits[name], y) for name, y in labels.items()}
                    penalty = None if regularizer is None or analytic else regularizer.penalty(images)
                source = settings.source_weight * losses["source"] if head != "source" and "source" in losses else None
                other = source if penalty is None else penalty if source is None else source + penalty
                if tally.batch % plan.accumulate == 0:  # a step's first mini-batch
                    optimizer.zero_grad(set_to_none=True)
                coefficient = set_gradients(model, losses[head], other, analytic, settings.dtnh,
                                            scale=gradient_scale(scaler, group, device))
                if coefficient is not None:
                    progress.projected += coefficient != 0
                tally.add(losses[head] if source is None else losses[head].double() + source.double(),
                          logits[head], labels[head], losses, logits, labels)
                progress.seen += len(images)
                if tally.batch % plan.accumulate and tally.batch < plan.batches(epoch):
                    continue  # the step's gradient is still accumulating
                if scaler is None:
                    optimizer.step()
                else:
                    scaler.step(optimizer)
                    scaler.update()
                scheduler.step()
                if stop.requested:
                    checkpoints.stop(stop.requested, epoch, plan.epochs, tally)
            progress.loss = float(tally.total) / max(tally.count, 1)
            check_diverged(progress.loss, epoch, plan.epochs, settings.lr)
            rate = progress.seen / (time.perf_counter() - progress.start)
            log.info("epoch %d/%d  loss %.4f  %s acc %.3f  %.0f img/s", epoch + 1, plan.epochs, progress.loss, head,
                     int(tally.correct) / max(tally.count, 1), rate)
            steps = min((epoch + 1) * plan.steps_per_epoch, plan.steps) - epoch * plan.steps_per_epoch
            share = ((int(progress.projected) - projected_before) / plan.batches(epoch)  # per mini-batch
                     if settings.dtnh else None)
            progress.rows.append(tally.row("train", steps_before // plan.steps_per_epoch + epoch + 1,
                                           steps_before + epoch * plan.steps_per_epoch + steps, lr,
                                           time.perf_counter() - epoch_started, share))
            checkpoints.epoch_done(epoch, last=epoch == plan.epochs - 1)
    return {"train_seconds": time.perf_counter() - progress.start, "images_seen": progress.seen,
            "final_loss": progress.loss, "steps": plan.steps, "mini_batches": plan.mini_batches,
            "projected_steps": int(progress.projected), "optimizer_state": optimizer.state_dict(),
            "epochs": progress.rows}


def gradient_scale(scaler, group: int, device) -> torch.Tensor | None:
    """What every loss of a mini-batch is multiplied by before its backward pass: fp16's loss scale, and
    1 / ``group`` when ``group`` mini-batches accumulate into one step (their mean gradient); None for 1."""
    if scaler is None and group == 1:
        return None
    scale = scaler.scale(torch.ones((), device=device)) if scaler is not None else torch.ones((), device=device)
    return scale / group if group > 1 else scale


@torch.no_grad()
def predict(model, path_lists: list[list[str]], settings: TrainSettings, device, head: str = "target",
            batch_size: int = 128, crops: list[int] | None = None) -> list[np.ndarray]:
    """Softmax outputs of ``head`` for each list of images, on each image's evaluation views
    (``evaluation_views``: ``crops[i]`` crops for list i, 1 by default): (n, views, classes) float32 each,
    the center crop first.

    The images come as training's do (``settings.workers`` processes, pinned uint8), all lists in
    one pass of one loader, the forward pass runs at the training precision, and the outputs
    stay on the device until the end.
    """
    device = torch.device(device)
    model.to(device, memory_format=kernels.memory_format(device)).eval()
    dtype = kernels.autocast_dtype(settings.precision, device)
    crops = crops or [1] * len(path_lists)
    views = [evaluation_views(settings, n) for n in crops]
    out = []
    for images in view_batches(path_lists, views, batch_size, settings.workers, pin_memory=device.type == "cuda"):
        batch, n_views = images.shape[:2]
        with kernels.autocast(device, dtype):
            logits = model(to_device(images.flatten(0, 1), device), head)
        out.append(torch.softmax(logits.float(), dim=1).view(batch, n_views, -1))
    classes = model.heads[head].out_features
    probs = [p.cpu().numpy() for p in out]
    ends = np.cumsum([-(-len(paths) // batch_size) for paths in path_lists])  # each list's batches
    return [np.concatenate(probs[begin:end]) if end > begin else np.empty((0, n, classes), dtype=np.float32)
            for begin, end, n in zip([0, *ends[:-1]], ends, crops)]
