"""What the GPU benchmarks share: a device's peak memory bandwidth by name, waiting for queued GPU
work before a clock is read, and writing a benchmark's figures as JSON (`--json PATH`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

# Vendor datasheet figures, HBM bandwidth in GB/s (decimal), matched against
# `torch.cuda.get_device_name()` in this order (the first hit wins, so the longer names come first).
PEAK_BANDWIDTH_GBS = (
    ("GH200", None),  # 4.0 or 4.9 TB/s depending on its memory; not told apart by name
    ("H200", 4800.0),
    ("H100 PCIe", 2000.0),
    ("H100 NVL", 3900.0),
    ("H100", 3350.0),  # SXM: "NVIDIA H100 80GB HBM3"
    ("A100-SXM4-80GB", 2039.0),
    ("A100 80GB PCIe", 1935.0),
    ("A100-PCIE-40GB", 1555.0),
    ("A100-SXM4-40GB", 1555.0),
)


def peak_bandwidth_gbs(device_name: str) -> float | None:
    """The datasheet HBM/GDDR bandwidth (GB/s) of a GPU named `device_name`, None when unknown."""
    for key, value in PEAK_BANDWIDTH_GBS:
        if key.lower() in device_name.lower():
            return value
    return None


def device_name(device: torch.device | str) -> str:
    """`torch.cuda.get_device_name` for a CUDA device, "cpu" otherwise."""
    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def synchronize(device: torch.device | str) -> None:
    """Wait for the work queued on `device` (a no-op on the CPU), so that a wall clock read after it
    counts that work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def write_json(path: str | Path | None, data: Any) -> None:
    """Write `data` as indented JSON to `path` (parents made), or nothing when `path` is None."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
