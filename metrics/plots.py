"""Pictures of an evaluation: metrics over time (matplotlib) and a contact sheet of frames.

Inputs are the reports of `arvid.shapes.report.video_report`; videos are `t h w c` uint8.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from arvid.data.images import evenly_spaced, frame_strip, save_png


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("plots need matplotlib: pip install 'arvid[eval]'") from error
    matplotlib.use("Agg")  # files only; never open a window or need a display
    import matplotlib.pyplot as plt

    return plt


def _mean_curve(curves: list[np.ndarray]) -> np.ndarray:
    """Mean over curves of different lengths, position by position (NaN-aware)."""
    padded = np.full((len(curves), max(len(c) for c in curves)), np.nan)
    for row, curve in enumerate(curves):
        padded[row, : len(curve)] = curve
    return np.nanmean(padded, axis=0)


def plot_over_time(reports: Sequence[dict], path: str | Path) -> None:
    """Write a PNG with attribute accuracy per window (top, when prompts name attributes) and
    optical-flow motion per frame step (bottom): each video faint, their mean bold."""
    plt = _pyplot()
    prompted = [r for r in reports if "windows" in r]
    rows = 2 if prompted else 1
    figure, axes = plt.subplots(rows, 1, figsize=(8, 3 * rows), squeeze=False)
    if prompted:
        axis = axes[0, 0]
        curves = []
        for report in prompted:
            starts = [w["start"] for w in report["windows"]]
            accuracy = np.array([np.nan if w["accuracy"] is None else w["accuracy"] for w in report["windows"]])
            axis.plot(starts, accuracy, color="tab:blue", alpha=0.15, linewidth=0.8)
            curves.append(accuracy)
        longest = max(prompted, key=lambda r: len(r["windows"]))
        axis.plot([w["start"] for w in longest["windows"]], _mean_curve(curves), color="tab:blue", linewidth=2,
                  label=f"mean of {len(prompted)} videos")
        axis.set(ylim=(-0.05, 1.05), xlabel="first frame of window", ylabel="shape/colour/size right",
                 title="attribute accuracy over time")
        axis.legend(loc="lower left")
    axis = axes[-1, 0]
    curves = [np.asarray(r["per_step"]["motion"]) for r in reports]
    for curve in curves:
        axis.plot(curve, color="tab:orange", alpha=0.15, linewidth=0.8)
    axis.plot(_mean_curve(curves), color="tab:orange", linewidth=2, label=f"mean of {len(reports)} videos")
    axis.set(xlabel="frame step", ylabel="mean flow (px / frame)", title="motion over time")
    axis.legend(loc="upper right")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


SHEET_COLUMNS = 8
"""Frames per video on a contact sheet."""


def sheet_frames(video: np.ndarray, columns: int = SHEET_COLUMNS) -> np.ndarray:
    """The frames of (t h w c) `video` that a contact sheet shows: up to `columns`, evenly spaced."""
    return video[evenly_spaced(len(video), columns)]


def contact_sheet(videos: Sequence[np.ndarray], path: str | Path, *, columns: int = SHEET_COLUMNS) -> None:
    """Write a PNG with one row per video of `columns` evenly spaced frames (first and last included).

    Args:
        videos: uint8 (t h w 3) videos of one frame size, any lengths.
    Raises:
        ValueError: no videos, or frame sizes that differ.
    """
    if not videos:
        raise ValueError("a contact sheet needs at least one video")
    if len({v.shape[1:] for v in videos}) != 1:
        raise ValueError(f"videos differ in frame size: {sorted({v.shape[1:] for v in videos})}")
    rows = [sheet_frames(video, columns) for video in videos]
    width = min(len(row) for row in rows)
    save_png(path, frame_strip([row[:width] for row in rows], frame_indices=list(range(width))))
