"""Redraws docs/first_video.png: every 4th frame of the README's set-up video, in two rows.

It runs the set-up command itself (`arvid generate PROMPT --frames 64`, the shipped model and the
command's default sampling), written as a GIF so that no lossy H.264 step sits between the
generated frames and the figure.

    python scripts/first_video_figure.py            # -> docs/first_video.png
    python scripts/first_video_figure.py -o x.png   # elsewhere
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from arvid.data.images import frame_strip, save_png
from arvid.data.video import read_video

PROMPT = "a small red circle moving right on a black background"
FRAMES, EVERY, COLUMNS = 64, 4, 8


def strip(video: np.ndarray) -> np.ndarray:
    """Every EVERY-th frame of `video` (t h w 3 uint8, t = FRAMES) in rows of COLUMNS -> one uint8
    image, as `frame_strip` tiles them (2 white pixels between tiles)."""
    picked = video[::EVERY]
    rows = [picked[start:start + COLUMNS] for start in range(0, len(picked), COLUMNS)]
    return frame_strip(rows, frame_indices=list(range(COLUMNS)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "first_video.png",
                        help="the PNG to write (default: docs/first_video.png, the README's figure)")
    out = parser.parse_args().out
    with tempfile.TemporaryDirectory() as tmp:
        gif = Path(tmp) / "first.gif"
        # This interpreter's arvid, not whichever `arvid` comes first on PATH.
        subprocess.run([sys.executable, "-m", "arvid.tools.cli", "generate", PROMPT, "--frames", str(FRAMES),
                        "-o", str(gif)], check=True)
        video = read_video(gif)
    if len(video) != FRAMES:
        raise RuntimeError(f"arvid generate wrote {len(video)} frames, expected {FRAMES}")
    save_png(out, strip(video))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
