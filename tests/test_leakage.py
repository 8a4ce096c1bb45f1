"""The leakage audit: fingerprints equal imagehash's, the search equals brute force, planted copies
are found, and no method borrows a source image that duplicates an excluded target image."""

from __future__ import annotations

import shutil

import h5py
import imagehash
import numpy as np
import pandas as pd
import pytest
from conftest import default_config, planned_jobs, snakemake, write_config
from PIL import Image

from workflow.fingerprints import (Fingerprints, equal_pairs, file_fingerprint, fingerprint_files, hamming, near_pairs,
                                   phash)
from workflow.leakage import audit_table, duplicate_pairs, kept_sources, read_exclusions, summarize
from workflow.stages.leakage import fingerprints, leakage
from workflow.stages.retrieval import neighbours


def textured(rng: np.random.Generator, size=(48, 40), tint=(1.0, 1.0, 1.0)) -> Image.Image:
    """A photo-like image: smooth random shapes plus a little grain (flat images all hash alike)."""
    coarse = Image.fromarray((rng.random((5, 5, 3)) * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    pixels = np.asarray(coarse, dtype=np.float64) * np.asarray(tint) + rng.normal(0, 6, (size[1], size[0], 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def test_phash_equals_imagehash_on_every_mode_and_shape():
    rng = np.random.default_rng(0)
    images = [textured(rng, size) for size in [(32, 32), (48, 40), (17, 90), (300, 200)]]
    images += [images[1].convert("L"), images[2].convert("P"), images[3].convert("RGBA"), images[0].convert("CMYK")]
    for image in images:
        assert f"{phash(image):016x}" == str(imagehash.phash(image)), image.mode


def test_the_mirror_hash_is_the_hash_of_the_mirrored_image(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(5):
        image = textured(rng, (60, 44))
        image.save(tmp_path / f"{i}.png")
        _, mirror, _, _ = file_fingerprint(str(tmp_path / f"{i}.png"), draft=False)
        assert mirror == phash(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def test_the_digest_tells_byte_identical_files_only(tmp_path):
    image = textured(np.random.default_rng(2))
    image.save(tmp_path / "a.png")
    shutil.copy(tmp_path / "a.png", tmp_path / "copy.png")
    image.save(tmp_path / "b.jpg", quality=95)
    prints = fingerprint_files([str(tmp_path / n) for n in ("a.png", "copy.png", "b.jpg")], workers=2)
    assert prints.digest[0] == prints.digest[1] != prints.digest[2]
    assert prints.phash[0] == prints.phash[1] and hamming(prints.phash[0], prints.phash[2]) <= 4


def brute_force(queries, pool, threshold):
    distances = np.array([[bin(int(q) ^ int(p)).count("1") for p in pool] for q in queries])
    rows, columns = np.nonzero(distances <= threshold)
    return rows, columns, distances[rows, columns]


@pytest.mark.parametrize("blocks", [(3, 5), (16, 1 << 13), (1, 1)])
def test_near_pairs_equal_brute_force_across_blocks_and_threads(blocks):
    rng = np.random.default_rng(3)
    pool = rng.integers(0, 2**64, 97, dtype=np.uint64)
    flips = np.array([sum(1 << int(b) for b in rng.choice(64, k, replace=False)) for k in rng.integers(0, 12, 23)],
                     dtype=np.uint64)
    queries = np.concatenate([pool[rng.integers(0, 97, 23)] ^ flips, rng.integers(0, 2**64, 10, dtype=np.uint64)])
    for threshold in (0, 5, 11, 64):
        got = near_pairs(queries, pool, threshold, threads=2, query_block=blocks[0], pool_block=blocks[1])
        expected = brute_force(queries, pool, threshold)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="0..64, not 65"):
        near_pairs(queries, pool, 65)


def test_equal_pairs_list_every_match_of_repeated_values():
    rows, columns = equal_pairs(np.array([5, 1, 9, 5], np.uint64), np.array([5, 2, 5, 1], np.uint64))
    assert sorted(zip(rows.tolist(), columns.tolist())) == [(0, 0), (0, 2), (1, 3), (3, 0), (3, 2)]


def test_duplicate_pairs_keep_one_row_per_pair_exact_first_then_the_nearer_orientation():
    target = Fingerprints(phash=np.array([0b1111, 0], np.uint64), phash_flip=np.array([0b1, 2**63], np.uint64),
                          digest=np.array([7, 8], np.uint64))
    source = Fingerprints(phash=np.array([0b1, 0b1111, 2**64 - 1], np.uint64), phash_flip=np.zeros(3, np.uint64),
                          digest=np.array([1, 7, 2], np.uint64))
    pairs = duplicate_pairs(target, source, threshold=3, flips=True)
    got = {(r.t, r.s): (r.distance, r.kind, r.flipped) for r in pairs.itertuples()}
    assert got == {(0, 0): (0, "near", True),  # 3 bits apart, its mirror 0
                   (0, 1): (0, "exact", False),  # the same file
                   (1, 0): (1, "near", False)}  # 1 bit apart, its mirror 2 (and 4 and 5 bits from source 1)
    no_flips = duplicate_pairs(target, source, threshold=3, flips=False)
    assert {(r.t, r.s): r.distance for r in no_flips.itertuples()} == {(0, 0): 3, (0, 1): 0, (1, 0): 1}
    assert not no_flips["flipped"].any()


def planted_folder(root, rng):
    """root/pool/<class>/ with 12 distinct images and root/target/test/<class>/ with 4, and copies
    of the four test images planted in the pool: a byte copy, a re-encode, a resize, a mirror."""
    test, pool = root / "target" / "test" / "ant", root / "pool" / "cat"
    test.mkdir(parents=True)
    pool.mkdir(parents=True)
    for i in range(4):
        textured(rng, (64, 64)).save(test / f"t{i}.jpg", quality=90)
    for i in range(12):
        textured(rng, (64, 64)).save(pool / f"p{i:02d}.jpg", quality=90)
    shutil.copy(test / "t0.jpg", pool / "x0-copy.jpg")
    Image.open(test / "t1.jpg").save(pool / "x1-reencoded.jpg", quality=60)
    Image.open(test / "t2.jpg").resize((128, 128), Image.Resampling.BICUBIC).save(pool / "x2-resized.png")
    Image.open(test / "t3.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(pool / "x3-mirror.jpg", quality=90)


def test_flat_images_pair_by_their_digest_alone(tmp_path):
    """A solid colour has no structure for the hash, whose bits are then rounding noise: the audit kept 7
    of a hostile test's 12 flat pool images out as "duplicates" of flat test images of other colours."""
    paths = []
    for i, colour in enumerate([(200, 40, 40), (40, 40, 200), (128, 128, 128)]):
        paths.append(str(tmp_path / f"flat{i}.png"))
        Image.new("RGB", (48, 48), colour).save(paths[-1])
    shutil.copy(paths[0], tmp_path / "flat0-copy.png")
    textured(np.random.default_rng(3), (48, 48)).save(tmp_path / "photo.png")
    prints = fingerprint_files(paths + [str(tmp_path / "flat0-copy.png"), str(tmp_path / "photo.png")])
    assert prints.flat.tolist() == [True, True, True, True, False]
    target = Fingerprints(prints.phash[:2], prints.phash_flip[:2], prints.digest[:2], prints.flat[:2])
    source = Fingerprints(prints.phash[2:], prints.phash_flip[2:], prints.digest[2:], prints.flat[2:])
    pairs = duplicate_pairs(target, source, threshold=10, flips=True)
    assert pairs[["t", "s", "kind"]].values.tolist() == [[0, 1, "exact"]]  # its byte copy only


def manifest_of(folder, path):
    files = sorted(folder.rglob("*.*"))
    pd.DataFrame({"index": range(len(files)), "path": list(map(str, files)), "label": 0,
                  "class_name": "c"}).to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("flips", [True, False])
def test_the_audit_finds_planted_copies_and_nothing_else(tmp_path, flips):
    planted_folder(tmp_path, np.random.default_rng(4))
    test = manifest_of(tmp_path / "target" / "test", tmp_path / "test.csv")
    train = manifest_of(tmp_path / "target" / "test", tmp_path / "train.csv")  # the same images: both splits audited
    pool = manifest_of(tmp_path / "pool", tmp_path / "pool.csv")
    for name, manifest in (("train", train), ("test", test)):
        fingerprints(manifest, str(tmp_path / f"{name}.h5"))
    shards = [str(tmp_path / f"pool-{s}.h5") for s in range(3)]
    for s, shard in enumerate(shards):
        fingerprints(pool, shard, shard=s, shards=3, workers=1)
    leakage(str(tmp_path / "train.h5"), str(tmp_path / "test.h5"), shards, train, test, pool, str(tmp_path / "leak.csv"),
            str(tmp_path / "summary.csv"), threshold=10, flips=flips)
    table = pd.read_csv(tmp_path / "leak.csv")
    found = {(r.target_path.split("/")[-1], r.source_path.split("/")[-1]): (r.kind, r.flipped)
             for r in table[table["split"] == "test"].itertuples()}
    expected = {("t0.jpg", "x0-copy.jpg"): ("exact", False), ("t1.jpg", "x1-reencoded.jpg"): ("near", False),
                ("t2.jpg", "x2-resized.png"): ("near", False)}
    if flips:
        expected[("t3.jpg", "x3-mirror.jpg")] = ("near", True)
    assert found == expected
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("split")
    assert summary.loc["test", "images_duplicated"] == len(expected) == summary.loc["train", "pairs"]
    assert summary.loc["test", "exact_pairs"] == 1 and summary.loc["test", "images"] == 4


def test_stale_fingerprints_are_refused_naming_the_files(tmp_path):
    planted_folder(tmp_path, np.random.default_rng(5))
    test = manifest_of(tmp_path / "target" / "test", tmp_path / "test.csv")
    pool = manifest_of(tmp_path / "pool", tmp_path / "pool.csv")
    fingerprints(test, str(tmp_path / "test.h5"))
    fingerprints(pool, str(tmp_path / "pool.h5"), shard=0, shards=2)  # half the pool
    with pytest.raises(ValueError, match=r"pool\.h5 do not cover .*pool\.csv row for row \(8 images for 16\)"):
        leakage(str(tmp_path / "test.h5"), str(tmp_path / "test.h5"), [str(tmp_path / "pool.h5")], test, test, pool,
                str(tmp_path / "leak.csv"), str(tmp_path / "summary.csv"), threshold=10, flips=True)
    assert not (tmp_path / "leak.csv").exists()


def write_leakage(path, rows):
    pd.DataFrame(rows, columns=["split", "source_index"]).to_csv(path, index=False)
    return str(path)


def test_exclusions_take_the_named_splits_only(tmp_path):
    table = write_leakage(tmp_path / "leak.csv", [("test", 4), ("test", 2), ("train", 7), ("test", 4)])
    assert read_exclusions(table, ["test"]).tolist() == [2, 4]
    assert read_exclusions(table, ["test", "train"]).tolist() == [2, 4, 7]
    assert read_exclusions(table, []).tolist() == [] == read_exclusions(None, ["test"]).tolist()
    assert kept_sources(6, np.array([2, 4, 7])).tolist() == [0, 1, 3, 5]
    with pytest.raises(ValueError, match="exclude splits \\['val'\\]"):
        read_exclusions(table, ["val"])
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv is not a leakage table"):
        read_exclusions(str(tmp_path / "other.csv"), ["test"])


def test_random_rankings_never_draw_an_excluded_source(tmp_path):
    rows = lambda n: "index,path,label,class_name\n" + "".join(f"{i},/x/{i}.png,0,a\n" for i in range(n))
    (tmp_path / "targets.csv").write_text(rows(30))
    (tmp_path / "pool.csv").write_text(rows(12))
    match = tmp_path / "match.csv"
    pd.DataFrame({"target_index": np.repeat(np.arange(30), 8), "rank": np.tile(np.arange(8), 30),
                  "source_index": 0}).to_csv(match, index=False)
    table = write_leakage(tmp_path / "leak.csv", [("test", 3), ("train", 5), ("test", 11)])
    neighbours(str(tmp_path / "out.csv"), str(tmp_path / "targets.csv"), random_pool=str(tmp_path / "pool.csv"),
               length=8, match=str(match), exclude=table, exclude_splits=["test"])
    drawn = set(pd.read_csv(tmp_path / "out.csv")["source_index"])
    assert drawn == set(range(12)) - {3, 11}  # 240 draws from 10 images: every kept one is drawn
    neighbours(str(tmp_path / "all.csv"), str(tmp_path / "targets.csv"), random_pool=str(tmp_path / "pool.csv"),
               length=8, match=str(match))
    assert set(pd.read_csv(tmp_path / "all.csv")["source_index"]) == set(range(12))


def test_the_audit_table_lists_paths_and_orders_by_split_image_distance():
    sources = pd.DataFrame({"index": [0, 1, 2], "path": ["s0", "s1", "s2"]})
    prints = Fingerprints(np.array([0, 0b111, 0b1], np.uint64), np.zeros(3, np.uint64), np.array([1, 2, 3], np.uint64))
    target = pd.DataFrame({"index": [10], "path": ["t10"]})
    one = Fingerprints(np.array([0b1], np.uint64), np.array([2**63], np.uint64), np.array([9], np.uint64))
    table = audit_table({"train": (target, one), "test": (target, one)}, sources, prints, threshold=2, flips=False)
    assert table[["split", "target_path", "source_path", "distance"]].values.tolist() == [
        ["test", "t10", "s2", 0], ["test", "t10", "s0", 1], ["test", "t10", "s1", 2],
        ["train", "t10", "s2", 0], ["train", "t10", "s0", 1], ["train", "t10", "s1", 2]]
    assert summarize(table, {"train": 1, "test": 1})["source_images"].tolist() == [3, 3]


# ------------------------------------------------------------------ the workflow: nothing excluded is borrowed


def leaky_data(root):
    """A target (2 classes) and a pool (3 classes) of textured images; the pool also holds a
    re-encoded copy of a test image and a byte copy of a train image."""
    rng = np.random.default_rng(6)
    for split, per_class in (("train", 4), ("test", 3)):
        for c, name in enumerate(["ant", "bee"]):
            (root / "target" / split / name).mkdir(parents=True)
            for i in range(per_class):
                textured(rng, (24, 24), (1, 0.6 + 0.4 * c, 1)).save(root / "target" / split / name / f"{i}.png")
    for c, name in enumerate(["cat", "dog", "eel"]):
        (root / "pool" / name).mkdir(parents=True)
        for i in range(6):
            textured(rng, (24, 24), (0.7 + 0.15 * c, 1, 1)).save(root / "pool" / name / f"{i}.png")
    Image.open(root / "target/test/bee/2.png").save(root / "pool/dog/copy-of-test.jpg", quality=95)
    shutil.copy(root / "target/train/ant/1.png", root / "pool/eel/copy-of-train.png")


RUN_FILES = ["results/tgt/bank-gabor/knn.h5", "results/tgt/joint-random/seed-0/iter-0/neighbours.csv",
             "results/tgt/joint-all/seed-0/iter-0/train.json"]


def test_no_method_borrows_an_excluded_duplicate_and_exclude_reruns_the_borrowers(tmp_path):
    leaky_data(tmp_path)
    config = default_config()
    config["targets"] = {"tgt": {"kind": "imagefolder", "root": str(tmp_path / "target"), "source": "pool"}}
    config["sources"] = {"pool": {"kind": "imagefolder", "root": str(tmp_path / "pool")}}
    config["bank"].update(names=["gabor"], image_size=16)
    config["model"]["init"] = "scratch"
    config["selection"].update(k0=3, iterations=1)
    config["train"]["epochs_per_iteration"] = 1
    config["methods"] = ["selective", "joint-all", "joint-random"]
    config["leakage"]["exclude"] = "test+train"
    workdir = tmp_path / "run"
    write_config(workdir, config)
    snakemake(workdir, "--", *RUN_FILES)

    pool = pd.read_csv(workdir / "results/source/pool/manifest.csv")
    copies = {name: int(pool.loc[pool["path"].str.endswith(name), "index"].iloc[0])
              for name in ("copy-of-test.jpg", "copy-of-train.png")}
    table = pd.read_csv(workdir / "results/tgt/leakage.csv")
    assert sorted(zip(table["split"], table["source_index"], table["kind"])) == [
        ("test", copies["copy-of-test.jpg"], "near"), ("train", copies["copy-of-train.png"], "exact")]

    def borrowed(results):
        with h5py.File(results / "results/tgt/bank-gabor/knn.h5") as f:
            knn_ids = set(f["ids"][()].ravel().tolist())
        drawn = set(pd.read_csv(results / RUN_FILES[1])["source_index"])
        all_pool = pd.read_json(results / RUN_FILES[2], typ="series")["n_source_images"]
        return knn_ids, drawn, all_pool

    knn_ids, drawn, all_pool = borrowed(workdir)
    assert not set(copies.values()) & (knn_ids | drawn)
    assert all_pool == len(pool) - 2

    # exclude: test reruns exactly the jobs that borrow; the train image's copy is then its nearest source
    config["leakage"]["exclude"] = "test"
    write_config(workdir, config)
    assert planned_jobs(snakemake(workdir, "-n", "--", *RUN_FILES).stdout) == {"knn": 1, "neighbours": 2, "train": 1}
    snakemake(workdir, "--", *RUN_FILES)
    train = pd.read_csv(workdir / "results/tgt/manifest/train.csv")
    original = int(train.loc[train["path"].str.endswith("train/ant/1.png"), "index"].iloc[0])
    with h5py.File(workdir / "results/tgt/bank-gabor/knn.h5") as f:
        row = int(np.flatnonzero(f["target_index"][()] == original)[0])
        assert f["ids"][row, 0] == copies["copy-of-train.png"]
    knn_ids, drawn, all_pool = borrowed(workdir)
    assert copies["copy-of-test.jpg"] not in knn_ids | drawn and all_pool == len(pool) - 1

    # the threshold reruns the audit; an equal table stops nothing from rerunning (Snakemake keys on its mtime)
    config["leakage"]["threshold"] = 8
    write_config(workdir, config)
    assert planned_jobs(snakemake(workdir, "-n", "--", "results/tgt/leakage.csv").stdout) == {"leakage": 1}
