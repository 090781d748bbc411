"""Decode tokenizer codes (.npy of shape (t', h', w') from `arvid tokenize`) into a video.

    arvid detokenize codes.npy -o out.mp4 [--tokenizer DIR] [--fps 8]
"""

from __future__ import annotations

import argparse

from arvid.tools.errors import UsageError, fail
from arvid.tools.options import add_device_argument, add_tokenizer_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid detokenize`'s arguments."""
    parser.add_argument("codes", help="codes saved by `arvid tokenize` (.npy)")
    parser.add_argument("-o", "--output", required=True, help="output video (.mp4 or .gif)")
    add_tokenizer_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate of the output")


def run(args: argparse.Namespace) -> int:
    """Decode the codes file into a video -> exit code (2: bad usage or codes)."""
    import numpy as np
    import torch

    from arvid.data.video import write_video
    from arvid.tokenizer import video_to_frames
    from arvid.tools.checkpoints import load_tokenizer
    from arvid.tools.paths import check_video_output

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
        tokenizer = load_tokenizer(args.tokenizer, args.device)
        device = next(tokenizer.parameters()).device
        video = tokenizer.decode(torch.from_numpy(codes.astype(np.int64))[None].to(device))
    except (UsageError, ValueError) as err:
        return fail(f"{args.codes!r}: {err}")
    write_video(output, video_to_frames(video).numpy(), fps=args.fps)
    print(f"{args.codes}: codes {'x'.join(map(str, codes.shape))} -> {video.shape[2]} frames in {output}")
    return 0
