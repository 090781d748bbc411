"""Hard cuts in decoded frames, so that no training clip spans two shots: `hard_cuts(frames)`.

No optional dependency (PySceneDetect, in `arvid.metrics.scene_cuts`, is an evaluation extra): the
score is the change of a coarse hue-saturation-value histogram between consecutive frames, which
camera and object motion barely move and a cut moves a lot, judged against the changes around it
as PySceneDetect's `AdaptiveDetector` judges its own score. It runs on frames already resampled to
the training rate; at 8 fps fast motion changes pixels as much as a cut does, which is why a
histogram and not the pixels. Checked on the clips of `runs/real-data` read at 8 fps: it finds the
cuts PySceneDetect finds at the native rate in bikes.mp4 (5) and Megamind.avi (3, and its black
first frame), none in bigbuckbunny, carphone, vtest, tree, cockatoo or balle-jbart, and one extra
(a change of light) in Effet_force_magnetique.ogv; the same at 48 and 96 pixels. Footage without
colour is compared by brightness alone: a grey copy of bikes.mp4 at 48 and 96 pixels gives the 4
cuts the colour clip gives at those sizes (of the 5 it gives at 48x113), and bigbuckbunny's and the
two carphones' grey copies none.

Layout: frames `t h w c` uint8 RGB.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

HISTOGRAM_BINS = (16, 4, 4)  # hue, saturation, value: hue carries most of what a cut changes
# Footage without colour (every frame's pixels in the lowest saturation bin, to this share) has no hue
# to compare: its frames are compared by histograms of brightness, as finely binned as hue, one for
# each quarter of the frame (one for the whole frame missed 1 more of bikes.mp4's cuts in a grey copy).
GREY_SHARE, GREY_BINS, GREY_GRID = 0.98, 16, 2
WINDOW = 2  # changes each side that a change is compared with, as AdaptiveDetector's default
# A cut is a change of at least LARGE that is RATIO times its neighbours' mean, or a change of at
# least MODERATE that is STRONG_RATIO times it (the cuts of Megamind.avi change 0.2 of the histogram,
# fast motion in cockatoo.mp4 up to 0.47 but at most 3.9 times its neighbours).
LARGE, RATIO = 0.3, 3.0
MODERATE, STRONG_RATIO = 0.15, 5.0


def frame_histograms(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (h w 3) RGB -> (colour float64 (prod(HISTOGRAM_BINS),): the frame's share of pixels in
    each HSV bin; brightness float64 (GREY_GRID^2 * GREY_BINS,): in each of the frame's GREY_GRID x
    GREY_GRID cells, the share of its pixels in each bin of HSV's value)."""
    bins = np.array(HISTOGRAM_BINS)
    hsv = np.asarray(Image.fromarray(frame).convert("HSV")).astype(np.int64)  # (h w 3)
    pixels = hsv.shape[0] * hsv.shape[1]
    cells = hsv * bins // 256  # each channel's bin
    flat = (cells[..., 0] * bins[1] + cells[..., 1]) * bins[2] + cells[..., 2]
    colour = np.bincount(flat.reshape(-1), minlength=int(bins.prod())) / pixels
    height, width = hsv.shape[:2]
    rows, columns = np.arange(height) * GREY_GRID // height, np.arange(width) * GREY_GRID // width
    cell = rows[:, None] * GREY_GRID + columns[None, :]  # (h w): each pixel's cell
    value = (cell * GREY_BINS + hsv[..., 2] * GREY_BINS // 256).reshape(-1)
    return colour, np.bincount(value, minlength=GREY_GRID * GREY_GRID * GREY_BINS) / pixels


class CutFinder:
    """`hard_cuts` for frames that come one at a time (a long video read without holding it):
    `add(frame)` each, then `cuts()`. Keeps the last frame's histograms and two numbers a frame."""

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # the last frame's (colour, brightness)
        self._colour_changes: list[float] = []  # between consecutive frames, as `_change`
        self._brightness_changes: list[float] = []
        self._least_unsaturated = 1.0  # the smallest share of a frame's pixels in the lowest saturation bin

    def add(self, frame: np.ndarray) -> None:
        """Take the next frame, uint8 (h w 3) RGB."""
        colour, brightness = frame_histograms(frame)
        self._least_unsaturated = min(self._least_unsaturated, colour.reshape(HISTOGRAM_BINS)[:, 0].sum())
        if self._previous is not None:
            self._colour_changes.append(_change(self._previous[0], colour))
            self._brightness_changes.append(_change(self._previous[1], brightness))
        self._previous = colour, brightness

    def cuts(self) -> list[int]:
        """Indices of the frames added that start a new shot ([] for one shot), as `hard_cuts`."""
        # Footage without colour keeps 4 of the colour histogram's bins: compare its brightness instead.
        grey = self._least_unsaturated >= GREY_SHARE
        return _cuts_among(np.array(self._brightness_changes if grey else self._colour_changes))


def _change(before: np.ndarray, after: np.ndarray) -> float:
    """The share of pixels that changed bins between two frames' histograms, in [0, 1]."""
    return 0.5 * float(np.abs(after - before).sum())


def hard_cuts(frames: np.ndarray) -> list[int]:
    """Indices of the frames that start a new shot ([] for one shot), in frames `t h w c` uint8.

    Repeated frames (a file resampled above its own rate, or one that drops frames) are not
    changes: each change is compared with the changes, not the repeats, around it.

    Raises:
        ValueError: frames that are not uint8 (t, h, w, 3).
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (t, h, w, 3), got {frames.dtype} {frames.shape}")
    finder = CutFinder()
    for frame in frames:
        finder.add(frame)
    return finder.cuts()


def _cuts_among(distance: np.ndarray) -> list[int]:
    """The cut rule over the changes (t - 1,) between consecutive frames (`distance[i]`: into frame
    i + 1) -> indices of the frames that start a shot."""
    changes = np.flatnonzero(distance > 0)
    cuts = []
    for position, index in enumerate(changes):
        around = np.delete(changes[max(0, position - WINDOW): position + WINDOW + 1], min(position, WINDOW))
        mean = distance[around].mean() if len(around) else 0.0
        ratio = distance[index] / mean if mean > 0 else np.inf
        if (distance[index] >= LARGE and ratio >= RATIO) or (distance[index] >= MODERATE and ratio >= STRONG_RATIO):
            cuts.append(int(index) + 1)
    return cuts
