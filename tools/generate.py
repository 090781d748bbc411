"""Generate video from a prompt, streaming frames and tokens as they complete. Examples:

    arvid generate "a small red circle moving right on a black background" --frames 240 -o out.mp4
    arvid generate "a big blue square moving up" --frames 0 -o live.mp4      # until Ctrl-C
    arvid generate "a circle" --image first.png -o out.mp4                    # image-to-video
    arvid generate "a circle" --continue clip.mp4 --frames 64 -o more.mp4     # continuation
    arvid generate "a circle" --tokens-out - | arvid decode - -o out.mp4      # token stream

Ctrl-C (or SIGTERM) stops cleanly: the video and the token file keep every frame done so far.
An empty prompt generates unconditionally. Sampling follows the model's lm/generation_config.json;
each sampling flag overrides one of its fields (the shipped values were chosen on the shapes world:
see docs/results/sampling.md).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from contextlib import ExitStack

from arvid.tools.errors import UsageError, fail
from arvid.tools.options import add_device_argument, add_model_argument, add_sampler_arguments, sampler_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid generate`'s arguments."""
    parser.add_argument("prompt", help='the caption ("" for unconditional)')
    parser.add_argument("-o", "--output", help="video file to write, .mp4 or .gif (default: none; give -o, --tokens-out "
                                               "or both)")
    parser.add_argument("--frames", type=int, default=64, help="frames to generate; 0 = until Ctrl-C")
    parser.add_argument("--tokens-out", metavar="FILE",
                        help="write the token stream (NDJSON) here; '-' for standard output (default: none)")
    add_model_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampler")
    parser.add_argument("--image", help="first frame, for image-to-video (default: none)")
    parser.add_argument("--continue", dest="continue_from", metavar="VIDEO",
                        help="video to continue (default: none)")
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate of the output (the LM was trained at 8)")
    add_sampler_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Check the arguments, load the models and stream frames into the outputs -> exit code (2: bad usage)."""
    from arvid.data.video import read_video
    from arvid.sampling import stream
    from arvid.tools.checkpoints import load_models, model_folder
    from arvid.tools.interrupts import sigterm_raises
    from arvid.tools.paths import check_video_output, check_writable

    try:
        if args.output is None and args.tokens_out is None:
            raise UsageError("nothing to write: give -o VIDEO and/or --tokens-out FILE")
        if args.frames < 0:
            raise UsageError(f"--frames must be >= 0 (0 streams until Ctrl-C), got {args.frames}")
        if args.image and args.continue_from:
            raise UsageError("give --image or --continue, not both")
        output = check_video_output(args.output) if args.output else None
        if args.tokens_out not in (None, "-"):
            check_writable(args.tokens_out)
        if not args.fps > 0:
            raise UsageError(f"--fps must be > 0, got {args.fps}")
        folder = model_folder(args.model)
        config = sampler_config(args, folder, seed=args.seed)  # checked before the models load
        lm, tokenizer = load_models(str(folder), args.device)
        size = tokenizer.config.image_size
        conditions = {}
        if args.image:
            conditions["image"] = read_video(args.image, size=size, max_frames=1)[0]
        if args.continue_from:
            conditions["video"] = read_video(args.continue_from, size=size, fps=args.fps)
        # `stream` checks everything (prompt length, window, frames) before returning its iterator.
        latent_frames = stream(lm, tokenizer, args.prompt, config, **conditions)
    except (UsageError, ValueError) as err:  # VideoReadError is a ValueError
        return fail(str(err))
    if not args.prompt.strip():
        print("empty prompt: generating unconditionally", file=sys.stderr)

    with sigterm_raises():
        return _write(latent_frames, output, args)


def _write(latent_frames, output, args: argparse.Namespace) -> int:
    """Write each latent frame's frames and tokens as it comes, until --frames or an interruption -> exit code."""
    from arvid.data.token_stream import write_token_frame
    from arvid.data.video import VideoWriter
    from arvid.tools.interrupts import INTERRUPTS

    limit = args.frames if args.frames > 0 else math.inf
    generated, started, status = 0, time.monotonic(), 0
    with ExitStack() as files:
        writer = files.enter_context(VideoWriter(output, fps=args.fps)) if output else None
        tokens = None  # the token stream's file
        if args.tokens_out == "-":
            tokens = sys.stdout
        elif args.tokens_out:
            tokens = files.enter_context(open(args.tokens_out, "w"))
        try:
            for frame in latent_frames:
                if tokens is not None:
                    write_token_frame(tokens, frame.index, frame.codes.numpy(), given=frame.given)
                remaining = limit - generated
                chunk = frame.frames if frame.given or remaining >= len(frame.frames) else frame.frames[:int(remaining)]
                if writer is not None:
                    for image in chunk:
                        writer.write(image)
                if not frame.given:
                    generated += len(chunk)
                    _progress(generated, args.frames, time.monotonic() - started, args.fps)
                if generated >= limit:
                    break
        except INTERRUPTS:
            status = 130
            print("\ninterrupted: keeping the frames done so far", file=sys.stderr)
        except BrokenPipeError:
            # The reader of --tokens-out - went away: keep the video, stop writing to the pipe.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            status = 1
            print("\nthe token stream's reader closed the pipe: keeping the frames done so far", file=sys.stderr)
    elapsed = time.monotonic() - started
    where = ", ".join(p for p in (str(output) if output else "", args.tokens_out or "") if p)
    print(f"\n{generated} frames in {elapsed:.1f} s -> {where}", file=sys.stderr)
    return status


def _progress(done: int, total: int, elapsed: float, fps: float) -> None:
    rate = done / elapsed if elapsed > 0 else 0.0
    of = f"/{total}" if total else ""
    print(f"\rframes {done}{of} | {rate:.1f} frames/s | {rate / fps:.2f}x real time", end="", file=sys.stderr,
          flush=True)
