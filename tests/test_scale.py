"""At scale: an ImageNet-sized source pool (1,281,167 images in 500 descriptor shards) plans in seconds.

The manifests are generated, not scanned: no image exists, and the dry run must not need one.
The dry run's time is printed (``pytest -s``), never asserted.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
from conftest import default_config, planned_jobs, snakemake, write_config

N_SOURCE_IMAGES = 1_281_167  # ILSVRC-2012 train
N_SOURCE_CLASSES = 1000
N_SHARDS = 500
TARGET = "birds"  # CUB-200-sized: 200 classes, 30 train and 20 test images each


def write_manifest(path: Path, folder: Path, n_images: int, n_classes: int) -> None:
    """The manifest the workflow writes for ``folder/<class>/<image>`` (index,path,label,class_name), without images.

    Classes ``n00000000``... hold consecutive runs of near-equal size; image names sort in index order,
    as the scan of a real folder orders them. Plain text writing: a 1.28M-row file takes about a second.
    """
    labels = np.arange(n_images) * n_classes // n_images
    starts = np.searchsorted(labels, np.arange(n_classes + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as out:
        out.write("index,path,label,class_name\n")
        for label in range(n_classes):
            name = f"n{label:08d}"
            out.writelines(
                f"{i},{folder}/{name}/{name}_{i:07d}.JPEG,{label},{name}\n" for i in range(starts[label], starts[label + 1])
            )


def test_generated_manifest_is_what_the_manifest_rule_writes(tmp_path):
    """The generator's file equals, byte for byte, the source_manifest stage's scan of the same (empty) images."""
    from workflow.stages.data import source_manifest

    root = (tmp_path / "pool").resolve()
    generated = tmp_path / "generated.csv"
    write_manifest(generated, root, n_images=7, n_classes=3)
    for line in generated.read_text().splitlines()[1:]:
        image = Path(line.split(",")[1])
        image.parent.mkdir(parents=True, exist_ok=True)
        image.touch()
    scanned = tmp_path / "scanned.csv"
    source_manifest(str(root), str(scanned), max_per_class=None)
    assert scanned.read_text() == generated.read_text()


def test_dry_run_of_an_imagenet_sized_pool_plans_every_shard_without_rebuilding_manifests(tmp_path):
    workdir = tmp_path / "run"
    source_root = (tmp_path / "imagenet" / "train").resolve()
    target_root = (tmp_path / TARGET).resolve()
    start = time.perf_counter()
    # imagefolder manifests have no input files: once they exist they are up to date, whatever their mtimes
    write_manifest(workdir / "results/source/imagenet/manifest.csv", source_root, N_SOURCE_IMAGES, N_SOURCE_CLASSES)
    for split, per_class in (("train", 30), ("test", 20)):
        write_manifest(workdir / f"results/{TARGET}/manifest/{split}.csv", target_root / split, 200 * per_class, 200)
    generated = time.perf_counter() - start
    config = default_config()
    config["targets"] = {TARGET: {"kind": "imagefolder", "root": str(target_root), "source": "imagenet"}}
    config["sources"] = {"imagenet": {"kind": "imagefolder", "root": str(source_root)}}
    config["descriptors"]["source_shards"] = N_SHARDS
    write_config(workdir, config)

    start = time.perf_counter()
    result = snakemake(workdir, "-n", "--", f"results/{TARGET}/report.csv", f"results/{TARGET}/report.html")
    elapsed = time.perf_counter() - start
    jobs = planned_jobs(result.stdout)
    print(f"\n{N_SOURCE_IMAGES} source images in {N_SHARDS} shards: manifests written in {generated:.1f} s, "
          f"dry run of {sum(jobs.values())} jobs in {elapsed:.1f} s")

    assert not {"source_manifest", "target_manifest"} & set(jobs), jobs
    banks = config["bank"]["names"]
    assert jobs["descriptors"] == N_SHARDS + 1  # one job per shard writes every bank's; and the target's shard
    assert jobs["knn"] == len(banks)
    outputs = re.findall(r"output: (.+/hist/source/shard-\d+\.h5)\n", result.stdout)
    shards = [re.fullmatch(rf"results/{TARGET}/bank-(\w+)/hist/source/shard-(\d+)\.h5", path).groups()
              for line in outputs for path in line.split(", ")]
    for bank in banks:
        assert sorted(int(i) for b, i in shards if b == bank) == list(range(N_SHARDS)), bank
