"""Muxers that put every encoded frame in the file the moment it is encoded: fragmented MP4
(H.264) and GIF, for `VideoWriter(streaming=True)`.

FFmpeg's mp4 and gif muxers (through PyAV) keep the last packet they were given until the next
one arrives, because they take a frame's duration from the next frame's time; only
`av_write_frame(NULL)` flushes the mp4 one, and PyAV does not expose that call. So a process
killed outright lost a finished frame. Here a frame's duration is known up front (a constant
frame rate), so each frame is written at once:
- MP4: its own fragment (`moof` + `mdat`, ISO/IEC 14496-12 section 8.8) after an initialisation
  segment (`ftyp` + `moov` with an empty sample table and an `mvex`). A file cut after any
  fragment plays, and FFmpeg reads it as it reads its own `empty_moov` output.
- GIF: FFmpeg's gif encoder's packet, with the frame's delay written into its graphic control
  extension (what FFmpeg's muxer does one frame late). Only the trailer byte is missing from a
  file cut short; players and FFmpeg show its frames.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from typing import BinaryIO

# Sample flags (ISO/IEC 14496-12 8.8.3.1): a keyframe depends on no other sample; any other
# frame depends on earlier ones and is no sync sample.
_KEYFRAME_FLAGS = 0x02000000
_DELTA_FRAME_FLAGS = 0x01010000
_UNITY_MATRIX = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_NAL_SPS, _NAL_PPS, _NAL_ACCESS_UNIT_DELIMITER = 7, 8, 9


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (units separated by 00 00 01 or 00 00 00 01).

    x264 hands out packets and its global header in this form; MP4 stores each unit behind its
    length instead.
    """
    units, start = [], None
    position = data.find(b"\x00\x00\x01")
    while position != -1:
        if start is not None:
            units.append(data[start:position].rstrip(b"\x00"))  # a 4-byte start code's leading zero
        start = position + 3
        position = data.find(b"\x00\x00\x01", start)
    if start is not None:
        units.append(data[start:])
    return [unit for unit in units if unit]


def _avc_config(extradata: bytes) -> bytes:
    """The `avcC` box (AVCDecoderConfigurationRecord, ISO/IEC 14496-15 5.3.3) from x264's
    Annex B global header (its sequence and picture parameter sets)."""
    units = split_annexb(extradata)
    sps = [unit for unit in units if unit[0] & 0x1F == _NAL_SPS]
    pps = [unit for unit in units if unit[0] & 0x1F == _NAL_PPS]
    if not sps or not pps:
        raise ValueError("the H.264 encoder gave no sequence or picture parameter set")
    record = bytes([1, sps[0][1], sps[0][2], sps[0][3], 0xFF, 0xE0 | len(sps)])  # 4-byte lengths
    record += b"".join(struct.pack(">H", len(unit)) + unit for unit in sps)
    record += bytes([len(pps)]) + b"".join(struct.pack(">H", len(unit)) + unit for unit in pps)
    return _box(b"avcC", record)


def _init_segment(width: int, height: int, timescale: int, extradata: bytes) -> bytes:
    """`ftyp` + `moov` for one H.264 video track with no samples; `mvex` announces fragments."""
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso5iso6avc1mp41")
    mvhd = _full_box(b"mvhd", 0, 0, struct.pack(">IIIIIH10x", 0, 0, timescale, 0, 0x10000, 0x100),
                     _UNITY_MATRIX, bytes(24), struct.pack(">I", 2))
    # creation and modification times, track 1, (reserved), duration, (reserved), layer, group, volume, (reserved)
    tkhd = _full_box(b"tkhd", 0, 3, struct.pack(">III4xI8xhhh2x", 0, 0, 1, 0, 0, 0, 0),
                     _UNITY_MATRIX, struct.pack(">II", width << 16, height << 16))
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0))  # 'und'
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, b"vide"), b"VideoHandler\x00")
    avc1 = _box(b"avc1", bytes(6), struct.pack(">H16xHHIII", 1, width, height, 0x480000, 0x480000, 0),
                struct.pack(">H32sHh", 1, bytes(32), 0x18, -1), _avc_config(extradata))
    empty_table = [_full_box(kind, 0, 0, struct.pack(">I", 0)) for kind in (b"stts", b"stsc", b"stco")]
    stbl = _box(b"stbl", _full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1), *empty_table[:2],
                _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)), empty_table[2])
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    minf = _box(b"minf", _full_box(b"vmhd", 0, 1, bytes(8)), dinf, stbl)
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    mvex = _box(b"mvex", _full_box(b"trex", 0, 0, struct.pack(">IIIII", 1, 1, 0, 0, 0)))
    return ftyp + _box(b"moov", mvhd, trak, mvex)


def _fragment(sequence: int, decode_time: int, duration: int, sample: bytes, keyframe: bool) -> bytes:
    """One `moof` + `mdat` holding one sample; its data offset counts from the `moof`'s start."""
    mfhd = _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence))
    tfhd = _full_box(b"tfhd", 0, 0x020000, struct.pack(">I", 1))  # default-base-is-moof
    tfdt = _full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    flags = _KEYFRAME_FLAGS if keyframe else _DELTA_FRAME_FLAGS

    def moof(data_offset: int) -> bytes:
        # trun flags: data offset, and each sample's duration, size and flags.
        trun = _full_box(b"trun", 0, 0x000701, struct.pack(">IiIII", 1, data_offset, duration, len(sample), flags))
        return _box(b"moof", mfhd, _box(b"traf", tfhd, tfdt, trun))

    header = moof(0)
    return moof(len(header) + 8) + _box(b"mdat", sample)


class FragmentedMp4Muxer:
    """Writes H.264 packets into an MP4 file one fragment per frame, each on disk once written.

    Args:
        file: a binary file open for writing at its start; flushed after every frame.
        width, height: the frame size in pixels.
        fps: the constant frame rate.
        extradata: the encoder's Annex B global header (sequence and picture parameter sets).
    """

    def __init__(self, file: BinaryIO, *, width: int, height: int, fps: Fraction, extradata: bytes):
        self._file = file
        # Ticks per second: a whole number of ticks per frame, and fine enough for players that
        # round times to milliseconds.
        ticks_per_frame = max(1, -(-1000 // fps.numerator))
        self._timescale = fps.numerator * ticks_per_frame
        self._frame_ticks = fps.denominator * ticks_per_frame
        self._frames = 0
        self._file.write(_init_segment(width, height, self._timescale, extradata))
        self._file.flush()

    def write(self, packet: bytes, keyframe: bool) -> None:
        """Append one encoded frame (an Annex B access unit) as its own fragment."""
        units = split_annexb(packet)
        # Parameter sets live in `avcC`; a delimiter has no place in an MP4 sample.
        kept = [u for u in units if u[0] & 0x1F not in (_NAL_SPS, _NAL_PPS, _NAL_ACCESS_UNIT_DELIMITER)]
        sample = b"".join(struct.pack(">I", len(unit)) + unit for unit in kept)
        self._frames += 1
        self._file.write(_fragment(self._frames, (self._frames - 1) * self._frame_ticks,
                                   self._frame_ticks, sample, keyframe))
        self._file.flush()


_GIF_HEADER_SIZE = 13  # "GIF89a" + the logical screen descriptor
_GIF_CONTROL = b"\x21\xf9\x04"  # graphic control extension: introducer, label, block size
# Application extension: loop forever (what FFmpeg's muxer writes by default).
_GIF_LOOP_FOREVER = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"


class GifMuxer:
    """Writes FFmpeg gif-encoder packets into a GIF file, each on disk once written.

    Args:
        file: a binary file open for writing at its start; flushed after every frame.
        fps: the constant frame rate; delays are whole centiseconds, rounded so that their sum
            stays within half a centisecond of the true time (8 fps: 12, 13, 12, 13, ...).
    """

    def __init__(self, file: BinaryIO, *, fps: Fraction):
        self._file = file
        self._fps = fps
        self._frames = 0

    def write(self, packet: bytes) -> None:
        """Append one encoded frame (the first packet also carries the file's header)."""
        data = bytearray(packet)
        control = 0  # where the frame's graphic control extension starts
        if self._frames == 0:
            packed = data[10]
            palette = 3 << ((packed & 0x07) + 1) if packed & 0x80 else 0
            data[_GIF_HEADER_SIZE + palette:_GIF_HEADER_SIZE + palette] = _GIF_LOOP_FOREVER
            control = _GIF_HEADER_SIZE + palette + len(_GIF_LOOP_FOREVER)
        if data[control:control + 3] != _GIF_CONTROL:
            raise ValueError("the gif encoder gave a frame that does not start with a graphic control extension")
        centiseconds = lambda frames: round(frames * 100 / self._fps)  # noqa: E731
        delay = centiseconds(self._frames + 1) - centiseconds(self._frames)
        data[control + 4:control + 6] = delay.to_bytes(2, "little")
        self._frames += 1
        self._file.write(data)
        self._file.flush()

    def close(self) -> None:
        """Write the trailer byte; the caller closes the file."""
        self._file.write(b"\x3b")
        self._file.flush()
