"""Strict loading of YAML presets and `key=value` overrides into nested config dataclasses.

A preset is a mapping whose top-level keys are the fields of a root dataclass (for example
`model` and `train`), each itself a dataclass. An unknown key or a value of the wrong type is a
`ConfigError` that names the dotted key, so a typo never silently trains the wrong model.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

_PRESETS = Path(__file__).parent


class ConfigError(ValueError):
    """A config file or override that does not fit its dataclass."""


def preset_path(name: str) -> Path:
    """Path of a shipped preset, e.g. `preset_path("tokenizer/tiny")`.

    Raises:
        ConfigError: no such preset ships with arvid.
    """
    path = _PRESETS / f"{name}.yaml"
    if not path.is_file():
        known = sorted(str(p.relative_to(_PRESETS).with_suffix("")) for p in _PRESETS.rglob("*.yaml"))
        raise ConfigError(f"no preset {name!r}; shipped presets: {', '.join(known)}")
    return path


def resolve_preset(config: str | Path, family: str) -> Path:
    """A YAML path as given, or the shipped preset `<family>/<config>` (e.g. "tiny" -> `lm/tiny.yaml`).

    Raises:
        ConfigError: neither a file nor a shipped preset.
    """
    path = Path(config)
    return path if path.suffix in (".yaml", ".yml") or path.exists() else preset_path(f"{family}/{config}")


def load_config(cls: type[T], path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> T:
    """Build `cls` from a YAML file (or its defaults when `path` is None) and `key=value` overrides.

    Overrides use dotted keys into nested dataclasses (`train.steps=100`) and YAML syntax for
    values (`model.channel_multipliers=[1,2,2]`).

    Raises:
        ConfigError: unknown key, wrong type, malformed override, or a file that is missing, empty,
            not text, not YAML or not a mapping (the message names the file).
    """
    path = None if path is None else Path(path)
    data = {} if path is None else _read_mapping(path)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r} is not of the form key=value")
        target = data
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                where = f" in {str(path)!r}" if path is not None else ""
                raise ConfigError(f"override {override!r}: {part!r} is {target!r}{where}, not a section")
        try:
            target[leaf] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"override {override!r}: the value is not valid YAML "
                              f"({getattr(err, 'problem', None) or 'malformed'})") from None
    try:
        return _build(cls, data, prefix="")
    except ConfigError as err:
        if path is None:
            raise
        if not overrides:
            raise ConfigError(f"{str(path)!r}: {err}") from None
        try:  # name the file when the mistake is in it, not in an override
            _build(cls, _read_mapping(path), prefix="")
        except ConfigError as in_file:
            raise ConfigError(f"{str(path)!r}: {in_file}") from None
        raise


def _read_mapping(path: Path) -> dict[str, Any]:
    """The mapping a YAML (or JSON) file holds; every way it can fail is a one-line ConfigError naming it."""
    if not path.is_file():
        if path.is_symlink() and not path.exists():
            raise ConfigError(f"config file {str(path)!r} is a broken symbolic link")
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(f"config file {str(path)!r} {what}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {str(path)!r} is not text (byte {err.start} is not UTF-8)") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {str(path)!r}: {err.strerror}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{where}: {problem}") from None
    if loaded is None:
        raise ConfigError(f"config file {str(path)!r} is empty; expected a mapping of settings")
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping, got {type(loaded).__name__}")
    return loaded


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON/YAML-ready data (tuples become lists), without the fields a
    config's `unused_fields()` names (settings its other choices make meaningless)."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            unused = value.unused_fields() if hasattr(value, "unused_fields") else ()
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                    if f.init and f.name not in unused}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(config)


def _build(cls: type[T], data: Any, prefix: str) -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f" in {prefix.rstrip('.')}" if prefix else ""
        raise ConfigError(f"unknown key {prefix + unknown[0]!r}{where}; known keys: {', '.join(sorted(fields))}")
    kwargs = {name: _coerce(hints[name], value, prefix + name) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {err}") from err


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check `value` against a type hint, converting lists to tuples and ints to floats."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: got {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        item = args[0] if args else Any
        items = [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        # PyYAML follows YAML 1.1, where `1e-3` (no dot) is a string, not a float.
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{key} must be a number, got {value!r}") from None
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{key} must be of type {hint.__name__}, got {value!r}")
    return value
