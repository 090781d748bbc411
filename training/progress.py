"""Progress bars that stay readable in a log file: on a terminal tqdm rewrites one line in place; when
stderr goes to a file or a pipe (a `nohup` run, a CI log) its carriage returns would make one line of
thousands of characters, so there each refresh becomes a line of its own, at most one per `interval`."""

from __future__ import annotations

import sys
import time
from typing import IO


class LineFile:
    """A file-like object for tqdm's `file=`: turns its `\\r`-refreshes into separate lines, at most
    one per `interval` seconds (the last one is kept and written by `flush_pending` or at close)."""

    def __init__(self, stream: IO[str], *, interval: float = 1.0) -> None:
        self.stream, self.interval = stream, interval
        self._last, self._pending = -float("inf"), ""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            self._pending = line
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._write_pending(now)
        return len(text)

    def flush_pending(self) -> None:
        """Write the latest refresh not yet written, if any."""
        if self._pending:
            self._write_pending(time.monotonic())

    def _write_pending(self, now: float) -> None:
        self.stream.write(self._pending + "\n")
        self.stream.flush()
        self._last, self._pending = now, ""

    def flush(self) -> None:
        self.stream.flush()


def progress_file(stream: IO[str] | None = None) -> IO[str]:
    """What a tqdm bar should write to: `stream` (default stderr) itself on a terminal, else a `LineFile`."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return stream if isatty and isatty() else LineFile(stream)
