"""Checkpoint folders written atomically: `config.json` plus `*.safetensors`, never pickles.

A folder is written under a temporary name (`.<name>.XXXX`, a "staging" folder) and swapped in by
renames, so a crash, Ctrl-C or kill -9 at any moment leaves either the old checkpoint or the new
one, never a half-written mix; the new folder's files reach the disk before the renames (fsync), so
a machine that loses power keeps one whole too. If a crash falls between the two renames, `resolve_checkpoint` finds
the previous folder under `<name>.old`; a staging folder a crash left behind is removed by
`remove_stale_staging` (the training loop calls it when a run starts).

Loading refuses what it cannot read with a `ValueError` (or `FileNotFoundError`) that names the
file: a truncated or corrupt safetensors file, weights of another shape than the config says.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from arvid.configs import ConfigError, load_config, to_dict

# Staging folders are hidden (`.checkpoint.XXXX`), so a listing shows only whole checkpoints.
_STAGING_PREFIX = "."


@contextlib.contextmanager
def atomic_folder(path: str | Path, *, replaces: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on normal exit it replaces `path`.

    A folder already at `path` that holds anything is replaced only where `replaces(path)` says it
    is one this writer may replace (say, a checkpoint it wrote: `holds_only`); None: only an empty
    folder is. So a save into a folder of the user's own files is refused before any work, never
    swapped away with them.

    The folder and its files get the permissions a plain `mkdir` and `open` would give (the umask's):
    the temporary folder is made owner-only, and safetensors writes owner-only files, which would
    keep a checkpoint from the other users of a shared machine.

    On an exception the temporary folder is removed and `path` is left as it was. Killed outright
    (no exception), it leaves the staging folder `.<name>.XXXX` beside `path` and, at every moment,
    a whole folder at `path` or, between the two renames, at `<path>.old`.

    Raises:
        NotADirectoryError: `path` exists and is not a folder (a file is never replaced by a folder).
        FileExistsError: `path` holds files that `replaces` does not allow to replace (names one).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{str(path)!r} is a file; expected a folder (or nothing) there")
    _check_replaceable(path, replaces)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{path.name}.", dir=path.parent))
    try:
        yield staging
        _umask_permissions(staging)
        _sync_to_disk(staging)  # else a power cut may keep the renames below but not the files' data
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:  # again: files may have come during a long write (hours of token shards)
        _check_replaceable(path, replaces)
    except FileExistsError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = _old(path)
    if path.exists():
        # `path` is whole, so an `.old` beside it (a crash's leftover, perhaps half deleted) is not needed.
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    # Else `.old`, if there is one, is the only whole copy: it stays until the new folder is in place.
    os.replace(staging, path)
    _sync_folder_entries(path.parent)  # the renames on disk before the only other whole copy goes
    shutil.rmtree(old, ignore_errors=True)


def _sync_to_disk(folder: Path) -> None:
    """fsync every file under `folder`, then the folders themselves (their entries)."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            _fsync(os.path.join(root, name), os.O_RDONLY)
        _sync_folder_entries(Path(root))


def _sync_folder_entries(folder: Path) -> None:
    """fsync a folder, so that files made, renamed or removed in it stay so after a crash (where the
    system lets a folder be opened for that; not on Windows)."""
    with contextlib.suppress(OSError):
        _fsync(str(folder), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _fsync(path: str, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def holds_only(names: Collection[str]) -> Callable[[Path], bool]:
    """A `replaces` test for `atomic_folder`: a folder whose entries are all files among `names`
    (the files this kind of folder is written with)."""
    def test(folder: Path) -> bool:
        return all(entry.name in names and entry.is_file() for entry in folder.iterdir())

    test.names = frozenset(names)  # what the refusal leaves out when it names a file
    return test


def _check_replaceable(path: Path, replaces: Callable[[Path], bool] | None) -> None:
    """Raise FileExistsError where a folder at `path` holds anything `replaces` does not allow."""
    held = sorted(entry.name for entry in path.iterdir()) if path.is_dir() else []
    if not held or (replaces is not None and replaces(path)):
        return
    foreign = [name for name in held if name not in getattr(replaces, "names", ())] or held
    raise FileExistsError(f"{str(path)!r} holds other files ({foreign[0]!r}{', ...' if len(foreign) > 1 else ''}), "
                          f"which saving there would replace: choose another folder, or empty it")


def _umask() -> int:
    """The process's umask, read from /proc (Linux) without changing it; elsewhere by setting it and
    putting it back at once (a signal between the two could leave it changed: only off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _umask_permissions(folder: Path) -> None:
    """Give `folder`, its subfolders and its files the modes the process's umask gives new ones."""
    umask = _umask()
    os.chmod(folder, 0o777 & ~umask)
    for root, folders, files in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), 0o777 & ~umask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~umask)


def _old(path: Path) -> Path:
    return path.with_name(path.name + ".old")


def remove_stale_staging(path: str | Path) -> list[Path]:
    """Remove what a process killed inside `atomic_folder(path)` left beside `path`: staging
    folders (`.<name>.XXXX`) and, when `path` itself is whole, `<path>.old`. Call it only when no
    other process writes `path`. Returns the folders removed."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = [p for p in path.parent.glob(f"{_STAGING_PREFIX}{path.name}.*") if p.is_dir() and not p.is_symlink()]
    if (path / "config.json").is_file() and _old(path).is_dir():
        stale.append(_old(path))
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


def resolve_checkpoint(path: str | Path) -> Path:
    """The folder to load for `path`: itself, or `<path>.old` left by a crash mid-swap.

    Raises:
        FileNotFoundError: neither holds a checkpoint; the message says what is there instead
            (nothing, a file, a broken link, a folder without config.json).
    """
    path = Path(path)
    for candidate in (path, _old(path)):
        if (candidate / "config.json").is_file():
            return candidate
    expected = "expected a folder with config.json and *.safetensors"
    if path.is_symlink() and not path.exists():
        found = f"{str(path)!r} is a broken symbolic link (to {os.readlink(path)!r})"
    elif path.is_file():
        found = f"{str(path)!r} is a file"
    elif (path / "config.json").is_dir():
        found = f"{str(path / 'config.json')!r} is a folder"
    elif path.is_dir() and (path / "checkpoint" / "config.json").is_file():
        inside = str(path / "checkpoint")
        found = f"folder {str(path)!r} has no config.json (a training run's folder? its checkpoint is {inside!r})"
    elif path.is_dir() and (parts := [repr(str(path / part)) for part in ("lm", "tokenizer")
                                      if (path / part / "config.json").is_file()]):
        found = f"folder {str(path)!r} has no config.json (a model's folder? its parts are {', '.join(parts)})"
    elif path.is_dir():
        found = f"folder {str(path)!r} has no config.json"
    else:
        found = f"{str(path)!r} does not exist"
    raise FileNotFoundError(f"no checkpoint: {found}; {expected}")


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """safetensors refuses shared or strided storage, so store contiguous copies."""
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


def load_tensors(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, on `device`.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file is not a valid safetensors file (truncated, corrupt, not safetensors
            at all); the message names it.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "is missing"
        raise FileNotFoundError(f"{str(path)!r} {what}; expected a safetensors file of weights")
    try:
        return load_file(str(path), device=str(device))
    except SafetensorError as err:
        raise ValueError(f"{str(path)!r} is not a valid safetensors file (truncated or corrupt): {err}") from None


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


def optimizer_state_from_files(tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                               settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Inverse of `optimizer_state_to_files`. Parameters are keyed by index (`optimizer.state_dict()`)
    or by dotted name (`torch.distributed.checkpoint`'s full state dicts); state names have no dots.

    `settings` (say lr, betas, weight_decay: the run's config) replace the saved ones in every
    parameter group: loading a state dict sets the optimizer's settings to those saved with it, so
    that settings changed on a resume would otherwise never take effect."""
    state: dict[int | str, dict[str, Any]] = {}
    for key, value in tensors.items():
        param_id, name = key.rsplit(".", 1)
        state.setdefault(_param_key(param_id), {})[name] = value
    for param_id, entries in meta["scalars"].items():
        state.setdefault(_param_key(param_id), {}).update(entries)
    return {"state": state, "param_groups": [{**group, **(settings or {})} for group in meta["param_groups"]]}


def _param_key(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def load_module_weights(module: torch.nn.Module, folder: str | Path, config: Any, *,
                        grown: dict[str, tuple[str, ...]] | None = None) -> None:
    """Load `folder/model.safetensors` into `module` after checking that `folder/config.json`
    describes `config` (the module's own config dataclass), onto the module's device.

    The saved file is read with `load_config` into the same dataclass, so a field added after the
    checkpoint was written takes its default there, and a saved value that differs is refused,
    except a feature of `grown` (a boolean field -> the parameters it adds) that is off there and
    on here: the checkpoint then starts the grown module, whose added parameters keep their
    initial values (fine-tuning a model into one with the feature).

    Raises:
        FileNotFoundError: no checkpoint folder, or no model.safetensors in it.
        ValueError: another architecture (names the first differing key), or weights that do not fit
            (a missing, unexpected or wrongly shaped tensor; a truncated or corrupt file); the message
            names the file.
    """
    folder = resolve_checkpoint(folder)
    try:
        saved = to_dict(load_config(type(config), folder / "config.json"))
    except ConfigError as err:
        raise ValueError(f"checkpoint {str(folder)!r} is another architecture: {err}") from err
    expected = to_dict(config)
    grown = grown or {}
    turned_on = {k for k in grown if expected.get(k) is True and saved.get(k) is False}
    added = {name for field in turned_on for name in grown[field]}
    # Over both configs' keys: a config leaves out the fields its other choices make unused (`to_dict`).
    diff = sorted((k for k in {*expected, *saved} if saved.get(k) != expected.get(k) and k not in turned_on),
                  key=lambda k: (k not in saved or k not in expected, k))  # one both have first: "quantizer"
    if diff:
        key = diff[0]
        there, here = (repr(config[key]) if key in config else "unset" for config in (saved, expected))
        raise ValueError(f"checkpoint {str(folder)!r} is another architecture: {key} is {there} there and {here} here")
    device = next(module.parameters()).device
    weights = folder / "model.safetensors"
    tensors = load_tensors(weights, device)
    # Shapes first: load_state_dict reports a mismatch as a many-line RuntimeError.
    own = module.state_dict()
    misshapen = [f"{name} {tuple(tensor.shape)} (the model's: {tuple(own[name].shape)})"
                 for name, tensor in tensors.items() if name in own and tensor.shape != own[name].shape]
    if misshapen:
        raise ValueError(f"{str(weights)!r} does not fit the model of its config.json: {misshapen[0]}"
                         + (f" and {len(misshapen) - 1} more" if len(misshapen) > 1 else ""))
    missing, unexpected = module.load_state_dict(tensors, strict=False)
    missing = [name for name in missing if name not in added]
    if missing or unexpected:
        raise ValueError(f"{str(weights)!r} does not match the model of its config.json: "
                         f"missing {missing[:3]}, unexpected {unexpected[:3]}")
