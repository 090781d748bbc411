"""How well a shapes-world video matches its prompt, and how that holds up over time.

The prompt's attributes are read from its words (`arvid.shapes.world.parse_caption`) and the
video's by the analytic detector (`arvid.shapes.detector`), window by window: a window of 16
frames is what the detector's direction fit is validated on. The first window scores everything
the prompt names; every window scores what must survive a long stream (shape, colour, size, and
that the object still moves; its direction legitimately changes at each bounce).

Layout at this I/O edge: video `t h w c` uint8 RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from arvid.shapes.detector import DEFAULT_CONFIG, DetectorConfig, VideoDetection, detect
from arvid.shapes.world import (
    ATTRIBUTE_NAMES,
    N_PHRASINGS,
    SPEEDS,
    ShapeAttributes,
    allowed_backgrounds,
    attribute_combinations,
    caption,
    is_held_out,
    parse_caption,
)
from arvid.data.frames import check_frames


WINDOW_FRAMES = 16
"""Frames per scoring window (the detector reads direction from 16 frames without a bounce)."""

FIRST_WINDOW_ATTRIBUTES = ("shape", "colour", "size", "direction")
"""What the first window must match (issue 6's first-16-frames target)."""

LASTING_ATTRIBUTES = ("shape", "colour", "size")
"""What every later window must still match, besides moving."""


@dataclass(frozen=True)
class WindowScore:
    """One window of frames [start, start + frames).

    readings: the detector's summary for the window, keyed by ATTRIBUTE_NAMES (None = unreadable).
    correct: for each attribute the prompt names, whether the reading equals it.
    moving: whether the object moves (median centroid step >= the detector's min_speed).
    """

    start: int
    frames: int
    readings: dict[str, str | None]
    correct: dict[str, bool]
    moving: bool

    def holds(self, names: tuple[str, ...]) -> bool:
        """Whether every attribute of `names` was read as the prompt says (all must be named)."""
        return all(self.correct[name] for name in names)


@dataclass(frozen=True)
class PromptMatch:
    """Windows of a video scored against a prompt's attributes (`expected`)."""

    expected: dict[str, str]
    windows: list[WindowScore]

    @property
    def first_window_match(self) -> bool | None:
        """The first window has the prompt's shape, colour, size and direction; None when the
        prompt does not name all four (a vaguer prompt would pass on fewer readings)."""
        if not set(FIRST_WINDOW_ATTRIBUTES) <= set(self.expected):
            return None
        return self.windows[0].holds(FIRST_WINDOW_ATTRIBUTES)

    @property
    def last_window_match(self) -> bool | None:
        """The last window still has the prompt's shape, colour and size, and the object moves;
        None when the prompt does not name all three."""
        if not set(LASTING_ATTRIBUTES) <= set(self.expected):
            return None
        last = self.windows[-1]
        return last.holds(LASTING_ATTRIBUTES) and last.moving

    def accuracy_over_time(self) -> np.ndarray:
        """(windows,) float: the share of LASTING_ATTRIBUTES (that the prompt names) read right."""
        named = [name for name in LASTING_ATTRIBUTES if name in self.expected]
        if not named:
            return np.full(len(self.windows), np.nan)
        return np.array([np.mean([window.correct[name] for name in named]) for window in self.windows])


def _is_moving(detection: VideoDetection, frame_size: int, config: DetectorConfig) -> bool:
    """Median step of the centroid between consecutive frames where the object is seen, against
    the detector's still threshold. Steps, not a line fit: a bounce inside the window reverses the
    track, and a fitted slope across it can be near zero for an object that never stopped."""
    seen = detection.present
    both = seen[1:] & seen[:-1]
    if not both.any():
        return False
    steps = np.linalg.norm(np.diff(detection.centroids.astype(np.float64), axis=0), axis=1)[both]
    return bool(np.median(steps) >= config.min_speed * frame_size / 64.0)


def score_window(video: np.ndarray, expected: dict[str, str], *, start: int = 0,
                 config: DetectorConfig = DEFAULT_CONFIG) -> WindowScore:
    """Score one window of frames (all of `video`) against `expected` attribute values.

    Args:
        video: uint8 (t h w 3) RGB, the window's frames.
        expected: attribute name -> value, a subset of ATTRIBUTE_NAMES.
        start: index of the window's first frame in the whole video (recorded only).
    """
    unknown = set(expected) - set(ATTRIBUTE_NAMES)
    if unknown:
        raise ValueError(f"unknown attributes {sorted(unknown)}; expected names from {ATTRIBUTE_NAMES}")
    detection = detect(video, config=config)
    readings = detection.attributes()
    correct = {name: readings[name] == value for name, value in expected.items()}
    moving = _is_moving(detection, min(video.shape[1:3]), config)
    return WindowScore(start=start, frames=len(video), readings=readings, correct=correct, moving=moving)


def match_prompt(video: np.ndarray, prompt: str | dict[str, str], *, window: int = WINDOW_FRAMES,
                 config: DetectorConfig = DEFAULT_CONFIG) -> PromptMatch:
    """Score every window of `window` frames of a video against a prompt.

    Args:
        video: uint8 (t h w 3) RGB, t >= 2. A last partial window of at least half a window is
            scored; a shorter tail is dropped (too few frames for a motion reading).
        prompt: a caption (its attributes are parsed) or an attribute dict.
    Raises:
        ValueError: a malformed video, or a prompt that names no shapes-world attribute.
    """
    video = check_frames(video, 4, "video")
    if len(video) < 2:
        raise ValueError(f"prompt matching needs at least 2 frames, got {len(video)}")
    expected = parse_caption(prompt) if isinstance(prompt, str) else dict(prompt)
    if not expected:
        raise ValueError(f"the prompt {prompt!r} names no shapes-world attribute to score")
    starts = [start for start in range(0, len(video), window) if len(video) - start >= max(2, window // 2)] or [0]
    windows = [score_window(video[start : start + window], expected, start=start, config=config) for start in starts]
    return PromptMatch(expected=expected, windows=windows)


class EvaluationPrompt(NamedTuple):
    """A prompt of an evaluation set: its caption, the attributes it was written from, and
    whether its (shape, colour, size, direction) combination was held out of training."""

    prompt: str
    attrs: ShapeAttributes
    held_out: bool


def evaluation_prompts(split: str = "all", *, per_combination: int = 1, seed: int = 0) -> list[EvaluationPrompt]:
    """Prompts covering every (shape, colour, size, direction) combination of a split.

    Each combination gets `per_combination` prompts; each draws its speed and an allowed
    background with a generator seeded by `seed`, and the caption phrasings take turns, so the
    set is fixed for a given seed.

    Raises:
        ValueError: an unknown split, or per_combination < 1.
    """
    if per_combination < 1:
        raise ValueError(f"per_combination must be >= 1, got {per_combination}")
    quadruples = sorted({attrs.combination for attrs in attribute_combinations(split)})
    rng = np.random.default_rng(seed)
    prompts = []
    for shape, colour, size, direction in quadruples:
        for _ in range(per_combination):
            backgrounds = allowed_backgrounds(colour)
            attrs = ShapeAttributes(shape, colour, size, direction, SPEEDS[int(rng.integers(len(SPEEDS)))],
                                    backgrounds[int(rng.integers(len(backgrounds)))])
            prompts.append(EvaluationPrompt(caption(attrs, len(prompts) % N_PHRASINGS), attrs, is_held_out(attrs)))
    return prompts
