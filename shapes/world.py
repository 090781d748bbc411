"""The shapes world: procedural text-to-video data with per-frame ground truth.

One object (a shape with a colour and a size) moves over a solid background in one of eight
directions at one of two speeds, and bounces off the walls forever. Every clip comes with the
object's per-frame position and velocity, and captions are written from its attributes in several
phrasings, so a generated video can be scored against its prompt (see `arvid.shapes.detector`).

Layout at this I/O edge: video `t h w c` uint8 RGB; positions and velocities `t 2` float32 as
(x, y) in pixels, x to the right and y down (screen "up" is decreasing y). Pixel (row i, column j)
covers the square [j, j + 1] x [i, i + 1], so its centre is (j + 0.5, i + 0.5).

Numbers are given for a 64 x 64 frame; radii and speeds scale with the frame size.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

FPS = 8
"""Frames per second of every shapes clip; it only matters for metadata and file export."""

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow", "cyan", "magenta", "orange", "white")
BACKGROUNDS = ("black", "white", "gray", "navy")
SIZES = ("small", "large")
DIRECTIONS = ("right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right")
SPEEDS = ("slow", "fast")

ATTRIBUTE_NAMES = ("shape", "colour", "size", "direction", "speed", "background")

# Saturated colours kept a little inside [0, 255]: additive noise on a generated or corrupted
# video is then not clipped on one side only, which would bias a detector's colour estimate.
# The closest object pair is yellow/orange at RGB distance 93, far above what blur or noise moves
# the median colour of an object's interior.
COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30),
    "green": (20, 190, 20),
    "blue": (40, 80, 250),
    "yellow": (240, 230, 30),
    "cyan": (30, 220, 230),
    "magenta": (220, 40, 220),
    "orange": (250, 140, 10),
    "white": (245, 245, 245),
}
BACKGROUND_RGB: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "navy": (20, 30, 90),
}

MIN_CONTRAST = 150.0
"""Least RGB (Euclidean) distance between an object colour and its background. Pairs closer than
this never occur (only white on white at these palettes); the closest allowed pair is magenta on gray
at 157, so the detector can threshold colour distance at 60 with room for blur and noise."""

# Radius (half the side of the bounding box) and speed at a 64 x 64 frame. Radii 6 and 11 give
# bounding boxes of 12 and 22 px: a factor 3.4 in area, so size survives blur and a wrong shape guess.
# Speeds 1 and 2 px/frame at 8 fps: a fast object crosses a 64-px frame in 4 s.
_RADIUS_AT_64 = {"small": 6.0, "large": 11.0}
_SPEED_AT_64 = {"slow": 1.0, "fast": 2.0}

_DIAGONAL = 1.0 / math.sqrt(2.0)
DIRECTION_VECTORS: dict[str, tuple[float, float]] = {
    # Unit (dx, dy) in image coordinates (y grows downward), so "up" has dy = -1. Diagonals are
    # normalised: a diagonal object moves at the same speed as a horizontal one.
    "right": (1.0, 0.0),
    "up-right": (_DIAGONAL, -_DIAGONAL),
    "up": (0.0, -1.0),
    "up-left": (-_DIAGONAL, -_DIAGONAL),
    "left": (-1.0, 0.0),
    "down-left": (-_DIAGONAL, _DIAGONAL),
    "down": (0.0, 1.0),
    "down-right": (_DIAGONAL, _DIAGONAL),
}

SHAPE_FILL = {"circle": math.pi / 4.0, "square": 1.0, "triangle": 0.5}
"""Area of each shape divided by the area of its (2r x 2r) bounding box."""

NO_BOUNCE_FRAMES = 16
"""The start position is drawn so that frames 0..16 move in a straight line: the caption's
direction is true over (at least) the first 16 frame steps, which is what the detector reads."""

# A fixed list of held-out (shape, colour, size, direction) combinations: 20 of the 384 (5.2 %).
# Each is a new *combination* of values seen in training: every shape, colour, size and direction
# appears in it at least twice, and every pair of values of two attributes (say "triangle" with
# "down-left") still occurs in training with other values of the remaining attributes. Held out
# with every speed and background. The list is written out, not derived from a hash or a modular
# rule, so adding a colour to the vocabulary never reshuffles it.
HELD_OUT: frozenset[tuple[str, str, str, str]] = frozenset(
    {
        ("circle", "red", "small", "up-left"),
        ("circle", "green", "large", "down"),
        ("circle", "blue", "small", "right"),
        ("circle", "yellow", "large", "up-right"),
        ("circle", "magenta", "large", "left"),
        ("circle", "orange", "small", "down-right"),
        ("circle", "white", "large", "up"),
        ("square", "red", "large", "down-left"),
        ("square", "green", "small", "up-right"),
        ("square", "blue", "large", "up"),
        ("square", "cyan", "small", "left"),
        ("square", "yellow", "small", "down"),
        ("square", "orange", "large", "right"),
        ("square", "white", "small", "down-right"),
        ("triangle", "red", "small", "right"),
        ("triangle", "green", "large", "up-left"),
        ("triangle", "cyan", "large", "down-right"),
        ("triangle", "magenta", "small", "up"),
        ("triangle", "yellow", "large", "left"),
        ("triangle", "blue", "small", "down-left"),
    }
)

Split = Literal["train", "heldout", "all"]


def colour_distance(colour: str, background: str) -> float:
    """RGB Euclidean distance between object colour `colour` and background `background`."""
    return math.dist(COLOUR_RGB[colour], BACKGROUND_RGB[background])


def allowed_backgrounds(colour: str) -> tuple[str, ...]:
    """The backgrounds an object of `colour` may appear on (those at least MIN_CONTRAST away)."""
    return tuple(bg for bg in BACKGROUNDS if colour_distance(colour, bg) >= MIN_CONTRAST)


def object_radius(size: str, frame_size: int) -> float:
    """Half the side of the object's bounding box, in pixels, for a `frame_size` square frame."""
    return _RADIUS_AT_64[size] * frame_size / 64.0


def speed_px(speed: str, frame_size: int) -> float:
    """Object speed in pixels per frame for a `frame_size` square frame."""
    return _SPEED_AT_64[speed] * frame_size / 64.0


@dataclass(frozen=True)
class ShapeAttributes:
    """Everything that defines a shapes clip except its start position.

    Raises:
        ValueError: a value outside its vocabulary (names the field and the allowed values), or an
            object colour closer than MIN_CONTRAST to the background.
    """

    shape: str
    colour: str
    size: str
    direction: str
    speed: str
    background: str

    def __post_init__(self) -> None:
        for name, vocabulary in zip(
            ATTRIBUTE_NAMES, (SHAPES, COLOURS, SIZES, DIRECTIONS, SPEEDS, BACKGROUNDS), strict=True
        ):
            if getattr(self, name) not in vocabulary:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {vocabulary}")
        if colour_distance(self.colour, self.background) < MIN_CONTRAST:
            raise ValueError(
                f"colour={self.colour!r} is too close to background={self.background!r} "
                f"(RGB distance {colour_distance(self.colour, self.background):.0f} < {MIN_CONTRAST:.0f})"
            )

    @property
    def combination(self) -> tuple[str, str, str, str]:
        """The (shape, colour, size, direction) key that HELD_OUT is written in."""
        return (self.shape, self.colour, self.size, self.direction)


# --- captions ---------------------------------------------------------------------------------

_DIRECTION_WORDS = {
    "right": "right",
    "up-right": "up and to the right",
    "up": "up",
    "up-left": "up and to the left",
    "left": "left",
    "down-left": "down and to the left",
    "down": "down",
    "down-right": "down and to the right",
}
_SPEED_ADJECTIVES = {"slow": "slow", "fast": "fast"}
_SPEED_ADVERBS = {"slow": "slowly", "fast": "quickly"}

# Every phrasing names shape, colour, size, direction and background; four of the six name the
# speed too, so a model also sees captions that leave it free.
_PHRASINGS = (
    "{a_size} {size} {colour} {shape} moving {direction} on a {background} background",
    "{a_colour} {colour} {shape}, {size}, {speed_adverb} moves {direction} over a {background} background",
    "{background} background; a {size} {colour} {shape} {speed_adverb} moves {direction}",
    "{a_speed} {speed} {size} {colour} {shape} heading {direction} on a {background} background",
    "{size} {colour} {shape} going {direction} against a {background} background",
    "on a {background} background, a {size} {shape} coloured {colour} moves {direction} {speed_adverb}",
)
N_PHRASINGS = len(_PHRASINGS)


def direction_words(direction: str) -> str:
    """The words a caption uses for `direction`, e.g. "up and to the right" for "up-right"."""
    return _DIRECTION_WORDS[direction]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption(attrs: ShapeAttributes, phrasing: int) -> str:
    """Caption `attrs` in phrasing number `phrasing`, e.g. "a small red circle moving right on a
    black background".

    Raises:
        ValueError: `phrasing` is not in [0, N_PHRASINGS).
    """
    if not 0 <= phrasing < N_PHRASINGS:
        raise ValueError(f"phrasing={phrasing} is not in [0, {N_PHRASINGS})")
    return _PHRASINGS[phrasing].format(
        a_size=_article(attrs.size),
        a_colour=_article(attrs.colour),
        a_speed=_article(_SPEED_ADJECTIVES[attrs.speed]),
        size=attrs.size,
        colour=attrs.colour,
        shape=attrs.shape,
        direction=_DIRECTION_WORDS[attrs.direction],
        background=attrs.background,
        speed=_SPEED_ADJECTIVES[attrs.speed],
        speed_adverb=_SPEED_ADVERBS[attrs.speed],
    )


def all_phrasings(attrs: ShapeAttributes) -> list[str]:
    """All N_PHRASINGS captions of `attrs`, in phrasing order."""
    return [caption(attrs, phrasing) for phrasing in range(N_PHRASINGS)]


def parse_caption(text: str) -> dict[str, str]:
    """The attributes a caption names, read back from its words: the inverse of `caption`.

    Works on every phrasing and on free text that uses the same words, whatever the case and
    punctuation ("A big RED ball." names only the colour; "up-right" is read like "up and to the
    right"). Returns a dict keyed by ATTRIBUTE_NAMES holding only the attributes found, e.g.
    {"shape": "circle", "colour": "red", "size": "small", "direction": "right", "background": "black"}.
    """
    words = re.findall(r"[a-z]+", text.lower())
    found: dict[str, str] = {}
    # The background is the colour word right before "background"; taking it out first keeps
    # "a white circle on a black background" from reading white as the background.
    for i, word in enumerate(words[1:], start=1):
        if word == "background" and words[i - 1] in BACKGROUNDS:
            found["background"] = words[i - 1]
            words = words[: i - 1] + words[i + 1 :]
            break
    phrase = " " + " ".join(words) + " "
    # Longest phrase first: "up and to the right" also contains "up" and "right", and the
    # hyphenated names ("up-right", tokenised to "up right") contain both single words.
    spellings = [(direction, _DIRECTION_WORDS[direction]) for direction in DIRECTIONS]
    spellings += [(direction, direction.replace("-", " ")) for direction in DIRECTIONS if "-" in direction]
    for direction, spelling in sorted(spellings, key=lambda pair: -len(pair[1])):
        if f" {spelling} " in phrase:
            found["direction"] = direction
            break
    for name, vocabulary in (("shape", SHAPES), ("colour", COLOURS), ("size", SIZES)):
        for value in vocabulary:
            if f" {value} " in phrase:
                found[name] = value
                break
    for speed in SPEEDS:
        if f" {_SPEED_ADJECTIVES[speed]} " in phrase or f" {_SPEED_ADVERBS[speed]} " in phrase:
            found["speed"] = speed
    return {name: found[name] for name in ATTRIBUTE_NAMES if name in found}


# --- splits -----------------------------------------------------------------------------------


def is_held_out(attrs: ShapeAttributes) -> bool:
    """Whether `attrs`' (shape, colour, size, direction) combination is in HELD_OUT."""
    return attrs.combination in HELD_OUT


@functools.cache
def _combinations(split: Split) -> tuple[ShapeAttributes, ...]:
    if split not in ("train", "heldout", "all"):
        raise ValueError(f"split={split!r} is not one of ('train', 'heldout', 'all')")
    combos = []
    for shape, colour, size, direction, speed in itertools.product(SHAPES, COLOURS, SIZES, DIRECTIONS, SPEEDS):
        held_out = (shape, colour, size, direction) in HELD_OUT
        if (split == "train" and held_out) or (split == "heldout" and not held_out):
            continue
        for background in allowed_backgrounds(colour):
            combos.append(ShapeAttributes(shape, colour, size, direction, speed, background))
    return tuple(combos)


def attribute_combinations(split: Split) -> Iterator[ShapeAttributes]:
    """Iterate every valid ShapeAttributes of `split`, in a fixed order.

    "train" excludes HELD_OUT, "heldout" is only HELD_OUT, "all" is both; every speed and allowed
    background is crossed with each (shape, colour, size, direction).

    Raises:
        ValueError: an unknown split.
    """
    return iter(_combinations(split))


def sample_attributes(rng: np.random.Generator, split: Split) -> ShapeAttributes:
    """Draw one ShapeAttributes uniformly from `attribute_combinations(split)`."""
    combos = _combinations(split)
    return combos[int(rng.integers(len(combos)))]


# --- rendering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapesClip:
    """A rendered clip and its ground truth.

    video: (t, h, w, 3) uint8 RGB. positions: (t, 2) float32, (x, y) centre of the object's
    bounding box in pixels (for the triangle the area centroid lies radius/3 lower). velocities:
    (t, 2) float32 px/frame, the instantaneous velocity at each frame (the outgoing one at the
    instant of a bounce). radius: half the side of the bounding box in pixels.
    """

    video: np.ndarray
    attrs: ShapeAttributes
    positions: np.ndarray
    velocities: np.ndarray
    radius: float


def shape_coverage(
    shape: str,
    *,
    centres: np.ndarray,
    radii: np.ndarray,
    origins: np.ndarray,
    window: int,
    subrows: int = 8,
) -> np.ndarray:
    """Fraction of each pixel of a window covered by a shape, per frame.

    The shape fills a 2r x 2r bounding box centred at `centres`: a disc, an axis-aligned square, or
    an isosceles triangle pointing up (base 2r at the bottom edge of the box, apex at the top).
    Each of the three cuts every horizontal line in one interval, so coverage is exact along x (the
    interval's overlap with each pixel) and sampled at `subrows` lines per pixel along y: anti-aliased
    edges at a quarter of the cost of a 4 x 4 sub-pixel grid.

    Args:
        shape: one of SHAPES.
        centres: (t, 2) float, (x, y) bounding-box centre in frame pixels.
        radii: (t,) float, half the side of the bounding box.
        origins: (t, 2) int, (x, y) of the window's top-left pixel in the frame.
        window: side of the square window in pixels.
        subrows: sample lines per pixel row.

    Returns:
        (t, window, window) float32 in [0, 1], rows are y.

    Raises:
        ValueError: an unknown shape.
    """
    frames = len(centres)
    offsets = (np.arange(window * subrows, dtype=np.float32) + 0.5) / subrows
    # Sample lines relative to each frame's centre: (t, window * subrows).
    dy = origins[:, 1:2].astype(np.float32) + offsets - centres[:, 1:2].astype(np.float32)
    r = np.asarray(radii, dtype=np.float32)[:, None]
    inside_rows = np.abs(dy) <= r
    if shape == "circle":
        half_width = np.sqrt(np.maximum(r * r - dy * dy, 0.0))
    elif shape == "square":
        half_width = np.broadcast_to(r, dy.shape)
    elif shape == "triangle":
        # Half-width grows linearly from 0 at the apex (dy = -r) to r at the base (dy = r).
        half_width = (dy + r) * 0.5
    else:
        raise ValueError(f"shape={shape!r} is not one of {SHAPES}")
    half_width = np.where(inside_rows, half_width, 0.0)[:, :, None]  # (t, lines, 1)
    centre_x = centres[:, 0, None, None].astype(np.float32)
    pixel_left = (origins[:, 0, None] + np.arange(window)).astype(np.float32)[:, None, :]  # (t, 1, window)
    overlap = np.minimum(pixel_left + 1.0, centre_x + half_width) - np.maximum(pixel_left, centre_x - half_width)
    overlap = np.clip(overlap, 0.0, 1.0)  # (t, lines, window)
    return overlap.reshape(frames, window, subrows, window).mean(axis=2)


def _bounce(start: float, velocity: float, low: float, high: float, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position and velocity along one axis of a point bouncing between `low` and `high`.

    Closed form (a triangle wave of the unfolded straight-line coordinate), so frame 10_000 costs
    the same as frame 1 and no error accumulates.
    """
    length = high - low
    unfolded = (start - low) + velocity * steps
    phase = np.mod(unfolded, 2.0 * length)
    position = low + np.where(phase <= length, phase, 2.0 * length - phase)
    # The sign of the triangle wave's slope just after this instant: at a wall contact the velocity
    # is the outgoing one.
    ahead = np.mod(unfolded + 1e-6 * velocity, 2.0 * length)
    signed = np.where(ahead < length, velocity, -velocity)
    return position, signed


def _start_range(velocity: float, low: float, high: float) -> tuple[float, float]:
    """The start coordinates in [low, high] from which NO_BOUNCE_FRAMES steps stay inside: (first, last)."""
    travel = NO_BOUNCE_FRAMES * velocity
    return (low, high - travel) if travel >= 0 else (low - travel, high)


def _start_coordinate(rng: np.random.Generator, velocity: float, low: float, high: float) -> float:
    """A start coordinate drawn uniformly from `_start_range`."""
    return float(rng.uniform(*_start_range(velocity, low, high)))


def is_training_start(attrs: ShapeAttributes, position: np.ndarray, *, size: int = 64) -> bool:
    """Whether `render` (without `anywhere`) could start `attrs`' object at `position` (2,) px: its
    first NO_BOUNCE_FRAMES steps from there meet no wall, so the start itself hints at the direction.

    Raises:
        ValueError: size < 16 (as `render`).
    """
    _, low, high = _room(attrs, NO_BOUNCE_FRAMES + 1, size)
    ranges = [_start_range(velocity, low, high) for velocity in _velocity(attrs, size)]
    return all(first <= coordinate <= last for coordinate, (first, last) in zip(position, ranges, strict=True))


def render(attrs: ShapeAttributes, *, frames: int, seed: int, size: int = 64, anywhere: bool = False) -> ShapesClip:
    """Render `frames` frames of the object described by `attrs` bouncing in a `size` x `size` frame.

    The seed picks the start position: uniform over the positions from which the first
    NO_BOUNCE_FRAMES steps are straight, so that the first direction is the one seen, or with
    `anywhere` over the whole room, so that a wall may turn the object at once (as in a first frame
    a user gives, or one taken mid-stream). Everything else follows from `attrs`, so the same
    arguments give the same clip bit for bit. The object's bounding box reflects off the frame
    edges, so the object is always wholly inside the frame. Edges are anti-aliased (exact
    coverage along x, 8 sample lines per pixel along y). A few ms per 64 frames at 64 x 64 on a
    2-core CPU (docs/results/evaluation.md).

    Returns:
        ShapesClip with video (frames, size, size, 3) uint8 and positions, velocities (frames, 2).

    Raises:
        ValueError: frames < 1, or size < 16.
    """
    radius, low, high = _room(attrs, frames, size)
    velocity = _velocity(attrs, size)
    rng = np.random.default_rng(seed)
    start = (rng.uniform(low, high, size=2) if anywhere
             else np.array([_start_coordinate(rng, velocity[axis], low, high) for axis in range(2)]))
    positions, velocities = _path(start, velocity, low, high, frames)
    return _paint(attrs, positions, velocities, radius, size)


def render_switched(attrs: ShapeAttributes, after: ShapeAttributes, *, switch_frame: int, frames: int, seed: int,
                    size: int = 64) -> ShapesClip:
    """`render(attrs, ...)` until frame `switch_frame`, from which on the object moves in `after`'s
    direction and speed (from where it is, bouncing as ever): a video whose prompt changes at
    `switch_frame`. Frames before it are exactly `render(attrs, ...)`'s.

    Returns:
        ShapesClip (attrs: `attrs`) with video (frames, size, size, 3) uint8; its velocities say
        where the motion changed.

    Raises:
        ValueError: `after` differs from `attrs` in more than direction and speed, or `switch_frame`
            is not in [1, frames - 1] (or as `render`).
    """
    looks = [name for name in ("shape", "colour", "size", "background") if getattr(after, name) != getattr(attrs, name)]
    if looks:
        raise ValueError(f"a switch changes only the direction and speed; {', '.join(looks)} differ")
    if not 1 <= switch_frame <= frames - 1:
        raise ValueError(f"switch_frame={switch_frame} must be in [1, {frames - 1}]")
    before = render(attrs, frames=switch_frame, seed=seed, size=size)
    radius, low, high = _room(after, frames, size)
    # The new motion starts from the last frame before the switch: frame switch_frame is one step on.
    positions, velocities = _path(before.positions[-1].astype(np.float64), _velocity(after, size), low, high,
                                  frames - switch_frame + 1)
    positions = np.concatenate([before.positions, positions[1:]])
    velocities = np.concatenate([before.velocities[:-1], velocities])  # the outgoing velocity at the switch
    return _paint(attrs, positions, velocities, radius, size)


def _room(attrs: ShapeAttributes, frames: int, size: int) -> tuple[float, float, float]:
    """(radius, lowest, highest centre coordinate) of `attrs`' object in a `size` frame."""
    if frames < 1:
        raise ValueError(f"frames={frames} must be >= 1")
    if size < 16:
        # A small object would be 3 px across; the detector needs a few pixels of it.
        raise ValueError(f"size={size} must be >= 16")
    radius = object_radius(attrs.size, size)
    speed = speed_px(attrs.speed, size)
    # Radii and speeds scale with the frame, so there is always room: 64 - 22 px >= 16 steps of 2 px.
    # The check keeps that true if the constants change.
    room = size - 2.0 * radius
    if room < NO_BOUNCE_FRAMES * speed:
        raise ValueError(
            f"size={size} leaves {room:.1f} px of travel, less than {NO_BOUNCE_FRAMES} steps of {speed} px"
        )
    return radius, radius, size - radius


def _velocity(attrs: ShapeAttributes, size: int) -> np.ndarray:
    """(2,) px/frame of `attrs`' direction and speed."""
    return speed_px(attrs.speed, size) * np.asarray(DIRECTION_VECTORS[attrs.direction], dtype=np.float64)


def _path(start: np.ndarray, velocity: np.ndarray, low: float, high: float, frames: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Positions (frames, 2) float64 and velocities (frames, 2) float32 from `start` (2,) at `velocity` (2,)."""
    steps = np.arange(frames, dtype=np.float64)
    x, vx = _bounce(start[0], velocity[0], low, high, steps)
    y, vy = _bounce(start[1], velocity[1], low, high, steps)
    return np.stack([x, y], axis=1), np.stack([vx, vy], axis=1).astype(np.float32)


def _paint(attrs: ShapeAttributes, positions: np.ndarray, velocities: np.ndarray, radius: float,
           size: int) -> ShapesClip:
    """The clip of `attrs`' object at `positions` (t, 2) over its background."""
    frames = len(positions)
    # Rasterise only a window around the object: it is 10x less work than the whole frame.
    window = min(size, math.ceil(2.0 * radius) + 2)
    origins = np.clip(np.floor(positions - radius).astype(np.int64), 0, size - window)
    coverage = shape_coverage(
        attrs.shape, centres=positions, radii=np.full(frames, radius), origins=origins, window=window
    )
    background = np.asarray(BACKGROUND_RGB[attrs.background], dtype=np.float32)
    colour = np.asarray(COLOUR_RGB[attrs.colour], dtype=np.float32)
    patch = background + coverage[..., None] * (colour - background)  # (t, window, window, 3)
    patch = np.rint(patch).astype(np.uint8)
    # One frame filled and copied (not a 3-vector broadcast into the video), then a loop of slice
    # writes (not a fancy-indexed scatter): both far faster, docs/results/evaluation.md.
    frame = np.empty((size, size, 3), dtype=np.uint8)
    frame[...] = background.astype(np.uint8)
    video = np.empty((frames, size, size, 3), dtype=np.uint8)
    video[...] = frame
    for index, (left, top) in enumerate(origins.tolist()):
        video[index, top : top + window, left : left + window] = patch[index]
    return ShapesClip(
        video=video, attrs=attrs, positions=positions.astype(np.float32), velocities=velocities, radius=radius
    )


def draw_clip(rng: np.random.Generator, split: Split) -> tuple[ShapeAttributes, int]:
    """What a random clip is drawn as: attributes by `sample_attributes(rng, split)`, then a render seed."""
    attrs = sample_attributes(rng, split)
    return attrs, int(rng.integers(2**63))


def random_clip(rng: np.random.Generator, split: Split, frames: int, *, size: int = 64) -> ShapesClip:
    """Render a clip drawn by `draw_clip(rng, split)`.

    Returns:
        ShapesClip with video (frames, size, size, 3) uint8.
    """
    attrs, seed = draw_clip(rng, split)
    return render(attrs, frames=frames, seed=seed, size=size)


class ShapesSample(NamedTuple):
    """One sample of a ShapesStream: video (t, h, w, 3) uint8, its caption, its attributes."""

    video: np.ndarray
    caption: str
    attrs: ShapeAttributes


@dataclass(frozen=True, kw_only=True)
class ShapesStream:
    """An endless, seeded stream of (video, caption, attrs) samples from one split.

    Each sample draws attributes uniformly from the split, a start position, and a phrasing.
    Iterating twice gives the same samples; give each data-loader worker its own `seed`.

    Args:
        split: "train", "heldout" or "all".
        frames: frames per clip.
        seed: seeds the whole stream.
        size: frame side in pixels.
    """

    split: Split = "train"
    frames: int = 17
    seed: int = 0
    size: int = 64

    def __iter__(self) -> Iterator[ShapesSample]:
        rng = np.random.default_rng(self.seed)
        while True:
            clip = random_clip(rng, self.split, self.frames, size=self.size)
            phrasing = int(rng.integers(N_PHRASINGS))
            yield ShapesSample(clip.video, caption(clip.attrs, phrasing), clip.attrs)
