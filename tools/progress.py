"""A progress line on stderr that suits where stderr goes: on a terminal one line rewritten in place
(carriage returns), elsewhere (a file, a pipe, a CI log) separate lines, at most one per `interval`
seconds (`arvid.training.progress.LineFile`, which the trainers' bars use too), so that a redirected
log stays readable instead of becoming one line of thousands of characters."""

from __future__ import annotations

import sys
from typing import IO


class ProgressLine:
    """Shows the latest `update(text)`; `end()` finishes the line.

    Args:
        stream: where to write (default: sys.stderr, looked up when writing, so pytest's capture works).
        interval: on a non-terminal, the least seconds between two lines; the final text is always written.
    """

    def __init__(self, stream: IO[str] | None = None, *, interval: float = 1.0) -> None:
        self._stream = stream
        self.interval = interval
        self._lines = None  # a LineFile, made on the first update to a non-terminal
        self._open = False  # a terminal line was started and not yet ended

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stderr

    def _terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def update(self, text: str) -> None:
        """Show `text`: in place on a terminal, else as a line unless one was written less than
        `interval` seconds ago (then it is held, and written by a later update or `end`)."""
        if self._terminal():
            self.stream.write(f"\r{text}")
            self.stream.flush()
            self._open = True
            return
        if self._lines is None:
            from arvid.training.progress import LineFile

            self._lines = LineFile(self.stream, interval=self.interval)
        self._lines.write(text)

    def note(self, text: str) -> None:
        """Write `text` as a line of its own (an event, such as a prompt switch), the progress going on
        below it."""
        if self._open:  # the terminal's progress line: replace it by the note (padded over it)
            self.stream.write("\r\033[K")
            self._open = False
        elif self._lines is not None:
            self._lines.flush_pending()
        self.stream.write(f"{text}\n")
        self.stream.flush()

    def end(self) -> None:
        """Finish: end the terminal line, or write the latest text if it was held back."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
        elif self._lines is not None:
            self._lines.flush_pending()


def seconds_since_process_start() -> float | None:
    """Wall-clock seconds since this process started (the interpreter's start included), from Linux's
    /proc; None where that cannot be read."""
    import os
    from pathlib import Path

    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
