"""Where in a clip a tokenizer reconstructs well: PSNR by latent frame, of each clip and of a still
clip made of its first frame repeated (issue 30).

    python benchmarks/tokenizer_by_latent_frame.py [--tokenizer natural] [--size 64] [--frames 65] CLIP ...

A still clip holds nothing new after its first frame, so a tokenizer whose later latent frames
refine what earlier ones coded would read higher the longer it runs; one that codes each latent
frame afresh reads level. The figures past the training clips' length (`train.clip_frames`, 17
frames: 5 latent frames for the `natural` preset) show whether the decoder's long temporal context
holds beyond what training showed it. Latent frame 0 is the first frame alone, each later one the
mean squared error of its `temporal_factor` frames. A benchmark, not a test; the clips are read as `eval-tokenizer` reads them
(cover the size, centre crop).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def psnr_by_latent_frame(tokenizer, clip: np.ndarray) -> list[float]:
    """uint8 (t h w 3) clip, t = 1 + 4k -> PSNR dB of its reconstruction for each of the k + 1 latent frames."""
    from arvid.metrics import psnr
    from arvid.tokenizer.evaluate import reconstruct

    frames = reconstruct(tokenizer, clip).frames
    factor = tokenizer.config.temporal_factor
    starts = [0, 1] + list(range(1 + factor, len(clip), factor))  # latent frame 0 is the first frame alone
    ends = starts[1:] + [len(clip)]
    return [psnr(torch.from_numpy(frames[a:b]), torch.from_numpy(clip[a:b])).item() for a, b in zip(starts, ends)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="+", help="video files")
    parser.add_argument("--tokenizer", default="natural", help="a shipped name or a checkpoint folder")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=65, help="frames of each clip (1 + 4k)")
    args = parser.parse_args(argv)
    from arvid.data.video import read_video
    from arvid.tokenizer import VideoTokenizer

    tokenizer = VideoTokenizer.from_pretrained(args.tokenizer).eval()
    tokenizer.config.check_frame_count(args.frames)  # 1 + temporal_factor * k, or a ValueError saying so
    print(f"tokenizer {args.tokenizer}, {args.size}x{args.size}, first {args.frames} frames; PSNR dB by latent frame")
    for path in args.clips:
        clip = read_video(path, size=args.size, max_frames=args.frames)
        if len(clip) != args.frames:
            raise SystemExit(f"error: {path} has {len(clip)} frames, fewer than --frames {args.frames}")
        for name, frames in (("clip", clip), ("still", np.repeat(clip[:1], len(clip), axis=0))):
            figures = psnr_by_latent_frame(tokenizer, frames)
            by_frame = " ".join(f"{value:.2f}" for value in figures)
            print(f"{path} ({name}): mean over latent frames {np.mean(figures):.2f}: {by_frame}")


if __name__ == "__main__":
    main()
