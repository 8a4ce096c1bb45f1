"""Filter banks whose response histograms describe an image's low-level statistics (paper, 3.1).

The Gabor bank holds ``len(frequencies) x n_orientations`` complex filters

    g(x, y) = 1 / (2 pi s^2) * exp(-(x^2 + y^2) / (2 s^2)) * exp(2 pi i f (x cos t + y sin t)),

with an isotropic envelope whose width s = 0.56 / f gives a one-octave bandwidth. The real and
imaginary parts of each filter's response count as separate responses, so the default bank
(4 scales x 6 orientations) yields 48 response maps per image. The low frequencies have wide
kernels (f = 0.05 spans 69 px), so responses are computed by FFT on a reflect-padded image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

ONE_OCTAVE = math.sqrt(math.log(2) / 2) * 3 / math.pi  # s * f for a bandwidth of one octave


def gabor_kernel(frequency: float, angle: float, radius: int | None = None) -> torch.Tensor:
    """The complex Gabor kernel, shape (2r+1, 2r+1), r = ceil(3 s) unless given; [y, x] indexing."""
    sigma = ONE_OCTAVE / frequency
    radius = math.ceil(3 * sigma) if radius is None else radius
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    y, x = torch.meshgrid(offsets, offsets, indexing="ij")
    return _gabor(x, y, frequency, angle, sigma, radius)


def _gabor(x, y, frequency, angle, sigma, radius) -> torch.Tensor:
    envelope = torch.exp(-(x**2 + y**2) / (2 * sigma**2)) / (2 * math.pi * sigma**2)
    envelope = envelope * ((x.abs() <= radius) & (y.abs() <= radius))
    carrier = torch.exp(2j * math.pi * frequency * (x * math.cos(angle) + y * math.sin(angle)))
    return envelope * carrier


@dataclass
class GaborBank:
    """A bank of complex Gabor filters applied by FFT; see the module docstring."""

    frequencies: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.4])
    n_orientations: int = 6

    @property
    def filters(self) -> list[tuple[float, float]]:
        """(frequency, angle) per complex filter, scales outermost."""
        return [(f, math.pi * k / self.n_orientations) for f in self.frequencies for k in range(self.n_orientations)]

    @property
    def n_responses(self) -> int:
        return 2 * len(self.filters)

    @property
    def layer_sizes(self) -> list[int]:
        """Responses per layer; the Gabor bank is one layer, so every response weighs 1/48."""
        return [self.n_responses]

    @property
    def radius(self) -> int:
        return max(math.ceil(3 * ONE_OCTAVE / f) for f, _ in self.filters)

    def _kernel_spectra(self, height: int, width: int) -> torch.Tensor:
        """FFT of every kernel laid out on a (height, width) periodic grid: (F, height, width)."""
        y = torch.fft.fftfreq(height, 1 / height, dtype=torch.float64)[:, None].expand(height, width)
        x = torch.fft.fftfreq(width, 1 / width, dtype=torch.float64)[None, :].expand(height, width)
        kernels = []
        for frequency, angle in self.filters:
            sigma = ONE_OCTAVE / frequency
            kernels.append(_gabor(x, y, frequency, angle, sigma, math.ceil(3 * sigma)))
        return torch.fft.fft2(torch.stack(kernels)).to(torch.complex64)

    def responses(self, images: torch.Tensor) -> torch.Tensor:
        """Filter responses of grayscale images.

        images: (B, H, W) float in [0, 1]. Returns (B, 2F, H, W) float32: for filter k,
        channel 2k is the real part of image * g_k (a true convolution) and 2k+1 the imaginary.
        The image is reflect-padded by min(r, H-1, W-1) px, so kernels that fit in the padding
        give exactly the linear convolution with reflected borders.
        """
        batch, height, width = images.shape
        pad = min(self.radius, height - 1, width - 1)
        padded = torch.nn.functional.pad(images[:, None].float(), (pad, pad, pad, pad), mode="reflect")[:, 0]
        spectra = self._spectra_cache(padded.shape[-2], padded.shape[-1])
        response = torch.fft.ifft2(torch.fft.fft2(padded)[:, None] * spectra[None])
        response = response[..., pad : pad + height, pad : pad + width]
        return torch.view_as_real(response).permute(0, 1, 4, 2, 3).reshape(batch, -1, height, width)

    def _spectra_cache(self, height: int, width: int) -> torch.Tensor:
        cache = self.__dict__.setdefault("_cache", {})
        if (height, width) not in cache:
            cache[(height, width)] = self._kernel_spectra(height, width)
        return cache[(height, width)]


def make_bank(name: str, settings: dict) -> GaborBank:
    """The filter bank named in the config (``bank.name``) with its settings."""
    if name == "gabor":
        return GaborBank(frequencies=list(settings["frequencies"]), n_orientations=int(settings["orientations"]))
    raise ValueError(f"unknown filter bank {name!r} (config key bank.name); known: gabor")
