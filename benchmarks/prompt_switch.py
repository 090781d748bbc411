"""Prompt switches mid-stream, measured on the shapes world (issue 32, point 5).

    python benchmarks/prompt_switch.py [--model DIR] [--switches 50] [--kind motion|appearance] [--reanchor]

Each trial (seed i) streams a training prompt in its template phrasing that names speed and
background ("a red circle, small, quickly moves right over a white background"), switches at a
random latent frame after the first window (video frame s) to the same prompt with one attribute
changed, and reads the video with the shapes detector:

- `--kind motion` (the issue's 50 switches): half the trials change the direction (to one
  outside the old one's bounces, below), half the speed. "New motion read" = the direction read
  on frames [s + 8, s + 16) is the new prompt's (for a speed switch, its unchanged direction; the
  speed read there is reported too). Objects bounce off the walls, and each bounce turns the direction read, so the
  motion is also read up to bounces: right if the direction read is one a bounce of the prompt's
  gives ("left" for "right"; any diagonal for a diagonal); a new direction is drawn outside the
  old one's bounces, so that this reading tells old from new. "Kept" = the majority shape, colour
  and size over frames [s, s + 16) are the prompt's (both prompts share them).
- `--kind appearance`: half change the colour (to another one the background allows), half the
  shape; "new read" = that attribute's majority over [s + 8, s + 16) is the new one; "kept" = the
  other two of shape, colour, size and the direction over [s + 8, s + 16).

Every trial is also streamed without a switch (same seed, same frames): the control row says how
often the detector reads the old prompt there, the ceiling that a switch's figure is read against.
"No cut" = PySceneDetect finds no scene cut in frames [s - 8, s + 16). `--reanchor` restarts the
context at each switch (`stream(reanchor=True)`); the default keeps the anchor and window.
A benchmark, not a test: it prints one table and, with --json, writes every trial.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench_models import load_for_streaming  # benchmarks/bench_models.py, beside this script
from device_info import write_json  # benchmarks/device_info.py, beside this script

READ = slice(8, 16)  # frames after the switch where the new motion or look is read
KEPT = slice(0, 16)  # frames after the switch where the attributes that stay are read
CUT_BEFORE = 8  # frames before the switch included in the scene-cut check


def trial_prompts(rng: np.random.Generator, kind: str, index: int):
    """(old attributes, new attributes, which attribute changed) for trial `index`."""
    from dataclasses import replace

    from arvid.shapes.world import COLOURS, DIRECTIONS, SHAPES, SPEEDS, allowed_backgrounds, attribute_combinations

    combos = list(attribute_combinations("train"))
    old = combos[int(rng.integers(len(combos)))]
    if kind == "motion":
        changed = "direction" if index % 2 == 0 else "speed"
        # A new direction that no bounce of the old one gives, so that a reading up to bounces can tell.
        values = ([d for d in DIRECTIONS if d not in bounced(old.direction)] if changed == "direction" else SPEEDS)
    else:
        changed = "colour" if index % 2 == 0 else "shape"
        values = [c for c in COLOURS if old.background in allowed_backgrounds(c)] if changed == "colour" else SHAPES
    others = [v for v in values if v != getattr(old, changed)]
    return old, replace(old, **{changed: others[int(rng.integers(len(others)))]}), changed


def bounced(direction: str) -> set[str]:
    """The directions an object moving in `direction` can have after wall bounces (each flips the
    sign of one axis): {"right", "left"} for "right", the four diagonals for a diagonal."""
    from arvid.shapes.world import DIRECTION_VECTORS

    x, y = DIRECTION_VECTORS[direction]
    return {name for name, (u, v) in DIRECTION_VECTORS.items() if abs(u) == abs(x) and abs(v) == abs(y)}


def read(video: np.ndarray, window: slice, start: int):
    from arvid.shapes.detector import detect

    return detect(video[start + window.start:start + window.stop])


def score(video: np.ndarray, start: int, expected, changed: str, kind: str) -> dict:
    """What the detector reads after frame `start` against the attributes `expected`."""
    from arvid.metrics.scene_cuts import scene_cuts

    late, early = read(video, READ, start), read(video, KEPT, start)
    up_to_bounces = None
    if kind == "motion":
        new = late.direction == expected.direction
        up_to_bounces = late.direction in bounced(expected.direction)
        kept = all(getattr(early, name) == getattr(expected, name) for name in ("shape", "colour", "size"))
    else:
        new = getattr(late, changed) == getattr(expected, changed)
        stays = [name for name in ("shape", "colour", "size") if name != changed]
        kept = all(getattr(late, name) == getattr(expected, name) for name in stays)
        kept = kept and late.direction == expected.direction
    cuts = scene_cuts(video[max(0, start - CUT_BEFORE):start + KEPT.stop])
    return {"new": bool(new), "kept": bool(kept), "speed_read": late.speed, "direction_read": late.direction,
            "cut": bool(cuts), "new_up_to_bounces": up_to_bounces}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder with lm/ and tokenizer/ (default: the shipped model)")
    parser.add_argument("--switches", type=int, default=50)
    parser.add_argument("--kind", choices=("motion", "appearance"), default="motion")
    parser.add_argument("--reanchor", action="store_true", help="restart the context at the switch")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="compile the LM's decode step first")
    parser.add_argument("--json", help="also write every trial to this JSON file")
    args = parser.parse_args(argv)

    from dataclasses import replace

    from arvid.sampling import stream
    from arvid.shapes.world import caption

    lm, tokenizer, config, window = load_for_streaming(args.model, threads=args.threads, compile=args.compile)
    rng = np.random.default_rng(0)
    trials, started = [], time.perf_counter()
    for index in range(args.switches):
        old, new, changed = trial_prompts(rng, args.kind, index)
        at = int(rng.integers(window + 1, 17))  # the latent frame the new prompt takes over at
        start = 4 * at - 3  # its first video frame
        before, after = caption(old, 1), caption(new, 1)
        seeded = replace(config, seed=index)
        videos = {}
        schedule = lambda latent, at=at, before=before, after=after: after if latent >= at else before  # noqa: E731
        for name, prompts in (("switched", schedule), ("control", None)):
            frames = []
            for latent in stream(lm, tokenizer, before, seeded, prompts=prompts, reanchor=args.reanchor):
                frames.append(latent.frames)
                if latent.index >= at + 4:
                    break
            videos[name] = np.concatenate(frames)
        trial = {"seed": index, "changed": changed, "from": before, "to": after, "latent_frame": at, "frame": start,
                 "switched": score(videos["switched"], start, new, changed, args.kind),
                 "control": score(videos["control"], start, old, changed, args.kind)}
        trials.append(trial)
        print(f"{index:>3} {changed:>9} at frame {start:>3}: new {trial['switched']['new']!s:>5} "
              f"kept {trial['switched']['kept']!s:>5} cut {trial['switched']['cut']!s:>5} | control old "
              f"{trial['control']['new']!s:>5}", flush=True)
    minutes = (time.perf_counter() - started) / 60
    print(f"\n{args.switches} {args.kind} switches ({'re-anchored' if args.reanchor else 'same anchor and window'}), "
          f"model {args.model or 'shipped'}, {minutes:.1f} min")
    print(f"{'row':<28} {'new read':>9} {'kept':>6} {'no cut':>7}")
    for row in ("switched", "control"):
        for changed in sorted({t["changed"] for t in trials}) + ["all"]:
            chosen = [t[row] for t in trials if changed in ("all", t["changed"])]
            new, kept, whole = (100 * np.mean([t[key] != flip for t in chosen])
                                for key, flip in (("new", False), ("kept", False), ("cut", True)))
            label = f"{row} ({changed}, {len(chosen)})"
            print(f"{label:<28} {new:>8.0f}% {kept:>5.0f}% {whole:>6.0f}%")
    if args.kind == "motion":
        print("the motion read up to wall bounces (any direction a bounce of the prompt's gives):")
        for row in ("switched", "control"):
            for changed in sorted({t["changed"] for t in trials}) + ["all"]:
                chosen = [t[row]["new_up_to_bounces"] for t in trials if changed in ("all", t["changed"])]
                print(f"  {row} ({changed}, {len(chosen)}): {100 * np.mean(chosen):.0f}%")
        speeds = [t for t in trials if t["changed"] == "speed"]
        if speeds:
            right = np.mean([t["switched"]["speed_read"] == ("fast" if "quickly" in t["to"] else "slow") for t in speeds])
            print(f"speed switches: the new speed read in {100 * right:.0f}%")
    write_json(args.json, {"kind": args.kind, "reanchor": args.reanchor, "model": args.model or "shipped",
                           "trials": trials})


if __name__ == "__main__":
    main()
