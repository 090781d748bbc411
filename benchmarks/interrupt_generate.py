"""What Ctrl-C or SIGTERM at a random moment does to `arvid generate`: the exit code, whether a
traceback was printed, and whether the files left agree with the exit (no file when interrupted
before the first frame; else a video with as many frames as the token file lists).

    python benchmarks/interrupt_generate.py [--runs 40] [--signal INT|TERM] [--latest 8] [--unpatched]

Each run starts `python -m arvid.tools.cli generate PROMPT --frames 16 -o out.mp4 --tokens-out
out.ndjson` with the shipped model and sends the signal after a random delay in [0, --latest]
seconds: while Python imports torch and its kin, while the models load, while the first window is
drawn, or after the video is done (exit 0). `--unpatched` runs the command with
`arvid.tools.cli._forget_caught_interrupt` switched off, the path before it existed: CPython then
ends some processes interrupted during imports by SIGINT (exit -2) although arvid returned 130.
A benchmark, not a test: tests/test_streams_and_signals.py signals generate at two fixed moments.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

PROMPT = "a small red circle moving right on a black background"
# `python -m` of this module runs the command as `python -m arvid.tools.cli` does, with the fix off.
UNPATCHED = ("import sys\nfrom arvid.tools import cli\ncli._forget_caught_interrupt = lambda: None\n"
             "sys.exit(cli.main())\n")


def run_once(folder: Path, sig: signal.Signals, delay: float, unpatched: bool) -> dict:
    """One interrupted `arvid generate` in `folder`: its exit code, traceback and files."""
    video, tokens = folder / "out.mp4", folder / "out.ndjson"
    for path in (video, tokens):
        path.unlink(missing_ok=True)
    module = "unpatched_cli" if unpatched else "arvid.tools.cli"
    argv = [sys.executable, "-m", module, "generate", PROMPT, "--frames", "16", "-o", str(video),
            "--tokens-out", str(tokens)]
    # SIGINT back at its default in the child, so that Python installs its Ctrl-C handler there even
    # when this script was started in the background (which ignores SIGINT, and children inherit that).
    process = subprocess.Popen(argv, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=os.environ | {"OMP_NUM_THREADS": "1"},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    err = err.decode()
    return {"code": process.returncode, "traceback": "Traceback" in err,
            "files": _files_agree(process.returncode, video, tokens)}


def _files_agree(code: int, video: Path, tokens: Path) -> bool:
    """Whether the files left are what the exit code promises."""
    from arvid.data.token_stream import read_token_frames
    from arvid.data.video import read_video

    if not video.exists() and not tokens.exists():
        return code == 130  # interrupted before the first frame: no file, as promised
    if not (video.exists() and tokens.exists()):
        return False
    with open(tokens, "rb") as lines:
        listed = sum(record.frames for record in read_token_frames(lines, str(tokens)))
    return len(read_video(video)) == listed and (code != 0 or listed == 16)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--signal", choices=("INT", "TERM"), default="INT")
    parser.add_argument("--latest", type=float, default=8.0, help="the latest moment a signal is sent, in seconds")
    parser.add_argument("--unpatched", action="store_true",
                        help="run the command without arvid.tools.cli._forget_caught_interrupt")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sig = signal.Signals[f"SIG{args.signal}"]
    rng = random.Random(args.seed)
    tally = collections.Counter()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "unpatched_cli.py").write_text(UNPATCHED)
        for index in range(args.runs):
            delay = rng.uniform(0, args.latest)
            result = run_once(folder, sig, delay, args.unpatched)
            tally[f"exit {result['code']}"] += 1
            tally["traceback"] += result["traceback"]
            tally["files as promised"] += result["files"]
            print(f"{index:>3} signal after {delay:4.2f} s: exit {result['code']:>4}, traceback {result['traceback']!s:>5}, "
                  f"files as promised {result['files']}", flush=True)
    print(f"\nSIG{args.signal} at random moments in [0, {args.latest:g}] s, {args.runs} runs"
          f"{' (unpatched)' if args.unpatched else ''}:")
    for key in sorted(tally):
        print(f"  {key}: {tally[key]}")


if __name__ == "__main__":
    main()
