"""Encode a video file into tokenizer codes, saved as .npy (int32, shape (t', h', w')).

    arvid tokenize in.mp4 -o codes.npy [--tokenizer DIR] [--size native|N|HxW] [--max-frames 17]

--size picks the frame size the video is encoded at: N (NxN) or HxW (height x width), reached by
scaling the video to cover it and center-cropping; or native, the video's own frames, center-cropped
down to a multiple of the tokenizer's spatial factor (8 for the shipped ones) and never scaled.
The default is the tokenizer's trained size (64x64 for the shipped ones). The latent grid (h', w')
is the frame size over the spatial factor. The video is cut to its longest 1 + 4k prefix (a note says
how many frames that leaves out).

Beside the codes, `codes.meta.json` records the tokenizer, the frame rate and the frame size, so that
`arvid detokenize codes.npy` decodes with the same tokenizer at the clip's rate by default. The
clip is encoded a latent frame at a time (a progress line on stderr): memory holds its decoded frames
and one step's activations, so a long clip at its own size fits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arvid.tools.errors import UsageError, fail, fail_writing
from arvid.tools.options import add_device_argument, add_tokenizer_argument, check_fps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid tokenize`'s arguments."""
    parser.add_argument("video", help="input video (mp4, webm, mov, gif)")
    parser.add_argument("-o", "--output", required=True, help="output .npy file")
    add_tokenizer_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--size", default=None,
                        help="frame size to encode at: N (NxN), HxW, or native (the video's own, center-cropped to a "
                             "multiple of the spatial factor) (default: the tokenizer's trained size)")
    parser.add_argument("--max-frames", type=int, help="encode at most this many frames (default: all)")
    parser.add_argument("--fps", type=float, help="resample the video to this frame rate first (default: the file's)")


def run(args: argparse.Namespace) -> int:
    """Encode the video into a codes file -> exit code (2: bad usage or video)."""
    import numpy as np
    from arvid.data.clips import is_image
    from arvid.data.video import VideoReadError, probe_video
    from arvid.tokenizer.sizes import check_frame_size, parse_frame_size, read_frames
    from arvid.tools.checkpoints import load_tokenizer
    from arvid.tools.codes_meta import CodesMeta, write_codes_meta
    from arvid.tools.paths import check_writable, replace_file
    from arvid.tools.progress import ProgressLine

    try:
        output = check_writable(args.output, suffixes=(".npy",))
        check_fps(args.fps)
        size = None if args.size is None else parse_frame_size(args.size)
    except UsageError as err:
        return fail(str(err))
    except ValueError as err:
        return fail(f"--size: {err}")
    if args.max_frames is not None and args.max_frames < 1:
        return fail(f"--max-frames must be at least 1, got {args.max_frames}")
    try:  # the file's header before the tokenizer loads (seconds): a wrong path is said at once
        if not is_image(Path(args.video)):
            probe_video(args.video, shown_size=False)
        elif not Path(args.video).is_file():
            raise VideoReadError(f"{args.video}: no such file")
    except VideoReadError as err:
        return fail(str(err))
    try:
        tokenizer = load_tokenizer(args.tokenizer, args.device)
    except UsageError as err:
        return fail(str(err))
    if args.tokenizer is None:  # the shapes world's tokenizer reads real footage at about 13 dB
        print("note: encoding with the shapes world's tokenizer (the default); for real footage give --tokenizer natural",
              file=sys.stderr)
    factor = tokenizer.config.spatial_factor
    if size is not None:
        try:
            check_frame_size(size, factor)
        except ValueError as err:
            return fail(f"--size: {err}")
    progress = ProgressLine()
    try:
        # A still image has no rate (FFmpeg's image reader says 25); 0: a video that states none.
        rate = args.fps or (None if is_image(Path(args.video)) else probe_video(args.video, shown_size=False).fps) or None
        # Read here, encoded as `encode_file` would: the count read says what the 1 + 4k rule drops.
        read = read_frames(args.video, size or (tokenizer.config.image_size,) * 2, spatial_factor=factor,
                           max_frames=args.max_frames, fps=args.fps)
        codes = tokenizer.encode_frames(read, progress=lambda done, total: progress.update(
            f"encoding: {done} of {total} frames"))
    except VideoReadError as err:
        return fail(str(err))
    finally:
        progress.end()
    try:
        # Through a file object: np.save given a name adds ".npy" unless it ends in ".npy" exactly (".NPY").
        replace_file(output, lambda file: np.save(file, codes[0].cpu().numpy().astype(np.int32)))
    except OSError as err:  # a full disk, a device gone: one line, not a traceback
        return fail_writing(err, output)
    t, h, w = codes.shape[1:]
    frames = tokenizer.video_frames(t)
    meta = CodesMeta(tokenizer=tokenizer.source, fps=rate, frames=frames, height=h * factor,
                     width=w * factor, source=str(args.video), tokenizer_codes=tokenizer.codes_fingerprint(),
                     codebook=tokenizer.codebook_size)
    written = write_codes_meta(output, meta)
    dropped = len(read) - frames
    print(f"{args.video}: {frames} frame{'s' * (frames != 1)} of {h * factor}x{w * factor} (h x w)"
          f"{f' at {rate:g} fps' if rate else ''} -> codes {t}x{h}x{w} in {output}"
          f"{f' (and {written.name})' if written else ''}")
    if dropped:  # said after the line above, which states what was encoded
        print(f"note: the last {dropped} of the {len(read)} frames read {'are' if dropped > 1 else 'is'} not encoded: "
              f"the tokenizer takes 1 + {tokenizer.config.temporal_factor}k frames", file=sys.stderr)
    return 0
