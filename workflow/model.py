"""The network: one torchvision backbone shared by named classification heads.

Joint fine-tuning (paper, 3.2) trains a ``target`` head and a ``source`` head on top of the
same backbone. A checkpoint stores the architecture, the backbone and every head with its
class names, so that a later iteration, evaluation or another method can pick up any part.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torchvision
from torch import nn

from .io import atomic_path

log = logging.getLogger(__name__)


class JointNet(nn.Module):
    """A backbone (its classifier removed) and linear heads by name."""

    def __init__(self, arch: str, heads: dict[str, int], torchvision_weights: str | None = None):
        super().__init__()
        self.arch = arch
        try:
            self.backbone = torchvision.models.get_model(arch, weights=torchvision_weights)
        except ValueError as error:
            raise ValueError(f"unknown backbone {arch!r} (config key model.arch): {error}") from error
        self.feature_dim = _drop_classifier(self.backbone)
        self.heads = nn.ModuleDict({name: nn.Linear(self.feature_dim, n) for name, n in heads.items()})

    def forward(self, images: torch.Tensor, head: str) -> torch.Tensor:
        return self.heads[head](self.backbone(images))


def _drop_classifier(backbone: nn.Module) -> int:
    """Replace the model's last linear layer by the identity; return its input width."""
    for attribute in ("fc", "classifier", "head", "heads"):
        layer = getattr(backbone, attribute, None)
        if isinstance(layer, nn.Linear):
            setattr(backbone, attribute, nn.Identity())
            return layer.in_features
        if isinstance(layer, nn.Sequential) and isinstance(layer[-1], nn.Linear):
            width = layer[-1].in_features
            layer[-1] = nn.Identity()
            return width
    raise ValueError(f"cannot find the classifier of {type(backbone).__name__} to replace by heads")


def save_checkpoint(model: JointNet, classes: dict[str, list[str]], path: str | Path) -> None:
    state = {
        "arch": model.arch,
        "backbone": model.backbone.state_dict(),
        "heads": {name: head.state_dict() for name, head in model.heads.items()},
        "classes": classes,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as error:
        raise ValueError(f"cannot read checkpoint {path}: {error}") from error


def build_model(
    arch: str,
    classes: dict[str, list[str]],
    init: str,
    keep_heads: tuple[str, ...] = (),
) -> JointNet:
    """A JointNet with a head per entry of ``classes``, its weights from ``init``.

    ``init`` is ``torchvision`` (torchvision's default ImageNet weights for the arch; a download
    unless cached under TORCH_HOME), ``scratch``, or a checkpoint path (ours, or a plain state
    dict of the torchvision model). Heads named in ``keep_heads`` are copied from our
    checkpoint when it has them with the same classes; the others start at random.
    """
    if init == "torchvision":
        return JointNet(arch, {h: len(c) for h, c in classes.items()}, torchvision_weights="DEFAULT")
    model = JointNet(arch, {h: len(c) for h, c in classes.items()})
    if init == "scratch":
        return model
    state = load_checkpoint(init)
    if "backbone" not in state:  # a plain torchvision state dict
        state = {"arch": arch, "backbone": {k: v for k, v in state.items() if k in model.backbone.state_dict()}}
    if state["arch"] != arch:
        raise ValueError(f"checkpoint {init} holds a {state['arch']}, but model.arch is {arch}")
    model.backbone.load_state_dict(state["backbone"])
    for head in (h for h in keep_heads if h in classes):  # a run without source images has no source head
        if head in state.get("heads", {}) and state["classes"].get(head) == classes[head]:
            model.heads[head].load_state_dict(state["heads"][head])
        else:
            log.warning("checkpoint %s has no %s head for these classes: it starts at random", init, head)
    return model


def restore_model(state: dict) -> JointNet:
    """The network of one of our loaded checkpoints, with every head it saved."""
    model = JointNet(state["arch"], {h: len(c) for h, c in state["classes"].items()})
    model.backbone.load_state_dict(state["backbone"])
    for name, head in model.heads.items():
        head.load_state_dict(state["heads"][name])
    return model


def pick_device(setting: str) -> torch.device:
    """``auto`` is CUDA when available, else CPU; otherwise the named device."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)
