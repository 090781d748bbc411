"""The NDJSON token stream: one JSON object a line per latent frame, written as soon as it completes.

    {"index": 0, "shape": [8, 8], "codes": [[...], ...], "given": false}

`index` counts latent frames from 0 (the anchor); `codes` are the tokenizer's codes (h' w');
`given` marks frames that came from the caller's video rather than from the model. Streams can be
piped between programs (`arvid generate --tokens-out - | arvid decode - -o out.mp4`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, NamedTuple

import numpy as np


class TokenFrame(NamedTuple):
    """One line of a token stream: latent frame `index`, its `codes` (h' w') and whether it was `given`."""

    index: int
    codes: np.ndarray  # (h', w') int64
    given: bool


def write_token_frame(out: IO[str], index: int, codes: np.ndarray, *, given: bool = False) -> None:
    """Write one line and flush it, so a reader downstream sees the frame at once."""
    codes = np.asarray(codes)
    out.write(json.dumps({"index": index, "shape": list(codes.shape), "codes": codes.tolist(), "given": given}) + "\n")
    out.flush()


def read_token_frames(lines: IO[str], name: str = "<stream>") -> Iterator[TokenFrame]:
    """Parse a token stream line by line (blank lines skipped).

    Raises:
        ValueError: a malformed line, codes that disagree with their shape, or indices out of
            order; the message names the stream and the line number.
    """
    expected = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            codes = np.asarray(record["codes"], dtype=np.int64)
            index, shape, given = int(record["index"]), tuple(record["shape"]), bool(record.get("given", False))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{name}:{number}: not a token-stream line ({err}): {line[:80]!r}") from None
        if codes.shape != shape or codes.ndim != 2:
            raise ValueError(f"{name}:{number}: codes of shape {codes.shape} do not match shape {list(shape)}")
        if index != expected:
            raise ValueError(f"{name}:{number}: expected latent frame {expected}, got {index}")
        expected += 1
        yield TokenFrame(index, codes, given)
