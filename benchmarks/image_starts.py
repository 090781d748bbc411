"""Image-to-video from a first frame the LM did not choose, measured on the shapes world.

    python benchmarks/image_starts.py [--model DIR] [--videos 40] [--first-seed 0] [--compile]

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
it). Both readings of rendered clips of known motion are checked by `prompt_switch.py
--validate-reader` and `pytest tests/test_shapes.py`. A benchmark, not a test: prints one table.
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


def first_frame(attrs, start: str, seed: int) -> np.ndarray:
    """uint8 (64 64 3): the first frame of a clip of `attrs` with its object placed as `start` says."""
    from arvid.shapes.world import render

    if start == "far-wall start":
        return render(replace(attrs, direction=OPPOSITE[attrs.direction]), frames=1, seed=seed).video[0]
    return render(attrs, frames=1, seed=seed, anywhere=start == "anywhere").video[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder with lm/ and tokenizer/ (default: the shipped model)")
    parser.add_argument("--videos", type=int, default=40, help="trials; each streams one video per start")
    parser.add_argument("--first-seed", type=int, default=0, help="trial i draws its prompt and video from seed first-seed + i")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="compile the LM's decode step first")
    args = parser.parse_args(argv)

    from arvid.sampling import generate
    from arvid.shapes.detector import detect
    from arvid.shapes.world import caption, sample_attributes

    lm, tokenizer, config, window = load_for_streaming(args.model, threads=args.threads, compile=args.compile)
    reads = {start: [] for start in STARTS}
    started = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.videos):
        attrs = sample_attributes(np.random.default_rng(seed), "train")
        for start in STARTS:
            image = first_frame(attrs, start, seed)
            latents = generate(lm, tokenizer, caption(attrs, 1), 5, replace(config, seed=seed), image=image)
            video = np.concatenate([latent.frames for latent in latents])
            whole, late = detect(video[:17]), detect(video[9:17])
            reads[start].append((whole.direction == attrs.direction, late.direction in bounced(attrs.direction)))
    minutes = (time.perf_counter() - started) / 60
    print(f"\n{args.videos} prompts x {len(STARTS)} starts, image-to-video, model {args.model or 'shipped'}, "
          f"seeds {args.first_seed}-{args.first_seed + args.videos - 1}, {minutes:.1f} min")
    print(f"{'first frame':<16} {'direction, frames 0-16':>23} {'up to bounces, frames 9-16':>27}")
    for start, rows in reads.items():
        exact, bounces = 100 * np.mean(rows, axis=0)
        print(f"{start:<16} {exact:>22.0f}% {bounces:>26.0f}%")


if __name__ == "__main__":
    main()
