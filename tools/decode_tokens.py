"""Decode an NDJSON token stream (from `arvid generate --tokens-out`) into video, frame by frame.

    arvid decode tokens.ndjson -o out.mp4
    arvid generate "a red circle" --tokens-out - | arvid decode - -o out.mp4
    arvid generate "a red circle" --model M --tokens-out - | arvid decode - --tokenizer M -o out.mp4

Frames are written as their lines arrive, so a pipe shows progress at once; Ctrl-C keeps what
was decoded.
"""

from __future__ import annotations

import argparse
import sys

from arvid.tools.errors import UsageError, fail
from arvid.tools.options import add_device_argument, add_tokenizer_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid decode`'s arguments."""
    parser.add_argument("tokens", help="token stream file (NDJSON), or '-' for standard input")
    parser.add_argument("-o", "--output", required=True, help="output video (.mp4 or .gif)")
    add_tokenizer_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate of the output")


def run(args: argparse.Namespace) -> int:
    """Decode the stream's latent frames as their lines arrive -> exit code (2: bad usage or stream)."""
    import torch

    from arvid.data.token_stream import read_token_frames
    from arvid.data.video import VideoWriter
    from arvid.tools.checkpoints import load_tokenizer
    from arvid.tools.paths import check_video_output

    try:
        output = check_video_output(args.output)
        tokenizer = load_tokenizer(args.tokenizer, args.device)
        lines = sys.stdin if args.tokens == "-" else open(args.tokens)
    except (UsageError, OSError) as err:
        return fail(str(err))
    size = tokenizer.config.image_size
    grid = tokenizer.latent_shape(1, size, size)[1:]
    decoder = tokenizer.streaming_decoder()
    written, status = 0, 0
    try:
        with lines, VideoWriter(output, fps=args.fps) as writer:
            for number, frame in enumerate(read_token_frames(lines, args.tokens)):
                if frame.codes.shape != grid:
                    raise ValueError(f"{args.tokens}: latent frame {number} has codes of shape {frame.codes.shape}; "
                                     f"this tokenizer makes {grid}")
                for image in decoder.push_frames(torch.from_numpy(frame.codes)):
                    writer.write(image)
                    written += 1
    except ValueError as err:
        status = fail(str(err) if written == 0 else f"{err} (kept the {written} frames before it)")
    except KeyboardInterrupt:
        status = 130
    if written:
        print(f"{written} frames -> {output}", file=sys.stderr)
    return status
