"""A synthetic camera over a photograph: smooth paths of pans, zooms and small rotations
(`camera_path`), and the frames they show (`render_path`), so that still images train as video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

@dataclass(frozen=True, kw_only=True)
class CameraMotion:
    """How `CameraMotionClips` moves its camera over a photograph. The view is a square of side
    `crop` x the image's short side (log-uniform in `crop`). Each of pan, zoom and rotation is on
    with its probability (pan is on whenever zoom is off); speeds are uniform from `MIN_SPEED` of
    their maximum up to it, so clips range from a crawl to a fast move. Half the paths move at
    constant speed, half ease in and out.

    Args:
        crop: (low, high) fractions of the image's short side, 0 < low <= high <= 1.
        pan_speed: the most the view's centre moves a frame, as a fraction of the view's side.
        zoom_speed: the most the view's side changes a frame, as a log factor (0.02: 2%).
        spin_speed: the most the view turns a frame, in degrees.
        tilt: the most the view is turned at the first frame, in degrees.
    """

    crop: tuple[float, float] = (0.3, 1.0)
    pan_probability: float = 0.8
    zoom_probability: float = 0.5
    rotate_probability: float = 0.3
    pan_speed: float = 0.04
    zoom_speed: float = 0.02
    spin_speed: float = 0.3
    tilt: float = 3.0

    def __post_init__(self) -> None:
        if not 0 < self.crop[0] <= self.crop[1] <= 1:
            raise ValueError(f"crop must be (low, high) with 0 < low <= high <= 1, got {self.crop!r}")


MIN_SPEED = 0.15  # of each `CameraMotion` maximum speed
DEFAULT_MOTION = CameraMotion()  # frozen: one shared default is safe


def _half_extent(side: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Half the width (= half the height) of the bounding box of a square of `side` turned by `angle`."""
    return side / 2 * (np.abs(np.cos(angle)) + np.abs(np.sin(angle)))


def camera_path(rng: np.random.Generator, *, frames: int, height: int, width: int,
                motion: CameraMotion = DEFAULT_MOTION) -> np.ndarray:
    """A smooth camera path over a `height` x `width` image -> float64 (frames, 4): per frame the
    view's centre x, centre y, side and angle (radians; the picture shows turned counter-clockwise), in pixel
    coordinates where pixel (i, j) covers [j, j+1) x [i, i+1). Every view lies inside the image.
    With `frames == 1`: one unturned view, a plain random crop."""
    short = min(height, width)
    side0 = short * math.exp(rng.uniform(math.log(motion.crop[0]), math.log(motion.crop[1])))
    if frames == 1:
        angle0 = spin = zoom = 0.0
        pan = np.zeros(2)
    else:
        pan_on, zoom_on, rotate_on = rng.random(3) < (motion.pan_probability, motion.zoom_probability,
                                                      motion.rotate_probability)
        pan_on = pan_on or not zoom_on  # a turn alone can be too slow to see
        # Speeds from MIN_SPEED of the maximum up, either way: a crawl still moves.
        speeds = rng.uniform(MIN_SPEED, 1.0, 3) * rng.choice([-1.0, 1.0], 3) * (frames - 1)
        direction = rng.uniform(0, 2 * math.pi)
        heading = np.array([math.cos(direction), math.sin(direction)])
        pan = speeds[0] * motion.pan_speed * side0 * heading if pan_on else np.zeros(2)
        zoom = speeds[1] * motion.zoom_speed if zoom_on else 0.0
        angle0 = math.radians(rng.uniform(-motion.tilt, motion.tilt)) if rotate_on else 0.0
        spin = math.radians(speeds[2] * motion.spin_speed) if rotate_on else 0.0
    progress = np.linspace(0.0, 1.0, frames)
    if frames > 1 and rng.random() < 0.5:
        progress = progress * progress * (3 - 2 * progress)  # smoothstep: ease in and out
    sides = side0 * np.exp(zoom * progress)
    angles = angle0 + spin * progress
    # Shrink the whole path until every view's bounding box fits, then place the pan inside the room left.
    extent = _half_extent(sides, angles).max()
    fit = min(1.0, short / (2 * extent))
    sides, extent = sides * fit, extent * fit
    room = np.array([width, height]) - 2 * extent  # how far the centre may travel, per axis
    pan = np.clip(pan, -room, room)
    low = extent + np.maximum(0.0, -pan)
    high = np.array([width, height]) - extent - np.maximum(0.0, pan)
    start = low + rng.random(2) * np.maximum(high - low, 0.0)
    centres = start + progress[:, None] * pan
    return np.column_stack([centres, sides, angles])


def render_path(image: Image.Image, path: np.ndarray, size: int) -> np.ndarray:
    """The views of `path` (as `camera_path` returns) of an RGB `image` -> uint8 (frames, size, size, 3).

    The image is first shrunk (antialiased) so the smallest view is about `size` pixels across,
    then each frame is one bicubic affine warp: no aliasing from large crops drawn small."""
    shrink = min(1.0, size / float(path[:, 2].min()))
    scale_x = scale_y = 1.0
    if shrink < 1.0:
        width, height = max(1, round(image.width * shrink)), max(1, round(image.height * shrink))
        # The path follows the exact per-axis factors that the rounding made.
        scale_x, scale_y = width / image.width, height / image.height
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    frames = []
    half = size / 2
    for centre_x, centre_y, side, angle in path:
        centre_x, centre_y, side = centre_x * scale_x, centre_y * scale_y, side * (scale_x + scale_y) / 2
        step = side / size
        cos, sin = step * math.cos(angle), step * math.sin(angle)
        # PIL maps output point (u, v) (pixel centres at +0.5) to input (a u + b v + c, d u + e v + f).
        coefficients = (cos, -sin, centre_x - half * (cos - sin), sin, cos, centre_y - half * (sin + cos))
        frames.append(np.asarray(image.transform((size, size), Image.Transform.AFFINE, coefficients,
                                                 resample=Image.Resampling.BICUBIC)))
    return np.stack(frames)

