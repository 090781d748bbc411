"""Checkpoint folders written atomically: `config.json` plus `*.safetensors`, never pickles.

A folder is written under a temporary name and swapped in by renames, so a crash or Ctrl-C at
any moment leaves either the old checkpoint or the new one, never a half-written mix. If a crash
falls between the two renames, `resolve_checkpoint` finds the previous folder under `<name>.old`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from arvid.configs import ConfigError, load_config, to_dict


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on normal exit it replaces `path`.

    On an exception the temporary folder is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(staging, path)
    shutil.rmtree(old, ignore_errors=True)


def resolve_checkpoint(path: str | Path) -> Path:
    """The folder to load for `path`: itself, or `<path>.old` left by a crash mid-swap.

    Raises:
        FileNotFoundError: neither exists.
    """
    path = Path(path)
    for candidate in (path, path.with_name(path.name + ".old")):
        if (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(f"no checkpoint at {str(path)!r} (expected a folder with config.json and *.safetensors)")


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """safetensors refuses shared or strided storage, so store contiguous copies."""
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


def load_tensors(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    return load_file(str(path), device=str(device))


def optimizer_state_to_files(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into tensors (for safetensors) and JSON-ready metadata."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param_id}.{name}"] = value
            else:
                scalars.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_state_from_files(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `optimizer_state_to_files`. Parameters are keyed by index (`optimizer.state_dict()`)
    or by dotted name (`torch.distributed.checkpoint`'s full state dicts); state names have no dots."""
    state: dict[int | str, dict[str, Any]] = {}
    for key, value in tensors.items():
        param_id, name = key.rsplit(".", 1)
        state.setdefault(_param_key(param_id), {})[name] = value
    for param_id, entries in meta["scalars"].items():
        state.setdefault(_param_key(param_id), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}


def _param_key(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def load_module_weights(module: torch.nn.Module, folder: str | Path, config: Any) -> None:
    """Load `folder/model.safetensors` into `module` after checking that `folder/config.json`
    describes `config` (the module's own config dataclass), onto the module's device.

    The saved file is read with `load_config` into the same dataclass, so a field added after the
    checkpoint was written takes its default there, and a saved value that differs is refused.

    Raises:
        ValueError: another architecture (names the first differing key), or weights that do not fit.
    """
    folder = resolve_checkpoint(folder)
    try:
        saved = to_dict(load_config(type(config), folder / "config.json"))
    except ConfigError as err:
        raise ValueError(f"checkpoint {str(folder)!r} is another architecture: {err}") from err
    expected = to_dict(config)
    diff = sorted(k for k in expected if saved[k] != expected[k])  # one dataclass: the same keys
    if diff:
        raise ValueError(f"checkpoint {str(folder)!r} is another architecture: {diff[0]} is "
                         f"{saved[diff[0]]!r} there and {expected[diff[0]]!r} here")
    device = next(module.parameters()).device
    missing, unexpected = module.load_state_dict(load_tensors(folder / "model.safetensors", device), strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint {str(folder)!r} does not match the model: "
                         f"missing {missing[:3]}, unexpected {unexpected[:3]}")
