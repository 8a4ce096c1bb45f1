"""The stages of the workflow as functions from files to files.

Each function reads its inputs, calls the math in the other modules and writes its outputs
atomically. ``cli.py`` exposes every one as ``python -m workflow <stage>``, which is what
the Snakemake rules run; they can be run by hand the same way.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import demo, evaluation, retrieval, schedule
from .datasets import DatasetError, class_names, load_image, read_manifest, scan_image_folder
from .filterbank import make_bank
from .histograms import equal_mass_edges, fine_counts, histograms, response_range
from .io import read_h5, write_csv, write_h5, write_json
from .report import build_report
from .joint import TrainSettings, fit
from .model import build_model, load_checkpoint, pick_device, save_checkpoint

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- data


def demo_data(out: str, settings: dict) -> None:
    demo.generate(out, **settings)
    log.info("demo data written under %s", out)


def target_manifest(root: str, out_dir: str, train_split: str, test_split: str) -> None:
    """``train.csv`` and ``test.csv`` of ``root/<split>/<class>/<image>``; labels follow the train classes."""
    train = scan_image_folder(Path(root) / train_split)
    test = scan_image_folder(Path(root) / test_split, classes=class_names(train))
    for role, split, frame in (("train", train_split, train), ("test", test_split, test)):
        write_csv(frame, Path(out_dir) / f"{role}.csv")
        log.info("%s/%s: %d images in %d classes", root, split, len(frame), frame["label"].nunique())


def source_manifest(root: str, out: str, max_per_class: int | None) -> None:
    frame = scan_image_folder(root, max_per_class=max_per_class)
    write_csv(frame, out)
    log.info("%s: %d images in %d classes", root, len(frame), frame["label"].nunique())


# ---------------------------------------------------------------- descriptors


def _gray_batches(paths: list[str], image_size: int, batch_size: int):
    """Grayscale images in [0, 1] as (B, S, S) float32 tensors, in manifest order."""
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        arrays = [np.asarray(load_image(p, image_size, mode="L"), dtype=np.float32) / 255 for p in chunk]
        yield torch.from_numpy(np.stack(arrays))


def bounds(manifest: str, out: str, bank_name: str, bank_settings: dict, n_bins: int, n_intervals: int, image_size: int, batch_size: int) -> None:
    """Equal-mass bin edges of every filter response over the target training images."""
    bank = make_bank(bank_name, bank_settings)
    paths = read_manifest(manifest)["path"].tolist()

    def responses():
        return (bank.responses(images) for images in _gray_batches(paths, image_size, batch_size))

    start = time.perf_counter()
    low, high = response_range(responses())
    counts = fine_counts(responses(), low, high, n_intervals)
    edges = equal_mass_edges(counts, low, high, n_bins)
    attrs = {"bank": bank_name, "bank_settings": json.dumps(bank_settings, sort_keys=True), "image_size": image_size,
             "n_bins": n_bins, "layer_sizes": np.array(bank.layer_sizes)}
    write_h5(out, {"edges": edges.numpy(), "low": low.numpy(), "high": high.numpy()}, attrs)
    log.info("bounds of %d responses x %d bins from %d images in %.1f s", len(edges), n_bins, len(paths), time.perf_counter() - start)


def _bank_from_bounds(bounds_file: str):
    stored = read_h5(bounds_file)
    return make_bank(stored["attr:bank"], json.loads(stored["attr:bank_settings"])), stored


def descriptors(manifest: str, bounds_file: str, out: str, shard: int, n_shards: int, batch_size: int) -> None:
    """Histograms of one shard of a manifest: images [shard n / N, (shard + 1) n / N)."""
    bank, stored = _bank_from_bounds(bounds_file)
    frame = read_manifest(manifest)
    lo, hi = len(frame) * shard // n_shards, len(frame) * (shard + 1) // n_shards
    part = frame.iloc[lo:hi]
    edges = torch.from_numpy(stored["edges"])
    start, chunks = time.perf_counter(), []
    for images in _gray_batches(part["path"].tolist(), int(stored["attr:image_size"]), batch_size):
        chunks.append(histograms(bank.responses(images), edges).half().numpy())
    n_bins = edges.shape[1] + 1
    hist = np.concatenate(chunks) if chunks else np.empty((0, len(edges), n_bins), dtype=np.float16)
    write_h5(out, {"hist": hist, "index": part["index"].to_numpy()}, {"layer_sizes": stored["attr:layer_sizes"]})
    seconds = time.perf_counter() - start
    log.info("shard %d/%d: %d images in %.1f s (%.0f img/s)", shard, n_shards, len(part), seconds, len(part) / max(seconds, 1e-9))


# ---------------------------------------------------------------- retrieval


def knn(target_shards: list[str], source_shards: list[str], out: str, k: int, eps: float, block_size: int) -> None:
    """The exact top-k source images of every target image under weighted symmetric KL."""
    targets = [read_h5(f) for f in target_shards]
    target_hist = np.concatenate([t["hist"] for t in targets])
    target_ids = np.concatenate([t["index"] for t in targets])
    weights = retrieval.response_weights(list(targets[0]["attr:layer_sizes"]))
    top = retrieval.TopK(target_hist, weights, k, eps)
    start, n_sources = time.perf_counter(), 0
    for number, shard in enumerate(source_shards):
        data = read_h5(shard, ["hist", "index"])
        for lo in range(0, len(data["index"]), block_size):
            top.add(data["hist"][lo : lo + block_size], data["index"][lo : lo + block_size])
        n_sources += len(data["index"])
        log.info("source shard %d/%d done (%d source images so far)", number + 1, len(source_shards), n_sources)
    order = np.argsort(target_ids)
    write_h5(out, {"target_index": target_ids[order], "ids": top.ids[order], "distances": top.distances[order]},
             {"eps": eps, "n_sources": n_sources})
    log.info("top-%d of %d targets over %d sources in %.1f s", top.ids.shape[1], len(target_ids), n_sources, time.perf_counter() - start)


def neighbours(out: str, targets: str, knn_file: str | None = None, random_pool: str | None = None, length: int = 0, seed: int = 0,
               k0: int | None = None, entropy: str | None = None, delta: float = 0.1, sigma0: int = 0, sigma1: int = 0,
               match: str | None = None) -> None:
    """One iteration's neighbour table: a ranking (kNN or random) cut at per-target counts.

    Counts come from ``k0`` (iteration 0), from the previous iteration's ``entropy`` table by
    the paper's rule, or from another neighbour table (``match``: same count per target).
    """
    n_targets = len(read_manifest(targets))
    if knn_file:
        ranking = read_h5(knn_file, ["ids"])["ids"]
    else:
        ranking = schedule.random_ranking(n_targets, len(read_manifest(random_pool)), length, seed)
    if len(ranking) != n_targets:
        raise ValueError(f"{knn_file} ranks {len(ranking)} target images but {targets} lists {n_targets}")
    if k0 is not None:
        counts = np.full(n_targets, k0)
    elif entropy:
        table = pd.read_csv(entropy)
        counts = schedule.next_counts(table["k"], table["entropy"], table["correct"], delta, sigma0, sigma1)
    else:
        counts = schedule.counts_of(pd.read_csv(match), n_targets)
    table = schedule.neighbour_table(ranking, counts)
    write_csv(table, out)
    log.info("%d pairs, %d distinct source images, K from %d to %d", len(table), table["source_index"].nunique(), counts.min(), counts.max())


# ---------------------------------------------------------------- training


def _items(frame: pd.DataFrame) -> list[tuple[str, int]]:
    return list(zip(frame["path"].tolist(), frame["label"].astype(int).tolist()))


def pretrain(manifest: str, out: str, arch: str, init: str, settings: dict, device: str) -> None:
    """Train the backbone and a source head on the source set (for machines without weights)."""
    frame = read_manifest(manifest)
    classes = {"source": class_names(frame)}
    model = build_model(arch, classes, init)
    stats = fit(model, _items(frame), TrainSettings(**settings), pick_device(device), head="source")
    save_checkpoint(model.cpu(), classes, out)
    log.info("pretrained %s on %d source images in %.0f s", arch, len(frame), stats["train_seconds"])


def train(target: str, init: str, out_dir: str, arch: str, settings: dict, device: str,
          source: str | None = None, neighbour_table: str | None = None, keep_heads: list[str] = ()) -> None:
    """One training iteration: model.pt, entropy.csv (per target training image) and train.json."""
    settings = TrainSettings(**settings)
    target_frame = read_manifest(target)
    classes = {"target": class_names(target_frame)}
    source_items = neighbour_lists = None
    counts = np.zeros(len(target_frame), dtype=int)
    if neighbour_table:
        source_frame = read_manifest(source)
        classes["source"] = class_names(source_frame)
        source_items = _items(source_frame)
        table = pd.read_csv(neighbour_table)
        neighbour_lists = schedule.neighbour_lists(table, len(target_frame))
        counts = schedule.counts_of(table, len(target_frame))
    torch.manual_seed(settings.seed)
    model = build_model(arch, classes, init, keep_heads=tuple(keep_heads))
    run_device = pick_device(device)
    stats = fit(model, _items(target_frame), settings, run_device, source_items, neighbour_lists)
    probs = evaluation.predict(model, target_frame["path"].tolist(), settings.input_size, run_device)
    labels = target_frame["label"].to_numpy()
    table = pd.DataFrame({"index": target_frame["index"], "label": labels, "entropy": evaluation.entropy(probs),
                          "correct": probs.argmax(1) == labels, "k": counts})
    out = Path(out_dir)
    save_checkpoint(model.cpu(), classes, out / "model.pt")
    write_csv(table, out / "entropy.csv")
    n_source = int(pd.read_csv(neighbour_table)["source_index"].nunique()) if neighbour_table else 0
    write_json({**stats, "n_source_images": n_source, "settings": dataclasses.asdict(settings)}, out / "train.json")
    log.info("train accuracy %.3f, mean entropy %.3f", table["correct"].mean(), table["entropy"].mean())


def evaluate(model_file: str, manifest: str, out: str, probs_out: str, input_size: int, device: str) -> None:
    """Per-test-image predictions of the target head (eval.csv) and its softmax (probs.h5)."""
    state = load_checkpoint(model_file)
    frame = read_manifest(manifest)
    trained = state["classes"]["target"]
    for label, name in frame[["label", "class_name"]].drop_duplicates().itertuples(index=False):
        if label >= len(trained) or trained[label] != name:
            raise DatasetError(f"{manifest}: class {name} (label {label}) is not the model's class {label} in {model_file}")
    model = build_model(state["arch"], state["classes"], model_file, keep_heads=tuple(state["classes"]))
    probs = evaluation.predict(model, frame["path"].tolist(), input_size, pick_device(device))
    _write_eval(frame, probs, out, probs_out)


def _write_eval(frame: pd.DataFrame, probs: np.ndarray, out: str, probs_out: str) -> None:
    labels, predictions = frame["label"].to_numpy(), probs.argmax(1)
    write_h5(probs_out, {"probs": probs.astype(np.float32), "index": frame["index"].to_numpy()})
    write_csv(pd.DataFrame({"index": frame["index"], "label": labels, "prediction": predictions,
                            "confidence": probs.max(1)}), out)
    log.info("top-1 %.4f, mean class accuracy %.4f on %d images", evaluation.top1(labels, predictions),
             evaluation.mean_class_accuracy(labels, predictions), len(labels))


def fusion(probs_files: list[str], manifest: str, out: str, probs_out: str) -> None:
    """Average the softmax outputs of several models (the iterations of one run)."""
    frame = read_manifest(manifest)
    probs = evaluation.fuse([read_h5(f, ["probs"])["probs"] for f in probs_files])
    _write_eval(frame, probs, out, probs_out)


def report(out: str, **options) -> None:
    """The comparison table (see ``report.build_report``), written and printed."""
    frame = build_report(**options)
    write_csv(frame, out)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
