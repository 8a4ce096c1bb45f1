"""The embedded demo: procedural texture images with a known right answer for retrieval.

Source classes are texture families at fixed parameters (fine and coarse gratings at four
orientations, small and large checkers and blobs, noise of three spectral slopes, fine and
coarse rings). Each target class is a texture of the same kind at a parameter *between* two
source classes (medium-frequency stripes at 45 degrees sit between the fine and the coarse
45-degree gratings), so it is related to two source classes and unrelated to the rest: ``relations.csv`` lists the related pairs and lets the report measure
retrieval precision. Every image mixes its texture with random colours, contrast, a faint
distractor texture and pixel noise, so that a few target images per class do not suffice.

Layout written under ``out``::

    source/<class>/<i>.png            the source pool (an ImageFolder)
    target/{train,test}/<class>/<i>.png
    relations.csv                     target_class, source_class
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .io import atomic_path


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(size, dtype=float), np.arange(size, dtype=float), indexing="xy")


def grating(rng, size, parameter):
    angle_deg, frequency = parameter
    x, y = _grid(size)
    theta = np.deg2rad(angle_deg + rng.uniform(-5, 5))
    freq = rng.uniform(*frequency)
    return np.sin(2 * np.pi * freq * (x * np.cos(theta) + y * np.sin(theta)) + rng.uniform(0, 2 * np.pi))


def checker(rng, size, period):
    x, y = _grid(size)
    p = rng.uniform(*period)
    ox, oy = rng.uniform(0, p, 2)
    return np.sign(np.sin(np.pi * (x + ox) / p) * np.sin(np.pi * (y + oy) / p))


def blobs(rng, size, sigma):
    x, y = _grid(size)
    s = rng.uniform(*sigma)
    n = max(2, int(rng.poisson(1.2 * size * size / (s * s * 16))))
    out = np.zeros((size, size))
    for cx, cy, sign in zip(rng.uniform(0, size, n), rng.uniform(0, size, n), rng.choice([-1, 1], n)):
        out += sign * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
    return out


def power_noise(rng, size, slope):
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    amplitude = radius ** -(slope + rng.uniform(-0.15, 0.15))
    amplitude[0, 0] = 0.0
    phase = np.exp(2j * np.pi * rng.uniform(size=(size, size)))
    return np.real(np.fft.ifft2(amplitude * phase))


def rings(rng, size, freq):
    x, y = _grid(size)
    cx, cy = rng.uniform(0, size, 2)
    f = rng.uniform(*freq)
    return np.sin(2 * np.pi * f * np.hypot(x - cx, y - cy) + rng.uniform(0, 2 * np.pi))


FINE, MEDIUM, COARSE = (0.2, 0.28), (0.12, 0.18), (0.06, 0.1)  # grating frequencies, cycles/px

# name: (generator, parameter)
SOURCE_CLASSES = {
    **{f"grating-{a:03d}-{n}": (grating, (a, f)) for a in (0, 45, 90, 135) for n, f in (("fine", FINE), ("coarse", COARSE))},
    "checker-small": (checker, (3.0, 5.0)),
    "checker-large": (checker, (10.0, 14.0)),
    "blobs-small": (blobs, (1.2, 2.0)),
    "blobs-large": (blobs, (4.0, 6.0)),
    "noise-white": (power_noise, 0.0),
    "noise-pink": (power_noise, 1.0),
    "noise-brown": (power_noise, 2.0),
    "rings-fine": (rings, FINE),
    "rings-coarse": (rings, COARSE),
}

# name: (generator, parameter, related source classes): a middle parameter between two sources
TARGET_CLASSES = {
    **{f"stripes-{a:03d}": (grating, (a, MEDIUM), [f"grating-{a:03d}-fine", f"grating-{a:03d}-coarse"]) for a in (0, 45, 90, 135)},
    "tiles": (checker, (6.0, 8.5), ["checker-small", "checker-large"]),
    "spots": (blobs, (2.5, 3.5), ["blobs-small", "blobs-large"]),
    "grain": (power_noise, 0.5, ["noise-white", "noise-pink"]),
    "clouds": (power_noise, 1.5, ["noise-pink", "noise-brown"]),
    "ripples": (rings, MEDIUM, ["rings-fine", "rings-coarse"]),
}


DISTRACTOR = 0.2  # largest weight of the distractor texture
CONTRAST = (0.6, 0.9)  # range of the texture's contrast


def _normalise(pattern: np.ndarray) -> np.ndarray:
    pattern = pattern - pattern.mean()
    return pattern / (np.abs(pattern).max() + 1e-8)


def render(rng: np.random.Generator, size: int, generator, parameter, noise: float) -> np.ndarray:
    """One RGB uint8 image: the texture in two random colours, a distractor and noise."""
    pattern = _normalise(generator(rng, size, parameter))
    distractor_gen, distractor_param = list(SOURCE_CLASSES.values())[rng.integers(len(SOURCE_CLASSES))]
    pattern = pattern + rng.uniform(0.0, DISTRACTOR) * _normalise(distractor_gen(rng, size, distractor_param))
    contrast = rng.uniform(*CONTRAST)
    gray = 0.5 + 0.5 * contrast * _normalise(pattern)
    dark, light = rng.uniform(0, 0.3, 3), rng.uniform(0.7, 1, 3)
    rgb = dark + (light - dark) * gray[..., None]
    rgb += rng.normal(0, noise, rgb.shape)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def _write_images(folder: Path, rng, count: int, size: int, generator, parameter, noise: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(render(rng, size, generator, parameter, noise)).save(folder / f"{i:04d}.png")


def generate(
    out: str | Path,
    seed: int = 0,
    image_size: int = 32,
    source_per_class: int = 60,
    train_per_class: int = 5,
    test_per_class: int = 20,
    noise: float = 0.06,
) -> None:
    """Write the demo source and target sets under ``out`` (deterministic for a seed)."""
    out = Path(out)
    for offset, (name, (generator, parameter)) in enumerate(SOURCE_CLASSES.items()):
        rng = np.random.default_rng([seed, 0, offset])
        _write_images(out / "source" / name, rng, source_per_class, image_size, generator, parameter, noise)
    for offset, (name, (generator, parameter, _)) in enumerate(TARGET_CLASSES.items()):
        for split_id, (split, count) in enumerate((("train", train_per_class), ("test", test_per_class))):
            rng = np.random.default_rng([seed, 1 + split_id, offset])
            _write_images(out / "target" / split / name, rng, count, image_size, generator, parameter, noise)
    relations = pd.DataFrame(
        [(t, s) for t, (_, _, related) in TARGET_CLASSES.items() for s in related],
        columns=["target_class", "source_class"],
    )
    with atomic_path(out / "relations.csv") as tmp:
        relations.to_csv(tmp, index=False)
