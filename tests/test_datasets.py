"""Scanning ImageFolder trees into manifests, decoding images, and the errors for bad folders."""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workflow.datasets import DatasetError, class_names, load_image, scan_image_folder


def write_image(path: Path, colour=(10, 20, 30), size=(8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.fixture
def tree(tmp_path):
    """root/train/{zebra, ant, moth} and root/test/{ant, zebra}, plus files that are not images."""
    root = tmp_path / "data"
    for name, n in (("zebra", 2), ("ant", 4), ("moth", 3)):
        for i in range(n):
            write_image(root / "train" / name / f"img{i}.png")
    write_image(root / "train" / "ant" / "extra.JPG")  # upper-case suffix still counts
    (root / "train" / "ant" / "notes.txt").write_text("not an image")
    write_image(root / "train" / ".hidden" / "x.png")  # hidden folders are no class
    for name in ("zebra", "ant"):
        write_image(root / "test" / name / "a.png")
    return root


def test_scan_numbers_sorted_classes(tree):
    frame = scan_image_folder(tree / "train")
    assert list(frame.columns) == ["index", "path", "label", "class_name"]
    assert frame["index"].tolist() == list(range(len(frame)))
    assert class_names(frame) == ["ant", "moth", "zebra"]
    label_of = dict(zip(frame["class_name"], frame["label"]))
    assert label_of == {"ant": 0, "moth": 1, "zebra": 2}
    assert frame.groupby("class_name").size().to_dict() == {"ant": 5, "moth": 3, "zebra": 2}
    ants = frame.loc[frame["class_name"] == "ant", "path"].tolist()
    assert [Path(p).name for p in ants] == sorted(["extra.JPG", "img0.png", "img1.png", "img2.png", "img3.png"])
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in frame["path"])
    assert frame["label"].is_monotonic_increasing


def test_max_per_class_keeps_the_first_sorted_images(tree):
    frame = scan_image_folder(tree / "train", max_per_class=2)
    assert frame.groupby("class_name").size().to_dict() == {"ant": 2, "moth": 2, "zebra": 2}
    ants = [Path(p).name for p in frame.loc[frame["class_name"] == "ant", "path"]]
    assert ants == ["extra.JPG", "img0.png"]
    assert frame["index"].tolist() == list(range(6))


def test_test_split_is_numbered_like_the_train_split(tree):
    write_image(tree / "test" / "moth" / "a.png")
    train = scan_image_folder(tree / "train")
    test = scan_image_folder(tree / "test", classes=class_names(train))
    assert dict(zip(test["class_name"], test["label"])) == {"ant": 0, "moth": 1, "zebra": 2}
    assert test["index"].tolist() == [0, 1, 2]
    assert class_names(test) == class_names(train)


def test_test_split_lacking_a_train_class_names_path_and_class(tree):
    """Without moth test images the mean-class accuracy would silently drop moth."""
    train = scan_image_folder(tree / "train")
    with pytest.raises(DatasetError, match="no folder for 1 classes of the train split: moth") as info:
        scan_image_folder(tree / "test", classes=class_names(train))
    assert str(tree / "test") in str(info.value)


def test_missing_root_names_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match=re.escape(str(missing))):
        scan_image_folder(missing)


def test_root_without_class_folders_names_the_path(tmp_path):
    write_image(tmp_path / "flat" / "loose.png")
    with pytest.raises(DatasetError, match="no class sub-folders") as info:
        scan_image_folder(tmp_path / "flat")
    assert str(tmp_path / "flat") in str(info.value)


def test_class_folder_without_images_names_the_folder(tree):
    empty = tree / "train" / "empty_class"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    with pytest.raises(DatasetError, match="holds no images") as info:
        scan_image_folder(tree / "train")
    assert str(empty) in str(info.value)


def test_test_class_absent_from_train_names_path_and_class(tree):
    write_image(tree / "test" / "unicorn" / "a.png")
    train = scan_image_folder(tree / "train")
    with pytest.raises(DatasetError, match="unicorn") as info:
        scan_image_folder(tree / "test", classes=class_names(train))
    assert str(tree / "test") in str(info.value)


def test_unreadable_image_names_the_path(tmp_path):
    garbage = tmp_path / "cls" / "broken.jpg"
    garbage.parent.mkdir()
    garbage.write_bytes(b"this is not a jpeg at all" * 10)
    with pytest.raises(DatasetError, match="cannot read image") as info:
        load_image(str(garbage), 8)
    assert str(garbage) in str(info.value)


def test_load_image_resizes_shorter_side_and_center_crops(tmp_path):
    # 30 x 10: red | green | blue thirds; the centre 10 x 10 square is all green
    array = np.zeros((10, 30, 3), dtype=np.uint8)
    array[:, :10, 0] = 255
    array[:, 10:20, 1] = 255
    array[:, 20:, 2] = 255
    path = tmp_path / "stripes.png"
    Image.fromarray(array).save(path)

    same = np.asarray(load_image(str(path), 10))
    assert same.shape == (10, 10, 3)
    assert np.all(same == [0, 255, 0])

    half = np.asarray(load_image(str(path), 5))  # resized to 15 x 5, then the centre 5 x 5
    assert half.shape == (5, 5, 3)
    assert np.all(half[:, 1:4, 1] > 200) and np.all(half[:, 1:4, [0, 2]] < 60)

    gray = np.asarray(load_image(str(path), 10, mode="L"))
    assert gray.shape == (10, 10)


def test_draft_decoding_shrinks_only_jpegs_twice_the_size_and_keeps_their_look(tmp_path):
    """JPEG DCT scaling (``draft``) decodes a 500 x 375 photo-like image at 1/2, 1/4 or 1/8 when the
    crop is at most half, a quarter or an eighth of its shorter side, and never below the crop size:
    at 224 px it changes nothing; at 64 and 32 px the crop differs from the full decode by a few of 255 levels on average."""
    rng = np.random.default_rng(0)
    smooth = np.asarray(Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((500, 375), Image.BICUBIC))
    path = tmp_path / "photo.jpg"
    Image.fromarray(smooth).save(path, quality=90)
    for size in (224, 300):
        assert np.array_equal(np.asarray(load_image(str(path), size, draft=True)), np.asarray(load_image(str(path), size)))
    for size in (64, 32):
        drafted = np.asarray(load_image(str(path), size, draft=True), dtype=float)
        full = np.asarray(load_image(str(path), size), dtype=float)
        assert drafted.shape == full.shape == (size, size, 3)
        assert not np.array_equal(drafted, full) and np.abs(drafted - full).mean() < 8
    with Image.open(path) as image:
        image.draft(None, (64, 64))
        assert min(image.size) >= 64  # the decoder's own size, before the resize



def test_sub_folders_follow_image_folder_and_hidden_files_are_skipped(tmp_path):
    """Nested images count, in torchvision ImageFolder's order; macOS ._ files and hidden folders do not."""
    from torchvision.datasets import ImageFolder

    root = tmp_path / "pool"
    for relative in ("ant/b.png", "ant/a.png", "ant/day 2/c.png", "ant/day 2/deeper/a.png", "bee/x.png",
                     "ant/._a.png", "ant/.thumbs/t.png", "bee/.DS_Store.png"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(root / relative)
    frame = scan_image_folder(root)
    visible = [path for path, _ in ImageFolder(str(root)).samples if "/." not in path]
    assert frame["path"].tolist() == [str(Path(p).resolve()) for p in visible]
    assert [Path(p).relative_to(root.resolve()).as_posix() for p in frame["path"]] == [
        "ant/a.png", "ant/b.png", "ant/day 2/c.png", "ant/day 2/deeper/a.png", "bee/x.png"]


@pytest.mark.parametrize("role", ["target", "source"])
def test_a_single_class_is_refused_naming_the_folder(tmp_path, role):
    """One class scores 100% whatever is learnt: every method would report top-1 1.0."""
    from workflow.stages.data import source_manifest, target_manifest

    for split in ("train", "test"):
        write_image(tmp_path / "data" / split / "only" / "a.png")
    with pytest.raises(DatasetError, match=r"data/train has 1 class folder \(only\).*at least two classes"):
        if role == "target":
            target_manifest(str(tmp_path / "data"), str(tmp_path / "manifest"), "train", "test")
        else:
            source_manifest(str(tmp_path / "data" / "train"), str(tmp_path / "pool.csv"), max_per_class=None)
    assert not list(tmp_path.glob("manifest/*")) and not (tmp_path / "pool.csv").exists()


@pytest.mark.parametrize("broken", ["image", "class folder"])
def test_a_broken_link_is_named_by_the_scan_and_the_digest_does_not_fail(tree, broken):
    """A dangling image link stopped planning with a raw FileNotFoundError (the digest stat-ed it);
    a dangling class-folder link was dropped, and its class with it, unnoticed."""
    from workflow.datasets import folder_fingerprint

    before = folder_fingerprint(tree / "train")
    link = tree / "train" / ("ant/gone.png" if broken == "image" else "wasp")
    link.symlink_to(tree / "elsewhere" / "gone")
    assert folder_fingerprint(tree / "train") != before  # the manifest reruns, and then names it
    with pytest.raises(DatasetError, match=f"1 broken {broken} link.*{re.escape(str(link))} -> .*elsewhere/gone"):
        scan_image_folder(tree / "train")


def test_a_broken_link_in_a_users_folder_fails_its_manifest_job_by_name(tmp_path):
    from conftest import default_config, snakemake, write_config

    for split in ("train", "test"):
        for name in ("ant", "bee"):
            write_image(tmp_path / "data" / split / name / "a.png")
    (tmp_path / "data" / "train" / "bee" / "b.png").symlink_to(tmp_path / "nowhere.png")
    config = default_config()
    config["targets"] = {"tgt": {"kind": "imagefolder", "root": str(tmp_path / "data"), "source": "demo"}}
    write_config(tmp_path / "run", config)
    assert snakemake(tmp_path / "run", "-n", "--", "results/tgt/manifest/train.csv").returncode == 0  # plans
    done = snakemake(tmp_path / "run", "--", "results/tgt/manifest/train.csv", check=False)
    assert done.returncode != 0
    log = (tmp_path / "run" / "logs/target_manifest/tgt-train.log").read_text()
    assert "1 broken image link" in log and "bee/b.png" in log and "nowhere.png" in log
