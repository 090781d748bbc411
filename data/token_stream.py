"""The NDJSON token stream: one JSON object a line per latent frame, written as soon as it completes.

    {"index": 0, "shape": [8, 8], "codes": [[...], ...], "given": false, "frames": 1}

`index` counts latent frames from 0 (the anchor); `codes` are the tokenizer's codes (h' w');
`given` marks frames that came from the caller's video or image rather than from the model;
`frames` is how many of the latent frame's decoded video frames the writer kept (the first ones),
so that a decoder writes exactly the video the writer wrote: fewer than all when `--frames` cut the
last latent frame short, 0 for a continued clip's frames. `prompt`, on the first line `arvid generate`
writes and on lines where the prompt changed mid-stream, is the prompt in force from that latent
frame on, and `anchor`, where the
stream went on from the frame on screen (`--switch-from frame`), the codes (h' w') of the new anchor
a decoder starts afresh from before that line's codes; `restart` (true), where the stream began a
new video (`--switch-from scratch`): that line's codes are a new anchor, decoded afresh as a first
frame (1 video frame). `tokenizer` (a shipped tokenizer's name or
a folder), `codebook` (its number of codes) and `tokenizer_codes` (its `codes_fingerprint`) say
what made the codes, so that `arvid decode` picks that tokenizer, refuses one whose codes these
cannot be and warns of one whose encoder changed since (`stream_origin`); `fps` is the
rate the writer's video plays at, which `arvid decode` keeps, and `bf16_decoder` (true) says its
frames were decoded in bfloat16, as `arvid decode` then decodes them. Streams written
before `frames` existed lack it: every frame is kept; before `tokenizer`, a decoder is told which.
Streams can be piped between programs (`arvid generate --tokens-out - | arvid decode - -o out.mp4`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any, NamedTuple

import numpy as np

from arvid.data.manifests import frame_rate_or_none

_MISSING = object()


class TokenFrame(NamedTuple):
    """One line of a token stream: latent frame `index`, its `codes` (h' w'), whether it was `given`,
    and how many of its decoded frames the video keeps (`frames`; None: all, as in older streams)."""

    index: int
    codes: np.ndarray  # (h', w') int64
    given: bool
    frames: int | None = None
    anchor: np.ndarray | None = None  # (h', w') int64: decode afresh from this anchor first (a switch)
    restart: bool = False  # these codes begin a new video: decode them afresh, as a first frame


class StreamOrigin(NamedTuple):
    """What made a stream's codes: the tokenizer (a shipped name, or a folder), its number of codes
    and its `codes_fingerprint`; the frame rate its video plays at; and whether the writer's video
    was decoded in bfloat16 (`bf16_decoder`: True, else None), which a decoder repeats to give its frames."""

    tokenizer: str | None
    codebook: int | None
    fps: float | None = None
    tokenizer_codes: str | None = None
    bf16_decoder: bool | None = None


def write_token_frame(out: IO[str], index: int, codes: np.ndarray, *, given: bool = False,
                      frames: int | None = None, prompt: str | None = None, anchor: np.ndarray | None = None,
                      restart: bool = False, origin: StreamOrigin | None = None) -> None:
    """Write one line and flush it, so a reader downstream sees the frame at once; `frames` (the
    decoded frames the video keeps) is left out when None, `prompt` (the prompt that took over
    from this latent frame on, `arvid generate --prompt-schedule`) when None, `anchor` (codes
    (h' w') the stream went on from at this frame) when None, `restart` (these codes begin a new
    video) when false, and `origin`'s fields where None."""
    codes = np.asarray(codes)
    record: dict[str, Any] = {"index": index, "shape": list(codes.shape), "codes": codes.tolist(), "given": given}
    if origin is not None:
        record.update((key, value) for key, value in origin._asdict().items() if value is not None)
    if frames is not None:
        record["frames"] = frames
    if prompt is not None:
        record["prompt"] = prompt
    if anchor is not None:
        record["anchor"] = np.asarray(anchor).tolist()
    if restart:
        record["restart"] = True
    out.write(json.dumps(record) + "\n")
    out.flush()


def read_token_frames(lines: Iterable[str | bytes], name: str = "<stream>", *, grid: tuple[int, int] | None = None,
                      codebook_size: int | None = None, temporal_factor: int | None = None) -> Iterator[TokenFrame]:
    """Parse a token stream line by line (blank lines skipped); `lines` may be text or bytes (a file
    opened in binary mode, so that bytes that are not UTF-8 are reported with their line).

    Args:
        name: the stream's name for messages (a file name, or "<stdin>").
        grid: the (h', w') every latent frame must have (a tokenizer's), or None to accept any.
        codebook_size: codes must be in [0, codebook_size); None: any code >= 0.
        temporal_factor: video frames per latent frame after the first (which has 1), to check
            `frames` against; None: any `frames` >= 0.
    Raises:
        ValueError: one line saying `name:line: what was expected, and what was found`: not UTF-8,
            not JSON (or cut short at the end of the stream), not an object, a missing key, an index
            that is not the next integer, a malformed shape, codes that are not integers, not of
            their shape or out of range (the `anchor`'s too), `given` or `restart` not a boolean,
            `frames` out of range; or `name: no token-stream lines` for a stream without any.
    """
    expected = 0
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{name}:{number}: not UTF-8 text (byte 0x{raw[err.start]:02x} at column "
                                 f"{err.start + 1}); expected one JSON object per line, as `arvid generate "
                                 f"--tokens-out` writes") from None
        else:
            line = raw
        if not line.strip():
            continue
        yield _parse_line(line, f"{name}:{number}", expected, grid, codebook_size, temporal_factor)
        expected += 1
    if expected == 0:
        raise ValueError(f"{name}: no token-stream lines (empty); expected one JSON object per latent frame, "
                         f"as `arvid generate --tokens-out` writes")


def stream_origin(line: str | bytes) -> StreamOrigin:
    """The `tokenizer`, `codebook`, `fps`, `tokenizer_codes` and `bf16_decoder` a stream's line records
    (None each where it records none, or the line is not a well-formed object: `read_token_frames`
    reports that)."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return StreamOrigin(None, None)
    if not isinstance(record, dict):
        return StreamOrigin(None, None)
    tokenizer, codebook, fps = record.get("tokenizer"), record.get("codebook"), record.get("fps")
    codes = record.get("tokenizer_codes")
    return StreamOrigin(tokenizer if isinstance(tokenizer, str) and tokenizer else None,
                        codebook if _is_int(codebook) and codebook > 0 else None,
                        frame_rate_or_none(fps), codes if isinstance(codes, str) and codes else None,
                        True if record.get("bf16_decoder") is True else None)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _parse_line(line: str, where: str, expected: int, grid: tuple[int, int] | None, codebook_size: int | None,
                temporal_factor: int | None) -> TokenFrame:
    """One line's record, checked; `where` is "name:line" for messages."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        if not line.endswith("\n"):  # only the last line of a stream can lack its line end
            raise ValueError(f"{where}: the last line is cut short ({err.msg} at column {err.colno}, and no line "
                             f"end); expected a whole JSON object") from None
        raise ValueError(f"{where}: not JSON ({err.msg} at column {err.colno}); expected one JSON object per "
                         f"line with index, shape and codes") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object with index, shape and codes, got a JSON "
                         f"{_json_kind(record)}")
    missing = [key for key in ("index", "shape", "codes") if key not in record]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(repr(key) for key in missing)}; expected an object with "
                         f"index, shape and codes")
    index = record["index"]
    if not _is_int(index):
        raise ValueError(f"{where}: index must be an integer, got {json.dumps(index)}")
    if index != expected:
        raise ValueError(f"{where}: expected latent frame {expected}, got index {index}")
    shape = record["shape"]
    if not (isinstance(shape, list) and len(shape) == 2 and all(_is_int(side) and side > 0 for side in shape)):
        raise ValueError(f"{where}: shape must be [height, width], two positive integers, got {json.dumps(shape)}")
    if grid is not None and tuple(shape) != tuple(grid):
        raise ValueError(f"{where}: latent frame {index} has codes of shape {shape}; this tokenizer makes "
                         f"{list(grid)}")
    codes = _codes(record["codes"], shape, where, codebook_size)
    given = record.get("given", False)
    if not isinstance(given, bool):
        raise ValueError(f"{where}: given must be true or false, got {json.dumps(given)}")
    restart = record.get("restart", False)
    if not isinstance(restart, bool):
        raise ValueError(f"{where}: restart must be true or false, got {json.dumps(restart)}")
    frames = record.get("frames")
    if frames is not None:
        most = None if temporal_factor is None else 1 if index == 0 or restart else temporal_factor
        if not _is_int(frames) or frames < 0 or (most is not None and frames > most):
            bound = "an integer >= 0" if most is None else f"an integer in [0, {most}]"
            raise ValueError(f"{where}: frames must be {bound} (video frames of latent frame {index} to keep), "
                             f"got {json.dumps(frames)}")
    anchor = record.get("anchor")
    if anchor is not None:
        anchor = _codes(anchor, shape, f"{where}: anchor", codebook_size)
    return TokenFrame(index, codes, given, frames, anchor, restart)


def _codes(values: Any, shape: list[int], where: str, codebook_size: int | None) -> np.ndarray:
    """`values` as (h', w') int64 codes if they are `shape[0]` rows of `shape[1]` integers in range."""
    height, width = shape
    layout = f"{height} rows of {width} integer codes, as shape {shape} says"
    if not isinstance(values, list):
        raise ValueError(f"{where}: codes must be {layout}, got a JSON {_json_kind(values)}")
    if len(values) != height:
        raise ValueError(f"{where}: codes must be {layout}, got {len(values)} rows")
    for row_number, row in enumerate(values):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} codes" if isinstance(row, list) else f"a JSON {_json_kind(row)}"
            raise ValueError(f"{where}: codes must be {layout}, got {got} in row {row_number}")
    flat = [value for row in values for value in row]
    bad = next((value for value in flat if not _is_int(value)), _MISSING)
    if bad is not _MISSING:
        raise ValueError(f"{where}: codes must be integers, got {json.dumps(bad)}")
    top = codebook_size if codebook_size is not None else 2**63
    bad = next((value for value in flat if not 0 <= value < top), _MISSING)
    if bad is not _MISSING:
        bound = f"in [0, {codebook_size}) (this tokenizer's codebook)" if codebook_size is not None else ">= 0"
        raise ValueError(f"{where}: codes must be {bound}, got {bad}")
    return np.array(values, dtype=np.int64)
