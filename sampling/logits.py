"""Turning next-token logits into a token: guidance, temperature, top-k, top-p, seeded sampling;
and `SamplerConfig`, the settings, which a model folder carries as its `generation_config.json`.

Einops legend: b rows, v vocabulary (here: the video codes only).
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from arvid.lm.checkpoint import GENERATION_CONFIG, VideoLM, read_generation_config


@dataclass(frozen=True, kw_only=True)
class SamplerConfig:
    """How tokens are drawn. `cfg_scale` 1 turns classifier-free guidance off; `temperature` 0 is
    greedy; `top_k` / `top_p` None keep every token; `window_frames` None uses the model's.

    These defaults are neutral (no guidance, no filtering, one first window); a model's own settings
    live in its folder's `generation_config.json` (`from_pretrained`, `from_model`), which
    `generate(..., config=None)`, `stream` and `arvid generate` use. Every field but `seed` is
    stored there: the seed is chosen per call.

    `first_window_temperature`, when set, replaces `temperature` for the latent frames drawn before
    the context first slides (indices 0, the anchor, to `window_frames`): there the motion must
    come from the text alone, and a colder draw keeps to the prompt's direction; later frames
    continue a motion the window already shows, where a cold draw tends to repeat the last frame
    and stall the object (docs/results/sampling.md).

    `switch_temperature`, when set, replaces `temperature` for the window of latent frames drawn
    after a prompt switch (the switch's frame and the `window_frames` - 1 after it), where the new
    motion must again come from the text (docs/results/sampling.md).

    `first_window_candidates` > 1 draws that many first windows and keeps the one that
    `first_window_selector` names (a key of `arvid.sampling.first_window.FIRST_WINDOW_SELECTORS`;
    "motion-medoid", tuned on the shapes world, keeps the one whose motion agrees most with the
    others'); drawn one after another the others cost time, not memory; drawn as one batch
    (`stream(batched_candidates=True)`, and always in `stream_batch`) they hold that many times the
    rows of KV cache while the first window is drawn.

    `first_window_choice_frames`, when set, ends the candidates early: each is drawn for that many
    latent frames of the first window (the anchor and given frames counted, at least one drawn),
    one is kept by its motion so far, and the rest of the first window is drawn for it alone. The
    first frame then waits for fewer candidate frames (docs/results/streaming_and_speed.md); None
    draws every candidate's whole first window."""

    temperature: float = 1.0
    first_window_temperature: float | None = None
    switch_temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    cfg_scale: float = 1.0
    window_frames: int | None = None
    first_window_candidates: int = 1
    first_window_selector: str = "motion-medoid"
    first_window_choice_frames: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _check_types(self)
        if not -2**63 <= self.seed < 2**64:  # what torch.Generator.manual_seed takes
            raise ValueError(f"seed must be in [-2**63, 2**64), got {self.seed}")
        object.__setattr__(self, "seed", int(self.seed))  # numpy's integers too: the generator takes Python's
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        for name in ("first_window_temperature", "switch_temperature"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.cfg_scale < 0:
            raise ValueError(f"cfg_scale must be >= 0, got {self.cfg_scale}")
        if self.first_window_candidates < 1:
            raise ValueError(f"first_window_candidates must be >= 1, got {self.first_window_candidates}")
        # Two latent frames are the fewest that show motion (the anchor alone is one video frame).
        if self.first_window_choice_frames is not None and self.first_window_choice_frames < 2:
            raise ValueError(f"first_window_choice_frames must be >= 2, got {self.first_window_choice_frames}")
        # Imported here: first_window imports this module for SamplerConfig and draw_code.
        from arvid.sampling.first_window import FIRST_WINDOW_SELECTORS

        if self.first_window_selector not in FIRST_WINDOW_SELECTORS:
            raise ValueError(f"first_window_selector must be one of {sorted(FIRST_WINDOW_SELECTORS)}, "
                             f"got {self.first_window_selector!r}")

    @property
    def guided(self) -> bool:
        """Whether classifier-free guidance is on (a scale other than 1)."""
        return self.cfg_scale != 1.0

    def window_for(self, trained: int) -> int:
        """The latent frames streamed after the anchor: `window_frames`, or the model's `trained` window
        when None (`is None`, not `or`: a window of 0 is an error to report, not a request for it)."""
        return trained if self.window_frames is None else self.window_frames

    def candidates_until(self, window: int, given: int) -> int:
        """Index of the last latent frame drawn for every first-window candidate, for a first window
        of latent frames 0 to `window` of which `given` are given: `window`, or earlier with
        `first_window_choice_frames`, but never before the first frame to draw."""
        if self.first_window_choice_frames is None:
            return window
        return min(window, max(self.first_window_choice_frames - 1, given))

    def first_window(self) -> SamplerConfig:
        """The config that draws the first window's frames (`first_window_temperature` applied)."""
        return self._at_temperature(self.first_window_temperature)

    def after_switch(self) -> SamplerConfig:
        """The config that draws the window after a prompt switch (`switch_temperature` applied)."""
        return self._at_temperature(self.switch_temperature)

    def _at_temperature(self, temperature: float | None) -> SamplerConfig:
        return self if temperature is None else replace(self, temperature=temperature)

    def to_dict(self) -> dict[str, Any]:
        """The settings a generation_config.json holds: every field but `seed`, JSON-ready."""
        return {name: getattr(self, name) for name in _stored_fields()}

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write `to_dict()` as `folder/generation_config.json` (an LM folder); returns its path.

        Raises:
            FileNotFoundError: `folder` does not exist.
        """
        path = Path(folder) / GENERATION_CONFIG
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = GENERATION_CONFIG) -> SamplerConfig:
        """A config from stored settings (`to_dict`'s keys; a missing key keeps its default, `seed` 0).

        Raises:
            ValueError: an unknown key, a value of the wrong type, or one out of range; the message
                starts with `source` (the file) and names the key.
        """
        hints = _field_hints()
        stored = _stored_fields()
        checked = {}
        for key, value in values.items():
            if key not in stored:
                why = " (the seed is chosen per call, not stored)" if key == "seed" else ""
                raise ValueError(f"{source}: unknown key {key!r}{why}; expected some of {', '.join(stored)}")
            checked[key] = _check_value(key, value, hints[key], source)
        try:
            return cls(**checked)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None

    @classmethod
    def from_pretrained(cls, path: str | Path) -> SamplerConfig:
        """The generation config of an LM folder, or of a model folder's `lm/`; a folder without
        generation_config.json gets the defaults, `SamplerConfig()`.

        Raises:
            FileNotFoundError: `path` is not a folder.
            ValueError: the file is not a JSON object, or has an unknown key or a bad value (the
                message names the file and the key).
        """
        folder = Path(path)
        if (folder / "lm").is_dir():
            folder = folder / "lm"
        if not folder.is_dir():
            raise FileNotFoundError(f"model folder {str(path)!r} does not exist")
        values = read_generation_config(folder)
        return cls() if values is None else cls.from_dict(values, source=str(folder / GENERATION_CONFIG))

    @classmethod
    def from_model(cls, lm: VideoLM) -> SamplerConfig:
        """The generation config `lm` was loaded with (`VideoLM.from_pretrained`), or the defaults.

        Raises:
            ValueError: as `from_dict`, naming the LM folder's file.
        """
        if lm.generation_config is None:
            return cls()
        source = str(lm.folder / GENERATION_CONFIG) if lm.folder is not None else GENERATION_CONFIG
        return cls.from_dict(lm.generation_config, source=source)


@functools.cache
def _field_hints() -> dict[str, Any]:
    return typing.get_type_hints(SamplerConfig)


def _stored_fields() -> tuple[str, ...]:
    return tuple(field.name for field in fields(SamplerConfig) if field.name != "seed")


def _accepts(hint: Any, value: Any) -> bool:
    """Whether a field of type `hint` takes `value`: an integer (not a bool) where an int goes, a
    finite real number (an integer too) where a float goes, a string where a str goes, None only
    where the hint allows it."""
    allowed = typing.get_args(hint) or (hint,)
    if value is None or isinstance(value, bool):
        return value is None and type(None) in allowed
    if int in allowed and isinstance(value, numbers.Integral):
        return True
    if float in allowed and isinstance(value, numbers.Real):
        try:
            return math.isfinite(value)
        except OverflowError:  # an integer too large for a float
            return False
    return str in allowed and isinstance(value, str)


def _expected(hint: Any, names: dict) -> str:
    """What a field of type `hint` takes, in words (`names`: of each type)."""
    return " or ".join(names[kind] for kind in typing.get_args(hint) or (hint,))


_PYTHON_NAMES = {float: "a finite number", int: "an integer", str: "a string", type(None): "None"}
_JSON_NAMES = {float: "a number", int: "an integer", str: "a string", type(None): "null"}


def _check_types(config: SamplerConfig) -> None:
    """Raise `ValueError` naming the first field whose value its type does not take (`_accepts`)."""
    for name, hint in _field_hints().items():
        if not _accepts(hint, getattr(config, name)):
            raise ValueError(f"{name} must be {_expected(hint, _PYTHON_NAMES)}, got {getattr(config, name)!r}")


def _check_value(key: str, value: Any, hint: Any, source: str) -> Any:
    """`value` if JSON gave it a type `hint` takes (an int where a float goes becomes a float)."""
    if not _accepts(hint, value):
        raise ValueError(f"{source}: {key} must be {_expected(hint, _JSON_NAMES)}, got {json.dumps(value)}")
    allowed = typing.get_args(hint) or (hint,)
    return float(value) if float in allowed and int not in allowed and value is not None else value


def guide(conditional: Tensor, unconditional: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance: unconditional + scale * (conditional - unconditional), in float32;
    rows (b v) each, -> (b v)."""
    conditional, unconditional = conditional.float(), unconditional.float()
    return unconditional + scale * (conditional - unconditional)


def filter_logits(logits: Tensor, *, top_k: int | None, top_p: float | None) -> Tensor:
    """Set to -inf every logit (b v) outside the top `top_k` and outside the smallest set whose
    probability reaches `top_p` (the most likely token always stays); -> (b v)."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the tokens before it already reach top_p.
        drop_sorted = (cumulative - sorted_logits.softmax(-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample(logits: Tensor, config: SamplerConfig, generator: torch.Generator) -> Tensor:
    """One token index per row of `logits` (b v) -> (b) int64.

    With `top_k`, the draw is made among the k largest logits alone: the distribution of masking
    the rest out (`filter_logits`), but for logits tied with the k-th, which `filter_logits` keeps
    and this drops. It saves drawing over the whole vocabulary (4096 codes: 94 against 21 us a row,
    docs/results/streaming_and_speed.md)."""
    if config.temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / config.temperature
    if config.top_k is not None and config.top_k < logits.shape[-1]:
        top, indices = torch.topk(logits, config.top_k, dim=-1)
        top = filter_logits(top, top_k=None, top_p=config.top_p)
        return indices.gather(-1, torch.multinomial(top.softmax(-1), 1, generator=generator)).squeeze(-1)
    logits = filter_logits(logits, top_k=None, top_p=config.top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


def draw_codes(logits: Tensor, config: SamplerConfig, generator: torch.Generator) -> Tensor:
    """One video code per stream (s) int64 from a context's last logits (b v), rows stream-major:
    each stream's prompt row, and under guidance its empty prompt's row after it, guided by
    `config.cfg_scale`, then drawn by `sample` (one draw from `generator` for all streams)."""
    if config.guided:
        logits = guide(logits[0::2], logits[1::2], config.cfg_scale)
    return sample(logits, config, generator)


def draw_code(logits: Tensor, config: SamplerConfig, generator: torch.Generator) -> Tensor:
    """One video code () int64 from a one-stream context's last logits (b v): row 0 the prompt's,
    and under guidance row 1 the empty prompt's (`draw_codes` for one stream)."""
    return draw_codes(logits, config, generator)[0]
