"""GPU benchmark: our training step against a bare timm/torchvision loop, a whole train job's GPU use, and the
paper's recipe (ResNet-152, scale augmentation, accumulated mini-batches, 10-crop testing).

    python bench/gpu.py [--out DIR] [--workers 8] [--rounds 3] [--budget-s 420]
    python bench/gpu.py --cpu-smoke --out /tmp/gpu-smoke     # every part at tiny scale, on the CPU

Unattended, in about 4-6 minutes on one GPU, on generated data (no network, no Snakemake). The backbones start
from random weights, which cost what pretrained ones cost per step; every torchvision residual block starts as
the identity (its last BatchNorm scale zero: ``steady_residuals``), since frozen BatchNorm on random running
statistics lets a ResNet-50's activations grow until its second or third step at 224 px is NaN, which ``fit``
stops on (Lite0's random weights stay finite as they are).

0. **Data.** JPEGs of ImageNet's sizes (long side around 500 px, 4:3 mostly, quality 90) with
   textured random content, so that decoding costs what a photograph costs: a target set (train
   and test splits) and a source pool, written by a process pool; random neighbour lists.
1. **Job.** ``workflow.stages.training.train``, the real stage function, on ResNet-50 (those random
   weights, saved as the checkpoint it starts from) from manifests, a neighbour table and settings built
   as the planner builds them (``workflow.plan.training.training_settings``, selective's first iteration): fit, the
   softmax on the train and test splits, every output file. ``nvidia-smi`` samples the GPU's
   utilisation (the share of time a kernel ran) and memory every 200 ms throughout; the job's phases
   come from its own log lines (setup until "training on", fit until the last epoch line, evaluation
   until "top-1"), each with its mean utilisation, beside the wall time and the peak memory torch allocated. It runs
   first, one pass as a real job runs once (its loaders' start and cuDNN's autotuning included):
   where the GPU idles in a job that is not a steady loop.
2. **Loops**, per backbone (torchvision's ResNet-50, timm's EfficientNet-Lite0; random weights,
   224 px). "ours" is ``workflow.joint.fit``, the train stage's loop: 64 target images a step,
   each with one source neighbour, two heads, ``loading.PairLoader``, the config's ``precision:
   auto`` (bf16 on a GPU). "bare" is what one writes with torchvision and timm alone: an
   ``ImageFolder`` over the same files, the same crops as torchvision transforms (Resize,
   CenterCrop, RandomCrop with reflect padding, flip, ToTensor, Normalize), a DataLoader with the
   same workers and pinned memory, the library's model with one linear head, bf16 autocast,
   channels-last, cuDNN's autotuner, SGD with momentum, 128 images a step; BatchNorm frozen in
   both, as the config freezes it. A run is one epoch, timed from step ``warmup`` (the GPU
   synchronised: the steps before start the workers and tune cuDNN) to the epoch's synchronised
   end. Rounds alternate which loop goes first, so that machine noise hits both alike; ours/bare
   is the median of the rounds' ratios (goal >= 0.9). Each loop's loader also runs alone (the
   same batches, no model), and the bare model alone on a batch resident on the GPU: the slower
   of the two bounds a loop, and a loop bound by its loader starves the GPU. A next round starts
   only while the budget left exceeds the last round's time.
3. **Paper recipe**, as ``config/paper.yaml`` sets it over ``config/config.yaml``: ``fit`` on ResNet-152 at
   224 px with the scale augmentation (shorter side 256-480 px, random crop, flip), 10 target images a
   mini-batch each with one source neighbour, 10 mini-batches accumulated into each optimizer step, frozen
   BatchNorm, ``precision: auto``; then the same 200 images a step as one mini-batch (does accumulating cost
   throughput on a GPU that holds the whole batch?), the loader alone (does decoding bound it?), and
   ``predict`` with ``crops=[1, 10]`` as the train stage calls it: the train split's center crops (the
   entropies) and the test split's ten crops at ``test_resize``. A short probe fit sizes the timed fits to
   about 30 s each (less when the budget runs short), timed from step 3 (synchronised) to the last epoch line.
   These figures feed the README's wall-time estimates ("Reproducing the paper").

Prints progress as it goes and the tables at the end; writes ``results.json`` and ``results.md``
into ``--out`` (default ``$OUT`` when set, else ``bench/results/gpu/``) after every part, so an
interrupted run still leaves what it measured. A part that fails is reported and the others
still run (exit code 1); a part due after ``--budget-s`` seconds is skipped with a note. Without
CUDA the script stops at once with exit code 2, unless ``--cpu-smoke`` asks for the tiny CPU run
that checks it end to end (32 px, ResNet-18 and Lite0, a few steps, no utilisation sampling; the paper
recipe on ResNet-18 at 32 px from 36-48 px resizes, 2 mini-batches of 2 + 2 images a step).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import inspect
import itertools
import logging
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the workflow package from a plain checkout (the GPU machine has no install)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
import yaml  # noqa: E402
from PIL import Image  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torchvision import transforms as T  # noqa: E402

from workflow import schedule  # noqa: E402
from workflow.io import atomic_path, read_json, write_csv, write_json  # noqa: E402
from workflow.joint import TrainSettings, fit, freeze_batch_norm, make_loader, predict  # noqa: E402
from workflow.model import build_model, save_checkpoint  # noqa: E402
from workflow.stages.training import train  # noqa: E402

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# the train section's keys of a training job's --settings (workflow/plan/training.py)
TRAIN_KEYS = ("batch_size", "lr", "head_lr_mult", "lr_step", "momentum", "weight_decay", "flip", "crop_padding",
              "precision", "deterministic", "jpeg_draft", "freeze_bn", "source_weight", "warmup_epochs", "warmup_lr")
LOOPS = ("ours", "bare", "ours_loader", "bare_loader", "model_alone")
# the paper recipe's settings from its config: the train stage's --settings with the paper's schedule
RECIPE_KEYS = TRAIN_KEYS + ("augmentation", "scale_sizes", "accumulate", "lr_drops", "test_resize", "test_crops")
EVAL_BATCH = inspect.signature(predict).parameters["batch_size"].default  # images a batch, as the train stage predicts
LOADER_BOUND = 1.1  # a fit within 10% of its loader alone's images/s is waiting on decoding


@dataclass(frozen=True)
class Recipe:
    """How the paper recipe's part runs: config/paper.yaml's model and train sections, with these values in
    place of its own where given (None: paper.yaml's)."""

    arch: str | None
    size: int | None  # input pixels
    scale_sizes: tuple[int, int] | None  # the scale augmentation's shorter sides
    test_resize: int | None
    batch: int | None  # target images a mini-batch (and as many source images)
    accumulate: int | None  # mini-batches an optimizer step
    warmup: int  # optimizer steps of a fit before its clock starts
    seconds: float  # timed seconds aimed at per fit (less when the budget runs short)
    min_steps: int  # timed optimizer steps of a fit at least (the probe's too)
    eval_repeat: int  # the timed predict reads the train and test splits this many times over


@dataclass(frozen=True)
class Scale:
    """How big each part runs."""

    archs: tuple[str, ...]  # backbones of the loops
    size: int  # input pixels
    batch: int  # target images per step (and as many source images)
    steps: int  # steps of a timed run (one epoch)
    warmup: int  # steps before the clock starts
    rounds: int
    workers: int  # decoding processes of each loader
    side: int  # mean long side of the generated images
    n_train: int
    n_test: int
    n_source: int
    target_classes: int
    source_classes: int
    k: int  # neighbours per target image
    job_arch: str
    job_epochs: int
    recipe: Recipe


GPU = Scale(archs=("resnet50", "tf_efficientnet_lite0"), size=224, batch=64, steps=64, warmup=16, rounds=3, workers=8,
            side=500, n_train=2000, n_test=500, n_source=1000, target_classes=20, source_classes=50, k=10,
            job_arch="resnet50", job_epochs=4,
            recipe=Recipe(arch=None, size=None, scale_sizes=None, test_resize=None, batch=None, accumulate=None,
                          warmup=3, seconds=30, min_steps=5, eval_repeat=3))
SMOKE = Scale(archs=("resnet18", "tf_efficientnet_lite0"), size=32, batch=4, steps=4, warmup=1, rounds=1, workers=2,
              side=64, n_train=16, n_test=8, n_source=12, target_classes=4, source_classes=4, k=3,
              job_arch="resnet18", job_epochs=1,
              recipe=Recipe(arch="resnet18", size=32, scale_sizes=(36, 48), test_resize=36, batch=2, accumulate=2,
                            warmup=1, seconds=0, min_steps=2, eval_repeat=1))


@dataclass
class Bench:
    """What every part runs with."""

    scale: Scale
    device: torch.device
    config: dict  # config/config.yaml
    paper: dict  # config/paper.yaml over config/config.yaml, as Snakemake merges --configfile
    logs: LogTimes
    budget: Budget
    folder: Path  # temporary: the images and the job's files


def say(message: str) -> None:
    print(message, flush=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def merged(base: dict, over: dict) -> dict:
    """``over``'s keys over ``base``'s, nested mappings merged key by key (Snakemake's --configfile)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def steady_residuals(network: torch.nn.Module) -> torch.nn.Module:
    """Zero the last BatchNorm scale of every torchvision residual block (``zero_init_residual``), in place.

    Frozen (``freeze_bn``), BatchNorm normalises by its running statistics, and a random network's
    (mean 0, variance 1) normalise nothing: a random ResNet-50's activations grow through its
    bottleneck blocks and its training loss at 224 px went 28, 2e5, NaN in three SGD steps (ResNet-152:
    3e7, NaN), which ``fit`` stops on. Blocks that start as the identity keep them in range, as
    pretrained statistics do; a step costs the same. Other networks are left as they are.
    """
    for module in network.modules():
        if isinstance(module, torchvision.models.resnet.Bottleneck):
            torch.nn.init.zeros_(module.bn3.weight)
        elif isinstance(module, torchvision.models.resnet.BasicBlock):
            torch.nn.init.zeros_(module.bn2.weight)
    return network


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_bytes(device: torch.device) -> int | None:
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


class Budget:
    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, time.perf_counter()

    def spent(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.seconds - self.spent()


class LogTimes(logging.Handler):
    """The workflow's log lines, printed as they come and kept with their times (time.time())."""

    def __init__(self, start: float):
        super().__init__(logging.INFO)
        self.start, self.records = start, []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.records.append((record.created, message))
        say(f"    [{record.created - self.start:6.1f} s] {record.name}: {message[:160]}")

    def find(self, prefix: str, since: float, last: bool = False) -> float:
        """The time of the first (or last) line since ``since`` that starts with ``prefix``."""
        times = [t for t, message in self.records if t >= since and message.startswith(prefix)]
        if not times:
            raise RuntimeError(f"no log line starting with {prefix!r}: has workflow's logging changed?")
        return times[-1] if last else times[0]


class Utilisation:
    """GPU utilisation (%) and memory used (MiB) every 200 ms from ``nvidia-smi``, stamped by its own clock."""

    QUERY = "--query-gpu=timestamp,uuid,utilization.gpu,memory.used"

    def __init__(self, uuid: str | None):
        """Sample the GPU of ``uuid`` (torch's ``get_device_properties(...).uuid``; None: the CPU, nothing to sample)."""
        self.samples: list[tuple[float, str, float, float]] = []  # (time, GPU uuid, util, memory)
        self.uuid, self.process, self.note = (uuid or "").removeprefix("GPU-"), None, None
        if uuid is None:
            self.note = "not sampled on the CPU"
        elif shutil.which("nvidia-smi") is None:
            self.note = "not sampled: nvidia-smi is not on PATH"
        else:
            self.process = subprocess.Popen(["nvidia-smi", self.QUERY, "--format=csv,noheader,nounits", "-lms", "200"],
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                stamp, uuid, util, memory = (part.strip() for part in line.split(","))
                when = datetime.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
                self.samples.append((when, uuid, float(util), float(memory)))
            except ValueError:  # a "[N/A]" or a line cut at the end
                continue

    def stop(self) -> None:
        if self.process is not None:
            time.sleep(0.5)  # the last samples of the last part
            if self.process.poll() is not None:
                self.note = f"nvidia-smi exited with code {self.process.returncode} after {len(self.samples)} samples"
            self.process.terminate()
            self.process.wait()
            self.reader.join(timeout=5)

    def describe(self) -> dict:
        return {"note": self.note} if self.note else {"sampler": "nvidia-smi, every 200 ms", "samples": len(self.samples)}

    def of_our_gpu(self) -> list[tuple[float, float, float]]:
        """(time, util, memory) of the benchmark's GPU (by UUID; the only one sampled, if the UUIDs do not compare)."""
        uuids = {uuid for _, uuid, _, _ in self.samples}
        mine = {u for u in uuids if u.removeprefix("GPU-") == self.uuid} or (uuids if len(uuids) == 1 else set())
        return [(t, util, memory) for t, uuid, util, memory in self.samples if uuid in mine]

    def during(self, windows: list[tuple[float, float]]) -> dict:
        """Mean utilisation and most memory used over the samples within any of ``windows`` (time.time())."""
        inside = [(util, memory) for t, util, memory in self.of_our_gpu()
                  if any(start <= t <= end for start, end in windows)]
        if not inside:
            return {"gpu_util_percent": None, "gpu_memory_used_max_mib": None, "samples": 0}
        return {"gpu_util_percent": round(statistics.fmean(u for u, _ in inside), 1),
                "gpu_memory_used_max_mib": max(m for _, m in inside), "samples": len(inside)}


# ------------------------------------------------------------------ data


def texture(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Random colour fields at three scales plus fine noise: JPEG-coded like a photograph (~80 kB at 500x375)."""
    pixels = rng.standard_normal((height, width, 3), dtype=np.float32) * 14 + 128
    for cells, amplitude in ((3, 80), (12, 40), (48, 20)):
        grid = rng.integers(128 - amplitude, 128 + amplitude, (max(2, cells * height // width), cells, 3),
                            dtype=np.uint8)
        pixels += np.asarray(Image.fromarray(grid).resize((width, height), Image.BICUBIC), dtype=np.float32) - 128
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_jpeg(task: tuple[str, int, int, int]) -> int:
    """Write one generated image (path, width, height, seed); return its size in bytes."""
    path, width, height, seed = task
    texture(np.random.default_rng(seed), width, height).save(path, "JPEG", quality=90)
    return os.path.getsize(path)


def image_size(rng: np.random.Generator, side: int) -> tuple[int, int]:
    """(width, height) as ImageNet's: the long side around ``side``, 4:3 mostly, a quarter portrait."""
    long = int(np.clip(rng.normal(side, 0.12 * side), 0.6 * side, 1.6 * side))
    short = round(long / rng.choice([4 / 3, 3 / 2, 1.0, 5 / 4], p=[0.6, 0.2, 0.1, 0.1]))
    return (long, short) if rng.random() < 0.75 else (short, long)


@dataclass
class Data:
    """The generated images as manifests (``index, path, label, class_name``) of train, test and source."""

    frames: dict[str, pd.DataFrame]
    seconds: float
    mean_kb: float

    def items(self, split: str) -> list[tuple[str, int]]:
        frame = self.frames[split]
        return list(zip(frame["path"].tolist(), frame["label"].astype(int).tolist()))

    def classes(self) -> dict[str, list[str]]:
        return {head: sorted(set(self.frames[split]["class_name"])) for head, split in
                (("target", "train"), ("source", "source"))}


def make_data(root: Path, scale: Scale, processes: int) -> Data:
    """ImageFolder trees ``root/{train,test,source}/<class>/<image>.jpg``, written by ``processes`` processes."""
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    splits = {"train": (scale.n_train, "t", scale.target_classes), "test": (scale.n_test, "t", scale.target_classes),
              "source": (scale.n_source, "s", scale.source_classes)}
    frames, tasks = {}, []
    for split, (count, prefix, n_classes) in splits.items():
        rows = []
        for i in range(count):
            label, name = i % n_classes, f"{prefix}{i % n_classes:03d}"
            path = root / split / name / f"{i:06d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            tasks.append((str(path), *image_size(rng, scale.side), len(tasks)))
            rows.append((str(path), label, name))
        frame = pd.DataFrame(rows, columns=["path", "label", "class_name"]).sort_values("label", kind="stable")
        frame.insert(0, "index", np.arange(len(frame)))
        frames[split] = frame.reset_index(drop=True)
    with multiprocessing.Pool(processes) as pool:
        sizes = pool.map(write_jpeg, tasks, chunksize=16)
    return Data(frames, time.perf_counter() - start, float(np.mean(sizes)) / 1e3)


def neighbour_table(data: Data, k: int, seed: int) -> pd.DataFrame:
    """k random source images per target image, as the neighbours stage writes them (``random_pool``)."""
    ranking = schedule.random_ranking(len(data.frames["train"]), len(data.frames["source"]), k, seed)
    return schedule.neighbour_table(ranking, np.full(len(ranking), k))


def job_settings(config: dict, scale: Scale, epochs: int, seed: int) -> dict:
    """A train job's settings as the planner builds them (``training_settings``, selective's first
    iteration), at the benchmark's size and batch, with flips on (photographs, not the demo's textures); the
    workers (``scale.workers``) travel apart, as in the rule."""
    settings = {key: config["train"][key] for key in TRAIN_KEYS}
    settings.update(epochs=epochs, seed=seed, input_size=scale.size, batch_size=scale.batch,
                    flip=True, regularizer="none", dtnh=False)
    return settings


# ------------------------------------------------------------------ the job


@dataclass
class Job:
    arch: str
    phases: dict[str, tuple[float, float]]  # name: (start, end), time.time()
    peak_bytes: int | None
    train_json: dict


def measure_job(bench: Bench, data: Data) -> Job:
    """The train stage on manifests and a neighbour table, from a checkpoint of random weights
    (``steady_residuals``); its phases read from its log lines."""
    folder, scale = bench.folder / "job", bench.scale
    manifests = {split: folder / f"{split}.csv" for split in data.frames}
    for split, path in manifests.items():
        write_csv(data.frames[split], path)
    write_csv(neighbour_table(data, scale.k, seed=2), folder / "neighbours.csv")
    torch.manual_seed(0)
    init = folder / "init.pt"  # random weights that frozen BatchNorm keeps finite, as a pretrained checkpoint
    save_checkpoint(steady_residuals(build_model(scale.job_arch, data.classes(), "scratch")), data.classes(), init)
    out = folder / "run"
    synchronize(bench.device)
    reset_peak(bench.device)
    start = time.time()
    train(target=str(manifests["train"]), test=str(manifests["test"]), init=str(init), out_dir=str(out),
          arch=scale.job_arch, settings=job_settings(bench.config, scale, scale.job_epochs, seed=0), workers=scale.workers,
          device=bench.device.type, checkpoint_seconds=bench.config["train"]["checkpoint_seconds"],
          source=str(manifests["source"]), neighbours=str(folder / "neighbours.csv"))
    end = time.time()
    fit_start, fit_end = bench.logs.find("training on", start), bench.logs.find("epoch ", start, last=True)
    evaluated = bench.logs.find("top-1", fit_end)
    phases = {"setup": (start, fit_start), "fit": (fit_start, fit_end), "evaluate": (fit_end, evaluated),
              "job": (start, end)}
    figures = read_json(out / "train.json")
    return Job(scale.job_arch, phases, peak_bytes(bench.device),
               {key: figures[key] for key in ("train_seconds", "images_seen", "steps", "final_loss")})


def job_summary(job: Job, scale: Scale, utilisation: Utilisation) -> dict:
    phases = {name: {"seconds": round(end - start, 2), **utilisation.during([(start, end)])}
              for name, (start, end) in job.phases.items()}
    return {"arch": job.arch, "epochs": scale.job_epochs, "wall_s": phases["job"]["seconds"], "phases": phases,
            "peak_memory_gb": round(job.peak_bytes / 2**30, 2) if job.peak_bytes is not None else None,
            "train_images_per_s": round(job.train_json["images_seen"] / job.train_json["train_seconds"], 1),
            "train_json": job.train_json}


# ------------------------------------------------------------------ the loops


@dataclass
class Run:
    """One timed run: the images in its clock window (time.time()) and the GPU memory torch peaked at."""

    loop: str
    round: int
    images: int
    start: float
    end: float
    peak_bytes: int | None

    @property
    def rate(self) -> float:
        return self.images / (self.end - self.start)


class StepClock:
    """A forward pre-hook that notes the time at the start of step ``warmup``, the GPU synchronised first."""

    def __init__(self, device: torch.device, warmup: int):
        self.device, self.warmup, self.calls, self.start = device, warmup, 0, None

    def __call__(self, module, inputs) -> None:
        if self.calls == self.warmup:
            synchronize(self.device)
            self.start = time.time()
        self.calls += 1


def timed_images(scale: Scale) -> int:
    """The images of the steps from ``warmup`` on."""
    return (scale.steps - scale.warmup) * 2 * scale.batch


def clocked_fit(bench: Bench, model, targets, sources, neighbours, settings: TrainSettings,
                warmup_batches: int) -> tuple[float, float, int | None]:
    """``fit``, timed from mini-batch ``warmup_batches`` (the GPU synchronised) to its last epoch line
    (which follows reading the loss: synchronised): (start, end, peak bytes)."""
    clock = StepClock(bench.device, warmup_batches)
    hook = model.backbone.register_forward_pre_hook(clock)
    reset_peak(bench.device)
    try:
        fit(model, targets, settings, bench.device, sources, neighbours)
    finally:
        hook.remove()
    return clock.start, bench.logs.find("epoch ", since=clock.start, last=True), peak_bytes(bench.device)


def time_ours(bench: Bench, model, targets, sources, neighbours, settings: TrainSettings, round_: int) -> Run:
    """One epoch of ``fit``, timed from step ``warmup``."""
    start, end, peak = clocked_fit(bench, model, targets, sources, neighbours, settings, bench.scale.warmup)
    return Run("ours", round_, timed_images(bench.scale), start, end, peak)


def bare_network(arch: str, n_classes: int) -> torch.nn.Module:
    """The library's model with one linear head of ``n_classes``: torchvision's when it has the name, else timm's."""
    if arch in torchvision.models.list_models(module=torchvision.models):
        return torchvision.models.get_model(arch, num_classes=n_classes)
    import timm

    return timm.create_model(arch, num_classes=n_classes)


def bare_loader(root: Path, samples: list[tuple[str, int]], settings: TrainSettings, device: torch.device):
    """An ImageFolder listing ``samples``, the usual transforms making our crops, 2 x batch images a step."""
    size = settings.input_size
    steps = [T.Resize(size), T.CenterCrop(size), T.RandomCrop(size, padding=settings.crop_padding, padding_mode="reflect")]
    if settings.flip:
        steps.append(T.RandomHorizontalFlip())
    steps += [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    dataset = torchvision.datasets.ImageFolder(root, transform=T.Compose(steps))
    dataset.samples = dataset.imgs = samples
    dataset.targets = [label for _, label in samples]
    return torch.utils.data.DataLoader(dataset, batch_size=2 * settings.batch_size, shuffle=True, drop_last=True,
                                       num_workers=settings.workers, pin_memory=device.type == "cuda",
                                       persistent_workers=settings.workers > 0)


def bare_optimizer(model, settings: TrainSettings) -> torch.optim.Optimizer:
    model.train()
    if settings.freeze_bn:
        freeze_batch_norm(model)
    return torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                           weight_decay=settings.weight_decay)


def bare_step(model, optimizer, images, labels, device: torch.device) -> None:
    images = images.to(device, non_blocking=True, memory_format=torch.channels_last)
    labels = labels.to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        loss = F.cross_entropy(model(images), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def time_bare(bench: Bench, model, batches, settings: TrainSettings, round_: int, name: str = "bare") -> Run:
    """Bare steps over ``batches`` (a loader's, or one resident batch again and again), from step ``warmup``
    (synchronised) to the synchronised end."""
    optimizer = bare_optimizer(model, settings)
    reset_peak(bench.device)
    for step, (images, labels) in enumerate(batches):
        if step == bench.scale.warmup:
            synchronize(bench.device)
            start = time.time()
        bare_step(model, optimizer, images, labels, bench.device)
    synchronize(bench.device)
    return Run(name, round_, timed_images(bench.scale), start, time.time(), peak_bytes(bench.device))


def time_loader(name: str, batches, scale: Scale, round_: int) -> Run:
    """A loader alone: from holding batch ``warmup`` to holding the last (the batches in between)."""
    for step, _ in enumerate(batches):
        if step == scale.warmup:
            start = time.time()
    return Run(name, round_, timed_images(scale) - 2 * scale.batch, start, time.time(), None)


def measure_loops(bench: Bench, arch: str, data: Data, runs: list[Run]) -> None:
    """Rounds of ours and bare (alternating which goes first) and each loader alone, then the bare model alone;
    ``runs`` grows as they finish."""
    scale, device = bench.scale, bench.device
    classes = data.classes()
    n_target, n_classes = len(classes["target"]), len(classes["target"]) + len(classes["source"])
    train_items, sources = data.items("train"), data.items("source")
    targets = [train_items[i % len(train_items)] for i in range(scale.steps * scale.batch)]  # whole batches
    lists = schedule.neighbour_lists(neighbour_table(data, scale.k, seed=1), len(train_items))
    neighbours = [lists[i % len(train_items)] for i in range(len(targets))]
    root = bench.folder / "images" / "train"
    torch.manual_seed(0)
    ours = steady_residuals(build_model(arch, classes, "scratch"))
    bare = steady_residuals(bare_network(arch, n_classes)).to(device, memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = True
    round_seconds = 0.0
    for round_ in range(scale.rounds):
        if round_ and bench.budget.left() < round_seconds:
            say(f"  {arch}: {bench.budget.left():.0f} s of the budget left, a round takes {round_seconds:.0f} s: "
                f"{round_} of {scale.rounds} rounds")
            break
        round_start = time.perf_counter()
        settings = TrainSettings(**job_settings(bench.config, scale, epochs=1, seed=round_), workers=scale.workers)
        rng = np.random.default_rng([round_, 1])  # the bare loop's pairs: a neighbour per target image, as ours draws
        drawn = [sources[n[rng.integers(len(n))]] for n in neighbours]
        samples = targets + [(path, n_target + label) for path, label in drawn]
        timers = {"ours": lambda: time_ours(bench, ours, targets, sources, neighbours, settings, round_),
                  "bare": lambda: time_bare(bench, bare, bare_loader(root, samples, settings, device), settings, round_)}
        for name in ["ours", "bare"] if round_ % 2 == 0 else ["bare", "ours"]:
            runs.append(timers[name]())
            say(f"  {arch} round {round_ + 1}/{scale.rounds}: {name} {runs[-1].rate:.0f} images/s")
        ours_batches = make_loader(targets, sources, neighbours, settings, device).epochs([0])
        runs.append(time_loader("ours_loader", ours_batches, scale, round_))
        runs.append(time_loader("bare_loader", bare_loader(root, samples, settings, device), scale, round_))
        say(f"  {arch} round {round_ + 1}/{scale.rounds}: loaders alone: ours {runs[-2].rate:.0f}, "
            f"bare {runs[-1].rate:.0f} images/s")
        round_seconds = time.perf_counter() - round_start
    resident = (torch.rand(2 * scale.batch, 3, scale.size, scale.size, device=device).contiguous(
                    memory_format=torch.channels_last),
                torch.randint(0, n_classes, (2 * scale.batch,), device=device))
    runs.append(time_bare(bench, bare, [resident] * scale.steps, settings, 0, name="model_alone"))
    say(f"  {arch}: bare model alone (batch on the device) {runs[-1].rate:.0f} images/s")


def loop_summary(runs: list[Run], utilisation: Utilisation) -> dict:
    """Per loop: median images/s over the rounds, each round's, mean GPU utilisation, peak memory, what bounds
    it; ours/bare per round."""
    summary = {}
    for loop in LOOPS:
        mine = [r for r in runs if r.loop == loop]
        if mine:
            peaks = [r.peak_bytes for r in mine if r.peak_bytes is not None]
            summary[loop] = {"images_per_s": round(statistics.median(r.rate for r in mine), 1),
                             "rounds": [round(r.rate, 1) for r in mine],
                             "peak_memory_gb": round(max(peaks) / 2**30, 2) if peaks else None,
                             **utilisation.during([(r.start, r.end) for r in mine])}
    for loop in ("ours", "bare"):  # the slower of its loader alone and the model alone
        if {loop, f"{loop}_loader", "model_alone"} <= summary.keys():
            loader, model = summary[f"{loop}_loader"]["images_per_s"], summary["model_alone"]["images_per_s"]
            summary[loop]["bound_by"] = "loader" if loader < model else "model"
    rate = {(r.loop, r.round): r.rate for r in runs}
    ratios = [rate["ours", n] / rate["bare", n] for loop, n in rate if loop == "ours" and ("bare", n) in rate]
    if ratios:
        summary["ours_over_bare"] = {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3),
                                     "max": round(max(ratios), 3), "rounds": [round(r, 3) for r in ratios]}
    return summary


# ------------------------------------------------------------------ the paper recipe


@dataclass
class Window:
    """A timed stretch of the paper recipe's part: the images (and optimizer steps; views of each image)
    between start and end (time.time()), and the GPU memory torch peaked at."""

    images: int
    start: float
    end: float
    steps: int = 0
    views: int = 1
    peak_bytes: int | None = None

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def rate(self) -> float:
        return self.images / self.seconds


@dataclass
class RecipeRun:
    """What the paper recipe's part measured, filled as it goes: the windows by name (``fit_accumulate``,
    ``fit_one_batch``, ``loader``, ``predict_train``, ``predict_test``)."""

    arch: str
    settings: dict  # recipe_settings: the fits' TrainSettings fields, but for their steps (and batch)
    windows: dict[str, Window] = field(default_factory=dict)
    probe_images_per_s: float | None = None
    aimed_seconds: float | None = None
    predict_wall_s: float | None = None


def recipe_settings(paper: dict, recipe: Recipe, workers: int) -> tuple[str, dict]:
    """The backbone and a train job's settings under ``paper`` as the planner builds them
    (``training_settings`` with ``steps_per_iteration``: epochs 0), with ``recipe``'s values in place of
    paper.yaml's where given; each fit sets its own steps (and batch). The heads' warm-up (none in the
    paper's recipe) is left out: its forward passes would start the step clock."""
    train, model = paper["train"], paper["model"]
    settings = {key: train[key] for key in RECIPE_KEYS}
    settings.update(epochs=0, seed=0, workers=workers, regularizer="none", dtnh=False, warmup_epochs=0,
                    input_size=recipe.size or model["input_size"],
                    scale_sizes=tuple(recipe.scale_sizes or train["scale_sizes"]),
                    test_resize=recipe.test_resize or train["test_resize"],
                    batch_size=recipe.batch or train["batch_size"], accumulate=recipe.accumulate or train["accumulate"])
    return recipe.arch or model["arch"], settings


def time_fit(bench: Bench, model, targets, sources, neighbours, settings: TrainSettings, warmup: int) -> Window:
    """One fit of ``settings.steps`` optimizer steps, timed from step ``warmup`` (the GPU synchronised: the
    steps before start the workers and tune cuDNN) to its last epoch line (which follows reading the loss:
    synchronised). Every mini-batch is whole (``targets`` is a multiple of a step's images)."""
    start, end, peak = clocked_fit(bench, model, targets, sources, neighbours, settings, warmup * settings.accumulate)
    steps = settings.steps - warmup
    return Window(steps * settings.accumulate * 2 * settings.batch_size, start, end, steps=steps, peak_bytes=peak)


def time_pair_loader(targets, sources, neighbours, settings: TrainSettings, device: torch.device, warmup: int,
                     timed: int) -> Window:
    """The fit's loader alone: from holding joint batch ``warmup`` to holding ``timed`` batches more."""
    batches = warmup + timed + 1
    per_epoch = -(-len(targets) // settings.batch_size)
    stream = make_loader(targets, sources, neighbours, settings, device).epochs(range(-(-batches // per_epoch)))
    images = 0
    for i, batch in enumerate(itertools.islice(stream, batches)):
        if i == warmup:
            start = time.time()
        elif i > warmup:
            images += len(batch["images"])
    return Window(images, start, time.time())


class ListClock:
    """Forward hooks that note, the GPU synchronised, when the first batch of each of predict's lists
    starts and when its last batch ends (its batches come in order, ``EVAL_BATCH`` images each)."""

    def __init__(self, device: torch.device, lengths: list[int]):
        batches = np.cumsum([-(-n // EVAL_BATCH) for n in lengths])
        self.device, self.firsts, self.last = device, [0, *batches[:-1].tolist()], int(batches[-1]) - 1
        self.calls, self.starts, self.end = 0, [], None

    def before(self, module, inputs) -> None:
        if self.calls in self.firsts:
            synchronize(self.device)
            self.starts.append(time.time())

    def after(self, module, inputs, output) -> None:
        if self.calls == self.last:
            synchronize(self.device)
            self.end = time.time()
        self.calls += 1

    def windows(self) -> list[tuple[float, float]]:
        """Per list: (its first batch's start, the next list's first batch's start or the end)."""
        return list(zip(self.starts, [*self.starts[1:], self.end]))


def time_predict(model, lists: list[list[str]], crops: list[int], settings: TrainSettings,
                 device: torch.device) -> tuple[list[Window], float]:
    """``predict`` over ``lists`` with ``crops`` views each in one call, as the train stage calls it: a window
    per list (from its first batch on: the workers are up), and the call's wall time (their start and end)."""
    clock = ListClock(device, [len(paths) for paths in lists])
    hooks = [model.register_forward_pre_hook(clock.before), model.register_forward_hook(clock.after)]
    start = time.perf_counter()
    try:
        predict(model, lists, settings, device, crops=crops)
    finally:
        for hook in hooks:
            hook.remove()
    wall = time.perf_counter() - start
    windows = [Window(len(paths), begin, end, views=n) for paths, n, (begin, end) in zip(lists, crops, clock.windows())]
    return windows, wall


def measure_recipe(bench: Bench, data: Data, run: RecipeRun) -> None:
    """The paper recipe's fits, its loader alone and its predict (module docstring, part 3), into ``run`` as
    they finish, so that a failure keeps what came before."""
    scale, recipe, device, base = bench.scale, bench.scale.recipe, bench.device, run.settings
    batch, accumulate = base["batch_size"], base["accumulate"]
    step_images = batch * accumulate  # target images a step (and as many source images)
    train_items = data.items("train")
    targets = train_items[: len(train_items) // step_images * step_images]  # whole steps, whole mini-batches
    if not targets:
        raise ValueError(f"{len(train_items)} train images make no step of {step_images} target images")
    sources = data.items("source")
    neighbours = schedule.neighbour_lists(neighbour_table(data, scale.k, seed=3), len(train_items))[: len(targets)]

    def settings(steps: int, batch: int, accumulate: int) -> TrainSettings:
        return TrainSettings(**{**base, "steps": steps, "batch_size": batch, "accumulate": accumulate})

    arch = run.arch
    torch.manual_seed(0)
    model = steady_residuals(build_model(arch, data.classes(), "scratch"))
    probe_settings = settings(recipe.warmup + recipe.min_steps, batch, accumulate)
    probe = time_fit(bench, model, targets, sources, neighbours, probe_settings, recipe.warmup)
    run.probe_images_per_s = round(probe.rate, 1)
    run.aimed_seconds = round(min(recipe.seconds, max(bench.budget.left(), 0.0) / 4), 1)  # four windows to come
    steps = max(recipe.min_steps, round(run.aimed_seconds * probe.steps / probe.seconds))
    say(f"  {arch}: probe {probe.rate:.0f} images/s; {steps} timed steps a fit (about {run.aimed_seconds:.0f} s)")
    for name, (mini_batch, group) in {"fit_accumulate": (batch, accumulate), "fit_one_batch": (step_images, 1)}.items():
        run.windows[name] = time_fit(bench, model, targets, sources, neighbours,
                                     settings(recipe.warmup + steps, mini_batch, group), recipe.warmup)
        say(f"  {arch} {name}: {mini_batch} + {mini_batch} images x {group} a step: {run.windows[name].rate:.0f} "
            f"images/s, {1000 * run.windows[name].seconds / steps:.0f} ms a step")
    # the loader alone for half a fit's mini-batches: as fast as the fit or faster, so at most half its time
    run.windows["loader"] = time_pair_loader(targets, sources, neighbours, probe_settings, device,
                                             recipe.warmup * accumulate, max(steps // 2, 1) * accumulate)
    say(f"  {arch} loader alone: {run.windows['loader'].rate:.0f} images/s")
    lists = [[path for path, _ in items] * recipe.eval_repeat for items in (train_items, data.items("test"))]
    windows, run.predict_wall_s = time_predict(model, lists, [1, base["test_crops"]], probe_settings, device)
    run.windows["predict_train"], run.windows["predict_test"] = windows
    say(f"  {arch} predict: train split {windows[0].rate:.0f} images/s (1 view), test split {windows[1].rate:.0f} "
        f"images/s ({base['test_crops']} views)")


def recipe_summary(run: RecipeRun, utilisation: Utilisation) -> dict:
    """The recipe as measured, and per window: images/s (per step: ms and images; predict: views/s), GPU
    utilisation and peak memory; which bounds each fit, and accumulating's images/s over one batch's."""
    s = run.settings
    out = {"arch": run.arch, "weights": "random (timing only: a step costs what a pretrained one costs; "
           "residual blocks start as the identity, steady_residuals)",
           **{key: s[key] for key in ("input_size", "augmentation", "scale_sizes", "flip", "precision", "freeze_bn",
                                      "workers", "batch_size", "accumulate", "test_resize", "test_crops")},
           "probe_images_per_s": run.probe_images_per_s, "aimed_seconds": run.aimed_seconds,
           "predict_wall_s": None if run.predict_wall_s is None else round(run.predict_wall_s, 2)}
    for name, window in run.windows.items():
        row = {"images": window.images, "seconds": round(window.seconds, 2), "images_per_s": round(window.rate, 1),
               **utilisation.during([(window.start, window.end)])}
        if window.steps:
            row.update(steps=window.steps, images_per_step=window.images // window.steps,
                       ms_per_step=round(1000 * window.seconds / window.steps, 1),
                       peak_memory_gb=None if window.peak_bytes is None else round(window.peak_bytes / 2**30, 2))
        if name.startswith("predict"):
            row.update(views=window.views, views_per_s=round(window.rate * window.views, 1))
        out[name] = row
    fits = [name for name in ("fit_accumulate", "fit_one_batch") if name in out]
    if "loader" in out:
        for name in fits:
            ratio = out["loader"]["images_per_s"] / out[name]["images_per_s"]
            out[name].update(loader_over_fit=round(ratio, 2), bound_by="loader" if ratio < LOADER_BOUND else "model")
    if len(fits) == 2:
        out["accumulate_over_one_batch"] = round(out["fit_accumulate"]["images_per_s"]
                                                 / out["fit_one_batch"]["images_per_s"], 3)
    return out


# ------------------------------------------------------------------ the run


@dataclass
class State:
    """What the run has measured so far, and what failed or was skipped."""

    machine: dict
    command: str
    scale: Scale
    settings: dict
    data: Data | None = None
    job: Job | None = None
    runs: dict[str, list[Run]] = field(default_factory=dict)  # per backbone
    recipe: RecipeRun | None = None
    errors: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def machine(device: torch.device) -> dict:
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else f"cpu ({platform.processor() or platform.machine()})"
    return {"device": name, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "torchvision": torchvision.__version__,
            "python": platform.python_version(), "cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "host": platform.node()}


def results(state: State, utilisation: Utilisation) -> dict:
    out = {"machine": state.machine, "date": datetime.datetime.now().isoformat(timespec="seconds"),
           "command": state.command, "scale": dataclasses.asdict(state.scale), "settings": state.settings,
           "utilisation": utilisation.describe(),
           "loops": {arch: loop_summary(runs, utilisation) for arch, runs in state.runs.items()},
           "errors": state.errors, "skipped": state.skipped}
    if state.data is not None:
        frames = state.data.frames
        out["data"] = {"images": sum(map(len, frames.values())), "mean_kb": round(state.data.mean_kb, 1),
                       "seconds": round(state.data.seconds, 1), **{f"n_{s}": len(f) for s, f in frames.items()}}
    if state.job is not None:
        out["job"] = job_summary(state.job, state.scale, utilisation)
    if state.recipe is not None:
        out["paper_recipe"] = recipe_summary(state.recipe, utilisation)
    return out


def number(value, digits: int = 0, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def markdown(res: dict) -> str:
    m, s, sampling = res["machine"], res["scale"], res["utilisation"]
    lines = [f"{m['device']}, torch {m['torch']} (CUDA {m['cuda']}, cuDNN {m['cudnn']}), {m['cpus']} CPUs; {res['date']}",
             f"{s['size']} px, {s['batch']} target + {s['batch']} source images a step, {s['steps']} steps a run "
             f"(timed from step {s['warmup']}), {s['rounds']} rounds, {s['workers']} workers, precision "
             f"{res['settings']['precision']}; GPU utilisation: {sampling.get('note') or sampling['sampler']}", ""]
    if "data" in res:
        d = res["data"]
        lines += [f"data: {d['images']} generated JPEGs, {d['mean_kb']} kB on average, in {d['seconds']} s", ""]
    if "job" in res:
        job = res["job"]
        lines += [f"train job: {job['arch']}, {job['epochs']} epochs, {job['wall_s']:.1f} s wall, fit at "
                  f"{job['train_images_per_s']:.0f} images/s, peak memory allocated "
                  f"{number(job['peak_memory_gb'], 2, ' GB')}", "",
                  "| phase | seconds | GPU util | GPU memory used (max) |", "| --- | --- | --- | --- |"]
        for name, phase in job["phases"].items():
            lines.append(f"| {name} | {phase['seconds']:.1f} | {number(phase['gpu_util_percent'], 0, '%')} | "
                         f"{number(phase['gpu_memory_used_max_mib'], 0, ' MiB')} |")
        lines.append("")
    lines += ["| backbone | loop | images/s | rounds | GPU util | peak memory | bound by | ours/bare (range) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for arch, summary in res["loops"].items():
        ratio = summary.get("ours_over_bare")
        for loop in (loop for loop in LOOPS if loop in summary):
            row = summary[loop]
            rounds = " ".join(f"{r:.0f}" for r in row["rounds"])
            cell = f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio and loop == "ours" else ""
            lines.append(f"| {arch} | {loop.replace('_', ' ')} | {row['images_per_s']:.0f} | {rounds} | "
                         f"{number(row['gpu_util_percent'], 0, '%')} | {number(row['peak_memory_gb'], 2, ' GB')} | "
                         f"{row.get('bound_by', '')} | {cell} |")
    if "paper_recipe" in res:
        lines += ["", *recipe_markdown(res["paper_recipe"])]
    for kind in ("skipped", "errors"):
        lines += [f"\n{kind}: {name}: {text.strip().splitlines()[-1]}" for name, text in res[kind].items()]
    return "\n".join(lines) + "\n"


def recipe_markdown(recipe: dict) -> list[str]:
    """The paper recipe's tables: its fits and loader, then its predict."""
    lines = [f"paper recipe (config/paper.yaml): {recipe['arch']}, {recipe['weights']}; {recipe['input_size']} px, "
             f"augmentation {recipe['augmentation']} (shorter side "
             f"{recipe['scale_sizes'][0]}-{recipe['scale_sizes'][1]} px), {'flips' if recipe['flip'] else 'no flips'}, "
             f"precision {recipe['precision']}, "
             f"{'frozen' if recipe['freeze_bn'] else 'training'} BatchNorm, "
             f"{recipe['workers']} workers, one source neighbour per target image; fits sized to about "
             f"{number(recipe['aimed_seconds'], 0, ' s')} from a probe at {number(recipe['probe_images_per_s'], 0)} "
             "images/s", "",
             "| measured | images a step | steps timed | images/s | ms a step | GPU util | peak memory | "
             "loader alone / fit | bound by |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    b, a = recipe["batch_size"], recipe["accumulate"]
    names = {"fit_accumulate": f"fit, {b} + {b} images a mini-batch, {a} a step",
             "fit_one_batch": f"fit, {a * b} + {a * b} images, one mini-batch a step",
             "loader": f"loader alone ({b} + {b} images a batch)"}
    for name in (name for name in names if name in recipe):
        row = recipe[name]
        lines.append(f"| {names[name]} | {row.get('images_per_step', '')} | {row.get('steps', '')} | "
                     f"{row['images_per_s']:.0f} | {number(row.get('ms_per_step'), 0)} | "
                     f"{number(row['gpu_util_percent'], 0, '%')} | {number(row.get('peak_memory_gb'), 2, ' GB')} | "
                     f"{number(row.get('loader_over_fit'), 2)} | {row.get('bound_by', '')} |")
    if "accumulate_over_one_batch" in recipe:
        lines.append(f"\naccumulating {a} mini-batches a step: {recipe['accumulate_over_one_batch']:.2f}x the "
                     "images/s of one mini-batch a step")
    views = {"predict_train": "train split, center crop", "predict_test": f"test split, {recipe['test_crops']} crops"}
    if any(name in recipe for name in views):
        lines += ["", f"| predict (test_resize {recipe['test_resize']}, one call: wall "
                  f"{number(recipe['predict_wall_s'], 1, ' s')}) | images | views each | images/s | views/s | "
                  "GPU util |", "| --- | --- | --- | --- | --- | --- |"]
        for name in (name for name in views if name in recipe):
            row = recipe[name]
            lines.append(f"| {views[name]} | {row['images']} | {row['views']} | {row['images_per_s']:.0f} | "
                         f"{row['views_per_s']:.0f} | {number(row['gpu_util_percent'], 0, '%')} |")
    return lines


def write_outputs(state: State, utilisation: Utilisation, out: Path) -> str:
    res = results(state, utilisation)
    write_json(res, out / "results.json")
    table = markdown(res)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(table)
    return table


def data_part(bench: Bench, state: State) -> None:
    state.data = make_data(bench.folder / "images", bench.scale, processes=len(os.sched_getaffinity(0)))
    say(f"  {sum(map(len, state.data.frames.values()))} JPEGs ({state.data.mean_kb:.0f} kB on average) "
        f"in {state.data.seconds:.1f} s")


def job_part(bench: Bench, state: State) -> None:
    state.job = measure_job(bench, state.data)


def loops_part(bench: Bench, state: State, arch: str) -> None:
    measure_loops(bench, arch, state.data, state.runs.setdefault(arch, []))


def recipe_part(bench: Bench, state: State) -> None:
    arch, settings = recipe_settings(bench.paper, bench.scale.recipe, bench.scale.workers)
    state.recipe = RecipeRun(arch, settings)
    measure_recipe(bench, state.data, state.recipe)


def run_part(bench: Bench, state: State, name: str, part, *args) -> None:
    """``part(bench, state, *args)`` unless the budget is spent; a failure is recorded and reported, not raised."""
    if bench.budget.left() <= 0:
        state.skipped[name] = f"the budget of {bench.budget.seconds:.0f} s was spent"
        say(f"== {name}: skipped, {state.skipped[name]}")
        return
    say(f"== {name} (at {bench.budget.spent():.0f} s)")
    try:
        part(bench, state, *args)
    except Exception:  # noqa: BLE001 -- one part's failure must not lose the others' figures
        state.errors[name] = traceback.format_exc()
        say(f"== {name} FAILED:\n{state.errors[name]}")


def run_parts(bench: Bench, state: State, save) -> None:
    """Data, the job, the loops per backbone, the paper recipe; ``save()`` after each."""
    run_part(bench, state, "data", data_part)
    if state.data is None:
        state.skipped["job, loops and paper recipe"] = "no data to run on"
        return
    run_part(bench, state, "job", job_part)
    save()
    for arch in bench.scale.archs:
        run_part(bench, state, f"loops {arch}", loops_part, arch)
        save()
    run_part(bench, state, "paper recipe", recipe_part)
    save()


def no_cuda_message() -> str:
    build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return (f"bench/gpu.py needs a CUDA device, but torch {torch.__version__} ({build}) reports "
            f"torch.cuda.is_available() = False, {torch.cuda.device_count()} devices; run it on a GPU machine, "
            "or with --cpu-smoke to check the script at tiny scale on the CPU")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or str(REPO / "bench" / "results" / "gpu"),
                        help="folder of results.json and results.md (default $OUT, else bench/results/gpu)")
    parser.add_argument("--budget-s", type=float, default=420, help="no part starts after this many seconds")
    parser.add_argument("--workers", type=int, help="decoding processes of each loader (default 8; smoke 2)")
    parser.add_argument("--rounds", type=int, help="timed rounds of the loops (default 3; smoke 1)")
    parser.add_argument("--cpu-smoke", action="store_true", help="every part at tiny scale on the CPU (no CUDA needed)")
    args = parser.parse_args(argv)
    if not args.cpu_smoke and not torch.cuda.is_available():
        print(no_cuda_message(), file=sys.stderr)
        return 2
    budget = Budget(args.budget_s)
    scale = SMOKE if args.cpu_smoke else GPU
    scale = dataclasses.replace(scale, workers=args.workers or scale.workers, rounds=args.rounds or scale.rounds)
    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    if args.cpu_smoke:
        torch.set_num_threads(1)  # beside the loaders' workers on a small machine, OpenMP's spinning threads stall
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    paper = merged(config, yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    logs = LogTimes(time.time())
    logging.getLogger("workflow").addHandler(logs)
    logging.getLogger("workflow").setLevel(logging.INFO)
    state = State(machine(device), " ".join(["python", *sys.argv]), scale,
                  job_settings(config, scale, scale.job_epochs, seed=0))
    out = Path(args.out)
    say(f"bench/gpu.py on {state.machine['device']}, torch {torch.__version__}; results to {out}")
    uuid = str(getattr(torch.cuda.get_device_properties(device), "uuid", "")) if device.type == "cuda" else None
    utilisation = Utilisation(uuid)
    try:
        with tempfile.TemporaryDirectory(prefix="sjft-gpu-bench-") as folder:
            bench = Bench(scale, device, config, paper, logs, budget, Path(folder))
            run_parts(bench, state, save=lambda: write_outputs(state, utilisation, out))
    finally:
        utilisation.stop()
        table = write_outputs(state, utilisation, out)
    say(f"\n{table}")
    say(f"results in {out}/results.json and results.md ({budget.spent():.0f} s in all)")
    return 1 if state.errors else 0


if __name__ == "__main__":
    sys.exit(main())
