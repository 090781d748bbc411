"""One report per generated video, and the summary over many: what `arvid eval-video` writes.

A report is plain JSON-ready data: the prompt match per window (when the prompt names
shapes-world attributes), optical-flow motion, warp error and flicker, and scene cuts. The summary
gives, per group of videos (e.g. training vs held-out attribute combinations), the share of
videos meeting each target of the shipped model (issue 6) and the means of the other metrics.

Layout at this I/O edge: video `t h w c` uint8 RGB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from arvid.data.shapes import parse_caption
from arvid.metrics.motion import flow_metrics
from arvid.metrics.prompt_match import WINDOW_FRAMES, match_prompt
from arvid.metrics.scene_cuts import scene_cuts


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: unreadable values are null."""
    return None if value is None or not math.isfinite(value) else float(value)


def video_report(video: np.ndarray, prompt: str | None = None, *, window: int = WINDOW_FRAMES) -> dict:
    """Every weight-free metric of one video.

    Args:
        video: uint8 (t h w 3) RGB, t >= 2.
        prompt: its caption; prompt metrics are left out when it is None or names no attribute.
    Returns:
        {"frames", "prompt", "expected", "first_window_match", "last_window_match",
        "windows": [{"start", "readings", "correct", "moving", "accuracy"}], "motion",
        "warp_error", "motion_aware_warp_error", "flicker", "scene_cuts", "per_step": {"motion",
        "warp_error"}}; NaN values are None.
    """
    flow = flow_metrics(video)
    report: dict = {
        "frames": int(len(video)),
        "prompt": prompt,
        "motion": flow.mean_motion,
        "warp_error": flow.mean_warp_error,
        "motion_aware_warp_error": _finite_or_none(flow.motion_aware_warp_error),
        "flicker": flow.flicker,
        "scene_cuts": scene_cuts(video),
        "per_step": {"motion": flow.motion.round(4).tolist(), "warp_error": flow.warp_error.round(4).tolist()},
    }
    if prompt is not None and parse_caption(prompt):
        match = match_prompt(video, prompt, window=window)
        accuracy = match.accuracy_over_time()
        report |= {
            "expected": match.expected,
            "first_window_match": match.first_window_match,
            "last_window_match": match.last_window_match,
            "windows": [
                {"start": w.start, "frames": w.frames, "readings": w.readings, "correct": w.correct,
                 "moving": w.moving, "accuracy": _finite_or_none(a)}
                for w, a in zip(match.windows, accuracy, strict=True)
            ],
        }
    return report


def _share(values: list[bool]) -> float | None:
    return float(np.mean(values)) if values else None


def summarize(reports: Sequence[dict]) -> dict:
    """Aggregate reports: shares of videos meeting each target, and metric means.

    Returns:
        {"videos", "first_window_match", "last_window_match", "no_scene_cuts", "mean_motion",
        "mean_warp_error", "mean_motion_aware_warp_error", "mean_flicker", "still_videos"}; the
        prompt shares are over the videos whose prompt names attributes (None if there are none).
    """
    prompted = [r for r in reports if "first_window_match" in r]
    mawe = [r["motion_aware_warp_error"] for r in reports if r["motion_aware_warp_error"] is not None]
    return {
        "videos": len(reports),
        "first_window_match": _share([r["first_window_match"] for r in prompted]),
        "last_window_match": _share([r["last_window_match"] for r in prompted]),
        "no_scene_cuts": _share([not r["scene_cuts"] for r in reports]),
        "mean_motion": float(np.mean([r["motion"] for r in reports])) if reports else None,
        "mean_warp_error": float(np.mean([r["warp_error"] for r in reports])) if reports else None,
        "mean_motion_aware_warp_error": float(np.mean(mawe)) if mawe else None,
        "mean_flicker": float(np.mean([r["flicker"] for r in reports])) if reports else None,
        "still_videos": len(reports) - len(mawe),
    }
