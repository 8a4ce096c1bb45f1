"""A corrupt image in a descriptor job: the error names the file, and the job's earlier output is untouched."""

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from workflow.datasets import MAX_PIXELS_VARIABLE, DatasetError, decode_image, load_image
from workflow.stages.descriptors import bounds, descriptors


def manifest(path, images):
    pd.DataFrame({"index": range(len(images)), "path": [str(p) for p in images], "label": 0,
                  "class_name": "a"}).to_csv(path, index=False)
    return str(path)


def test_corrupt_image_is_named_and_the_earlier_output_survives(tmp_path):
    rng = np.random.default_rng(0)
    good = []
    for i in range(3):
        good.append(tmp_path / f"g{i}.png")
        Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(good[-1])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg" * 20)
    settings = {"frequencies": [0.2, 0.4], "orientations": 2}
    bounds(manifest(tmp_path / "train.csv", good), str(tmp_path / "bounds.h5"), "gabor", settings, 4, 50, 16, False, 2, 0)
    out = tmp_path / "out" / "shard-0.h5"
    out.parent.mkdir()
    out.write_bytes(b"the shard of an earlier run")

    with pytest.raises(DatasetError, match="cannot read image") as info:
        descriptors(manifest(tmp_path / "pool.csv", [*good, broken]), [str(tmp_path / "bounds.h5")], [str(out)], 0, 1, 2, 0)

    assert str(broken) in str(info.value)
    assert out.read_bytes() == b"the shard of an earlier run"
    assert [p.name for p in out.parent.iterdir()] == ["shard-0.h5"]  # no half-written file beside it


def test_sixteen_bit_images_keep_their_tones(tmp_path):
    """A 16-bit PNG decodes to the same 8-bit image as its 8-bit copy (PIL's convert made it white)."""
    from workflow.datasets import load_image

    ramp = np.tile(np.linspace(0, 255, 24).round().astype(np.uint8), (24, 1))
    Image.fromarray(ramp).save(tmp_path / "eight.png")
    Image.fromarray(ramp.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    for mode in ("L", "RGB"):
        eight = np.asarray(load_image(str(tmp_path / "eight.png"), 24, mode), dtype=int)
        sixteen = np.asarray(load_image(str(tmp_path / "sixteen.png"), 24, mode), dtype=int)
        assert np.abs(eight - sixteen).max() <= 1


def test_alpha_and_palette_images_decode_to_their_colours(tmp_path):
    from workflow.datasets import load_image

    Image.new("RGBA", (8, 8), (200, 30, 60, 128)).save(tmp_path / "alpha.png")
    Image.new("RGB", (8, 8), (200, 30, 60)).convert("P", palette=Image.ADAPTIVE).save(tmp_path / "palette.png")
    for name in ("alpha.png", "palette.png"):
        assert np.asarray(load_image(str(tmp_path / name), 8))[0, 0].tolist() == [200, 30, 60]


def test_floating_point_images_are_refused_by_name(tmp_path):
    from workflow.datasets import load_image

    path = tmp_path / "float.tif"
    Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32)).save(path)
    with pytest.raises(DatasetError, match=f"cannot read image {path}: floating-point"):
        load_image(str(path), 8)


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory):
    """A 14000 x 14000 PNG (1-bit, so it is small on disk): past PIL's decompression-bomb refusal."""
    path = tmp_path_factory.mktemp("huge") / "huge scan.png"
    Image.new("1", (14_000, 14_000)).save(path)
    return str(path)


def test_an_oversized_image_is_named_with_the_setting_that_raises_the_limit(huge_png, monkeypatch):
    """PIL's DecompressionBombError named no file, and stopped pretraining with a bare traceback."""
    monkeypatch.delenv(MAX_PIXELS_VARIABLE, raising=False)
    with pytest.raises(DatasetError, match=f"image {huge_png} is 14000 x 14000 .*{MAX_PIXELS_VARIABLE}"):
        load_image(huge_png, 32)
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, "200_000_000")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no nameless DecompressionBombWarning either
        assert decode_image(huge_png).size == (14_000, 14_000)
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, "1000")
    with pytest.raises(DatasetError, match="more than the limit of 1,000"):
        load_image(huge_png, 32)


def test_a_bad_pixel_limit_names_the_variable(huge_png, monkeypatch):
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, "lots")
    with pytest.raises(DatasetError, match=f"{MAX_PIXELS_VARIABLE}='lots'"):
        load_image(huge_png, 32)
