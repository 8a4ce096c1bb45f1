"""GaborBank: the FFT responses against a direct reflect-padded convolution, and the bank's sizes."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from workflow.filterbank import ONE_OCTAVE, GaborBank, gabor_kernel

FREQUENCIES = [0.2, 0.4]
ORIENTATIONS = 3


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
    bank = GaborBank(frequencies=FREQUENCIES, n_orientations=ORIENTATIONS)
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
    bank = GaborBank(frequencies=[0.4], n_orientations=1)  # one filter: angle 0
    images = torch.rand(1, 24, 24, generator=torch.Generator().manual_seed(1))
    got = bank.responses(images).double()

    kernel = gabor_kernel(0.4, 0.0)
    r = kernel.shape[-1] // 2
    padded = F.pad(images[:, None].double(), (r,) * 4, mode="reflect")
    correlation = F.conv2d(padded, kernel.imag[None, None].contiguous())[:, 0]
    assert not torch.allclose(got[:, 1], correlation, atol=1e-3)
    torch.testing.assert_close(got[:, 1], -correlation, atol=2e-5, rtol=0)


def test_one_bank_serves_several_image_sizes():
    bank = GaborBank(frequencies=FREQUENCIES, n_orientations=2)
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
    bank = GaborBank(frequencies=[0.1, 0.3, 0.5], n_orientations=4)
    assert bank.n_responses == 2 * 3 * 4
    assert bank.layer_sizes == [24]
    expected = [(f, k * math.pi / 4) for f, k in itertools.product([0.1, 0.3, 0.5], range(4))]
    np.testing.assert_allclose(np.array(bank.filters), np.array(expected), rtol=1e-12)

    default = GaborBank()
    assert default.n_responses == 48
    assert default.layer_sizes == [48]
    assert sum(default.layer_sizes) == default.n_responses
