"""The papers' recipe as settings: scale augmentation, multi-crop testing, a schedule of optimizer
steps with lr drops at given steps, gradient accumulation, and the regularizer's per-epoch decay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from test_regularizers import l2sp_autograd

from workflow import joint
from workflow.io import read_h5
from workflow.joint import FitPlan, TrainSettings, fit, make_optimizer, predict
from workflow.loading import EvaluationViews, TrainCrops, decode, decode_resized, scale_crop
from workflow.model import JointNet
from workflow.regularizers import L2SP
from workflow.report import _accuracy
from workflow.stages.training import _write_eval, continues_schedule, fusion

SIZE = 16


def photo(path, width, height, seed) -> str:
    """A noisy RGB image: every crop of it is distinct."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe")
    return [photo(folder / f"{i}.png", 40 + 3 * i, 30 + 2 * (i % 3), i) for i in range(12)]


def settings(**overrides) -> TrainSettings:
    base = {"epochs": 1, "batch_size": 4, "lr": 0.05, "head_lr_mult": 1.0, "lr_step": 0.5, "momentum": 0.9,
            "weight_decay": 1e-4, "input_size": SIZE, "crop_padding": 2, "flip": True, "freeze_bn": True, "workers": 0,
            "seed": 1, "source_weight": 1.0, "precision": "fp32", "deterministic": False, "jpeg_draft": False}
    return TrainSettings(**{**base, **overrides})


def test_a_scale_crop_is_a_window_of_the_image_resized_to_a_drawn_length(images):
    path, sizes = images[5], (18, 30)
    lengths = set()
    for seed in range(40):
        crop = scale_crop(path, SIZE, sizes, flip=False, draft=False, generator=torch.Generator().manual_seed(seed))
        assert crop.shape == (3, SIZE, SIZE) and crop.dtype == torch.uint8
        again = scale_crop(path, SIZE, sizes, flip=False, draft=False, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(crop, again)  # the draws come from the generator alone
        generator = torch.Generator().manual_seed(seed)  # replay the draws: length, top, left
        length = int(torch.randint(sizes[0], sizes[1] + 1, (), generator=generator))
        resized = decode_resized(path, length, draft=False)
        top = int(torch.randint(0, resized.shape[0] - SIZE + 1, (), generator=generator))
        left = int(torch.randint(0, resized.shape[1] - SIZE + 1, (), generator=generator))
        window = resized[top : top + SIZE, left : left + SIZE].transpose(2, 0, 1)
        assert np.array_equal(crop.numpy(), window)
        assert min(resized.shape[:2]) == length
        lengths.add(length)
    assert min(lengths) >= sizes[0] and max(lengths) <= sizes[1] and len(lengths) > 5


def test_scale_augmentation_refuses_lengths_below_the_crop():
    with pytest.raises(ValueError, match="scale_sizes"):
        TrainCrops("scale", 224, 0, True, True, (200, 480))
    with pytest.raises(ValueError, match="scale_sizes"):
        TrainCrops("scale", 224, 0, True, True, None)
    with pytest.raises(ValueError, match="unknown augmentation"):
        TrainCrops("jitter", 224, 0, True, True)


def test_one_test_view_at_input_size_is_the_old_center_crop(images):
    for path in images:
        view = EvaluationViews(SIZE, SIZE, 1, draft=False)(path)
        assert view.shape == (1, 3, SIZE, SIZE)
        assert np.array_equal(view[0].numpy(), decode(path, SIZE, draft=False).transpose(2, 0, 1))


def test_ten_crops_are_the_center_the_corners_and_their_mirrors(images):
    path, resize = images[7], 24
    resized = decode_resized(path, resize, draft=False)
    height, width = resized.shape[:2]
    views = EvaluationViews(SIZE, resize, 10, draft=False)(path).numpy().transpose(0, 2, 3, 1)
    center = resized[(height - SIZE) // 2 :, (width - SIZE) // 2 :][:SIZE, :SIZE]
    corners = [resized[:SIZE, :SIZE], resized[:SIZE, -SIZE:], resized[-SIZE:, :SIZE], resized[-SIZE:, -SIZE:]]
    for view, expected in zip(views, [center, *corners]):
        assert np.array_equal(view, expected)
    for view, mirror in zip(views[:5], views[5:]):
        assert np.array_equal(view[:, ::-1], mirror)
    with pytest.raises(ValueError, match="test_crops"):
        EvaluationViews(SIZE, resize, 5, draft=False)


def test_predict_gives_each_list_its_views_the_center_first(images):
    torch.manual_seed(0)
    model = JointNet("tiny_resnet", {"target": 3})
    train = settings(test_resize=20)
    single, multi = predict(model, [images[:5], images[5:]], train, "cpu", batch_size=4, crops=[1, 10])
    assert single.shape == (5, 1, 3) and multi.shape == (7, 10, 3)
    alone = predict(model, [images[5:]], train, "cpu", batch_size=4)[0]
    np.testing.assert_allclose(multi[:, 0], alone[:, 0], atol=1e-6)  # the center crop, as with one view
    np.testing.assert_allclose(multi.sum(axis=2), 1, atol=1e-5)


def test_a_plan_of_steps_groups_mini_batches_within_epochs():
    plan = FitPlan.of(10, settings(epochs=0, steps=7, batch_size=2, accumulate=2))  # 5 mini-batches an epoch
    assert (plan.batches_per_epoch, plan.steps_per_epoch, plan.epochs) == (5, 3, 3)
    assert [plan.batches(e) for e in range(3)] == [5, 5, 2]  # 3 + 3 + 1 steps
    assert [plan.group(0, b) for b in range(5)] == [2, 2, 2, 2, 1]  # the epoch's last step takes one
    assert FitPlan.of(10, settings(epochs=2, batch_size=2)).steps == 10
    with pytest.raises(ValueError, match="epochs or steps"):
        settings(epochs=2, steps=5)


def test_the_lr_drops_at_the_given_steps_of_the_run():
    model = JointNet("tiny_resnet", {"target": 2})
    optimizer, scheduler = make_optimizer(model, settings(epochs=0, steps=6, lr_drops=[4, 7], run_steps=12, first_step=3), 1)
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(rates, [0.05, 0.005, 0.005, 0.005, 0.0005, 0.0005])  # run steps 3..8


def test_accumulated_mini_batches_step_as_one_batch_of_their_size(images):
    """Two mini-batches of 4 accumulated give the step of one batch of 8 (BatchNorm frozen, so the
    images do not interact): the same pairs and crops, the mean of the same gradients."""
    items = [(path, i % 3) for i, path in enumerate(images[:8])]
    weights = []
    for batch_size, accumulate in ((8, 1), (4, 2)):
        torch.manual_seed(0)
        model = JointNet("tiny_resnet", {"target": 3})
        stats = fit(model, items, settings(batch_size=batch_size, accumulate=accumulate, epochs=2), "cpu")
        assert stats["steps"] == 2
        weights.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    torch.testing.assert_close(weights[1], weights[0], rtol=1e-4, atol=1e-5)


def test_a_fit_of_steps_takes_exactly_that_many_optimizer_steps(images, monkeypatch):
    items = [(path, i % 3) for i, path in enumerate(images)]  # 12 images in batches of 4: 3 steps an epoch
    taken = []
    step = torch.optim.SGD.step
    monkeypatch.setattr(torch.optim.SGD, "step", lambda self, *a, **k: (taken.append(1), step(self, *a, **k))[1])
    torch.manual_seed(0)
    stats = fit(JointNet("tiny_resnet", {"target": 3}), items, settings(epochs=0, steps=5), "cpu")
    assert len(taken) == stats["steps"] == 5 and stats["images_seen"] == 5 * 4


def test_the_regularizer_decays_by_the_ratio_every_epoch_of_the_run(images, monkeypatch):
    items = [(path, i % 3) for i, path in enumerate(images[:8])]
    torch.manual_seed(0)
    model, anchor = JointNet("tiny_resnet", {"target": 3}), JointNet("tiny_resnet", {})
    weights = []
    real = joint.set_gradients

    def spy(model, main, other, analytic, dtnh, scale=None):
        weights.append(analytic.weight)
        return real(model, main, other, analytic, dtnh, scale)

    monkeypatch.setattr(joint, "set_gradients", spy)
    train = settings(epochs=3, batch_size=4, regularizer="l2sp", alpha=0.1, beta=0.01, decay=0.5, first_epoch=2,
                     run_epochs=5)
    fit(model, items, train, "cpu", anchor=anchor)
    assert weights == [0.25, 0.25, 0.125, 0.125, 0.0625, 0.0625]  # epochs 2, 3, 4 of the run, two steps each


def test_the_decayed_weight_scales_l2sp_and_its_gradient():
    """With weight 0.3, the analytic forms are those of 0.3 x L2-SP (autograd of its definition)."""
    torch.manual_seed(0)
    model, anchor = JointNet("tiny_resnet", {"target": 3}), JointNet("tiny_resnet", {})
    l2sp = L2SP(model, anchor, alpha=0.2, beta=0.1)
    l2sp.weight = 0.3
    gradient = l2sp_autograd(model, anchor, alpha=0.2, beta=0.1, weight=0.3)
    added = {p: torch.zeros_like(p) for p in gradient}
    l2sp.add_gradient_(added)
    for p, g in gradient.items():
        torch.testing.assert_close(added[p], g)
    grads = {p: torch.randn_like(p) for p in gradient}
    expected = sum(torch.sum(grads[p] * gradient[p]).double() for p in gradient)
    torch.testing.assert_close(l2sp.dot(grads), expected, rtol=1e-5, atol=1e-6)


def test_multi_crop_evaluation_reports_the_center_crop_beside_it(tmp_path):
    """eval.csv and probs.h5 keep the center crop's predictions beside the ten crops'; the report's
    accuracies and fusion use both."""
    labels = np.array([0, 1, 2, 2])
    frame = pd.DataFrame({"index": range(4), "path": ["x"] * 4, "label": labels, "class_name": list("abcc")})
    crops = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]  # the ten crops get the last image wrong
    center = np.eye(3, dtype=np.float32)[[0, 0, 2, 2]]  # the center crop the second
    _write_eval(frame, crops, str(tmp_path / "eval.csv"), str(tmp_path / "probs.h5"), center=center)
    row = _accuracy(tmp_path / "eval.csv")
    assert row["top1"] == 0.75 and row["top1_center"] == 0.75
    assert row["mean_class_acc"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert row["mean_class_acc_center"] == pytest.approx((1 + 0 + 1) / 3)
    frame.to_csv(tmp_path / "test.csv", index=False)
    fusion([str(tmp_path / "probs.h5")] * 2, str(tmp_path / "test.csv"), str(tmp_path / "fused.csv"),
           str(tmp_path / "fused.h5"))
    np.testing.assert_array_equal(read_h5(tmp_path / "fused.h5")["probs_center"], center)
    assert "prediction_center" in pd.read_csv(tmp_path / "fused.csv")


def test_only_an_iteration_before_the_runs_last_continues_its_schedule():
    assert continues_schedule(settings(epochs=0, steps=50, run_steps=150, first_step=50))
    assert not continues_schedule(settings(epochs=0, steps=50, run_steps=150, first_step=100))
    assert not continues_schedule(settings(epochs=0, steps=50))  # its own schedule
    assert continues_schedule(settings(epochs=4, run_epochs=12, first_epoch=4))
