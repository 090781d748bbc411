"""A progress line on stderr that suits where stderr goes: on a terminal one line rewritten in place
(carriage returns), elsewhere (a file, a pipe, a CI log) separate lines, at most one per `interval`
seconds, so that a redirected log stays readable instead of becoming one line of thousands of characters."""

from __future__ import annotations

import sys
import time
from typing import IO


class ProgressLine:
    """Shows the latest `update(text)`; `end()` finishes the line.

    Args:
        stream: where to write (default: sys.stderr, looked up when writing, so pytest's capture works).
        interval: on a non-terminal, the least seconds between two lines; the final `update` is always written.
    """

    def __init__(self, stream: IO[str] | None = None, *, interval: float = 1.0) -> None:
        self._stream = stream
        self.interval = interval
        self._last_written = -float("inf")
        self._pending: str | None = None  # the latest text not yet written (non-terminal only)
        self._open = False  # a terminal line was started and not yet ended

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stderr

    def _terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def update(self, text: str, *, force: bool = False) -> None:
        """Show `text`: in place on a terminal, else as a line unless one was written less than
        `interval` seconds ago (`force` writes it anyway)."""
        if self._terminal():
            self.stream.write(f"\r{text}")
            self.stream.flush()
            self._open = True
            return
        now = time.monotonic()
        if force or now - self._last_written >= self.interval:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last_written, self._pending = now, None
        else:
            self._pending = text

    def end(self) -> None:
        """Finish: end the terminal line, or write the latest text if it was held back."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
        elif self._pending is not None:
            self.update(self._pending, force=True)
