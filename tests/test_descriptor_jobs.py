"""One descriptor job per shard for every bank: decoded once, the same bytes as a job per bank, draft decoding.

The descriptor job decodes each image once and fits it to each bank's mode (workflow/stages/
descriptors.py); these tests hold it to what the per-bank jobs wrote before, byte for byte, and
to what Snakemake plans (what a change reruns: tests/test_workflow.py, on the demo's run).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import default_config, planned_jobs, snakemake, write_config
from PIL import Image, UnidentifiedImageError

from workflow.datasets import DatasetError, _eight_bit, decode_image, fit_image, load_image
from workflow.io import read_h5
from workflow.stages.descriptors import BoundBank, DecodedImages, bounds, descriptors

GABOR = {"frequencies": [0.1, 0.2, 0.4], "orientations": 2}


def load_image_before_the_split(path: str, size: int, mode: str = "RGB", draft: bool = False) -> Image.Image:
    """``datasets.load_image`` as it was when each bank's job decoded on its own (commit 10cc96b)."""
    try:
        with Image.open(path) as image:
            if draft:
                image.draft(None, (size, size))
            image = _eight_bit(image, path).convert(mode)
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f"cannot read image {path}: {error}") from error
    width, height = image.size
    scale = size / min(width, height)
    if scale != 1:
        new = (max(size, round(width * scale)), max(size, round(height * scale)))
        image = image.resize(new, Image.BILINEAR)
    width, height = image.size
    left, top = (width - size) // 2, (height - size) // 2
    return image.crop((left, top, left + size, top + size))


def photo(width: int, height: int, seed: int) -> np.ndarray:
    """Smooth colour content with edges, (height, width, 3) uint8: JPEG-like material."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    pixels = np.asarray(small, dtype=np.float64) + rng.normal(0, 8, (height, width, 3))
    pixels[: height // 2, width // 3 :] *= 0.6  # an edge
    return np.clip(pixels, 0, 255).astype(np.uint8)


def image_zoo(folder) -> list[str]:
    """The kinds of image a pool holds: large and small colour JPEGs, a grayscale and a CMYK JPEG,
    RGBA, palette and 16-bit PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = photo(240, 180, 0)
    images = {
        "large.jpg": Image.fromarray(rgb),
        "tall.jpg": Image.fromarray(photo(130, 200, 1)),
        "small.jpg": Image.fromarray(photo(40, 36, 2)),
        "gray.jpg": Image.fromarray(rgb[..., 1]),
        "cmyk.jpg": Image.fromarray(rgb).convert("CMYK"),
        "alpha.png": Image.fromarray(np.dstack([rgb, rgb[..., :1]]), mode="RGBA"),
        "palette.png": Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE),
        "sixteen.png": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257),
    }
    paths = []
    for name, image in images.items():
        paths.append(str(folder / name))
        image.save(paths[-1], **({"quality": 90} if name.endswith(".jpg") else {}))
    return paths


@pytest.mark.parametrize("draft", [False, True])
def test_decode_once_then_fit_gives_each_mode_what_per_bank_decoding_gave(tmp_path, draft):
    paths = image_zoo(tmp_path)
    for path in paths:
        for size in (24, 48):
            decoded = decode_image(path, size if draft else None)
            for mode in ("L", "RGB"):
                before = np.asarray(load_image_before_the_split(path, size, mode, draft))
                assert np.array_equal(np.asarray(fit_image(decoded, size, mode, path)), before), (path, size, mode)
                assert np.array_equal(np.asarray(load_image(path, size, mode, draft=draft)), before), (path, size, mode)
    # the job's dataset: one decode, every mode, as floats in [0, 1]
    item = DecodedImages(paths, 24, ["L", "RGB"], draft)[0]
    for mode in ("L", "RGB"):
        expected = np.asarray(load_image_before_the_split(paths[0], 24, mode, draft), dtype=np.float32) / 255
        assert np.array_equal(item[mode].numpy(), expected)
    # draft acts on the large JPEG (decoded at a quarter) and on no other format
    drafted, full = decode_image(paths[0], 24), decode_image(paths[0])
    assert drafted.size == (60, 45) and full.size == (240, 180)
    assert decode_image(str(tmp_path / "alpha.png"), 24).size == (240, 180)


def manifest(path, images) -> str:
    pd.DataFrame({"index": range(len(images)), "path": [str(p) for p in images], "label": 0,
                  "class_name": "a"}).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def cnn_checkpoint(tmp_path_factory) -> str:
    from workflow.model import build_model, save_checkpoint

    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp("cnn") / "model.pt")
    save_checkpoint(build_model("tiny_resnet", {"t": ["a"]}, "scratch"), {"t": ["a"]}, path)
    return path


def two_banks(tmp_path, cnn_checkpoint, images, size: int, draft: bool) -> list[str]:
    """bounds.h5 of a Gabor and a CNN bank on ``images``."""
    train = manifest(tmp_path / "train.csv", images)
    cnn = {"model": cnn_checkpoint, "arch": "tiny_resnet"}
    files = []
    for name, settings in (("gabor", GABOR), ("cnn", cnn)):
        files.append(str(tmp_path / f"bounds-{name}-{draft}.h5"))
        bounds(train, files[-1], name, settings, 8, 200, size, draft, 3, 0)
    return files


def histograms_of(bank: BoundBank, images: list[Image.Image]) -> np.ndarray:
    """A bank's float16 histograms of decoded images, as a descriptor job computes them."""
    pixels = torch.from_numpy(np.stack([np.asarray(image, dtype=np.float32) / 255 for image in images]))
    return bank.binning.histograms(bank.filters.response_layers(pixels)).half().numpy()


def test_one_job_for_both_banks_writes_what_a_job_per_bank_wrote(tmp_path, cnn_checkpoint):
    paths = image_zoo(tmp_path / "images")
    pool = manifest(tmp_path / "pool.csv", paths)
    gabor, cnn = two_banks(tmp_path, cnn_checkpoint, paths[:4], 32, draft=False)
    together = [str(tmp_path / "gabor.h5"), str(tmp_path / "cnn.h5")]
    descriptors(pool, [gabor, cnn], together, 1, 2, 3, 0)
    descriptors(pool, [gabor], [str(tmp_path / "gabor-alone.h5")], 1, 2, 3, 0)
    descriptors(pool, [cnn], [str(tmp_path / "cnn-alone.h5")], 1, 2, 3, 1)  # one decoding worker

    lo, hi = len(paths) // 2, len(paths)
    for bounds_file, out, alone in zip([gabor, cnn], together, ["gabor-alone.h5", "cnn-alone.h5"]):
        shard, single = read_h5(out), read_h5(tmp_path / alone)
        assert np.array_equal(shard["hist"], single["hist"]) and np.array_equal(shard["index"], np.arange(lo, hi))
        # and what the per-bank job computed from its own decoding before the split
        bank = BoundBank(bounds_file)
        before = [load_image_before_the_split(p, 32, bank.filters.mode) for p in paths[lo:hi]]
        assert np.array_equal(shard["hist"], histograms_of(bank, before)), out
        assert list(shard["attr:layer_sizes"]) == list(bank.layer_sizes)
    assert read_h5(together[0])["hist"].shape[1] == 2 * 3 * 2 and read_h5(together[1])["hist"].shape[1] == 32


def test_draft_descriptors_are_deterministic_and_filter_the_drafted_pixels(tmp_path, cnn_checkpoint):
    paths = image_zoo(tmp_path / "images")
    pool = manifest(tmp_path / "pool.csv", paths)
    drafted = two_banks(tmp_path, cnn_checkpoint, paths[:4], 32, draft=True)
    full = two_banks(tmp_path, cnn_checkpoint, paths[:4], 32, draft=False)
    assert all(bool(read_h5(f)["attr:jpeg_draft"]) for f in drafted)
    runs = {}
    for name, files in (("first", drafted), ("again", drafted), ("full", full)):
        runs[name] = [str(tmp_path / f"{name}-{bank}.h5") for bank in ("gabor", "cnn")]
        descriptors(pool, files, runs[name], 0, 1, 4, 0)
    for first, again, whole in zip(runs["first"], runs["again"], runs["full"]):
        assert open(first, "rb").read() == open(again, "rb").read(), "the same shard twice: other bytes"
        assert not np.array_equal(read_h5(first)["hist"], read_h5(whole)["hist"]), "draft changed nothing"
    # the drafted shard is the histograms of load_image(draft=True)'s pixels, under the drafted bounds
    bank = BoundBank(drafted[0])
    expected = histograms_of(bank, [load_image(p, 32, "L", draft=True) for p in paths])
    assert np.array_equal(read_h5(runs["first"][0])["hist"], expected)


def test_banks_that_disagree_on_their_pixels_are_refused_by_file(tmp_path, cnn_checkpoint):
    paths = image_zoo(tmp_path / "images")
    gabor, _ = two_banks(tmp_path, cnn_checkpoint, paths[:3], 32, draft=True)
    _, cnn = two_banks(tmp_path, cnn_checkpoint, paths[:3], 32, draft=False)
    with pytest.raises(ValueError, match=f"{gabor}: image_size 32, jpeg_draft True.*{cnn}: image_size 32, jpeg_draft False"):
        descriptors(manifest(tmp_path / "pool.csv", paths), [gabor, cnn], ["a.h5", "b.h5"], 0, 1, 4, 0)
    with pytest.raises(ValueError, match="2 bounds files but 1 outputs"):
        descriptors(manifest(tmp_path / "pool.csv", paths), [gabor, gabor], ["a.h5"], 0, 1, 4, 0)


# ---------------------------------------------------------------- what Snakemake plans


def test_dry_run_plans_one_descriptor_job_per_shard_for_every_bank(tmp_path):
    config = default_config()
    config["descriptors"]["source_shards"] = 3
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", "--", "results/demo/bank-gabor/knn.h5", "results/demo/bank-cnn/knn.h5")
    assert planned_jobs(result.stdout)["descriptors"] == 1 + 3  # the target's shard and the source's three
    assert planned_jobs(result.stdout)["bounds"] == 2
    for domain, shard in [("target", 0), ("source", 0), ("source", 1), ("source", 2)]:
        outputs = [f"results/demo/bank-{bank}/hist/{domain}/shard-{shard}.h5" for bank in config["bank"]["names"]]
        assert f"output: {', '.join(outputs)}\n" in result.stdout
