"""How long-running subcommands stop early and keep their work: Ctrl-C raises `KeyboardInterrupt`,
and inside `sigterm_raises()` SIGTERM raises `Terminated`; callers catch `INTERRUPTS` and write
what is done. SIGTERM matters because a job started in the background by a non-interactive shell
ignores Ctrl-C's SIGINT: `kill PID` is then the only polite way to stop it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(Exception):
    """SIGTERM, turned into an exception so that files are closed as on Ctrl-C."""


INTERRUPTS = (KeyboardInterrupt, Terminated)


def _raise_terminated(signum, frame):
    raise Terminated()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated`; the previous handler comes back after it."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
