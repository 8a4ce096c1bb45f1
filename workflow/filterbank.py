"""Filter banks whose response histograms describe an image's low-level statistics (paper, 3.1).

Two banks, both answering ``response_layers(images) -> [(B, R_l, H_l, W_l), ...]``, one tensor
per layer (a layer's responses share a resolution, and each response h weighs 1 / R_l in the
divergence):

**Gabor.** The bank holds ``len(frequencies) x orientations`` complex filters

    g(x, y) = 1 / (2 pi s^2) * exp(-(x^2 + y^2) / (2 s^2)) * exp(2 pi i f (x cos t + y sin t)),

with an isotropic envelope whose width s = 0.56 / f gives a one-octave bandwidth. The real and
imaginary parts of each filter's response count as separate responses, so the default bank
(4 scales x 6 orientations) yields 48 response maps per image. The low frequencies have wide
kernels (f = 0.05 spans 69 px), so responses are computed by FFT on a reflect-padded image.

A filter's spectrum is a Gaussian of width 1 / (2 pi s) = 0.28 f around its frequency, so its
response holds no frequency above 1.85 f (three widths). With ``pyramid`` (the default) each
scale is filtered on the image downsampled by the largest power of two d with 1.85 f d <= 1/2
(FFT cropping: an ideal low-pass), with the kernel of frequency f d: the response is sampled on
the coarsest grid that holds it without aliasing, and its histogram counts those samples. The
default bank filters f = 0.2 and 0.4 at full size, 0.1 at half and 0.05 at a quarter: 58% of
the response values and a fraction of the FFT work of filtering every scale at full size
(``pyramid: false``, the reference code's way).

**CNN.** The outputs of the first two convolution layers of a trained CNN (the paper uses
AlexNet's conv1 and conv2 "and their following nonlinear activation"): learned low-level
filters, on colour images. The network is torchvision's ImageNet AlexNet (``model: alexnet``,
a download the user asks for), or the run's own starting model (a checkpoint of ours, or
``imagenet`` / ``efficientnet-lite`` weights of ``arch``), so a machine without downloads uses
its pretrained backbone's stem. With ``activation`` each layer's response is taken where the
network's forward pass next applies a nonlinearity (after BatchNorm, where the network has it),
as the next layer sees it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .banks import with_defaults

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


BAND_EDGE = 1 + 3 / (2 * math.pi * ONE_OCTAVE)  # highest frequency of a response, in units of f


def fast_fft_size(n: int) -> int:
    """The smallest even 7-smooth integer >= n: FFTs of sizes with large prime factors are slow
    (on one x86 core a 74 x 74 transform takes 5x as long as an 80 x 80 one)."""
    while True:
        m = n
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        if m == 1 and n % 2 == 0:
            return n
        n += 1


def downsample(images: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, H, W) images low-passed and decimated by ``factor`` through their spectrum: (B, H//f, W//f).

    Keeping the lowest H//f x W//f frequencies and inverting at the small size is an ideal
    low-pass followed by taking every f-th pixel, so a band-limited image is sampled exactly.
    """
    if factor == 1:
        return images
    height, width = images.shape[-2] // factor, images.shape[-1] // factor
    spectrum = torch.fft.fft2(images)
    rows = torch.cat([torch.arange(height - height // 2), torch.arange(-(height // 2), 0)])
    cols = torch.cat([torch.arange(width - width // 2), torch.arange(-(width // 2), 0)])
    cropped = spectrum[:, rows][:, :, cols]
    return torch.fft.ifft2(cropped).real / factor**2


@dataclass
class GaborBank:
    """A bank of complex Gabor filters applied by FFT, scale by scale; see the module docstring."""

    frequencies: list[float]
    orientations: int
    pyramid: bool
    mode = "L"  # PIL mode of the images it filters: grayscale in [0, 1], (B, H, W)

    @property
    def angles(self) -> list[float]:
        return [math.pi * k / self.orientations for k in range(self.orientations)]

    @property
    def filters(self) -> list[tuple[float, float]]:
        """(frequency, angle) per complex filter, scales outermost."""
        return [(f, a) for f in self.frequencies for a in self.angles]

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

    def decimation(self, frequency: float, size: int) -> int:
        """The pyramid level of a scale: the largest power of two d with BAND_EDGE f d <= 1/2
        that leaves at least 8 px of an image ``size`` px on its shorter side (1 without pyramid)."""
        d = 1
        while self.pyramid and BAND_EDGE * frequency * 2 * d <= 0.5 and size // (2 * d) >= 8:
            d *= 2
        return d

    def responses(self, images: torch.Tensor, filters: list[tuple[float, float]] | None = None) -> torch.Tensor:
        """Filter responses of grayscale images at their full size.

        images: (B, H, W) float in [0, 1]; filters: (frequency, angle) pairs, the whole bank by
        default. Returns (B, 2F, H, W) float32: for filter k, channel 2k is the real part of
        image * g_k (a true convolution) and 2k+1 the imaginary. The image is reflect-padded by
        min(r, H-1, W-1) px (r: the widest kernel's radius) and the FFT grid rounded up to a fast
        size with more reflection, so kernels that fit in the padding give exactly the linear
        convolution with reflected borders.
        """
        filters = self.filters if filters is None else filters
        batch, height, width = images.shape
        radius = max(math.ceil(3 * ONE_OCTAVE / f) for f, _ in filters)
        pad = min(radius, height - 1, width - 1)
        grid_h = min(fast_fft_size(height + 2 * pad), 2 * height - 1 + pad)
        grid_w = min(fast_fft_size(width + 2 * pad), 2 * width - 1 + pad)
        padded = torch.nn.functional.pad(images[:, None].float(), (pad, grid_w - width - pad, pad, grid_h - height - pad),
                                         mode="reflect")[:, 0]
        spectra = self._spectra_cache(tuple(filters), grid_h, grid_w)
        response = torch.fft.ifft2(torch.fft.fft2(padded)[:, None] * spectra[None])
        response = response[..., pad : pad + height, pad : pad + width]
        return torch.view_as_real(response).permute(0, 1, 4, 2, 3).reshape(batch, -1, height, width)

    def response_layers(self, images: torch.Tensor) -> list[torch.Tensor]:
        """One (B, 2 orientations, H/d, W/d) tensor per scale, each at its pyramid level d."""
        size = min(images.shape[-2:])
        layers = []
        for frequency in self.frequencies:
            d = self.decimation(frequency, size)
            layers.append(self.responses(downsample(images.float(), d), [(frequency * d, a) for a in self.angles]))
        return layers

    def _spectra_cache(self, filters: tuple, height: int, width: int) -> torch.Tensor:
        """FFT of every kernel laid out on a (height, width) periodic grid: (F, height, width)."""
        cache = self.__dict__.setdefault("_cache", {})
        key = (filters, height, width)
        if key not in cache:
            y = torch.fft.fftfreq(height, 1 / height, dtype=torch.float64)[:, None].expand(height, width)
            x = torch.fft.fftfreq(width, 1 / width, dtype=torch.float64)[None, :].expand(height, width)
            kernels = []
            for frequency, angle in filters:
                sigma = ONE_OCTAVE / frequency
                kernels.append(_gabor(x, y, frequency, angle, sigma, math.ceil(3 * sigma)))
            cache[key] = torch.fft.fft2(torch.stack(kernels)).to(torch.complex64)
        return cache[key]


class _Enough(Exception):
    """Raised by the hook of the last wanted layer: the rest of the network is not needed."""


ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.LeakyReLU, nn.ELU, nn.Mish, nn.Tanh)


@dataclass
class CNNBank:
    """Responses of the first convolution layers of a trained CNN; see the module docstring.

    ``model`` is ``alexnet`` (torchvision's ImageNet AlexNet), library weights of ``arch``
    (``imagenet``, ``efficientnet-lite``) or a checkpoint path. ``layers`` names modules of the
    network; by default its first two ``Conv2d`` layers (AlexNet: features.0 and features.3;
    ResNet: conv1 and layer1.0.conv1; EfficientNet: conv_stem and blocks.0.0.conv_dw).
    ``activation`` takes each layer's response after the nonlinearity that follows it.
    """

    model: str
    arch: str
    layers: list[str] | None
    activation: bool
    mode = "RGB"  # colour images in [0, 1], (B, H, W, 3); the network normalises them

    def __post_init__(self):
        self.network = self._load().eval()
        modules = dict(self.network.backbone.named_modules())
        if self.layers is None:
            self.layers = [name for name, m in modules.items() if isinstance(m, nn.Conv2d)][:2]
        missing = [name for name in self.layers if name not in modules]
        if missing:
            raise ValueError(f"bank.cnn.layers: {missing} are not modules of the network; its convolutions are "
                             f"{[n for n, m in modules.items() if isinstance(m, nn.Conv2d)][:6]} ...")
        self._modules = [modules[name] for name in self.layers]
        self._taps = self._activation_taps() if self.activation else [(m, 0) for m in self._modules]
        self.layer_sizes = self._response_sizes()  # responses per layer: each weighs 1 / its layer's size

    def _load(self) -> nn.Module:
        from .model import build_model

        if self.model == "alexnet":
            return build_model("alexnet", {}, "imagenet")
        return build_model(self.arch, {}, self.model)

    @torch.no_grad()
    def _activation_taps(self) -> list[tuple[nn.Module, int]]:
        """(module, call number) of the first nonlinearity the forward pass applies after each layer.

        Found by tracing the calls of one forward pass, since a module may be called more than
        once (ResNet's blocks reuse one ReLU) and activations may live inside other modules
        (timm's BatchNormAct2d).
        """
        calls: list[nn.Module] = []
        hooks = [m.register_forward_hook(lambda m, i, o: calls.append(m)) for m in self.network.backbone.modules()
                 if m in self._modules or isinstance(m, ACTIVATIONS)]
        try:
            self.network.features(torch.zeros(1, 3, 64, 64))
        finally:
            for hook in hooks:
                hook.remove()
        taps = []
        for name, layer in zip(self.layers, self._modules):
            after = calls.index(layer) + 1
            following = [i for i in range(after, len(calls)) if isinstance(calls[i], ACTIVATIONS)]
            if not following:
                raise ValueError(f"bank.cnn.activation: no nonlinearity follows layer {name}")
            activation = calls[following[0]]
            taps.append((activation, calls[: following[0]].count(activation)))
        return taps

    def _response_sizes(self) -> list[int]:
        """Channels of each layer's response (any module with a (B, C, H, W) output: a
        convolution, a block of them, a normalisation), from one forward pass."""
        sizes = []
        for name, response in zip(self.layers, self.response_layers(torch.zeros(1, 64, 64, 3))):
            if response.dim() != 4:
                raise ValueError(f"bank.cnn.layers: {name} gives a {response.dim()}-D output, not a (B, C, H, W) map")
            sizes.append(response.shape[1])
        return sizes

    @torch.no_grad()
    def response_layers(self, images: torch.Tensor) -> list[torch.Tensor]:
        outputs: dict[int, torch.Tensor] = {}
        seen: dict[nn.Module, int] = {}

        def keep(module, inputs, output):
            call = seen[module] = seen.get(module, -1) + 1
            for i, tap in enumerate(self._taps):
                if tap == (module, call):
                    outputs[i] = output.clone()  # an in-place op later in the pass must not change it
            if len(outputs) == len(self._taps):
                raise _Enough

        hooks = [m.register_forward_hook(keep) for m in {m for m, _ in self._taps}]
        try:
            self.network.features(images.permute(0, 3, 1, 2).float())
        except _Enough:
            pass
        finally:
            for hook in hooks:
                hook.remove()
        return [outputs[i] for i in range(len(self._taps))]


FILTERS = {"gabor": GaborBank, "cnn": CNNBank}  # workflow/banks.py's rows: the settings are their fields


def make_bank(name: str, settings: dict) -> GaborBank | CNNBank:
    """The filter bank named in the config (``bank.names``) with its settings (``bank.<name>``,
    the defaults of its schema in workflow/banks.py for the keys it lacks)."""
    settings = with_defaults(name, settings)  # an unknown name is refused here, with the known ones
    if name not in FILTERS:  # a bank of the table without filters here is a bug
        raise ValueError(f"filter bank {name!r} is in workflow/banks.py but has no filters in workflow/filterbank.py")
    return FILTERS[name](**settings)
