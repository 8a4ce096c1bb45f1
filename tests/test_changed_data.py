"""Changed data reruns: a rewritten, added or removed image reruns exactly the stages that read it.

The manifests of a user's image folders carry a digest of the images' paths, sizes and
modification times (workflow.datasets.folder_fingerprint) as a rule parameter.
"""

from __future__ import annotations

import os

import pytest
from conftest import default_config, planned_jobs, snakemake, write_config
from PIL import Image

from workflow.datasets import folder_fingerprint

DESCRIPTORS = ["results/tgt/bank-gabor/hist/target/shard-0.h5",
               "results/tgt/bank-gabor/hist/source/shard-0.h5", "results/tgt/bank-gabor/hist/source/shard-1.h5",
               "results/tgt/manifest/test.csv"]
# the bounds are the target's: every shard follows; test.csv is numbered by train.csv's classes
TARGET_SIDE = {"target_manifest": 2, "bounds": 1, "descriptors": 3}
TEST_SIDE = {"target_manifest": 1}  # no bounds, no descriptor of the pool: they never read the test split
SOURCE_SIDE = {"source_manifest": 1, "descriptors": 2}


def image_tree(root, classes, per_class):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (12, 12), (40 * c + 10 * i, 90, 200 - 30 * c)).save(root / name / f"{i}.png")


def rewrite_keeping_mtime(path):
    """Save another image over ``path`` and give it back its modification time (only the size tells)."""
    stat = os.stat(path)
    Image.new("RGB", (20, 20), (1, 2, 3)).save(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


CHANGES = [  # (what, change under the data folder, the jobs it must rerun)
    ("touch a target image", lambda d: (d / "target/train/ant/0.png").touch(), TARGET_SIDE),
    ("save over a target image", lambda d: Image.new("RGB", (20, 20)).save(d / "target/train/bee/1.png"), TARGET_SIDE),
    ("remove a test image", lambda d: (d / "target/test/bee/1.png").unlink(), TEST_SIDE),
    ("touch a test image", lambda d: (d / "target/test/ant/0.png").touch(), TEST_SIDE),
    ("add a source image", lambda d: Image.new("RGB", (12, 12)).save(d / "pool/dog/new.png"), SOURCE_SIDE),
    ("copy over a source image, same mtime", lambda d: rewrite_keeping_mtime(d / "pool/eel/2.png"), SOURCE_SIDE),
    ("move a source image to another class", lambda d: (d / "pool/cat/3.png").rename(d / "pool/dog/3b.png"), SOURCE_SIDE),
    ("add a hidden file and a text file", lambda d: ((d / "pool/cat/._0.png").write_bytes(b"AppleDouble"),
                                                     (d / "pool/cat/notes.txt").write_text("not an image")), {}),
]


@pytest.mark.slow
def test_changed_images_rerun_exactly_the_stages_that_read_them(tmp_path):
    image_tree(tmp_path / "target" / "train", ["ant", "bee"], 3)
    image_tree(tmp_path / "target" / "test", ["ant", "bee"], 2)
    image_tree(tmp_path / "pool", ["cat", "dog", "eel"], 4)
    config = default_config()
    config["targets"] = {"tgt": {"kind": "imagefolder", "root": str(tmp_path / "target"), "source": "pool"}}
    config["sources"] = {"pool": {"kind": "imagefolder", "root": str(tmp_path / "pool")}}
    config["bank"].update(names=["gabor"], image_size=12)
    config["descriptors"]["source_shards"] = 2
    config["selection"].update(k0=2, iterations=1)  # a pool of 13 (flat images: the audit pairs several)
    workdir = tmp_path / "run"
    write_config(workdir, config)
    snakemake(workdir, "--", *DESCRIPTORS)
    for what, change, expected in CHANGES:
        change(tmp_path)
        assert planned_jobs(snakemake(workdir, "-n", "--", *DESCRIPTORS).stdout) == expected, what
        if expected:
            snakemake(workdir, "--", *DESCRIPTORS)
    assert "Nothing to be done" in snakemake(workdir, "-n", "--", *DESCRIPTORS).stdout
    # past the descriptors a test image reaches the kNN search through the leakage audit's exclusions only
    snakemake(workdir, "--", "results/tgt/bank-gabor/knn.h5")
    (tmp_path / "target/test/bee/0.png").touch()
    planned = planned_jobs(snakemake(workdir, "-n", "--", "results/tgt/bank-gabor/knn.h5").stdout)
    assert planned == {"target_manifest": 1, "target_fingerprints": 1, "leakage": 1, "knn": 1}
    manifest = (workdir / "results/source/pool/manifest.csv").read_text()
    assert "dog/3b.png" in manifest and "cat/3.png" not in manifest and "new.png" in manifest


def test_fingerprint_changes_with_each_image_and_only_with_images(tmp_path):
    image_tree(tmp_path / "data", ["a", "b"], 2)
    first = folder_fingerprint(tmp_path / "data")
    assert folder_fingerprint(tmp_path / "data") == first
    (tmp_path / "data/a/.DS_Store").write_bytes(b"x")
    (tmp_path / "data/.git").mkdir()
    (tmp_path / "data/.git/0.png").write_bytes(b"x")
    assert folder_fingerprint(tmp_path / "data") == first
    (tmp_path / "data/b/deeper").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "data/b/deeper/x.png")  # ImageFolder takes sub-folders' images
    second = folder_fingerprint(tmp_path / "data")
    assert second != first
    assert folder_fingerprint(tmp_path / "absent") != folder_fingerprint(tmp_path / "absent too")
