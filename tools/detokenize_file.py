"""Decode tokenizer codes (.npy of shape (t', h', w') from `arvid tokenize`) into a video.

    arvid detokenize codes.npy -o out.mp4 [--tokenizer DIR] [--fps FPS]

The codes must be what `arvid tokenize` makes with the same tokenizer: integers in [0, codebook size)
and t' >= 1. Any latent grid of at least 1 x 1 decodes, to frames of (h' x factor, w' x factor)
pixels, factor being the tokenizer's spatial factor (8 for the shipped ones: an 8 x 8 grid makes
64 x 64 frames, `arvid tokenize --size native` of a 176 x 144 clip an 18 x 22 grid and 144 x 176
frames); the message says the frame size written. A grid the tokenizer was not trained at decodes
as its convolutions make it, which may look worse than its trained size. An .mp4 needs an even
height and width (H.264 in yuv420p); a .gif takes any size; a .png takes the codes of one image
(one latent frame).

The tokenizer and frame rate default to those `arvid tokenize` recorded in `codes.meta.json` beside
the codes (else the shapes tokenizer and 8 fps). Frames are decoded a latent frame at a time and
written as they come (a progress line on stderr), so memory does not grow with the clip.
"""

from __future__ import annotations

import argparse
import sys

from arvid.tools.errors import UsageError, fail, fail_writing
from arvid.tools.options import DEFAULT_FPS, add_device_argument, add_tokenizer_argument, check_fps

NPY_MAGIC = b"\x93NUMPY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid detokenize`'s arguments."""
    parser.add_argument("codes", help="codes saved by `arvid tokenize` (.npy)")
    parser.add_argument("-o", "--output", required=True,
                        help="output video (.mp4 or .gif), or an image (.png) for codes of one latent frame")
    add_tokenizer_argument(parser, default="the one codes.meta.json names, else shapes")
    add_device_argument(parser)
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate of the output (default: the clip's, from codes.meta.json, else 8)")


def run(args: argparse.Namespace) -> int:
    """Decode the codes file into a video -> exit code (2: bad usage or codes, see the module's docstring)."""
    import numpy as np
    import torch
    from arvid.data.video_writer import VideoWriter
    from arvid.tools.checkpoints import load_tokenizer, other_encoder_note, resolve_device
    from arvid.tools.codes_meta import meta_path, read_codes_meta
    from arvid.tools.interrupts import INTERRUPTS, sigterm_raises
    from arvid.tools.paths import check_not_the_input, check_video_output, check_writable
    from arvid.tools.progress import ProgressLine

    try:
        is_image = str(args.output).lower().endswith(".png")
        output = check_writable(args.output, suffixes=(".png",)) if is_image else check_video_output(args.output)
        check_not_the_input(output, args.codes, "-o", "the codes file")
        check_fps(args.fps)
        resolve_device(args.device)  # so that a later error loading the tokenizer is the tokenizer's
    except UsageError as err:
        return fail(str(err))
    try:
        with open(args.codes, "rb") as file:
            if file.read(len(NPY_MAGIC)) != NPY_MAGIC:  # before np.load, whose message for text speaks of pickles
                return fail(f"cannot read codes from {args.codes!r}: not a .npy file (made by `arvid tokenize`)")
        codes = np.load(args.codes, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:  # EOFError: a file cut inside its header
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return fail(f"cannot read codes from {args.codes!r}: {reason}")
    if codes.ndim != 3 or not np.issubdtype(codes.dtype, np.integer):
        return fail(f"{args.codes!r} must hold integer codes of shape (t', h', w'), got {codes.dtype} {codes.shape}")
    if 0 in codes.shape:
        return fail(f"{args.codes!r} holds codes of shape {codes.shape}; expected t' >= 1 latent frames of a grid of "
                    f"at least 1x1")
    if is_image and len(codes) != 1:
        return fail(f"{args.codes!r} holds {len(codes)} latent frames, a video: write an .mp4 or .gif (a .png takes "
                    f"the codes of one image)")
    meta = read_codes_meta(args.codes)
    tokenizer_name = args.tokenizer or (meta.tokenizer if meta else None)
    fps = args.fps or (meta.fps if meta and meta.fps else DEFAULT_FPS)
    try:
        tokenizer = load_tokenizer(tokenizer_name, args.device)
    except UsageError as err:
        return fail(f"{err}{f' (the tokenizer {meta_path(args.codes).name} names)' if tokenizer_name != args.tokenizer else ''}")
    if codes.min() < 0 or codes.max() >= tokenizer.codebook_size:
        return fail(f"{args.codes!r}: codes must lie in [0, {tokenizer.codebook_size}), got values in "
                    f"[{codes.min()}, {codes.max()}]: made by another tokenizer? Name it with --tokenizer "
                    f"(natural: 64,000 codes)")
    # Any grid decodes (the decoder is convolutional), to frames of the grid times the spatial
    # factor; the message below says that size, so a grid other than the trained one is never silent.
    height, width = (side * tokenizer.config.spatial_factor for side in codes.shape[1:])
    described = None if meta is None or (args.tokenizer and args.fps) else (meta.frames, meta.height, meta.width)
    if described is not None and described != (tokenizer.video_frames(len(codes)), height, width):
        # A record of other codes (these rewritten by other means): its tokenizer and rate are not theirs.
        return fail(f"{meta_path(args.codes)} describes {meta.frames} frames of {meta.height}x{meta.width}, not these "
                    f"codes ({tokenizer.video_frames(len(codes))} of {height}x{width}): remove it, or give "
                    f"--tokenizer and --fps")
    describes_these = meta is not None and (meta.frames, meta.height, meta.width) == (
        tokenizer.video_frames(len(codes)), height, width)
    if describes_these and meta.codebook is not None and meta.codebook != tokenizer.codebook_size:
        made_by = f" ({meta.tokenizer})" if meta.tokenizer else ""
        return fail(f"{args.codes}: its codes come from a tokenizer of {meta.codebook} codes{made_by} "
                    f"({meta_path(args.codes).name}); {args.tokenizer or tokenizer.source} has {tokenizer.codebook_size}: "
                    f"its video would be noise. Give --tokenizer {meta.tokenizer or 'DIR'} (the one that made the codes)")
    if meta is not None and (changed := other_encoder_note(meta.tokenizer_codes, tokenizer)):
        print(f"warning: {args.codes}: {changed}{f' (they were made by {meta.tokenizer})' if meta.tokenizer else ''}",
              file=sys.stderr)
    if output.suffix.lower() == ".mp4" and (height % 2 or width % 2):
        return fail(f"{args.codes!r}: codes of grid {codes.shape[1]}x{codes.shape[2]} make {height}x{width} (h x w) "
                    f"frames; an .mp4 (H.264, yuv420p) needs an even height and width: write a .gif")
    decoder, progress = tokenizer.streaming_decoder(), ProgressLine()
    total = tokenizer.video_frames(len(codes))
    if is_image:
        from arvid.data.images import save_png

        save_png(output, decoder.push_frames(torch.from_numpy(codes[0].astype(np.int64)))[0])
        print(f"{args.codes}: codes {'x'.join(map(str, codes.shape))} -> an image of {height}x{width} (h x w) in {output}")
        return 0
    written = 0
    try:
        # Streaming (each frame on disk once written) and SIGTERM as Ctrl-C: a stop keeps a playable file.
        with sigterm_raises(), VideoWriter(output, fps=fps, streaming=True) as writer:
            for latent_frame in torch.from_numpy(codes.astype(np.int64)):
                writer.write_many(decoder.push_frames(latent_frame))
                written = writer.frames_written
                progress.update(f"decoding: {written} of {total} frames")
    except INTERRUPTS:
        progress.end()
        print(f"interrupted: kept the {written} frames done so far in {output}", file=sys.stderr)
        return 130
    except OSError as err:  # a full disk, a device gone: one line, the frames before it kept
        progress.end()
        return fail_writing(err, output, f" (kept the {written} frames before it)")
    progress.end()
    recorded = [name for name, given in (("tokenizer", args.tokenizer), ("frame rate", args.fps))
                if given is None and meta and getattr(meta, "fps" if name == "frame rate" else name)]
    source = f" ({' and '.join(recorded)} from {meta_path(args.codes).name})" if recorded else ""
    print(f"{args.codes}: codes {'x'.join(map(str, codes.shape))} -> {total} frame{'s' * (total != 1)} of "
          f"{height}x{width} (h x w) at {fps:g} fps in {output}{source}")
    return 0
