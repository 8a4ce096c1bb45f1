"""The network: one backbone (torchvision or timm, ``backbones.py``) shared by named classification heads.

Joint fine-tuning (paper, 3.2) trains a ``target`` head and a ``source`` head on top of the
same backbone. A checkpoint stores the architecture, the backbone and every head with its
class names, so that a later iteration, evaluation or another method can pick up any part.
Networks take pixels in [0, 1] and normalise them as their weights expect (``features``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from . import backbones
from .io import write_torch

log = logging.getLogger(__name__)


class JointNet(nn.Module):
    """A backbone (its classifier removed) and linear heads by name."""

    def __init__(self, arch: str, heads: dict[str, int], weights: str = "scratch"):
        super().__init__()
        self.arch = arch
        built = backbones.create(arch, weights)
        self.backbone, self.feature_dim = built.network, built.feature_dim
        # the weights' own ImageNet classifier, for a source head of ImageNet classes (a plain
        # attribute, not a submodule: never trained, moved or saved)
        self.imagenet_classifier = {"layer": built.imagenet_classifier}
        self.register_buffer("mean", torch.tensor(built.mean)[:, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(built.std)[:, None, None], persistent=False)
        self.heads = nn.ModuleDict({name: nn.Linear(self.feature_dim, n) for name, n in heads.items()})

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) pixels in [0, 1] as the backbone's weights expect them."""
        return (images - self.mean) / self.std

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features of (B, 3, H, W) images in [0, 1]."""
        return self.backbone(self.normalize(images))

    def forward(self, images: torch.Tensor, head: str) -> torch.Tensor:
        return self.heads[head](self.features(images))


def save_checkpoint(model: JointNet, classes: dict[str, list[str]], path: str | Path,
                    optimizer_state: dict | None = None) -> None:
    """The model's weights and class names (and, to continue its schedule, the optimizer state)."""
    state = {
        "arch": model.arch,
        "backbone": model.backbone.state_dict(),
        "heads": {name: head.state_dict() for name, head in model.heads.items()},
        "classes": classes,
    }
    if optimizer_state is not None:
        state["optimizer"] = optimizer_state
    write_torch(path, state)


def load_checkpoint(path: str | Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as error:
        raise ValueError(f"cannot read checkpoint {path}: {error}. If the workflow wrote it (truncated by a full "
                         "disk, say), delete it: the next run rebuilds it (or force the rule that writes it: "
                         "snakemake --forcerun RULE)") from error


def build_model(
    arch: str,
    classes: dict[str, list[str]],
    init: str,
    keep_heads: tuple[str, ...] = (),
    source_head: str = "random",
) -> JointNet:
    """A JointNet with a head per entry of ``classes``, its weights from ``init``.

    ``init`` is ``scratch``, ``imagenet`` or ``efficientnet-lite`` (``backbones.py``), or a
    checkpoint path (ours, or a plain state dict of the backbone). Heads named in
    ``keep_heads`` are copied from our checkpoint when it has them with the same classes.
    ``source_head`` says where a new source head starts: ``random`` (the paper), ``pretrained``
    (the checkpoint's source head: pass ``keep_heads``) or ``imagenet`` (the rows of the
    weights' own ImageNet classifier for the source classes, named by WordNet id).
    """
    heads = {h: len(c) for h, c in classes.items()}
    if init in backbones.LIBRARY_WEIGHTS:
        model = JointNet(arch, heads, weights=init)
    else:
        model = JointNet(arch, heads)
        _load_checkpoint_into(model, init, classes, keep_heads)
    if source_head == "imagenet" and "source" in classes and "source" not in keep_heads:
        classifier = model.imagenet_classifier["layer"]
        if classifier is None:
            raise ValueError(f"train.source_head imagenet: model.init {init} brings no ImageNet classifier "
                             "(use imagenet or efficientnet-lite weights)")
        model.heads["source"] = backbones.imagenet_rows(classifier, classes["source"])
    return model


def _load_checkpoint_into(model: JointNet, path: str, classes: dict[str, list[str]], keep_heads) -> None:
    state = load_checkpoint(path)
    if "backbone" not in state:  # a plain state dict of the backbone
        state = {"arch": model.arch, "backbone": {k: v for k, v in state.items() if k in model.backbone.state_dict()}}
    if state["arch"] != model.arch:
        raise ValueError(f"checkpoint {path} holds a {state['arch']}, but model.arch is {model.arch}")
    model.backbone.load_state_dict(state["backbone"])
    for head in (h for h in keep_heads if h in classes):  # a run without source images has no source head
        if head in state.get("heads", {}) and state["classes"].get(head) == classes[head]:
            model.heads[head].load_state_dict(state["heads"][head])
        else:
            log.warning("checkpoint %s has no %s head for these classes: it starts at random", path, head)
