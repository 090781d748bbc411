"""Encode videos into token shards for LM training. Examples:

    arvid tokenize-dataset --videos 2000 --frames 49 -o runs/shapes-tokens/train
    arvid tokenize-dataset --split heldout --videos 64 --frames 49 -o runs/shapes-tokens/heldout
    arvid tokenize-dataset --manifest videos.jsonl --frames 49 -o runs/my-tokens
    arvid tokenize-dataset --manifest videos.jsonl --frames 49 --part 2/8 -o runs/my-tokens/part2

Shapes videos come from the given split of attribute combinations; a manifest is JSON lines
{"path": ..., "caption": ...}. `--tokenizer` picks the tokenizer (default: the shipped one).
"""

from __future__ import annotations

import argparse
import sys

from arvid.tools.errors import UsageError, fail, fail_writing
from arvid.tools.options import add_device_argument, add_tokenizer_argument, check_fps, check_replaceable_folder

# The shapes world's own options, with their flags and defaults (None in argparse: see add_arguments).
SHAPES_ONLY = (("--videos", "videos"), ("--split", "split"), ("--seed", "seed"), ("--paraphrases", "paraphrases"),
               ("--switch-after", "switch_after"))
SHAPES_DEFAULTS = {"videos": 1000, "split": "train", "seed": 0, "paraphrases": 0, "switch_after": 1}
NATIVE = "native"


def _rate(text: str) -> float | str:
    """--fps: a number, or "native" (each file's own rate)."""
    return NATIVE if text.strip().lower() == NATIVE else float(text)


def _part(text: str) -> tuple[int, int]:
    """--part: "I/N", whole numbers with 1 <= I <= N (checked against the manifest later)."""
    index, _, parts = text.partition("/")
    try:
        part = int(index), int(parts)
    except ValueError:
        part = None
    if part is None or not 1 <= part[0] <= part[1]:
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N, such as 2/8, got {text!r}")
    return part


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid tokenize-dataset`'s arguments."""
    parser.add_argument("-o", "--out", required=True,
                        help="output shard folder: new or empty (a folder of other files is refused)")
    parser.add_argument("--overwrite", action="store_true", help="replace the token shards already in -o")
    add_tokenizer_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--manifest",
                        help="JSON-lines manifest of captioned videos: {\"path\", \"caption\"} a line, optionally "
                             "\"start\" and \"end\", a shot's frames in the file's own rate (default: the shapes world)")
    parser.add_argument("--fps", type=_rate, metavar="FPS",
                        help="with --manifest, the rate its videos are read at: the rate the LM learns motion at and "
                             "`arvid generate` writes; native: each file's own (default: 8, the shapes world's and "
                             "the shipped LM's)")
    # The shapes world's options default to None, so that one given with --manifest can be refused (SHAPES_ONLY).
    parser.add_argument("--videos", type=int, help="shapes videos to render (default: 1000)")
    parser.add_argument("--split", choices=("train", "heldout", "all"), help="shapes split (default: train)")
    parser.add_argument("--frames", type=int, default=49, help="frames per video, 1 + 4k")
    parser.add_argument("--seed", type=int, help="seed of the shapes videos (default: 0)")
    parser.add_argument("--paraphrases", type=int,
                        help="per shapes video, this many paraphrased captions (training words and sentence shapes, "
                             "arvid.shapes.paraphrase) beside the 6 template ones, for an LM with a text encoder "
                             "(a sentencepiece text tokenizer trained on the templates reads them poorly); the "
                             "videos stay the same (default: 0)")
    parser.add_argument("--switches", type=float, default=0.0,
                        help="share of shapes videos whose direction or speed changes at a random latent frame, "
                             "captioned anew from there (trains an LM to follow a prompt changed mid-stream)")
    parser.add_argument("--switch-after", type=int, metavar="LATENT_FRAMES",
                        help="switches fall after this many latent frames past the anchor: the LM's window_frames "
                             "keeps its first windows free of them (default 1)")
    parser.add_argument("--anywhere", type=float, default=0.0, metavar="SHARE",
                        help="share of shapes videos (of those that do not switch) that start anywhere in the room, "
                             "a wall turning the object at once, as image-to-video examples: teaches an LM to go on "
                             "from a first frame it did not draw (stream(switch_from='frame'))")
    parser.add_argument("--part", type=_part, metavar="I/N",
                        help="with --manifest, encode only the I-th of N contiguous parts of its lines, so that N runs "
                             "share a large dataset (one a GPU, or one after another: an interrupted part is encoded "
                             "again alone); each into its own -o, trained on together: "
                             "train.data=[DIR1,DIR2,...]; with --fps native each part reads every file's rate, as "
                             "a whole run records it (default: the whole manifest)")
    parser.add_argument("--batch-size", type=int, default=8, help="videos encoded at once")
    # No `choices`: the names live in arvid.training.precision, which imports torch; tokenize_dataset checks them.
    parser.add_argument("--precision", default="auto", metavar="{auto,bf16,fp32}",
                        help="auto: bf16 autocast on CUDA and on CPUs with native bf16, about twice as fast on "
                             "this project's CPU, about 98%% of codes as in fp32; fp32: exact")


def run(args: argparse.Namespace) -> int:
    """Encode the videos into token shards -> exit code (2: bad usage or input)."""
    from arvid.data.captioned import manifest_videos
    from arvid.data.shards import is_shard_folder
    from arvid.shapes.clips import shapes_videos
    from arvid.tokenizer.dataset import tokenize_dataset
    from arvid.tools.checkpoints import load_tokenizer
    from arvid.training.precision import check_precision

    given = [flag for flag, field in SHAPES_ONLY if getattr(args, field) is not None]
    if args.manifest and given:
        return fail(f"{', '.join(given)} {'choose' if len(given) > 1 else 'chooses'} shapes videos; a manifest's "
                    f"videos are its own: leave {'them' if len(given) > 1 else 'it'} out with --manifest")
    for field, default in SHAPES_DEFAULTS.items():
        if getattr(args, field) is None:
            setattr(args, field, default)
    if args.videos < 1:
        return fail(f"--videos must be positive, got {args.videos}")
    if args.batch_size < 1:
        return fail(f"--batch-size must be positive, got {args.batch_size}")
    if args.paraphrases < 0:
        return fail(f"--paraphrases must be >= 0, got {args.paraphrases}")
    if not 0 <= args.switches <= 1:
        return fail(f"--switches must be a share in [0, 1], got {args.switches}")
    if args.switch_after < 1:
        return fail(f"--switch-after must be >= 1 (latent frames past the anchor), got {args.switch_after}")
    if not 0 <= args.anywhere <= 1:
        return fail(f"--anywhere must be a share in [0, 1], got {args.anywhere}")
    from arvid.shapes.world import FPS  # the shapes world's rate, at which the shipped LM learnt motion

    if args.fps is not None and not args.manifest:
        return fail(f"--fps reads a manifest's videos; shapes videos are {FPS} fps")
    fps = float(FPS) if args.fps is None else None if args.fps == NATIVE else args.fps
    if args.part is not None and not args.manifest:
        return fail("--part splits a manifest's lines; give --manifest (shapes videos are cheap to make whole)")
    for flag, value, kept in (("--switches", args.switches, "keep their one caption"),
                              ("--anywhere", args.anywhere, "start where they start")):
        if value and args.manifest:
            return fail(f"{flag} makes shapes videos; a manifest's videos {kept}")
    try:
        check_precision(args.precision)
        check_fps(fps)  # None (native) passes
        check_replaceable_folder(args.out, "-o", holds="token shards", is_ours=is_shard_folder,
                                 overwrite=args.overwrite)
        tokenizer = load_tokenizer(args.tokenizer, args.device)
        size = tokenizer.config.image_size
        try:
            tokenizer.latent_shape(args.frames, size, size)  # a bad frame count fails before any work
        except ValueError as err:
            raise UsageError(f"--frames {args.frames}: {err}") from None
        if args.manifest:
            count = _check_manifest(args.manifest, frames=args.frames, size=size, fps=fps, part=args.part)
            videos = manifest_videos(args.manifest, frames=args.frames, size=size, fps=fps, part=args.part)
            recorded_fps = _common_rate(args.manifest) if fps is None else fps
        else:
            count = args.videos
            videos = shapes_videos(count, frames=args.frames, split=args.split, seed=args.seed, size=size,
                                   paraphrases=args.paraphrases, switches=args.switches, switch_after=args.switch_after,
                                   anywhere=args.anywhere, temporal_factor=tokenizer.config.temporal_factor)
            recorded_fps = fps
    except (UsageError, FileNotFoundError, ValueError, OSError) as err:
        return fail(str(err))
    try:
        folder = tokenize_dataset(tokenizer, videos, args.out, count=count, frames=args.frames,
                                  ends=bool(args.manifest), batch_size=args.batch_size, precision=args.precision,
                                  fps=recorded_fps)  # the tokenizer's name: its `source`
    except (UsageError, FileNotFoundError, ValueError) as err:  # found while encoding: still the input's fault
        return fail(str(err))
    except OSError as err:  # a full disk, a device gone: a failure, not bad usage (the folder appears whole or not)
        return fail_writing(err, args.out)
    print(f"token shards: {folder}")
    return 0


def _common_rate(manifest: str) -> float | None:
    """The one frame rate of a manifest's videos read at their own (--fps native), recorded with
    the shards (the LM's pace of motion, `arvid generate`'s rate); None, with a warning, where
    they differ (an LM then learns one motion at several paces) or a file states none."""
    from arvid.data.captioned import manifest_rates

    rates = manifest_rates(manifest)
    if len(rates) == 1 and 0 not in rates:
        return rates.pop()
    stated = sorted(rates - {0.0})
    what = (f"play at {len(stated)} rates ({stated[0]:g} to {stated[-1]:g} fps)" if len(stated) > 1 else
            "include a file that states no frame rate")
    print(f"warning: with --fps native the videos {what}: the LM may learn one motion at several paces, and the "
          "shards record no rate for `arvid generate` (give --fps N to read them all at one)", file=sys.stderr)
    return None


def _check_manifest(manifest: str, *, frames: int, size: int, fps: float | None,
                    part: tuple[int, int] | None = None) -> int:
    """Read every video of the manifest (of its `part`) once before any work (a bad one fails first),
    with a progress line, and warn of clips that span a hard cut and of empty captions -> the video count.

    Raises:
        FileNotFoundError, ValueError: as `arvid.data.captioned.check_manifest_videos`.
    """
    from arvid.data.captioned import captioned_videos, check_manifest_videos, manifest_part
    from arvid.tools.progress import ProgressLine

    entries = manifest_part(captioned_videos(manifest), part)
    progress = ProgressLine()
    try:
        check = check_manifest_videos(manifest, frames=frames, size=size, fps=fps, part=part,
                                      progress=lambda done, total: progress.update(f"checking videos: {done}/{total}"))
    finally:
        progress.end()
    shots = {entry.where for entry in entries if entry.start is not None or entry.end is not None}
    for where, frame in check.cuts:
        fix = ("its shot spans a cut: move its \"start\" past it" if where in shots
               else "give the line a shot's \"start\" and \"end\"")
        print(f"warning: {where}: a hard cut at frame {frame} of the {frames} frames taken"
              f"{'' if fps is None else f' (at {fps:g} fps)'}: the LM learns to cut from it; {fix}", file=sys.stderr)
    if check.longer:
        print(f"note: {len(check.longer)} of {len(entries)} videos hold more than the {frames} frames a clip takes "
              f"({', '.join(check.longer[:3])}{', ...' if len(check.longer) > 3 else ''}): each gives its first "
              f"{frames}; give longer videos one line per shot (\"start\", \"end\") to train on the rest, or a "
              f"larger --frames", file=sys.stderr)
    empty = [entry.where for entry in entries if not entry.caption.strip()]
    if empty:
        print(f"warning: {len(empty)} video{'s' * (len(empty) > 1)} with an empty caption ({', '.join(empty[:3])}"
              f"{', ...' if len(empty) > 3 else ''}): they train as unconditional examples", file=sys.stderr)
    return len(entries)
