"""Filter banks: Gabor FFT responses against a direct reflect-padded convolution, the bank's sizes,
and the CNN bank against the network's own first convolutions."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from workflow.filterbank import ONE_OCTAVE, GaborBank, gabor_kernel, make_bank
from workflow.backbones import IMAGENET_MEAN, IMAGENET_STD
from workflow.model import build_model, save_checkpoint

from conftest import default_config

FREQUENCIES = [0.2, 0.4]
ORIENTATIONS = 3


def config_gabor(**changes) -> GaborBank:
    """The Gabor bank of config/config.yaml (4 scales x 6 orientations, the paper's), with changes."""
    return make_bank("gabor", {**default_config()["bank"]["gabor"], **changes})


def direct_responses(images: torch.Tensor, bank: GaborBank) -> torch.Tensor:
    """(B, 2F, H, W) by the definition: a true convolution (conv2d with the flipped kernel) of the
    reflect-padded image, channel 2k the real part and 2k+1 the imaginary part of filter k."""
    x = images[:, None].double()
    channels = []
    for frequency, angle in bank.filters:
        kernel = gabor_kernel(frequency, angle)
        r = kernel.shape[-1] // 2
        flipped = kernel.flip(0, 1)
        padded = F.pad(x, (r, r, r, r), mode="reflect")
        for part in (flipped.real, flipped.imag):
            channels.append(F.conv2d(padded, part[None, None].contiguous())[:, 0])
    return torch.stack(channels, dim=1)


@pytest.mark.parametrize("shape", [(40, 40), (36, 44)])
def test_fft_responses_equal_direct_convolution(shape):
    bank = GaborBank(frequencies=FREQUENCIES, orientations=ORIENTATIONS, pyramid=True)
    height, width = shape
    assert bank.radius < min(height, width) - 1  # every kernel fits in the reflect padding
    images = torch.rand(2, height, width, generator=torch.Generator().manual_seed(0))

    got = bank.responses(images)

    assert got.shape == (2, bank.n_responses, height, width)
    assert got.dtype == torch.float32
    expected = direct_responses(images, bank)
    assert expected.abs().max() > 0.05  # the comparison is not between near-zero maps
    torch.testing.assert_close(got.double(), expected, atol=2e-5, rtol=0)


def test_imaginary_channels_are_a_convolution_not_a_correlation():
    """The odd (imaginary) Gabor parts change sign under flipping, so a correlation would fail."""
    bank = GaborBank(frequencies=[0.4], orientations=1, pyramid=True)  # one filter: angle 0
    images = torch.rand(1, 24, 24, generator=torch.Generator().manual_seed(1))
    got = bank.responses(images).double()

    kernel = gabor_kernel(0.4, 0.0)
    r = kernel.shape[-1] // 2
    padded = F.pad(images[:, None].double(), (r,) * 4, mode="reflect")
    correlation = F.conv2d(padded, kernel.imag[None, None].contiguous())[:, 0]
    assert not torch.allclose(got[:, 1], correlation, atol=1e-3)
    torch.testing.assert_close(got[:, 1], -correlation, atol=2e-5, rtol=0)


def test_one_bank_serves_several_image_sizes():
    bank = GaborBank(frequencies=FREQUENCIES, orientations=2, pyramid=True)
    generator = torch.Generator().manual_seed(2)
    for shape in [(40, 40), (30, 38), (40, 40)]:
        images = torch.rand(1, *shape, generator=generator)
        torch.testing.assert_close(bank.responses(images).double(), direct_responses(images, bank), atol=2e-5, rtol=0)


def test_gabor_kernel_matches_formula():
    frequency, angle = 0.2, math.pi / 3
    kernel = gabor_kernel(frequency, angle).numpy()
    s = ONE_OCTAVE / frequency
    r = math.ceil(3 * s)
    assert kernel.shape == (2 * r + 1, 2 * r + 1)
    y, x = 2, -3  # [y, x] indexing, offsets from the centre
    value = np.exp(-(x**2 + y**2) / (2 * s**2)) / (2 * np.pi * s**2)
    value = value * np.exp(2j * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle)))
    np.testing.assert_allclose(kernel[r + y, r + x], value, rtol=1e-12)


def test_one_octave_bandwidth_constant():
    """The envelope's spectrum has half-magnitude half-width h = sqrt(2 ln 2) / (2 pi s); one octave
    means (f + h) / (f - h) = 2, i.e. h = f / 3."""
    frequency = 0.25
    h = math.sqrt(2 * math.log(2)) / (2 * math.pi * (ONE_OCTAVE / frequency))
    assert (frequency + h) / (frequency - h) == pytest.approx(2.0, rel=1e-12)


def test_bank_sizes_and_filter_order():
    bank = GaborBank(frequencies=[0.1, 0.3, 0.5], orientations=4, pyramid=True)
    assert bank.n_responses == 2 * 3 * 4
    assert bank.layer_sizes == [24]
    expected = [(f, k * math.pi / 4) for f, k in itertools.product([0.1, 0.3, 0.5], range(4))]
    np.testing.assert_allclose(np.array(bank.filters), np.array(expected), rtol=1e-12)

    default = config_gabor()
    assert default.n_responses == 48
    assert default.layer_sizes == [48]
    assert sum(default.layer_sizes) == default.n_responses


@pytest.fixture(scope="module")
def resnet_checkpoint(tmp_path_factory):
    """A small ResNet-18 checkpoint of ours (random weights, BatchNorm statistics perturbed)."""
    torch.manual_seed(0)
    model = build_model("resnet18", {"target": ["a", "b"]}, "scratch")
    model.backbone.bn1.running_mean.uniform_(-0.5, 0.5)
    path = tmp_path_factory.mktemp("cnn") / "model.pt"
    save_checkpoint(model, {"target": ["a", "b"]}, path)
    return path, model.backbone.eval()


def test_cnn_bank_gives_the_first_two_convolutions(resnet_checkpoint):
    path, backbone = resnet_checkpoint
    bank = make_bank("cnn", {"model": str(path), "arch": "resnet18"})
    assert bank.layers == ["conv1", "layer1.0.conv1"] and bank.layer_sizes == [64, 64]
    images = torch.rand(2, 20, 20, 3)
    conv1, conv2 = bank.response_layers(images)
    x = (images.permute(0, 3, 1, 2) - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    with torch.no_grad():
        expected1 = F.conv2d(x, backbone.conv1.weight, stride=2, padding=3)
        stem = backbone.maxpool(backbone.relu(backbone.bn1(expected1)))
        expected2 = F.conv2d(stem, backbone.layer1[0].conv1.weight, padding=1)
    torch.testing.assert_close(conv1, expected1, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(conv2, expected2, rtol=1e-4, atol=1e-5)
    assert conv1.shape[-1] == 10 and conv2.shape[-1] == 5  # layers at their own resolutions


def test_cnn_bank_after_activation_sees_what_the_next_layer_sees(resnet_checkpoint):
    """activation: conv1 -> bn1 -> relu, and layer1.0.conv1 -> its bn1 -> its (shared) relu's first call."""
    path, backbone = resnet_checkpoint
    bank = make_bank("cnn", {"model": str(path), "arch": "resnet18", "activation": True})
    images = torch.rand(2, 20, 20, 3)
    first, second = bank.response_layers(images)
    x = (images.permute(0, 3, 1, 2) - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    with torch.no_grad():
        stem = torch.relu(backbone.bn1(backbone.conv1(x)))
        block = backbone.layer1[0]
        expected2 = torch.relu(block.bn1(block.conv1(backbone.maxpool(stem))))
    torch.testing.assert_close(first, stem, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(second, expected2, rtol=1e-4, atol=1e-5)
    # the block's ReLU runs twice; its second call (after the residual sum) is another response
    (late,) = make_bank("cnn", {"model": str(path), "arch": "resnet18", "layers": ["layer1.0.conv2"], "activation": True}).response_layers(images)
    with torch.no_grad():
        expected_late = block(backbone.maxpool(stem))
    torch.testing.assert_close(late, expected_late, rtol=1e-4, atol=1e-5)


def test_cnn_bank_options(resnet_checkpoint):
    path, _ = resnet_checkpoint
    with pytest.raises(ValueError, match="bank.cnn.layers"):
        make_bank("cnn", {"model": str(path), "arch": "resnet18", "layers": ["conv9"]})
    with pytest.raises(ValueError, match="bank.names"):
        make_bank("sift", {})


def test_cnn_bank_takes_any_module_with_a_feature_map(resnet_checkpoint):
    """A block (a Sequential of residual blocks) or a normalisation is a layer too: its response
    is its output map, sized by its channels, not by a convolution's out_channels."""
    path, backbone = resnet_checkpoint
    bank = make_bank("cnn", {"model": str(path), "arch": "resnet18", "layers": ["layer1", "layer2.0.bn1"]})
    assert bank.layer_sizes == [64, 128]
    images = torch.rand(2, 32, 32, 3)
    block, norm = bank.response_layers(images)
    x = (images.permute(0, 3, 1, 2) - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    with torch.no_grad():
        expected = backbone.layer1(backbone.maxpool(backbone.relu(backbone.bn1(backbone.conv1(x)))))
    assert block.shape == (2, 64, 8, 8) and norm.shape[:2] == (2, 128)
    torch.testing.assert_close(block, expected, rtol=1e-4, atol=1e-5)


def test_cnn_bank_alexnet_takes_conv1_and_conv2(monkeypatch):
    """``model: alexnet`` asks torchvision for AlexNet's ImageNet weights (stubbed: no network here)."""
    import torchvision

    asked = {}
    get_model = torchvision.models.get_model

    def stub(name, weights=None):
        asked["weights"] = weights
        return get_model(name)

    monkeypatch.setattr(torchvision.models, "get_model", stub)
    bank = make_bank("cnn", {"model": "alexnet", "arch": "resnet18"})
    assert asked["weights"] == "DEFAULT"
    assert bank.layers == ["features.0", "features.3"] and bank.layer_sizes == [64, 192]
    conv1, conv2 = bank.response_layers(torch.rand(1, 67, 67, 3))
    assert conv1.shape[1:] == (64, 16, 16) and conv2.shape[1] == 192  # 11x11 stride 4, padding 2


def test_pyramid_levels_follow_each_scales_band():
    """1.85 f d <= 1/2: f = 0.4 and 0.2 at full size, 0.1 at half, 0.05 at a quarter."""
    bank = config_gabor()
    assert [bank.decimation(f, 64) for f in bank.frequencies] == [4, 2, 1, 1]
    assert [bank.decimation(f, 16) for f in bank.frequencies] == [2, 2, 1, 1]  # levels keep >= 8 px
    assert [config_gabor(pyramid=False).decimation(f, 64) for f in bank.frequencies] == [1, 1, 1, 1]
    layers = bank.response_layers(torch.rand(3, 64, 64))
    assert [tuple(layer.shape) for layer in layers] == [(3, 12, 16, 16), (3, 12, 32, 32), (3, 12, 64, 64), (3, 12, 64, 64)]
    flat = config_gabor(pyramid=False).response_layers(torch.rand(3, 64, 64))
    assert [tuple(layer.shape) for layer in flat] == [(3, 12, 64, 64)] * 4


def test_pyramid_responses_sample_the_full_size_response():
    """A scale filtered at level d equals its full-size response at every d-th pixel (away from the
    borders, where the coarse reflection differs), because the low-pass keeps the filter's band."""
    bank = config_gabor()
    images = torch.rand(2, 160, 160, generator=torch.Generator().manual_seed(3))
    layers = bank.response_layers(images)
    for frequency, layer in zip(bank.frequencies, layers):
        d = bank.decimation(frequency, 160)
        full = bank.responses(images, [(frequency, a) for a in bank.angles])[..., ::d, ::d]
        margin = 40 // d
        error = (layer - full)[..., margin:-margin, margin:-margin].abs().max() / full.abs().max()
        assert error < 0.02, (frequency, d, float(error))
