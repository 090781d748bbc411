"""Decode tokenizer codes (.npy of shape (t', h', w') from `arvid tokenize`) into a video.

    arvid detokenize codes.npy -o out.mp4 [--ckpt DIR] [--fps 8]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from arvid.data.video import write_video
from arvid.tokenizer import video_to_frames
from arvid.tools.checkpoints import load_tokenizer
from arvid.tools.errors import UsageError, fail
from arvid.tools.paths import check_video_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("codes", help="codes saved by `arvid tokenize` (.npy)")
    parser.add_argument("-o", "--output", required=True, help="output video (.mp4 or .gif)")
    parser.add_argument("--ckpt", help="tokenizer folder (default: the shipped model)")
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate of the output (default 8)")


def run(args: argparse.Namespace) -> int:
    try:
        output = check_video_output(args.output)
    except UsageError as err:
        return fail(str(err))
    try:
        codes = np.load(args.codes, allow_pickle=False)
    except (OSError, ValueError) as err:
        return fail(f"cannot read codes from {args.codes!r}: {err}")
    if codes.ndim != 3 or not np.issubdtype(codes.dtype, np.integer):
        return fail(f"{args.codes!r} must hold integer codes of shape (t', h', w'), got {codes.dtype} {codes.shape}")
    try:
        tokenizer = load_tokenizer(args.ckpt)
        video = tokenizer.decode(torch.from_numpy(codes.astype(np.int64))[None])
    except (UsageError, ValueError) as err:
        return fail(f"{args.codes!r}: {err}")
    write_video(output, video_to_frames(video).numpy(), fps=args.fps)
    print(f"{args.codes}: codes {'x'.join(map(str, codes.shape))} -> {video.shape[2]} frames in {output}")
    return 0
