"""Decode tokenizer codes (.npy of shape (t', h', w') from `arvid tokenize`) into a video.

    arvid detokenize codes.npy -o out.mp4 [--tokenizer DIR] [--fps 8]

The codes must be what `arvid tokenize` makes with the same tokenizer: integers in [0, codebook size),
t' >= 1, and (h', w') its latent grid (8 x 8 for the shipped tokenizer, which makes 64 x 64 frames).
"""

from __future__ import annotations

import argparse

from arvid.tools.errors import UsageError, fail
from arvid.tools.options import add_device_argument, add_tokenizer_argument, check_fps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid detokenize`'s arguments."""
    parser.add_argument("codes", help="codes saved by `arvid tokenize` (.npy)")
    parser.add_argument("-o", "--output", required=True, help="output video (.mp4 or .gif)")
    add_tokenizer_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate of the output")


def run(args: argparse.Namespace) -> int:
    """Decode the codes file into a video -> exit code (2: bad usage or codes, see the module's docstring)."""
    import numpy as np
    import torch

    from arvid.data.video import write_video
    from arvid.tokenizer import video_to_frames
    from arvid.tools.checkpoints import load_tokenizer
    from arvid.tools.paths import check_video_output

    try:
        output = check_video_output(args.output)
        check_fps(args.fps)
    except UsageError as err:
        return fail(str(err))
    try:
        codes = np.load(args.codes, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:  # EOFError: a file cut inside its header
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return fail(f"cannot read codes from {args.codes!r}: {reason}")
    if codes.ndim != 3 or not np.issubdtype(codes.dtype, np.integer):
        return fail(f"{args.codes!r} must hold integer codes of shape (t', h', w'), got {codes.dtype} {codes.shape}")
    try:
        tokenizer = load_tokenizer(args.tokenizer, args.device)
    except UsageError as err:
        return fail(str(err))
    size = tokenizer.config.image_size
    grid = tokenizer.latent_shape(1, size, size)[1:]
    # The decoder is convolutional and would turn another grid into frames of another size, which
    # the tokenizer was never trained to make (a (3, 4, 4) array became a 32 x 32 video): refused.
    if codes.shape[0] < 1 or codes.shape[1:] != grid:
        return fail(f"{args.codes!r} holds codes of shape {codes.shape}; this tokenizer takes (t', {grid[0]}, "
                    f"{grid[1]}) with t' >= 1 (its {size}x{size} frames)")
    if codes.min() < 0 or codes.max() >= tokenizer.codebook_size:
        return fail(f"{args.codes!r}: codes must lie in [0, {tokenizer.codebook_size}), got values in "
                    f"[{codes.min()}, {codes.max()}]")
    device = next(tokenizer.parameters()).device
    video = tokenizer.decode(torch.from_numpy(codes.astype(np.int64))[None].to(device))
    write_video(output, video_to_frames(video).numpy(), fps=args.fps)
    print(f"{args.codes}: codes {'x'.join(map(str, codes.shape))} -> {video.shape[2]} frames in {output}")
    return 0
