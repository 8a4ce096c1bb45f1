"""Fine-tuning that stays near the starting model, made safe by DTNH's gradient projection.

Regularizers Omega pull the fine-tuned network toward the model it started from (w0):

* L2-SP (Li et al., 2018): Omega = alpha ||w_b - w0_b||^2 + beta ||w_h||^2 over the backbone
  weights w_b (anchored at the starting backbone) and the head weights w_h. Its gradient is
  analytic, 2 alpha (w_b - w0_b) and 2 beta w_h, so it needs no backward pass.
* KnowDist (feature-map distillation, as DELTA without attention weights):
  Omega = alpha sum_l mean((F_l(x; w) - F_l(x; w0))^2) over the configured backbone layers l,
  the starting model F(.; w0) frozen. Its gradient comes from autograd.

DTNH ("Towards Making Deep Transfer Learning Never Hurt", Wan et al.): with g_J the gradient of
the target loss and g_O the gradient of everything else, if <g_J, g_O> < 0 then

    g_O <- g_O - (<g_O, g_J> / ||g_J||^2) g_J,

so the step g_J + g_O never works against the target loss. Both gradients are flattened over
all trained parameters. "Everything else" is Omega and, in joint training, the weighted source
loss: the borrowed source images then cannot pull against the target task either (that is the
``selective-dtnh`` method). The paper's lambda is folded into alpha and beta.

Training takes that step as (1 - c) g_J + g_O, c = min(0, <g_O, g_J>) / ||g_J||^2
(``remove_conflict_``): the same vector, for which L2-SP's g_O is added in place, never formed.
``set_gradients`` fills a training step's gradients, with DTNH or without.

Each regularizer's ``weight`` multiplies its coefficients (alpha, beta): DTNH's recipe decays
them per epoch by a ratio in (0, 1] (``TrainSettings.decay``); it is 1 until training sets it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def inner(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """<a, b> of two gradients given as matching lists of tensors (no temporaries): a 0-d tensor on
    their device, so that a training step never waits to read it."""
    return sum(torch.dot(x.reshape(-1), y.reshape(-1)) for x, y in zip(a, b))


@torch.no_grad()
def remove_conflict_(g_j: list[torch.Tensor], dot: torch.Tensor) -> torch.Tensor:
    """DTNH's projection folded into g_J: g_J <- (1 - c) g_J, so that g_J + g_O is the DTNH step.

    With ``dot`` = <g_O, g_J> and c = min(0, dot) / ||g_J||^2, the projected g_O is g_O - c g_J,
    and the step g_J + (g_O - c g_J) = (1 - c) g_J + g_O. Scaling g_J in place and then adding g_O
    as it is needs neither the projected g_O nor, for L2-SP, g_O itself: the caller computes
    ``dot`` and adds g_O in whatever form it has. Returns c (0: no conflict, or g_J is zero), a
    0-d float64 tensor: c is formed in double precision, then applied as float32, and nothing is
    read back to the host.
    """
    dot = dot.double()
    norm = inner(g_j, g_j).double()
    coefficient = torch.where(norm > 0, torch.clamp(dot, max=0) / norm, torch.zeros_like(dot))
    torch._foreach_mul_(g_j, 1.0 - coefficient)  # by exactly 1 where nothing conflicts
    return coefficient


def set_gradients(model: nn.Module, main_loss, other_loss, analytic, dtnh: bool, scale=None) -> torch.Tensor | None:
    """Fill every trained parameter's ``.grad`` for one step; return DTNH's removed coefficient (a 0-d
    tensor; None without DTNH or with nothing to project).

    Without DTNH the gradient is that of main + other + Omega. With DTNH, g_J is the gradient of
    the main (target) loss alone, g_O that of the rest, and the step is g_J + g_O with g_O's
    conflicting component removed: (1 - c) g_J + g_O (``remove_conflict_``). An
    ``analytic`` regularizer (L2-SP) adds its g_O in place, never formed, so DTNH costs it two
    inner products; other regularizers' penalties are part of ``other_loss``. ``scale`` is fp16's
    loss scale (a 0-d tensor): every gradient, the analytic one too, comes out scaled by it, for
    the scaler to unscale at the step. Nothing here waits for the device.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if scale is not None:
        main_loss = main_loss * scale
        other_loss = None if other_loss is None else other_loss * scale
    if not dtnh:
        (main_loss if other_loss is None else main_loss + other_loss).backward()
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if analytic is not None:
            analytic.add_gradient_({p: p.grad for p in params}, scale)
        return None
    g_j = _gradients(main_loss, params, retain_graph=other_loss is not None)
    g_o = _gradients(other_loss, params) if other_loss is not None else None
    if g_o is not None and analytic is not None:
        analytic.add_gradient_(dict(zip(params, g_o)), scale)
    if g_o is not None:
        dot = inner(g_j, g_o)
    elif analytic is not None:
        dot = analytic.dot(dict(zip(params, g_j)), scale)
    else:
        dot = None  # nothing to project
    coefficient = remove_conflict_(g_j, dot) if dot is not None else None
    with torch.no_grad():
        if g_o is not None:
            torch._foreach_add_(g_j, g_o)
        elif analytic is not None:
            analytic.add_gradient_(dict(zip(params, g_j)), scale)
    for p, g in zip(params, g_j):
        if p.grad is None:
            p.grad = g
        else:  # a step accumulating several mini-batches
            p.grad.add_(g)
    return coefficient


def _gradients(loss, params, retain_graph: bool = False) -> list[torch.Tensor]:
    """d loss / d p for each of ``params``, zeros for those the loss does not reach."""
    grads = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


class L2SP:
    """alpha ||w_b - w0_b||^2 + beta ||w_h||^2 through its analytic gradient alone: training needs
    <g, d Omega / d w> (``dot``) and g + d Omega / d w (``add_gradient_``), never Omega or its gradient
    as tensors of their own."""

    analytic = True
    weight = 1.0

    def __init__(self, model: nn.Module, anchor: nn.Module, alpha: float, beta: float):
        self.alpha, self.beta = alpha, beta
        self.backbone = [p for p in model.backbone.parameters() if p.requires_grad]
        anchors = dict(anchor.backbone.named_parameters())
        self.anchors = [anchors[name].detach().to(p.device).clone()
                        for name, p in model.backbone.named_parameters() if p.requires_grad]
        self.heads = [p for p in model.heads.parameters() if p.requires_grad]

    def _terms(self):
        """(parameter, anchor or None, weight) for every term of Omega."""
        yield from ((p, a, self.weight * self.alpha) for p, a in zip(self.backbone, self.anchors))
        yield from ((p, None, self.weight * self.beta) for p in self.heads)

    def dot(self, grads: dict[nn.Parameter, torch.Tensor], scale: torch.Tensor | None = None) -> torch.Tensor:
        """<g, scale d Omega / d w> for a gradient g given per parameter, without forming d Omega / d w:
        a 0-d float64 tensor on the device (each term's product in float32, their sum in double)."""
        total = torch.zeros((), dtype=torch.float64, device=next(iter(grads.values())).device)
        for p, anchor, weight in self._terms():
            g = grads[p].reshape(-1)
            term = torch.dot(g, p.detach().reshape(-1))
            if anchor is not None:
                term = term - torch.dot(g, anchor.reshape(-1))
            total += 2 * weight * term.double()
        return total if scale is None else total * scale

    @torch.no_grad()
    def add_gradient_(self, grads: dict[nn.Parameter, torch.Tensor], scale: torch.Tensor | None = None) -> None:
        """grads[p] += scale d Omega / d p, in place (no temporaries without ``scale``, fp16's loss scale:
        the step stays cheap)."""
        for p, anchor, weight in self._terms():
            if scale is not None:
                grads[p].addcmul_(p if anchor is None else p - anchor, scale, value=2 * weight)
                continue
            grads[p].add_(p, alpha=2 * weight)
            if anchor is not None:
                grads[p].add_(anchor, alpha=-2 * weight)


class FeatureDistillation:
    """alpha sum_l mean((F_l(x; w) - F_l(x; w0))^2) over named backbone layers (KnowDist)."""

    analytic = False
    weight = 1.0

    def __init__(self, model: nn.Module, anchor: nn.Module, alpha: float, layers: list[str]):
        self.alpha = alpha
        self.teacher = copy.deepcopy(anchor).eval().requires_grad_(False)  # whole: it normalises its input
        modules = dict(model.backbone.named_modules())
        teacher_modules = dict(self.teacher.backbone.named_modules())
        missing = [name for name in layers if name not in modules]
        if missing:
            raise ValueError(f"regularization.layers: the backbone has no layer {', '.join(missing)}")
        self.student_maps: dict[str, torch.Tensor] = {}
        self.teacher_maps: dict[str, torch.Tensor] = {}
        for name in layers:
            modules[name].register_forward_hook(self._keep(self.student_maps, name))
            teacher_modules[name].register_forward_hook(self._keep(self.teacher_maps, name))

    @staticmethod
    def _keep(store: dict, name: str):
        def hook(module, inputs, output):
            store[name] = output
        return hook

    def penalty(self, images: torch.Tensor) -> torch.Tensor:
        """Omega for the images the model has just seen (its feature maps come from hooks)."""
        self.teacher.to(images.device)
        with torch.no_grad():
            self.teacher.features(images)
        return self.weight * self.alpha * sum(torch.mean((self.student_maps[n].float() - self.teacher_maps[n].float()) ** 2)
                                for n in self.student_maps)  # in float32, whatever the forward pass's precision


def make_regularizer(name: str, model: nn.Module, anchor: nn.Module | None, alpha: float, beta: float, layers: list[str]):
    """The regularizer called ``name`` (none, l2sp, knowdist) toward the anchor model, or None."""
    if name == "none":
        return None
    if anchor is None:
        raise ValueError(f"regularizer {name} needs the starting model (--anchor)")
    if name == "l2sp":
        return L2SP(model, anchor, alpha, beta)
    if name == "knowdist":
        return FeatureDistillation(model, anchor, alpha, layers)
    raise ValueError(f"unknown regularizer {name!r}; known: none, l2sp, knowdist")
