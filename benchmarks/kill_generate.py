"""What a `kill -9` of `arvid generate` leaves: frames completed (per the token file) against frames
readable from the video, over many kills at different moments, beside the previous path (the
unfragmented, buffered writer, `VideoWriter(streaming=False)`) killed after as many frames.

    python benchmarks/kill_generate.py [--kills 10] [--formats mp4 gif] [--model DIR]

Each kill starts a real `arvid generate PROMPT --frames 0 --first-window-candidates 1 -o out.EXT
--tokens-out out.ndjson`, waits until the token file has 2, 3, ... whole lines (a different count
each kill) plus a random part of a latent frame's time, sends SIGKILL, and reads back: the token
file's whole lines (each `frames` field: the video frames of that latent frame) and the frames the
video decodes to (mp4: `arvid.data.video.read_video`; gif: FFmpeg directly, since read_video
refuses a GIF without the trailer byte that only a normal close writes). A latent frame's frames are
written before its token line, and each frame is on disk once written (`arvid.data.live_muxers`),
so "lost" (completed minus readable) should be 0. The previous-path column writes as
many frames with the unfragmented writer and kills itself: an mp4 without its index, unreadable.
A benchmark, not a test: tests/test_streams_and_signals.py kills generate once, with a tiny model.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "a small red circle moving right on a black background"


def whole_lines(path: Path) -> list[dict]:
    """The token file's lines that were written whole (a kill may cut the last one)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


def readable_frames(path: Path) -> int:
    """Frames the video decodes to; 0 when it does not open."""
    import av

    from arvid.data.video import VideoReadError, read_video

    if not path.exists():
        return 0
    if path.suffix == ".mp4":
        try:
            return len(read_video(path))
        except VideoReadError:
            return 0
    try:
        with av.open(str(path)) as container:
            return sum(1 for _ in container.decode(video=0))
    except av.error.FFmpegError:
        return 0


def previous_path(frames: int, suffix: str, folder: Path) -> int:
    """Frames readable after the unfragmented writer wrote `frames` 64x64 frames and was killed outright."""
    path = folder / f"previous{suffix}"
    script = ("import os, signal, numpy as np\nfrom arvid.data.video_writer import VideoWriter\n"
              f"writer = VideoWriter({str(path)!r}, fps=8)\nrng = np.random.default_rng(0)\n"
              f"for _ in range({frames}):\n    writer.write(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", script], check=False)
    return readable_frames(path)


def kill_once(latent_frames: int, delay: float, suffix: str, folder: Path, model: str | None) -> dict:
    """Start generate, kill -9 it once the token file has `latent_frames` lines and `delay` s more; what is left."""
    video, tokens = folder / f"out{suffix}", folder / "out.ndjson"
    for path in (video, tokens):
        path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "arvid.tools.cli", "generate", PROMPT, "--frames", "0",
               "--first-window-candidates", "1", "-o", str(video), "--tokens-out", str(tokens)]
    if model:
        command += ["--model", model]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(whole_lines(tokens)) < latent_frames:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"generate stopped or stalled before {latent_frames} latent frames")
        time.sleep(0.01)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    lines = whole_lines(tokens)
    completed = sum(line["frames"] for line in lines)
    return {"latent": len(lines), "completed": completed, "readable": readable_frames(video),
            "previous": previous_path(completed, suffix, folder)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10, help="kills per format (default 10)")
    parser.add_argument("--formats", nargs="+", default=["mp4", "gif"], choices=["mp4", "gif"])
    parser.add_argument("--model", help="model folder (default: the shipped model)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the extra delays")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    print(f"{'format':6} {'kill':>4} {'after':>8} {'latent':>6} {'completed':>9} {'readable':>8} {'lost':>4} "
          f"{'previous path':>13}")
    worst = {}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (f".{name}" for name in args.formats):
            for kill in range(args.kills):
                latent_frames, delay = 2 + kill, rng.uniform(0, 0.6)  # a latent frame takes about 0.5 s here
                row = kill_once(latent_frames, delay, suffix, Path(tmp), args.model)
                lost = row["completed"] - row["readable"]
                worst[suffix] = max(worst.get(suffix, lost), lost)
                print(f"{suffix[1:]:6} {kill + 1:>4} {f'{latent_frames}+{delay:.2f}s':>8} {row['latent']:>6} "
                      f"{row['completed']:>9} {row['readable']:>8} {lost:>4} {row['previous']:>13}", flush=True)
    for suffix, lost in worst.items():
        print(f"{suffix[1:]}: at most {lost} completed frame(s) lost in {args.kills} kills")


if __name__ == "__main__":
    main()
