"""Validate the evaluation's "moving" reading on clips with a known answer: shapes-world objects never stop.

    python benchmarks/moving_reading.py [--clips 120] [--tokenizer weights/tokenizer]

`arvid eval-video` calls a long video's last window a miss when the object is read as still there
(`arvid.shapes.prompt_match`, median centroid step against the detector's threshold). A 1,000-frame
video's last window holds 8 frames, the others 16. This renders clips (two thirds slow, a third fast),
reads every 8- and 16-frame window of each as rendered and after the tokenizer's round trip (what a
generated video looks like at best), and prints how many windows read as still: every one is a
false reading. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter

import numpy as np
import torch

from arvid.shapes.prompt_match import score_window
from arvid.shapes.world import render, sample_attributes
from arvid.tokenizer.evaluate import reconstruct
from arvid.tokenizer.model import VideoTokenizer

CLIP_FRAMES = 33  # after the first frame, two 16-frame windows or four 8-frame ones
WINDOWS = {16: (1, 17), 8: (1, 9, 17, 25)}  # window length -> starts (frame 0 has no step before it)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=120)
    parser.add_argument("--tokenizer", default="weights/tokenizer", help="tokenizer folder for the round trip")
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tokenizer = VideoTokenizer.from_pretrained(args.tokenizer)
    rng = np.random.default_rng(args.seed)
    still, windows = Counter(), Counter()
    for index in range(args.clips):
        speed = "fast" if index % 3 == 0 else "slow"
        attrs = dataclasses.replace(sample_attributes(rng, "train"), speed=speed)
        clip = render(attrs, frames=CLIP_FRAMES, seed=int(rng.integers(1 << 30)))
        for source, video in (("as rendered", clip.video), ("tokenizer round trip", reconstruct(tokenizer, clip.video).frames)):
            for length, starts in WINDOWS.items():
                for start in starts:
                    key = (source, speed, length)
                    windows[key] += 1
                    still[key] += not score_window(video[start:start + length], {"shape": attrs.shape}).moving
    print(f"{'frames':<22} {'speed':<5} {'window':>6} {'read as still':>14}")
    for key in sorted(windows):
        source, speed, length = key
        print(f"{source:<22} {speed:<5} {length:>6} {still[key]:>6} of {windows[key]:<5}")


if __name__ == "__main__":
    main()
