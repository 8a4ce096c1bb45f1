"""Training stages: pretraining, one joint fine-tuning iteration with its evaluation, fusion."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from .. import evaluation, schedule
from ..datasets import DatasetError, class_names, read_manifest
from ..devices import device_record, pick_device
from ..io import read_h5, write_csv, write_h5, write_json
from ..leakage import kept_sources, read_exclusions
from ..joint import EPOCH_COLUMNS, TrainingDiverged, TrainSettings, fit, predict
from ..model import build_model, load_checkpoint, save_checkpoint
from ..resume import Resume, fingerprint

log = logging.getLogger(__name__)


def _items(frame: pd.DataFrame) -> list[tuple[str, int]]:
    return list(zip(frame["path"].tolist(), frame["label"].astype(int).tolist()))


def _resume(folder: Path, every_seconds: float, arch: str, init: str, settings: dict, files: list[str | None]) -> Resume:
    """The job's resume.pt beside its outputs, fingerprinted by its settings and input files."""
    folder.mkdir(parents=True, exist_ok=True)
    key = fingerprint({"arch": arch, "init": init, "settings": settings}, [init, *files])
    return Resume(folder / "resume.pt", key, every_seconds)


def pretrain(manifest: str, out: str, arch: str, init: str, settings: dict, workers: int, device: str,
             checkpoint_seconds: float) -> None:
    """Train the backbone and a source head on the source set (for machines without weights);
    epochs.csv beside ``out`` has its curves.

    Args:
        manifest: the source pool's manifest
        out: model.pt
        arch: the network (``workflow.backbones``): tiny_resnet, a torchvision name or timm/<name>
        init: where the weights start: scratch, imagenet, efficientnet-lite or a checkpoint
        settings: the fields of ``workflow.joint.TrainSettings`` but workers
        workers: image-decoding processes (apart from the settings: they change no result, so
            neither the rerun trigger nor the resume fingerprint sees them)
        device: auto (a free GPU when CUDA is available, else the CPU) | cpu | cuda (a free GPU) | cuda:N
        checkpoint_seconds: save the training state this often, so a killed job resumes (0: every epoch)
    """
    resume = _resume(Path(out).parent, checkpoint_seconds, arch, init, settings, [manifest])
    settings = TrainSettings(**settings, workers=workers)
    frame = read_manifest(manifest)
    classes = {"source": class_names(frame)}
    torch.manual_seed(settings.seed)  # the random initial weights, too, follow the seed
    model = build_model(arch, classes, init)
    run_device = pick_device(device)
    log.info("training on %s", device_record(run_device))
    stats = fit(model, _items(frame), settings, run_device, head="source", resume=resume)
    stats.pop("optimizer_state")
    write_epochs(stats.pop("epochs"), Path(out).parent / "epochs.csv")
    save_checkpoint(model.cpu(), classes, out)
    resume.done()
    log.info("pretrained %s on %d source images in %.0f s", arch, len(frame), stats["train_seconds"])


def train(target: str, test: str, init: str, out_dir: str, arch: str, settings: dict, workers: int, device: str,
          checkpoint_seconds: float, source: str | None = None, neighbours: str | None = None,
          keep_heads: Sequence[str] = (), anchor: str | None = None,
          source_head: Literal["random", "imagenet"] = "random", exclude: str | None = None,
          exclude_splits: Sequence[str] = ()) -> None:
    """One training iteration, then its evaluation on the ``test`` manifest.

    Writes model.pt, entropy.csv (per target training image), epochs.csv (per epoch: the curves),
    train.json, eval.csv (per test image) and probs.h5 (test softmax). Evaluating in the same process saves a job start per
    model (importing torch and torchvision costs seconds, as much as a small run computes).

    With ``source`` and a ``neighbours`` table each target image borrows from its neighbours;
    with ``source`` alone, from the whole source pool (joint training with all source images)
    less the source images the leakage audit ``exclude`` pairs with an image of ``exclude_splits``.

    ``anchor`` (scratch, imagenet or a checkpoint) is the starting model a regularizer pulls
    toward; later iterations start from the previous one but keep the first one as anchor.
    ``source_head`` is where a new source head starts (``model.build_model``). In a run with
    one schedule over its iterations (``settings["run_epochs"]``) the model file also keeps
    the optimizer's momentum, which the next iteration continues from.
    Every ``checkpoint_seconds`` the state is saved so that a killed job resumes (``resume``).

    Args:
        target: the target's train manifest
        test: the target's test manifest (evaluated after training)
        init: where the weights start: scratch, imagenet, efficientnet-lite or a checkpoint
        out_dir: folder of the outputs
        arch: the network (``workflow.backbones``): tiny_resnet, a torchvision name or timm/<name>
        settings: the fields of ``workflow.joint.TrainSettings`` but workers
        workers: image-decoding processes (apart from the settings: they change no result, so
            neither the rerun trigger nor the resume fingerprint sees them)
        device: auto (a free GPU when CUDA is available, else the CPU) | cpu | cuda (a free GPU) | cuda:N
        checkpoint_seconds: save the training state this often, so a killed job resumes (0: every epoch)
        source: the source pool's manifest (joint training)
        neighbours: neighbour table (joint training; without it: the whole pool)
        keep_heads: heads to take from the init checkpoint (target, source)
        anchor: starting model of the regularizer: scratch, imagenet or a checkpoint
        source_head: where a new source head starts (a pretrained one: --keep-heads source)
        exclude: leakage.csv of the leakage audit (joint training with the whole pool)
        exclude_splits: the target splits whose source duplicates are left out of the pool (test, train)
    """
    out = Path(out_dir)
    resume = _resume(out, checkpoint_seconds, arch, init, {"settings": settings, "keep_heads": list(keep_heads),
                     "anchor": anchor, "source_head": source_head, "exclude_splits": list(exclude_splits)},
                     [target, source, neighbours, exclude])
    settings = TrainSettings(**settings, workers=workers)
    target_frame = read_manifest(target)
    classes = {"target": class_names(target_frame)}
    source_items = neighbour_lists = None
    counts = np.zeros(len(target_frame), dtype=int)
    n_source = 0
    if source:
        source_frame = read_manifest(source)
        classes["source"] = class_names(source_frame)
        source_items = _items(source_frame)
        if neighbours:
            table = pd.read_csv(neighbours)
            neighbour_lists = schedule.neighbour_lists(table, len(target_frame))
            counts = schedule.counts_of(table, len(target_frame))
            n_source = int(table["source_index"].nunique())
        else:  # joint training with the whole pool: every target image draws from all of it
            pool = kept_sources(len(source_frame), read_exclusions(exclude, exclude_splits))
            neighbour_lists = [pool] * len(target_frame)
            counts[:] = n_source = len(pool)
    torch.manual_seed(settings.seed)
    model = build_model(arch, classes, init, keep_heads=tuple(keep_heads), source_head=source_head)
    run_device = pick_device(device)
    record = device_record(run_device)
    log.info("training on %s", record)
    anchor_model = build_model(arch, {}, anchor) if anchor else None
    momentum = _continued_momentum(init, settings)
    try:
        stats = fit(model, _items(target_frame), settings, run_device, source_items, neighbour_lists,
                    anchor=anchor_model, resume=resume, optimizer_state=momentum)
    except TrainingDiverged as error:
        raise TrainingDiverged(f"{out_dir}: {error}") from error
    optimizer_state = stats.pop("optimizer_state")
    epochs = stats.pop("epochs")
    test_frame = read_manifest(test)
    _check_classes(test_frame, classes["target"], test)
    # one loader for both: its workers start once; the entropy on center crops, the test on test_crops views
    train_views, test_views = predict(model, [target_frame["path"].tolist(), test_frame["path"].tolist()], settings,
                                      run_device, crops=[1, settings.test_crops])
    probs = train_views[:, 0]
    labels = target_frame["label"].to_numpy()
    entropy = pd.DataFrame({"index": target_frame["index"], "label": labels, "entropy": evaluation.entropy(probs),
                            "correct": probs.argmax(1) == labels, "k": counts})
    log.info("train accuracy %.3f, mean entropy %.3f", entropy["correct"].mean(), entropy["entropy"].mean())
    continued = continues_schedule(settings)  # a later iteration reads the momentum
    save_checkpoint(model.cpu(), classes, out / "model.pt", optimizer_state if continued else None)
    write_csv(entropy, out / "entropy.csv")
    write_epochs(epochs, out / "epochs.csv")
    write_json({**stats, "n_source_images": n_source, "settings": dataclasses.asdict(settings), "device": record},
               out / "train.json")
    _write_eval(test_frame, test_views.mean(axis=1), str(out / "eval.csv"), str(out / "probs.h5"),
                center=test_views[:, 0] if settings.test_crops > 1 else None)
    resume.done()


def write_epochs(rows: list[dict], path: Path) -> None:
    """epochs.csv: a row per warm-up and training epoch (``joint.EPOCH_COLUMNS``)."""
    write_csv(pd.DataFrame(rows, columns=EPOCH_COLUMNS), path)


def continues_schedule(settings: TrainSettings) -> bool:
    """Whether a later iteration continues this fit's schedule (train.lr_schedule: run)."""
    if settings.steps:
        return settings.first_step + settings.steps < settings.run_steps
    return settings.first_epoch + settings.epochs < settings.run_epochs


def _continued_momentum(init: str, settings: TrainSettings) -> dict | None:
    """The previous iteration's optimizer state, when this fit continues the run's schedule."""
    if not (settings.first_step or settings.first_epoch) or not (settings.run_steps or settings.run_epochs):
        return None
    state = load_checkpoint(init)
    if "optimizer" not in state:
        raise ValueError(f"{init}: no optimizer state to continue the run's schedule from (train.lr_schedule: run)")
    return state["optimizer"]


def _check_classes(frame: pd.DataFrame, trained: list[str], manifest: str) -> None:
    """Every label of a test manifest must name the same class as in training."""
    for label, name in frame[["label", "class_name"]].drop_duplicates().itertuples(index=False):
        if label >= len(trained) or trained[label] != name:
            raise DatasetError(f"{manifest}: class {name} (label {label}) is not the trained class {label} "
                               f"({trained[label] if label < len(trained) else 'none'})")


def _write_eval(frame: pd.DataFrame, probs: np.ndarray, out: str, probs_out: str,
                center: np.ndarray | None = None) -> None:
    """eval.csv and probs.h5 of the test images' softmax ``probs``; with multi-crop testing also the
    center crop's (``prediction_center``, ``probs_center``: the single-crop figures other work reports)."""
    labels, predictions = frame["label"].to_numpy(), probs.argmax(1)
    arrays = {"probs": probs.astype(np.float32), "index": frame["index"].to_numpy()}
    table = pd.DataFrame({"index": frame["index"], "label": labels, "prediction": predictions,
                          "confidence": probs.max(1)})
    if center is not None:
        arrays["probs_center"] = center.astype(np.float32)
        table["prediction_center"] = center.argmax(1)
    write_h5(probs_out, arrays)
    write_csv(table, out)
    log.info("top-1 %.4f, mean class accuracy %.4f on %d images", evaluation.top1(labels, predictions),
             evaluation.mean_class_accuracy(labels, predictions), len(labels))
    if center is not None:
        log.info("center crop alone: top-1 %.4f, mean class accuracy %.4f", evaluation.top1(labels, center.argmax(1)),
                 evaluation.mean_class_accuracy(labels, center.argmax(1)))


def fusion(probs: list[str], manifest: str, out: str, probs_out: str) -> None:
    """Average the softmax outputs of several models (the iterations of one run).

    Args:
        probs: the models' probs.h5 (test softmax)
        manifest: the target's test manifest
        out: eval.csv of the average
        probs_out: probs.h5 of the average
    """
    frame = read_manifest(manifest)
    stored = [read_h5(f) for f in probs]
    fused = evaluation.fuse([s["probs"] for s in stored])
    center = evaluation.fuse([s["probs_center"] for s in stored]) if all("probs_center" in s for s in stored) else None
    _write_eval(frame, fused, out, probs_out, center=center)
