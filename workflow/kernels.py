"""How a fit computes on its device: autocast precision, fp16's loss scaler, cuDNN's autotuner.

On a GPU, bfloat16 autocast roughly doubles ResNet throughput with fp32's range (no loss
scaling), so ``precision: auto`` picks it where the device supports it; float16 needs a loss
scaler (gradients below its smallest normal would vanish). On the CPU ``auto`` is fp32: the
CPU runs stay bit for bit what they were. The weights, the optimizer's state, DTNH's inner
products and the regularizers' penalties stay in float32 whatever the precision.
"""

from __future__ import annotations

import contextlib
import os

import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a ``train.precision`` setting on ``device`` (None: plain fp32)."""
    if precision == "auto":  # bf16 tensor cores came with compute capability 8.0 (A100); older GPUs emulate it
        supported = device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)
        return torch.bfloat16 if supported else None
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision is {precision!r}; known: auto, {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """The forward pass's autocast context (a no-op for fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def memory_format(device: torch.device) -> torch.memory_format:
    """The layout of the network's weights on ``device``: channels-last on CUDA, where its convolution
    kernels are fastest in it (the batches follow: ``loading.to_device``), unchanged elsewhere."""
    return torch.channels_last if device.type == "cuda" else torch.preserve_format


def loss_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler | None:
    """fp16's dynamic loss scaler; None for the precisions that need none."""
    return torch.amp.GradScaler(device.type) if dtype == torch.float16 else None


def configure(device: torch.device, deterministic: bool) -> None:
    """cuDNN's autotuner and TF32 matrix products, unless the run asked for deterministic kernels.

    The autotuner picks the fastest convolution algorithm per input shape (training batches have
    one shape), at the price of run-to-run differences; ``deterministic`` asks for kernels that
    give the same result every run instead (slower), and full fp32 products. TF32 (10-bit
    mantissas in fp32 products on Ampere and newer) goes with the speed side, as torch's own
    default for convolutions does: ``precision: fp32`` on such a GPU is TF32 unless deterministic.
    Nothing changes on the CPU.
    """
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.allow_tf32 = not deterministic
    torch.backends.cuda.matmul.allow_tf32 = not deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it for determinism
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
