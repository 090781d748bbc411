"""Choosing the device a model runs on, one way for the trainers and the command line."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """The device for `name`: "auto" is the first CUDA device when one is visible, else the CPU;
    "cpu", "cuda" and "cuda:N" are checked against what this machine has.

    Raises:
        ValueError: a name torch does not know, or a device this machine does not have (the message
            lists what it has).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"device {name!r} is not supported; expected auto, cpu, cuda or cuda:N")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ValueError(f"device {name!r} asked for, but no CUDA device is visible; use --device cpu (or auto)")
    if device.index is not None and device.index >= count:
        raise ValueError(f"device {name!r} does not exist: this machine has cuda:0 to cuda:{count - 1}")
    return device
