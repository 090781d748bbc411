"""Prompt switches mid-stream, measured on the shapes world (issue 32, point 5).

    python benchmarks/prompt_switch.py [--model DIR] [--switches 50] [--kind motion|appearance]
        [--switch-from window|frame|scratch]
        [--switch-temperature T] [--first-seed N]

Each trial (seed i) streams a training prompt in its template phrasing that names speed and
background ("a red circle, small, quickly moves right over a white background"), switches at a
random latent frame after the first window (video frame s) to the same prompt with one attribute
changed, and reads the video with the shapes detector:

- `--kind motion` (the issue's 50 switches): half the trials change the direction (to one
  outside the old one's bounces, below), half the speed. "New motion read" = the direction read
  on frames [s + 8, s + 16) is the new prompt's (for a speed switch, its unchanged direction; the
  speed read there is reported too). Objects bounce off the walls, and each bounce turns the
  direction read, so the motion is also read up to bounces, two ways: the detector's direction
  (a straight-line fit over the 8 frames) is one a bounce of the prompt's gives ("left" for
  "right"; any diagonal for a diagonal); and the bounce-proof reading (`motion_reading`): the
  median of the per-frame step's absolute x and y gives the axis class (horizontal, vertical or
  diagonal) and the median step length the speed, which a bounce inside the 8 frames does not
  bend as it bends a straight-line fit (`--validate-reader N` checks both on N rendered clips with
  known motion). A new direction is drawn outside the old one's bounces, so that these readings
  tell old from new. "Kept" = the majority shape, colour
  and size over frames [s, s + 16) are the prompt's (both prompts share them).
- `--kind appearance`: half change the colour (to another one the background allows), half the
  shape; "new read" = that attribute's majority over [s + 8, s + 16) is the new one; "kept" = the
  other two of shape, colour, size and the direction over [s + 8, s + 16).

Every trial is also streamed without a switch (same seed, same frames): the control row says how
often the detector reads the old prompt there, the ceiling that a switch's figure is read against.
"No cut" = PySceneDetect finds no scene cut in frames [s - 8, s + 16). `--switch-from` is what the
new prompt goes on from (`stream`'s `switch_from`): the same anchor and window (the default), the
frame on screen as the anchor of a new first window, or a new anchor drawn from scratch.
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


def axis_class(direction: str) -> str:
    """The axes a direction moves along, which wall bounces keep: horizontal, vertical or diagonal."""
    return {"right": "horizontal", "left": "horizontal", "up": "vertical", "down": "vertical"}.get(direction, "diagonal")


def motion_reading(detection, frame_size: int = 64) -> tuple[str | None, str | None]:
    """(axis class, speed) of a detection's centroid track from the median absolute per-frame step
    along x and y: a wall bounce flips a step's sign, not its size, so neither bends. (None, None)
    for fewer than 2 steps or a still object."""
    from arvid.shapes.world import speed_px

    present = np.flatnonzero(detection.present)
    consecutive = present[1:][np.diff(present) == 1]
    if len(consecutive) < 2:
        return None, None
    steps = detection.centroids[consecutive] - detection.centroids[consecutive - 1]
    step_x, step_y = np.median(np.abs(steps), axis=0)
    length = float(np.median(np.hypot(steps[:, 0], steps[:, 1])))
    if length < 0.25 * frame_size / 64:  # the detector's min_speed
        return None, None
    angle = np.degrees(np.arctan2(step_y, step_x))
    kind = "horizontal" if angle < 22.5 else "vertical" if angle > 67.5 else "diagonal"
    boundary = np.sqrt(speed_px("slow", frame_size) * speed_px("fast", frame_size))
    return kind, "fast" if length >= boundary else "slow"


def validate_reader(clips: int) -> None:
    """Both up-to-bounce readings of 8 frames of rendered clips with known motion (frames 16 to 56,
    where bounces happen), against the truth: the axis class and speed of the clip's direction."""
    from arvid.shapes.detector import detect
    from arvid.shapes.world import random_clip

    rng = np.random.default_rng(1)
    fitted, stepped, fitted_speed, stepped_speed = [], [], [], []
    for _ in range(clips):
        clip = random_clip(rng, "all", 64)
        start = int(rng.integers(16, 57))
        detection = detect(clip.video[start:start + 8])
        truth = clip.attrs
        fitted.append(detection.direction is not None and detection.direction in bounced(truth.direction))
        fitted_speed.append(detection.speed == truth.speed)
        kind, speed = motion_reading(detection)
        stepped.append(kind == axis_class(truth.direction))
        stepped_speed.append(speed == truth.speed)
    print(f"{clips} rendered clips, 8 frames from frame 16 to 56 (known motion):")
    for name, classes, speeds in (("straight-line fit up to bounces", fitted, fitted_speed),
                                  ("per-frame steps (axis class)", stepped, stepped_speed)):
        print(f"  {name:<32} direction {100 * np.mean(classes):.1f}%, speed {100 * np.mean(speeds):.1f}%")


def read(video: np.ndarray, window: slice, start: int):
    from arvid.shapes.detector import detect

    return detect(video[start + window.start:start + window.stop])


def score(video: np.ndarray, start: int, expected, changed: str, kind: str) -> dict:
    """What the detector reads after frame `start` against the attributes `expected`."""
    from arvid.metrics.scene_cuts import scene_cuts

    late, early = read(video, READ, start), read(video, KEPT, start)
    up_to_bounces = steps_class = steps_speed = None
    if kind == "motion":
        new = late.direction == expected.direction
        up_to_bounces = late.direction in bounced(expected.direction)
        steps_class, steps_speed = motion_reading(late)
        kept = all(getattr(early, name) == getattr(expected, name) for name in ("shape", "colour", "size"))
    else:
        new = getattr(late, changed) == getattr(expected, changed)
        stays = [name for name in ("shape", "colour", "size") if name != changed]
        kept = all(getattr(late, name) == getattr(expected, name) for name in stays)
        kept = kept and late.direction == expected.direction
    cuts = scene_cuts(video[max(0, start - CUT_BEFORE):start + KEPT.stop])
    return {"new": bool(new), "kept": bool(kept), "speed_read": late.speed, "direction_read": late.direction,
            "cut": bool(cuts), "new_up_to_bounces": up_to_bounces, "steps_class": steps_class,
            "steps_speed": steps_speed,
            "new_by_steps": None if kind != "motion" else (steps_class == axis_class(expected.direction)
                                                           and steps_speed == expected.speed)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder with lm/ and tokenizer/ (default: the shipped model)")
    parser.add_argument("--switches", type=int, default=50)
    parser.add_argument("--kind", choices=("motion", "appearance"), default="motion")
    parser.add_argument("--switch-from", choices=("window", "frame", "scratch"), default="window",
                        help="what the new prompt goes on from (stream's switch_from)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="trial i draws its prompts and its video from seeds first-seed + i (another set of "
                             "trials to choose settings on, keeping the reported one unseen)")
    parser.add_argument("--switch-temperature", type=float,
                        help="the temperature of the window after the switch (default: the model's generation config)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="compile the LM's decode step first")
    parser.add_argument("--json", help="also write every trial to this JSON file")
    parser.add_argument("--validate-reader", type=int, metavar="N",
                        help="instead: check the motion readings on N rendered clips of known motion")
    args = parser.parse_args(argv)
    if args.validate_reader:
        validate_reader(args.validate_reader)
        return

    from dataclasses import replace

    from arvid.sampling import stream
    from arvid.shapes.world import caption

    lm, tokenizer, config, window = load_for_streaming(args.model, threads=args.threads, compile=args.compile)
    if args.switch_temperature is not None:
        config = replace(config, switch_temperature=args.switch_temperature)
    rng = np.random.default_rng(args.first_seed)
    trials, started = [], time.perf_counter()
    for index in range(args.first_seed, args.first_seed + args.switches):
        old, new, changed = trial_prompts(rng, args.kind, index)
        at = int(rng.integers(window + 1, 17))  # the latent frame the new prompt takes over at
        start = 4 * at - 3  # its first video frame
        before, after = caption(old, 1), caption(new, 1)
        seeded = replace(config, seed=index)
        videos = {}
        schedule = lambda latent, at=at, before=before, after=after: after if latent >= at else before  # noqa: E731
        for name, prompts in (("switched", schedule), ("control", None)):
            frames = []
            for latent in stream(lm, tokenizer, before, seeded, prompts=prompts, switch_from=args.switch_from):
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
    print(f"\n{args.switches} {args.kind} switches (switch from: {args.switch_from}), "
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
        print("the bounce-proof reading (axis class and speed from the per-frame steps, both the prompt's):")
        for row in ("switched", "control"):
            for changed in sorted({t["changed"] for t in trials}) + ["all"]:
                chosen = [t[row]["new_by_steps"] for t in trials if changed in ("all", t["changed"])]
                print(f"  {row} ({changed}, {len(chosen)}): {100 * np.mean(chosen):.0f}%")
        speeds = [t for t in trials if t["changed"] == "speed"]
        if speeds:
            right = np.mean([t["switched"]["speed_read"] == ("fast" if "quickly" in t["to"] else "slow") for t in speeds])
            print(f"speed switches: the new speed read in {100 * right:.0f}%")
    write_json(args.json, {"kind": args.kind, "switch_from": args.switch_from, "model": args.model or "shipped",
                           "trials": trials})


if __name__ == "__main__":
    main()
