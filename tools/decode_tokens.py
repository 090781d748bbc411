"""Decode an NDJSON token stream (from `arvid generate --tokens-out`) into video, frame by frame.

    arvid decode tokens.ndjson -o out.mp4
    arvid generate "a red circle" --tokens-out - | arvid decode - -o out.mp4
    arvid generate "a red circle" --model M --tokens-out - | arvid decode - -o out.mp4   # M's tokenizer

The tokenizer is `--tokenizer` when given, else the one the stream names (`arvid generate` records
its model's), else shapes; one whose codebook is not the one the stream's codes came from is
refused, as its video would be noise.
The video holds the frames the generating run wrote (the stream says how many of each latent frame:
`--frames` and continuations are reproduced exactly; streams from before that field give every
frame). Frames are written as their lines arrive, so a pipe shows progress at once; Ctrl-C or
SIGTERM keeps what was decoded (exit code 130). A malformed line stops with exit code 2 and one
line naming the file, the line and what was expected.
"""

from __future__ import annotations

import argparse
import sys

from arvid.tools.errors import UsageError, fail, fail_writing
from arvid.tools.options import DEFAULT_FPS, add_device_argument, add_tokenizer_argument, check_fps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid decode`'s arguments."""
    parser.add_argument("tokens", help="token stream file (NDJSON), or '-' for standard input")
    parser.add_argument("-o", "--output", required=True, help="output video (.mp4 or .gif)")
    add_tokenizer_argument(parser, default="the one the stream names, else shapes")
    add_device_argument(parser)
    parser.add_argument("--fps", type=float, default=None,
                        help=f"frame rate of the output (default: the one the stream records, else {DEFAULT_FPS:g})")
    parser.add_argument("--bf16-decoder", action=argparse.BooleanOptionalAction, default=None,
                        help="decode in bfloat16, as `generate --bf16-decoder` did (default: as the stream records; "
                             "--no-bf16-decoder on a CPU without native bfloat16, where it runs emulated, far slower)")


def run(args: argparse.Namespace) -> int:
    """Decode the stream's latent frames as their lines arrive -> exit code (2: bad usage or stream, 130: interrupted)."""
    from arvid.tools.interrupts import INTERRUPTS, sigterm_raises, stop_signals_ignored

    with sigterm_raises():
        try:
            return _run(args)
        except INTERRUPTS:  # before the first frame: _decode handles those after it
            with stop_signals_ignored():
                print("interrupted before the first frame: no file written", file=sys.stderr)
            return 130


def _run(args: argparse.Namespace) -> int:
    from arvid.data.token_stream import StreamOrigin, stream_origin
    from arvid.tools.checkpoints import load_tokenizer, other_encoder_note, resolve_device
    from arvid.tools.paths import check_not_the_input, check_video_output

    name = "<stdin>" if args.tokens == "-" else args.tokens
    try:
        check_fps(args.fps)
        output = check_video_output(args.output)
        if args.tokens != "-":  # a stream may have any name (`generate --tokens-out`), a video's too
            check_not_the_input(output, args.tokens, "-o", "the token stream")
        # Before the first line, which a pipe's writer may take a while to send (a model to load).
        resolve_device(args.device)
        try:  # binary, so that bytes that are not UTF-8 are reported with their line number
            lines = sys.stdin.buffer if args.tokens == "-" else open(args.tokens, "rb")
        except OSError as err:
            raise UsageError(f"cannot read the token stream {name!r}: {err.strerror}") from None
    except UsageError as err:
        return fail(str(err))
    with lines:
        try:  # a tokenizer given is loaded while the stream's writer is still starting (a pipe's first line waits)
            tokenizer = load_tokenizer(args.tokenizer, args.device) if args.tokenizer else None
        except UsageError as err:
            return fail(str(err))
        if tokenizer is None:
            import torch  # noqa: F401  (imported while the writer starts, before waiting for its first line)
        head, lines = _first_line(lines)
        origin = stream_origin(head) if head is not None else StreamOrigin(None, None)
        chosen = args.tokenizer or origin.tokenizer
        if tokenizer is None:
            try:
                tokenizer = load_tokenizer(chosen, args.device)
            except UsageError as err:
                named = " (the tokenizer the stream names; give --tokenizer to use another)" if chosen else ""
                return fail(f"{err}{named}")
        if origin.codebook is not None and origin.codebook != tokenizer.codebook_size:
            made_by = f" ({origin.tokenizer})" if origin.tokenizer else ""
            return fail(f"{name}: its codes come from a tokenizer of {origin.codebook} codes{made_by}; "
                        f"{chosen or 'shapes'} has {tokenizer.codebook_size}: its video would be noise. Give "
                        f"--tokenizer {origin.tokenizer or 'DIR'} (the one that made the stream)")
        if changed := other_encoder_note(origin.tokenizer_codes, tokenizer):
            print(f"warning: {name}: {changed}", file=sys.stderr)
        return _decode(lines, name, tokenizer, output, args.fps or origin.fps or DEFAULT_FPS,
                       bf16=bool(origin.bf16_decoder) if args.bf16_decoder is None else args.bf16_decoder)


def _first_line(lines):
    """The first line that is not blank (None if none) and an iterator over every line as before."""
    import itertools

    lines = iter(lines)
    read = []
    for line in lines:
        read.append(line)
        if line.strip():
            return line, itertools.chain(read, lines)
    return None, iter(read)


def _decode(lines, name: str, tokenizer, output, fps: float, *, bf16: bool = False) -> int:
    import torch
    from arvid.data.token_stream import read_token_frames
    from arvid.data.video_writer import VideoWriter
    from arvid.tools.interrupts import INTERRUPTS, stop_signals_ignored

    size = tokenizer.config.image_size
    frames = read_token_frames(lines, name, grid=tokenizer.latent_shape(1, size, size)[1:],
                               codebook_size=tokenizer.codebook_size, temporal_factor=tokenizer.config.temporal_factor)
    decoder = tokenizer.streaming_decoder(bf16=bf16)
    writer, written, status = None, 0, 0
    try:
        for frame in frames:
            if frame.anchor is not None or frame.restart:  # a new video: decode afresh (from its anchor)
                decoder = tokenizer.streaming_decoder(bf16=bf16)
                if frame.anchor is not None:
                    decoder.push_frames(torch.from_numpy(frame.anchor))
            images = decoder.push_frames(torch.from_numpy(frame.codes))
            for image in images if frame.frames is None else images[:frame.frames]:
                if writer is None:  # made at the first frame: a stream that fails before it leaves no file
                    writer = VideoWriter(output, fps=fps, streaming=True)
                writer.write(image)
                written += 1
        if written == 0:
            raise ValueError(f"{name}: no frames to write (every line keeps 0 frames: a continuation's given "
                             f"frames only)")
    except ValueError as err:
        status = fail(str(err) if written == 0 else f"{err} (kept the {written} frames before it in {output})")
    except INTERRUPTS:
        status = 130
    except OSError as err:  # a full disk, a device gone: one line, the frames before it kept
        status = fail_writing(err, output, f" (kept the {written} frames before it)")
    finally:  # on any exception too: the file stays valid
        with stop_signals_ignored():  # a second Ctrl-C must not cut the closing of the file short
            if writer is not None:
                try:
                    writer.close()
                except (OSError, ValueError):  # its last bytes could not be written, or none were: said above
                    status = status or 1
    if status == 130:
        print(f"interrupted: kept the {written} frames decoded so far in {output}" if written else
              "interrupted before the first frame: no file written", file=sys.stderr)
    elif written and status == 0:  # an error's one line, or the interrupt's, already says what was kept
        print(f"{written} frames -> {output}", file=sys.stderr)
    return status
