"""Measure how often the shapes-world detector reads the ground truth back.

    python benchmarks/detector_accuracy.py --videos 3000

Renders random clips (attributes uniform over the chosen split), runs `arvid.shapes.detector.detect`
on each clip as rendered and on a blurred, noisy copy (`detector.degrade`), and prints one table:
the fraction of clips whose summary reading is right, per attribute, and the fraction of frames whose
per-frame reading is right.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from tqdm import tqdm

from arvid.shapes import detector, world as shapes


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=3000, help="clips to render and read")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip")
    parser.add_argument("--size", type=int, default=64, help="frame side in pixels")
    parser.add_argument("--split", choices=("train", "heldout", "all"), default="all")
    parser.add_argument("--blur", type=int, default=3, help="box-blur side of the degraded copy")
    parser.add_argument("--noise-sd", type=float, default=8.0, help="noise sd of the degraded copy")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = _parse()
    rng = np.random.default_rng(args.seed)
    conditions = ("clean", f"blur {args.blur} + noise {args.noise_sd:g}")
    totals = {condition: {} for condition in conditions}
    centroid_errors = {condition: [] for condition in conditions}
    seconds = dict.fromkeys(conditions, 0.0)
    for _ in tqdm(range(args.videos), desc="clips", unit="clip"):
        clip = shapes.random_clip(rng, args.split, args.frames, size=args.size)
        degraded = detector.degrade(clip.video, rng=rng, blur=args.blur, noise_sd=args.noise_sd)
        for condition, video in zip(conditions, (clip.video, degraded), strict=True):
            start = time.perf_counter()
            detection = detector.detect(video)
            seconds[condition] += time.perf_counter() - start
            for name, score in detector.compare(detection, clip.attrs).items():
                totals[condition][name] = totals[condition].get(name, 0.0) + score
            centroid_errors[condition].append(detector.centroid_error(detection, clip))

    names = list(totals[conditions[0]])
    width = max(len(name) for name in names + ["centroid error (px)"]) + 2
    print(f"\n{args.videos} clips of {args.frames} frames at {args.size}x{args.size}, split {args.split!r}")
    print(f"{'reading':<{width}}" + "".join(f"{condition:>22}" for condition in conditions))
    for name in names:
        print(f"{name:<{width}}" + "".join(f"{totals[c][name] / args.videos:>22.4f}" for c in conditions))
    readings = args.videos * len(shapes.ATTRIBUTE_NAMES)
    summary = [sum(totals[c][name] for name in shapes.ATTRIBUTE_NAMES) / readings for c in conditions]
    print(f"{'all attributes':<{width}}" + "".join(f"{value:>22.4f}" for value in summary))
    # Mean over clips where the object was found at all (centroid_error is NaN otherwise).
    errors = [np.mean([e for e in centroid_errors[c] if not math.isnan(e)] or [math.nan]) for c in conditions]
    print(f"{'centroid error (px)':<{width}}" + "".join(f"{value:>22.3f}" for value in errors))
    print(f"{'detect ms / clip':<{width}}" + "".join(f"{1e3 * seconds[c] / args.videos:>22.2f}" for c in conditions))


if __name__ == "__main__":
    main()
