"""Mixed precision for both trainers and for encoding: which autocast a step runs under."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch

PRECISIONS = ("auto", "bf16", "fp32")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 dot products in hardware (AVX512-BF16 or AMX).

    Without them, bf16 autocast on CPU is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_precision(precision: str) -> None:
    """Raise ValueError unless `precision` is one of PRECISIONS (trainers check it at config load)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


def mixed_precision(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context a training step runs under.

    "auto" is bf16 on CUDA and on CPUs with native bf16 (a tiny-tokenizer step on this 2-core
    Zen 4 machine: 0.47 s against 0.82 s in float32), float32 elsewhere. Weights, optimizer state
    and losses stay float32 either way."""
    check_precision(precision)
    if precision == "auto":
        use_bf16 = device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())
    else:
        use_bf16 = precision == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)
