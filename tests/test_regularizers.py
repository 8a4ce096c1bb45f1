"""L2-SP, feature-map distillation and DTNH's projection against their definitions."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from test_joint import SIZE, colour_items, cross_entropy, softmax_outputs
from torch import nn
from torch.nn import functional as F

from workflow.joint import TrainSettings, fit
from workflow.model import JointNet
from workflow.regularizers import (
    L2SP,
    FeatureDistillation,
    inner,
    make_regularizer,
    remove_conflict_,
    set_gradients,
)


class TinyNet(nn.Module):
    """backbone + heads, like JointNet, small enough to check by hand."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.backbone = nn.Sequential(nn.Linear(5, 4), nn.Tanh())
        self.heads = nn.ModuleDict({"target": nn.Linear(4, 3), "source": nn.Linear(4, 2)})

    def features(self, x):
        return self.backbone(x)

    def forward(self, x, head):
        return self.heads[head](self.features(x))


def l2sp_by_definition(model, anchor, alpha, beta, weight=1.0) -> torch.Tensor:
    """L2-SP's Omega written out: weight (alpha ||w_b - w0_b||^2 + beta ||w_h||^2), w0 the anchor's backbone."""
    anchors = dict(anchor.backbone.named_parameters())
    drift = sum(((p - anchors[name].detach()) ** 2).sum() for name, p in model.backbone.named_parameters())
    heads = sum((p**2).sum() for p in model.heads.parameters())
    return weight * (alpha * drift + beta * heads)


def l2sp_autograd(model, anchor, alpha, beta, weight=1.0) -> dict[nn.Parameter, torch.Tensor]:
    """d Omega / d w of ``l2sp_by_definition`` by autograd, for every parameter of the model."""
    params = list(model.parameters())
    return dict(zip(params, torch.autograd.grad(l2sp_by_definition(model, anchor, alpha, beta, weight), params)))


def flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def dtnh_by_definition(g_j, g_o) -> torch.Tensor:
    """DTNH's step, flat: g_J + g_O projected onto the half-space <g, g_J> >= 0."""
    j, o = flat(g_j), flat(g_o)
    return j + o - torch.clamp(torch.dot(o, j), max=0) / torch.dot(j, j) * j


def dtnh_step(g_j, g_o) -> tuple[list[torch.Tensor], float]:
    """The step as training takes it: remove_conflict_ on g_J, then g_O added; and c."""
    step = [j.clone() for j in g_j]
    coefficient = remove_conflict_(step, inner(g_o, step))
    for s, o in zip(step, g_o):
        s.add_(o)
    return step, coefficient


@pytest.mark.parametrize("seed", range(5))
def test_projection_removes_the_conflicting_component(seed):
    generator = torch.Generator().manual_seed(seed)
    g_j = [torch.randn(3, 4, generator=generator), torch.randn(5, generator=generator)]
    g_o = [-2 * g_j[0] + 0.1 * torch.randn(3, 4, generator=generator), -g_j[1]]  # obtuse
    dot = torch.dot(flat(g_j), flat(g_o))
    assert dot < 0
    step, coefficient = dtnh_step(g_j, g_o)
    assert float(coefficient) == pytest.approx(float(dot / torch.dot(flat(g_j), flat(g_j))), rel=1e-5)
    assert torch.allclose(flat(step), dtnh_by_definition(g_j, g_o), atol=1e-5)
    # what is left of g_O is orthogonal to g_J
    left = flat(step) - flat(g_j)
    assert abs(float(torch.dot(left, flat(g_j)))) < 1e-4 * float(flat(g_j).norm() * flat(g_o).norm())


def test_projection_leaves_an_acute_gradient_alone():
    g_j = [torch.tensor([1.0, 0.0]), torch.tensor([[1.0]])]
    g_o = [torch.tensor([1.0, 5.0]), torch.tensor([[-0.5]])]  # <g_J, g_O> = 0.5 > 0
    step, coefficient = dtnh_step(g_j, g_o)
    assert coefficient == 0.0
    assert torch.equal(flat(step), flat(g_j) + flat(g_o))
    assert torch.equal(flat(step), dtnh_by_definition(g_j, g_o))


def test_l2sp_analytic_gradient_equals_autograd():
    """dot() and add_gradient_() act as <g, dOmega/dw> and g + dOmega/dw, with dOmega/dw that of
    autograd on L2-SP's definition, for every parameter (backbone and heads)."""
    model, anchor = TinyNet(seed=0), TinyNet(seed=1)
    regularizer = L2SP(model, anchor, alpha=0.3, beta=0.07)
    expected = l2sp_autograd(model, anchor, alpha=0.3, beta=0.07)
    zeros = {p: torch.zeros_like(p) for p in model.parameters()}
    regularizer.add_gradient_(zeros)
    for p in model.parameters():
        assert torch.allclose(zeros[p], expected[p], atol=1e-6)
    generator = torch.Generator().manual_seed(4)
    grads = {p: torch.randn(p.shape, generator=generator) for p in model.parameters()}
    expected_dot = sum(float((grads[p] * expected[p]).sum()) for p in grads)
    assert float(regularizer.dot(grads)) == pytest.approx(expected_dot, rel=1e-5)
    added = {p: grads[p] + expected[p] for p in grads}
    regularizer.add_gradient_(grads)
    assert all(torch.allclose(grads[p], added[p], atol=1e-6) for p in grads)


def test_feature_distillation_is_zero_at_the_anchor_and_grows_with_drift():
    model = JointNet("resnet18", {"target": 2})
    anchor = copy.deepcopy(model).eval()
    regularizer = FeatureDistillation(model, anchor, alpha=2.0, layers=["layer1", "layer3"])
    images = torch.randn(2, 3, 32, 32)
    model.eval()
    model(images, "target")
    assert regularizer.penalty(images).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        model.backbone.conv1.weight.add_(0.05 * torch.randn_like(model.backbone.conv1.weight))
    model(images, "target")
    value = regularizer.penalty(images)
    # the definition, with the anchor's and the model's feature maps taken directly (of the
    # normalised images, as the networks see them)
    student, teacher = {}, {}
    for name, store, net in (("model", student, model.backbone), ("anchor", teacher, anchor.backbone)):
        x = net.maxpool(net.relu(net.bn1(net.conv1(model.normalize(images)))))
        store["layer1"] = x = net.layer1(x)
        store["layer3"] = net.layer3(net.layer2(x))
    expected = 2.0 * sum(torch.mean((student[k] - teacher[k]) ** 2) for k in ("layer1", "layer3"))
    assert value.item() > 0
    assert torch.allclose(value, expected, rtol=1e-4)


def test_unknown_layer_is_named():
    model = JointNet("resnet18", {"target": 2})
    with pytest.raises(ValueError, match="layer9"):
        make_regularizer("knowdist", model, copy.deepcopy(model), 1.0, 0.0, ["layer9"])


def test_dtnh_steps_are_sgd_steps_on_the_projected_gradient():
    """Momentum and weight decay act on g_J + g_O_perp exactly as torch's SGD on any gradient."""
    model, anchor = TinyNet(seed=0), TinyNet(seed=1)
    regularizer = L2SP(model, anchor, alpha=0.5, beta=0.2)
    lr, momentum, decay = 0.1, 0.9, 0.01
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=decay)
    generator = torch.Generator().manual_seed(0)
    params = list(model.parameters())
    reference = [p.detach().clone() for p in params]
    velocity = [torch.zeros_like(p) for p in params]
    coefficients = []
    for _ in range(4):
        x, y = torch.randn(6, 5, generator=generator), torch.randint(0, 3, (6,), generator=generator)
        # expected step, by hand: gradients at the reference weights, DTNH, then momentum SGD
        with torch.no_grad():
            for p, r in zip(params, reference):
                p.copy_(r)
        loss = F.cross_entropy(model(x, "target"), y)
        g_j = torch.autograd.grad(loss, params, allow_unused=True)
        g_j = [torch.zeros_like(p) if g is None else g for p, g in zip(params, g_j)]
        analytic = l2sp_autograd(model, anchor, alpha=0.5, beta=0.2)
        g_o = [analytic[p] for p in params]
        dot = sum((a * b).sum() for a, b in zip(g_j, g_o))
        if dot < 0:
            c = dot / sum((a * a).sum() for a in g_j)
            g_o = [o - c * j for j, o in zip(g_j, g_o)]
        for i, (p, j, o) in enumerate(zip(params, g_j, g_o)):
            step = j + o + decay * reference[i]
            velocity[i] = step if _ == 0 else momentum * velocity[i] + step
            reference[i] = reference[i] - lr * velocity[i]
        # the code under test, from the same weights
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x, "target"), y)
        coefficients.append(set_gradients(model, loss, None, regularizer, dtnh=True))
        optimizer.step()
        for p, r in zip(params, reference):
            assert torch.allclose(p, r, atol=1e-6)
    assert any(c != 0 for c in coefficients) and any(c == 0 for c in coefficients), coefficients


def test_without_dtnh_the_gradient_is_that_of_the_sum():
    model, anchor = TinyNet(seed=0), TinyNet(seed=1)
    regularizer = L2SP(model, anchor, alpha=0.5, beta=0.2)
    x, y, z = torch.randn(4, 5), torch.randint(0, 3, (4,)), torch.randint(0, 2, (4,))
    features = model.backbone(x)
    target, source = F.cross_entropy(model.heads["target"](features), y), F.cross_entropy(model.heads["source"](features), z)
    set_gradients(model, target, 0.7 * source, regularizer, dtnh=False)
    ours = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    features = model.backbone(x)
    total = F.cross_entropy(model.heads["target"](features), y) + 0.7 * F.cross_entropy(model.heads["source"](features), z)
    (total + l2sp_by_definition(model, anchor, alpha=0.5, beta=0.2)).backward()
    assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(ours, model.parameters()))


@pytest.mark.parametrize(("seed", "conflict"), [(3, False), (10, True)])
def test_dtnh_projects_the_source_loss_against_the_target_loss(seed, conflict):
    """selective-dtnh: with no regularizer, g_O is the source-loss gradient, projected."""
    model = TinyNet(seed=seed)
    x, y, z = torch.randn(8, 5), torch.randint(0, 3, (8,)), torch.randint(0, 2, (8,))
    params = list(model.parameters())

    def losses():
        features = model.backbone(x)
        return F.cross_entropy(model.heads["target"](features), y), F.cross_entropy(model.heads["source"](features), z)

    target, source = losses()
    g_j = [torch.zeros_like(p) if g is None else g for p, g in zip(params, torch.autograd.grad(target, params, retain_graph=True, allow_unused=True))]
    g_s = [torch.zeros_like(p) if g is None else g for p, g in zip(params, torch.autograd.grad(source, params, allow_unused=True))]
    assert (inner(g_j, g_s) < 0) == conflict
    target, source = losses()
    set_gradients(model, target, source, None, dtnh=True)
    assert torch.allclose(flat(p.grad for p in params), dtnh_by_definition(g_j, g_s), atol=1e-6)
    assert float(sum((p.grad * j).sum() for p, j in zip(params, g_j))) > 0, "the step still descends the target loss"


@pytest.mark.parametrize(("regularizer", "alpha"), [("l2sp", 0.01), ("knowdist", 0.1)])
def test_dtnh_training_reduces_the_loss(tmp_path, regularizer, alpha):
    torch.manual_seed(0)
    train = colour_items(tmp_path, 8, seed=1)
    paths, labels = [p for p, _ in train], np.array([y for _, y in train])
    model = JointNet("resnet18", {"target": 2})
    anchor = copy.deepcopy(model)
    before = cross_entropy(softmax_outputs(model, paths), labels)
    settings = TrainSettings(epochs=8, batch_size=8, lr=0.001, head_lr_mult=10.0, lr_step=0.67, momentum=0.9,
                             weight_decay=1e-4, input_size=SIZE, flip=True, crop_padding=2, freeze_bn=False, workers=0, seed=0,
                             precision="auto", deterministic=False, jpeg_draft=True,
                             layers=("layer1", "layer2", "layer3", "layer4"),
                             regularizer=regularizer, alpha=alpha, beta=0.01, dtnh=True)
    result = fit(model, train, settings, "cpu", anchor=anchor)
    after = cross_entropy(softmax_outputs(model, paths), labels)
    assert after < before
    assert 0 <= result["projected_steps"] <= result["steps"]


@pytest.mark.parametrize("dtnh", [False, True])
def test_a_loss_scale_scales_every_gradient_alike(dtnh):
    """fp16 training scales the losses by S for its backward pass: every gradient, L2-SP's analytic
    one and DTNH's projection included, then comes out S times the unscaled one, which the scaler
    divides back at the step."""
    scale = torch.tensor(1024.0)
    grads = []
    for loss_scale in (None, scale):
        model, anchor = TinyNet(seed=0), TinyNet(seed=1)
        regularizer = L2SP(model, anchor, alpha=0.5, beta=0.2)
        generator = torch.Generator().manual_seed(2)
        x, y, z = torch.randn(4, 5, generator=generator), torch.tensor([0, 1, 2, 0]), torch.tensor([1, 0, 1, 1])
        features = model.backbone(x)
        target, source = F.cross_entropy(model.heads["target"](features), y), F.cross_entropy(model.heads["source"](features), z)
        set_gradients(model, target, 0.7 * source, regularizer, dtnh=dtnh, scale=loss_scale)
        grads.append(flat(p.grad for p in model.parameters()))
    assert torch.allclose(grads[1] / scale, grads[0], rtol=1e-5, atol=1e-7)
