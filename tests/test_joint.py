"""Joint fine-tuning: the composition of joint mini-batches, and fit() on a tiny problem.

Every fake image is one solid colour, which the random crop of a reflect-padded image and the
horizontal flip leave unchanged, so each image tensor in a batch can be traced back to its file
independently of the label that travels with it.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from workflow.joint import (EPOCH_COLUMNS, TrainingDiverged, TrainSettings, fit, make_loader, make_optimizer,
                            warm_up_heads)
from workflow.loading import augment, epoch_pairs, to_tensor, to_unit
from workflow.model import JointNet

SIZE = 16
N_TARGETS = 7
SOURCE_OFFSET = 100  # source s has label 100 + s
# disjoint neighbour lists, one of length one, so any mix-up of pairs shows
NEIGHBOURS = [np.array([0])] + [np.array([2 * t - 1, 2 * t]) for t in range(1, N_TARGETS)]
N_SOURCES = 2 * N_TARGETS - 1


def solid(path, colour, size=SIZE):
    Image.new("RGB", (size, size), tuple(int(c) for c in colour)).save(path)
    return str(path)


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    """(target_items, source_items): solid images whose labels are their own ids."""
    folder = tmp_path_factory.mktemp("joint")
    targets = [(solid(folder / f"t{t}.png", (30 + 25 * t, 200, 40)), t) for t in range(N_TARGETS)]
    sources = [(solid(folder / f"s{s}.png", (40, 15 + 15 * s, 220)), SOURCE_OFFSET + s) for s in range(N_SOURCES)]
    return targets, sources


def identify(images: torch.Tensor, items) -> list[int]:
    """The index of the file each image tensor was decoded from."""
    references = torch.stack([to_tensor(path, SIZE) for path, _ in items])
    found = []
    for image in images:
        matches = [i for i, ref in enumerate(references) if torch.allclose(image, ref, atol=1e-5)]
        assert len(matches) == 1
        found.append(matches[0])
    return found


def settings(**overrides) -> TrainSettings:
    base = {"epochs": 1, "batch_size": 3, "lr": 0.01, "head_lr_mult": 10.0, "lr_step": 0.67, "momentum": 0.9,
            "weight_decay": 1e-4, "input_size": SIZE, "crop_padding": 2, "flip": True, "freeze_bn": False, "workers": 0,
            "seed": 3, "source_weight": 1.0, "precision": "auto", "deterministic": False, "jpeg_draft": True}
    return TrainSettings(**{**base, **overrides})


def joint_batches(targets, sources, neighbours, train: TrainSettings, epoch: int, skip: int = 0):
    """One epoch's batches as fit() sees them, split by head: head -> (images in [0, 1], labels)."""
    for batch in make_loader(targets, sources, neighbours, train, torch.device("cpu")).epochs([epoch], skip):
        images, labels = to_unit(batch["images"]), batch["labels"]
        n_targets = len(labels["target"])
        out = {"target": (images[:n_targets], labels["target"])}
        if "source" in labels:
            out["source"] = (images[n_targets:], labels["source"])
        yield out


@pytest.mark.parametrize("epoch", [0, 1, 2])
def test_joint_batches_pair_each_target_with_one_of_its_neighbours(items, epoch):
    targets, sources = items
    seen = []
    for batch in joint_batches(targets, sources, NEIGHBOURS, settings(), epoch):
        assert set(batch) == {"target", "source"}
        (t_images, t_labels), (s_images, s_labels) = batch["target"], batch["source"]
        assert len(t_images) == len(t_labels) == len(s_images) == len(s_labels) > 0
        assert t_images.shape[1:] == s_images.shape[1:] == (3, SIZE, SIZE)
        t_ids, s_ids = identify(t_images, targets), identify(s_images, sources)
        # the labels travel with their own images
        assert t_labels.tolist() == t_ids
        assert s_labels.tolist() == [SOURCE_OFFSET + s for s in s_ids]
        for t, s in zip(t_ids, s_ids):
            assert s in NEIGHBOURS[t]
        seen += t_ids
    assert sorted(seen) == list(range(N_TARGETS))  # an epoch covers every target image once


def test_epochs_walk_the_targets_in_different_orders(items):
    targets, sources = items
    orders = {
        tuple(i for batch in joint_batches(targets, sources, NEIGHBOURS, settings(), epoch) for i in batch["target"][1].tolist())
        for epoch in range(4)
    }
    assert len(orders) > 1


def test_without_neighbours_only_target_images_come_out(items):
    targets, _ = items
    batches = list(joint_batches(targets, None, None, settings(batch_size=4), 0))
    assert [len(b["target"][1]) for b in batches] == [4, 3]
    seen = []
    for batch in batches:
        assert set(batch) == {"target"}
        images, labels = batch["target"]
        assert identify(images, targets) == labels.tolist()
        seen += labels.tolist()
    assert sorted(seen) == list(range(N_TARGETS))


def test_worker_processes_and_a_resumed_epoch_give_the_same_batches(items):
    """Which pair comes when and each image's crop and flip depend on (seed, epoch, place) alone:
    two decoding processes give the batches of the main process, and an epoch resumed at batch 1
    gives the rest of the same epoch."""
    targets, sources = items

    def flat(workers, skip=0):
        batches = joint_batches(targets, sources, NEIGHBOURS, settings(workers=workers), 1, skip)
        return [(images, labels) for batch in batches for images, labels in batch.values()]

    alone, parallel, resumed = flat(0), flat(2), flat(0, skip=1)
    assert len(alone) == len(parallel) == 2 * 3 and len(resumed) == 2 * 2
    for (images, labels), (other_images, other_labels) in zip(alone, parallel):
        assert torch.equal(images, other_images) and torch.equal(labels, other_labels)
    for (images, labels), (other_images, other_labels) in zip(alone[2:], resumed):
        assert torch.equal(images, other_images) and torch.equal(labels, other_labels)


@pytest.mark.parametrize("seed", range(4))
def test_uint8_augmentation_equals_the_float_crop_of_the_image(seed):
    """The loader crops and flips uint8 pixels; the values are those of the same crop and flip of the
    float image (reflect padding, the same draws), so moving the work to uint8 changed no result."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    ours = augment(image, 3, True, torch.Generator().manual_seed(seed))
    generator = torch.Generator().manual_seed(seed)
    floats = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)
    padded = F.pad(floats[None], (3,) * 4, mode="reflect")[0]
    top, left = torch.randint(0, 7, (2,), generator=generator).tolist()
    expected = padded[:, top : top + SIZE, left : left + SIZE]
    if torch.rand((), generator=generator) < 0.5:
        expected = expected.flip(-1)
    assert ours.dtype == torch.uint8
    assert torch.equal(to_unit(ours), expected)


def test_an_empty_neighbour_list_is_an_error(items):
    targets, sources = items
    neighbours = list(NEIGHBOURS)
    neighbours[3] = np.array([], dtype=np.int64)
    with pytest.raises(ValueError, match="empty neighbour list"):
        list(joint_batches(targets, sources, neighbours, settings(), 0))


def test_neighbours_are_drawn_uniformly():
    rng = np.random.default_rng(0)
    neighbours = [np.array([5, 9, 2]), np.array([7])]
    draws = [dict(epoch_pairs(2, neighbours, rng))[0] for _ in range(3000)]
    shares = np.array([draws.count(s) for s in (5, 9, 2)]) / len(draws)
    np.testing.assert_allclose(shares, 1 / 3, atol=0.04)
    assert len(set(draws)) == 3


# ---------------------------------------------------------------- fit


def colour_items(folder, n_per_class, seed):
    """Noisy reddish images (label 0) and bluish ones (label 1)."""
    rng = np.random.default_rng(seed)
    out = []
    for label, base in enumerate(((200, 40, 40), (40, 40, 200))):
        for i in range(n_per_class):
            noise = rng.integers(-25, 26, (SIZE, SIZE, 3))
            array = np.clip(np.array(base) + noise, 0, 255).astype(np.uint8)
            path = folder / f"c{label}_{seed}_{i}.png"
            Image.fromarray(array).save(path)
            out.append((str(path), label))
    return out


@torch.no_grad()
def softmax_outputs(model, paths, head="target") -> np.ndarray:
    """The head's softmax on the (unaugmented) images, the model in eval mode."""
    model.eval()
    images = torch.stack([to_tensor(path, SIZE) for path in paths])
    return torch.softmax(model(images, head), dim=1).numpy()


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1))))


def test_fit_learns_two_colours(tmp_path):
    torch.manual_seed(0)
    train, test = colour_items(tmp_path, 8, seed=1), colour_items(tmp_path, 6, seed=2)
    test_paths, test_labels = [p for p, _ in test], np.array([y for _, y in test])
    model = JointNet("resnet18", {"target": 2})
    before = cross_entropy(softmax_outputs(model, test_paths), test_labels)

    result = fit(model, train, settings(epochs=10, batch_size=8, lr=0.001), "cpu")

    probs = softmax_outputs(model, test_paths)
    after = cross_entropy(probs, test_labels)
    assert after < before
    assert np.mean(probs.argmax(1) == test_labels) > 0.75
    assert result["images_seen"] == 10 * len(train)
    assert np.isfinite(result["final_loss"])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_fits_learn_too(tmp_path, precision):
    """The GPU's precisions, run by the CPU's autocast: bf16, and fp16 with its loss scaler (whose
    first steps overflow and are skipped), still learn the two colours."""
    torch.manual_seed(0)
    train, test = colour_items(tmp_path, 8, seed=1), colour_items(tmp_path, 6, seed=2)
    model = JointNet("resnet18", {"target": 2})
    result = fit(model, train, settings(epochs=10, batch_size=8, lr=0.001, precision=precision), "cpu")
    probs = softmax_outputs(model, [p for p, _ in test])
    assert np.isfinite(result["final_loss"])
    assert np.mean(probs.argmax(1) == np.array([y for _, y in test])) > 0.75


def test_joint_fit_trains_the_source_head_on_borrowed_images(items):
    targets, sources = items
    torch.manual_seed(0)
    # target labels 0..6 and source labels 0..12 index heads of 7 and 13 classes
    sources = [(p, s - SOURCE_OFFSET) for p, s in sources]
    train = settings(epochs=2, batch_size=4, weight_decay=0.0)  # weights move only by gradients
    model = JointNet("resnet18", {"target": N_TARGETS, "source": N_SOURCES})
    head_before = model.heads["source"].weight.detach().clone()
    result = fit(model, targets, train, "cpu", source_items=sources, neighbours=NEIGHBOURS)
    assert result["images_seen"] == 2 * 2 * N_TARGETS  # a source image beside every target image
    assert not torch.equal(model.heads["source"].weight, head_before)

    plain = JointNet("resnet18", {"target": N_TARGETS, "source": N_SOURCES})
    head_before = plain.heads["source"].weight.detach().clone()
    result = fit(plain, targets, train, "cpu")
    assert result["images_seen"] == 2 * N_TARGETS
    assert torch.equal(plain.heads["source"].weight, head_before)  # no source images, no source loss


def test_pretraining_on_the_source_head_weighs_its_loss_one(items):
    """With head="source" the source set is the one being trained: source_weight (the weight of
    *borrowed* images) must not scale its loss, even when it is zero."""
    _, sources = items
    sources = [(p, s - SOURCE_OFFSET) for p, s in sources]
    torch.manual_seed(0)
    model = JointNet("resnet18", {"source": N_SOURCES})
    result = fit(model, sources, settings(epochs=1, batch_size=5, source_weight=0.0), "cpu", head="source")
    assert result["images_seen"] == N_SOURCES
    # the cross-entropy of 13 classes from random heads is about log 13; a zero weight would give 0
    assert result["final_loss"] > 0.5


def test_a_run_schedule_drops_the_rate_once_over_all_iterations():
    """lr_schedule run: a fit of epochs 3-4 of 6 (2 steps each) crosses the run's drop at 0.67 x 12 = step 8."""
    model = JointNet("resnet18", {"target": 2})
    optimizer, scheduler = make_optimizer(model, settings(epochs=2, run_epochs=6, first_epoch=3, lr_step=0.67), 2)
    rates = []
    for _ in range(4):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([0.01, 0.01, 0.001, 0.001])
    optimizer, _ = make_optimizer(model, settings(epochs=2, lr_step=0.67), 2)  # its own schedule: drop at step 2
    assert optimizer.param_groups[0]["lr"] == 0.01


def test_iterations_that_continue_the_schedule_equal_one_fit(tmp_path):
    """Two fits of one epoch, the second with the first's optimizer state, train exactly as one fit of
    two epochs (one batch per epoch, no augmentation: the same data either way); fresh momentum does not."""
    train = colour_items(tmp_path, 6, seed=1)
    one_batch = {"batch_size": len(train), "crop_padding": 0, "flip": False, "lr": 0.05, "lr_step": 0.5, "run_epochs": 2}
    torch.manual_seed(0)
    whole = JointNet("resnet18", {"target": 2})
    start = {k: v.clone() for k, v in whole.state_dict().items()}
    fit(whole, train, settings(epochs=2, **one_batch), "cpu")

    def in_two(carry: bool) -> JointNet:
        model = JointNet("resnet18", {"target": 2})
        model.load_state_dict(start)
        first = fit(model, train, settings(epochs=1, **one_batch), "cpu")
        fit(model, train, settings(epochs=1, first_epoch=1, **one_batch), "cpu",
            optimizer_state=first["optimizer_state"] if carry else None)
        return model

    for name, value in in_two(carry=True).state_dict().items():
        torch.testing.assert_close(value, whole.state_dict()[name], rtol=1e-4, atol=1e-6)
    fresh = in_two(carry=False).state_dict()
    assert any(not torch.allclose(fresh[n], v, rtol=1e-4, atol=1e-6) for n, v in whole.state_dict().items())


def test_warm_up_trains_the_heads_alone(items):
    targets, sources = items
    sources = [(p, s - SOURCE_OFFSET) for p, s in sources]
    torch.manual_seed(0)
    model = JointNet("resnet18", {"target": N_TARGETS, "source": N_SOURCES})
    backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    heads = {k: v.clone() for k, v in model.heads.state_dict().items()}
    warm = settings(warmup_epochs=2, warmup_lr=0.1)
    cpu = torch.device("cpu")
    warm_up_heads(model, make_loader(targets, sources, NEIGHBOURS, warm, cpu), warm, cpu, None)
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in backbone.items())  # BatchNorm statistics too
    assert all(not torch.equal(v, model.heads.state_dict()[k]) for k, v in heads.items())


def test_a_diverging_fit_stops_naming_the_epoch(tmp_path):
    """A non-finite loss is an error (issue: every report row showed chance, exit 0)."""
    train = colour_items(tmp_path, 4, seed=1)
    model = JointNet("resnet18", {"target": 2})
    with pytest.raises(TrainingDiverged, match=r"loss nan in epoch 2 of 2"):
        fit(model, train, settings(epochs=2, batch_size=8, lr=float("inf")), "cpu")


def test_the_curves_record_every_epoch_per_head_with_the_warm_up_marked(items):
    """epochs.csv's rows: warm-up epochs first, then the run's epochs and steps (a later iteration
    continuing its schedule numbers on), the rate where the schedule drops it, each head's figures."""
    targets, sources = items
    sources = [(p, s - SOURCE_OFFSET) for p, s in sources]
    torch.manual_seed(0)
    model = JointNet("resnet18", {"target": N_TARGETS, "source": N_SOURCES})
    # 7 targets in batches of 4: 2 steps an epoch; epochs 3-5 of a 6-epoch run, the drop at step 0.67 x 12 = 8
    train = settings(epochs=3, batch_size=4, warmup_epochs=2, warmup_lr=0.1, run_epochs=6, first_epoch=2,
                     dtnh=True, regularizer="l2sp", alpha=0.01, beta=0.01)
    stats = fit(model, targets, train, "cpu", source_items=sources, neighbours=NEIGHBOURS,
                anchor=JointNet("resnet18", {"target": N_TARGETS, "source": N_SOURCES}))
    rows = pd.DataFrame(stats["epochs"], columns=EPOCH_COLUMNS)
    assert rows["phase"].tolist() == ["warmup"] * 2 + ["train"] * 3
    assert rows["epoch"].tolist() == [1, 2, 3, 4, 5] and rows["step"].tolist() == [2, 4, 6, 8, 10]
    assert rows["lr"].tolist() == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    assert rows["loss"].iloc[-1] == pytest.approx(stats["final_loss"])
    for head in ("target", "source"):
        assert rows[f"{head}_acc"].between(0, 1).all() and (rows[f"{head}_loss"] > 0).all()
    trained = rows[rows["phase"] == "train"]
    # the loss stepped on: the target loss plus the (weight 1) source loss
    assert (trained["loss"] - trained["target_loss"] - trained["source_loss"]).abs().max() < 1e-9
    assert trained["projected_share"].between(0, 1).all() and rows["projected_share"].iloc[:2].isna().all()
    assert (rows["images_per_s"] > 0).all()
