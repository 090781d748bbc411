"""Encode a video file into tokenizer codes, saved as .npy (int32, shape (t', h', w')).

    arvid tokenize in.mp4 -o codes.npy [--ckpt DIR] [--max-frames 17]

The video is resized and center-cropped to the tokenizer's image size, and cut to its longest
1 + 4k prefix.
"""

from __future__ import annotations

import argparse

import numpy as np

from arvid.data.video import VideoReadError
from arvid.tools.checkpoints import load_tokenizer
from arvid.tools.errors import UsageError, fail
from arvid.tools.paths import check_writable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("video", help="input video (mp4, webm, mov, gif)")
    parser.add_argument("-o", "--output", required=True, help="output .npy file")
    parser.add_argument("--ckpt", help="tokenizer folder (default: the shipped model)")
    parser.add_argument("--max-frames", type=int, help="encode at most this many frames")
    parser.add_argument("--fps", type=float, help="resample the video to this frame rate first")


def run(args: argparse.Namespace) -> int:
    try:
        output = check_writable(args.output, suffixes=(".npy",))
    except UsageError as err:
        return fail(str(err))
    if args.max_frames is not None and args.max_frames < 1:
        return fail(f"--max-frames must be at least 1, got {args.max_frames}")
    try:
        tokenizer = load_tokenizer(args.ckpt)
        codes = tokenizer.encode_file(args.video, max_frames=args.max_frames, fps=args.fps)
    except (UsageError, VideoReadError) as err:
        return fail(str(err))
    np.save(output, codes[0].numpy().astype(np.int32))
    t, h, w = codes.shape[1:]
    print(f"{args.video}: {tokenizer.video_frames(t)} frames -> codes {t}x{h}x{w} in {output}")
    return 0
