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

from arvid.shapes.world import ATTRIBUTE_NAMES, parse_caption
from arvid.metrics.motion import flow_metrics
from arvid.shapes.prompt_match import WINDOW_FRAMES, match_prompt
from arvid.metrics.scene_cuts import scene_cuts


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN: unreadable values are null."""
    return None if value is None or not math.isfinite(value) else float(value)


def _finite_list(values: np.ndarray) -> list[float | None]:
    return [_finite_or_none(round(float(v), 4)) for v in values]


def video_report(video: np.ndarray, prompt: str | None = None, *, window: int = WINDOW_FRAMES,
                 expected: dict[str, str] | None = None) -> dict:
    """Every weight-free metric of one video.

    Args:
        video: uint8 (t h w 3) RGB, t >= 2.
        prompt: its caption; prompt metrics are left out when it is None or names no shape of the
            shapes world (the detector reads only that world: "a red car moving left" on real
            footage would score its colour and direction as confident zeros).
        expected: the attributes the prompt names, when its words are not the templates' (a
            paraphrase, `arvid.shapes.paraphrase`); None: read from the prompt (`parse_caption`).
    Returns:
        {"frames", "prompt", "motion", "warp_error", "motion_aware_warp_error", "flicker",
        "scene_cuts", "per_step": {"motion", "warp_error"}} and, when the prompt names attributes,
        {"expected", "first_window_match", "last_window_match", "windows": [{"start", "frames",
        "readings", "correct", "moving", "accuracy"}]}. JSON-ready: NaN values are None.
    """
    flow = flow_metrics(video)
    report: dict = {
        "frames": int(len(video)),
        "prompt": prompt,
        "motion": _finite_or_none(flow.mean_motion),
        "warp_error": _finite_or_none(flow.mean_warp_error),
        "motion_aware_warp_error": _finite_or_none(flow.motion_aware_warp_error),
        "flicker": _finite_or_none(flow.flicker),
        "scene_cuts": scene_cuts(video),
        "per_step": {"motion": _finite_list(flow.motion), "warp_error": _finite_list(flow.warp_error)},
    }
    if expected or (prompt is not None and "shape" in parse_caption(prompt)):
        match = match_prompt(video, expected or prompt, window=window)
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


def _share(values: list[bool | None]) -> float | None:
    scored = [value for value in values if value is not None]
    return float(np.mean(scored)) if scored else None


def _mean(values: list[float | None]) -> float | None:
    kept = [value for value in values if value is not None]
    return float(np.mean(kept)) if kept else None


def summarize(reports: Sequence[dict]) -> dict:
    """Aggregate reports: shares of videos meeting each target, and metric means.

    Returns:
        {"videos", "first_window_attribute_accuracy" (attribute -> share right, over the prompts
        naming it), "scored_first_window", "first_window_match", "scored_last_window",
        "last_window_match", "moving_windows", "no_scene_cuts", "mean_motion", "mean_warp_error",
        "mean_motion_aware_warp_error", "mean_flicker", "still_videos"}, and "mean_clip_score" /
        "mean_lpips_consecutive" where reports carry them. A prompt share is over the
        videos whose prompt names every attribute it needs ("scored_*" counts them; None if none).
    """
    first = [r.get("first_window_match") for r in reports]
    last = [r.get("last_window_match") for r in reports]
    # Scores of the pretrained metrics (`PretrainedScorers.score`), where their weights were given.
    pretrained = {f"mean_{name}": _mean([r.get(name) for r in reports])
                  for name in ("clip_score", "lpips_consecutive") if any(name in r for r in reports)}
    # Which attributes fail: the first window's reading of each attribute, over the prompts naming it.
    per_attribute = {name: _share([r["windows"][0]["correct"].get(name) for r in reports if "windows" in r])
                     for name in ATTRIBUTE_NAMES}
    # Every window after the first, pooled: how often the object is read as moving. A long video's
    # stalls come and go; its last window samples them once, this counts them all.
    later_windows = [window["moving"] for r in reports for window in r.get("windows", [])[1:]]
    return pretrained | {
        "videos": len(reports),
        "first_window_attribute_accuracy": per_attribute,
        "scored_first_window": sum(value is not None for value in first),
        "first_window_match": _share(first),
        "scored_last_window": sum(value is not None for value in last),
        "last_window_match": _share(last),
        "moving_windows": _share(later_windows),
        "no_scene_cuts": _share([not r["scene_cuts"] for r in reports]),
        "mean_motion": _mean([r["motion"] for r in reports]),
        "mean_warp_error": _mean([r["warp_error"] for r in reports]),
        "mean_motion_aware_warp_error": _mean([r["motion_aware_warp_error"] for r in reports]),
        "mean_flicker": _mean([r["flicker"] for r in reports]),
        "still_videos": sum(r["motion_aware_warp_error"] is None for r in reports),
    }
