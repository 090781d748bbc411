"""Temporal metrics from dense optical flow: motion amount, warp error, their ratio, and flicker.

For each pair of consecutive frames, OpenCV's Farnebäck flow from frame t to frame t + 1 gives,
for every pixel of frame t, where it went. Sampling frame t + 1 there (`cv2.remap`) warps it back
onto frame t; what the warp cannot explain is the warp error. A video whose content moves
smoothly has a small warp error however fast it moves; frames in the wrong order, popping objects
and texture that boils have a large one. The warp error divided by the motion amount is a
motion-aware warp error in the classical form (MAWE, W / (c * motion) with c = 1, after
StreamingT2V): a still video cannot hide behind a low warp error. Its values are this module's
(Farnebäck flow, L1 on 0-255 RGB at the video's own size), not comparable with published MAWE
figures, which use other flow networks and resolutions: compare videos scored here.

Layout at this I/O edge: video `t h w c` uint8 RGB, at least two frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from arvid.data.frames import check_frames

# Farnebäck parameters: pyramid scale 0.5, 3 levels, 15-px window, 3 iterations, 5-px
# polynomial neighbourhood with sigma 1.2 (OpenCV's documented example values). Three levels reach
# motions of ~30 px, far beyond the fastest shapes-world object (2 px per frame at 64 px).
_FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)

MIN_MOTION = 0.01
"""Below this mean flow (px per frame) a video is still, and the motion-aware warp error is NaN."""


@dataclass(frozen=True)
class FlowMetrics:
    """Per-step (t - 1,) float64 arrays, one entry per pair of consecutive frames.

    motion: mean optical-flow magnitude in px per frame. warp_error: mean absolute difference,
    in 0-255 grey levels over RGB, between frame t and frame t + 1 warped back onto it (pixels whose
    flow leaves the frame are left out). brightness_change: mean luma of frame t + 1 minus that of
    frame t, in grey levels; its absolute mean is the flicker.
    """

    motion: np.ndarray
    warp_error: np.ndarray
    brightness_change: np.ndarray

    @property
    def mean_motion(self) -> float:
        """Mean flow magnitude over the video, px per frame."""
        return float(self.motion.mean())

    @property
    def mean_warp_error(self) -> float:
        """Mean warp error over the video, grey levels."""
        return float(self.warp_error.mean())

    @property
    def motion_aware_warp_error(self) -> float:
        """Warp error divided by motion (classical MAWE form, c = 1); NaN for a still video (motion < MIN_MOTION)."""
        motion = self.mean_motion
        return self.mean_warp_error / motion if motion >= MIN_MOTION else math.nan

    @property
    def flicker(self) -> float:
        """Mean absolute change of a frame's mean luma between consecutive frames, grey levels."""
        return float(np.abs(self.brightness_change).mean())


def _check_video(video: np.ndarray) -> np.ndarray:
    video = check_frames(video, 4, "video")
    if video.shape[0] < 2:
        raise ValueError(f"temporal metrics need at least 2 frames, got {video.shape[0]}")
    return video


def _luma(frame: np.ndarray) -> np.ndarray:
    """(h w 3) uint8 RGB -> (h w) uint8 grey (ITU-R BT.601 weights, OpenCV's)."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def flow_metrics(video: np.ndarray) -> FlowMetrics:
    """Motion, warp error and brightness change of every consecutive frame pair.

    Args:
        video: uint8 (t h w 3) RGB, t >= 2.
    Returns:
        FlowMetrics with (t - 1,) arrays.
    Raises:
        ValueError: not a uint8 RGB video of at least 2 frames.
    """
    video = _check_video(video)
    height, width = video.shape[1:3]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grey = [_luma(frame) for frame in video]
    motion, warp_error = [], []
    for t in range(len(video) - 1):
        flow = cv2.calcOpticalFlowFarneback(grey[t], grey[t + 1], None, **_FARNEBACK)  # (h w 2) as (dx, dy)
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        warped = cv2.remap(video[t + 1], map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Pixels that flow out of the frame have no counterpart in frame t + 1: replicated border
        # pixels there would be scored as errors of the video when they are errors of the warp.
        inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        difference = np.abs(warped.astype(np.float64) - video[t].astype(np.float64)).mean(axis=-1)
        motion.append(float(np.linalg.norm(flow, axis=-1).mean()))
        warp_error.append(float(difference[inside].mean()) if inside.any() else math.nan)
    brightness = np.array([g.mean(dtype=np.float64) for g in grey])
    return FlowMetrics(np.array(motion), np.array(warp_error), np.diff(brightness))
