"""Video files with a known defect, made with PyAV for the tests that need them."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def truncated_avi(folder: Path, suffix: str = ".avi") -> tuple[Path, Path]:
    """(a 40-frame 32x32 MJPEG clip at 10 fps in an AVI, or the container of another `suffix`, the
    same file cut at frame 20's packet start): the cut one decodes without error to its first 20
    frames while its header still states 4 s (an AVI's frame count, a Matroska track's duration)."""
    whole = folder / f"whole{suffix}"
    with av.open(str(whole), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuvj420p"
        for frame in np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), np.uint8):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    with av.open(str(whole)) as container:
        starts = [packet.pos for packet in container.demux(container.streams.video[0]) if packet.size]
    cut = folder / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: starts[20]])  # at a packet's start: no decoding error
    return whole, cut
