"""Image-to-video from a first frame the LM did not choose, measured on the shapes world.

    python benchmarks/image_starts.py [--model DIR] [--videos 40] [--first-seed 0] [--compile]
        [--starts anywhere] [--cfg 4] [--candidates 1]

Each trial draws a training prompt and renders its first frame three ways, then streams
image-to-video from it (`stream(image=...)`, the model's default sampling) and reads the first 17
frames with the shapes detector:

- "training start": the object where the prompt's clips start in training (`render`: a position
  from which its first 16 steps run straight, so the start itself hints at the direction);
- "far-wall start": where a clip of the opposite direction starts, near the wall the prompt's
  direction runs into, so a wall turns the object within its first frames;
- "anywhere": uniform over the room (`render(anywhere=True)`), as a user's photo or the frame on
  screen at a prompt switch (`stream(switch_from="frame")`) may put it.

"Direction" = the detector's direction over frames 0-16 is the prompt's; "up to bounces" = the
direction over frames 9-16 is the prompt's or one a wall bounce gives (as `prompt_switch.py` reads
it). Under the first and third rows, "rendered clip" reads the rendered clip itself (the true
motion from that frame): the ceiling a perfect model would reach (a bounce inside frames 9-16 bends
the straight-line fit, so it is below 100% from elsewhere). The last two columns split "up to
bounces" by whether the object's start is a training start of the prompt (`is_training_start`: its
first 16 steps in the prompt's direction meet no wall), as it always is in the first row. `--cfg`
and `--candidates` replace the model's guidance scale and first-window candidates. A benchmark,
not a test: prints one table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from bench_models import load_for_streaming  # benchmarks/bench_models.py, beside this script
from prompt_switch import bounced  # benchmarks/prompt_switch.py, beside this script

OPPOSITE = {"right": "left", "left": "right", "up": "down", "down": "up", "up-right": "down-left",
            "down-left": "up-right", "up-left": "down-right", "down-right": "up-left"}
STARTS = ("training start", "far-wall start", "anywhere")


def rendered(attrs, start: str, seed: int, frames: int = 17) -> tuple[np.ndarray, bool]:
    """A clip, uint8 (frames 64 64 3), with `attrs`' object placed as `start` says, and whether that
    place is a training start of `attrs`. Its first frame is the image streamed from; for the
    training start and anywhere, the clip is also the true motion (for "far-wall start" it moves the
    opposite way: only its first frame is used)."""
    from arvid.shapes.world import is_training_start, render

    if start == "far-wall start":
        clip = render(replace(attrs, direction=OPPOSITE[attrs.direction]), frames=frames, seed=seed)
    else:
        clip = render(attrs, frames=frames, seed=seed, anywhere=start == "anywhere")
    return clip.video, is_training_start(attrs, clip.positions[0])


def reading(video: np.ndarray, attrs) -> tuple[bool, bool]:
    """(the detector's direction over frames 0-16 is `attrs`', over 9-16 it is one up to bounces)."""
    from arvid.shapes.detector import detect

    return detect(video[:17]).direction == attrs.direction, detect(video[9:17]).direction in bounced(attrs.direction)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder with lm/ and tokenizer/ (default: the shipped model)")
    parser.add_argument("--videos", type=int, default=40, help="trials; each streams one video per start")
    parser.add_argument("--first-seed", type=int, default=0, help="trial i draws its prompt and video from seed first-seed + i")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="compile the LM's decode step first")
    parser.add_argument("--starts", nargs="+", choices=STARTS, default=list(STARTS), metavar="START",
                        help=f"which first frames (default all: {', '.join(repr(s) for s in STARTS)})")
    parser.add_argument("--cfg", type=float, help="guidance scale (default: the model's)")
    parser.add_argument("--candidates", type=int, help="first-window candidates (default: the model's)")
    args = parser.parse_args(argv)

    from arvid.sampling import generate
    from arvid.shapes.world import caption, sample_attributes

    lm, tokenizer, config, window = load_for_streaming(args.model, threads=args.threads, compile=args.compile)
    overrides = {name: value for name, value in (("cfg_scale", args.cfg), ("first_window_candidates", args.candidates))
                 if value is not None}
    config = replace(config, **overrides)
    reads = {start: [] for start in args.starts}
    truths = {start: [] for start in args.starts if start != "far-wall start"}
    started = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.videos):
        attrs = sample_attributes(np.random.default_rng(seed), "train")
        for start in args.starts:
            clip, straight = rendered(attrs, start, seed)
            latents = generate(lm, tokenizer, caption(attrs, 1), 5, replace(config, seed=seed), image=clip[0])
            reads[start].append((*reading(np.concatenate([latent.frames for latent in latents]), attrs), straight))
            if start in truths:
                truths[start].append((*reading(clip, attrs), straight))
    minutes = (time.perf_counter() - started) / 60
    print(f"\n{args.videos} prompts x {len(reads)} starts, image-to-video, model {args.model or 'shipped'}, "
          f"seeds {args.first_seed}-{args.first_seed + args.videos - 1}, {', '.join(f'{k} {v}' for k, v in overrides.items())}"
          f"{', ' if overrides else ''}{minutes:.1f} min")
    print(f"{'first frame':<16} {'direction, frames 0-16':>23} {'up to bounces, frames 9-16':>27} "
          f"{'of them: from a training start':>31} {'from elsewhere':>15}")
    for start, rows in reads.items():
        print_row(start, rows)
        if start in truths:  # the readings' ceiling: the same frames' true motion
            print_row("  rendered clip", truths[start])


def print_row(name: str, rows: list[tuple[bool, bool, bool]]) -> None:
    """One table row from (exact, up to bounces, from a training start) per trial."""
    rows = np.array(rows, dtype=bool)
    exact, bounces = 100 * rows[:, :2].mean(axis=0)
    split = [share(rows[rows[:, 2] == straight, 1]) for straight in (True, False)]
    print(f"{name:<16} {exact:>22.0f}% {bounces:>26.0f}% {split[0]:>31} {split[1]:>15}")


def share(hits: np.ndarray) -> str:
    """'P% of N' for booleans, '-' for none."""
    return f"{100 * hits.mean():.0f}% of {len(hits)}" if len(hits) else "-"


if __name__ == "__main__":
    main()
