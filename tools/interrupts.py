"""How long-running subcommands stop early and keep their work: Ctrl-C raises `KeyboardInterrupt`,
and inside `sigterm_raises()` SIGTERM raises `Terminated`; callers catch `INTERRUPTS` and write
what is done. SIGTERM matters because a job started in the background by a non-interactive shell
ignores Ctrl-C's SIGINT: `kill PID` is then the only polite way to stop it. While libraries import
and models load, `interrupts_deferred()` holds both back until the block ends."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from arvid.data.video_writer import STOP_SIGNALS


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that files are closed as on Ctrl-C.

    A KeyboardInterrupt, so that no `except Exception` swallows it and whatever reports Ctrl-C
    (`arvid.tools.cli.main`: exit code 130, no traceback) reports it too."""


INTERRUPTS = (KeyboardInterrupt, Terminated)


def _raise_terminated(signum, frame):
    raise Terminated()


@contextmanager
def _handlers(handlers: dict[int, Any]) -> Iterator[None]:
    """Within the block, each signal of `handlers` has its handler there; the previous ones come back after it."""
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def sigterm_raises() -> AbstractContextManager[None]:
    """Within the block, SIGTERM raises `Terminated`; the previous handler comes back after it."""
    return _handlers({signal.SIGTERM: _raise_terminated})


def stop_signals_ignored() -> AbstractContextManager[None]:
    """Within the block, SIGINT and SIGTERM are ignored: for finishing files after a first one, so
    that a second Ctrl-C cannot cut a file's closing short. The previous handlers come back after it."""
    return _handlers({sig: signal.SIG_IGN for sig in STOP_SIGNALS})


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are noted, not raised; when it ends, the first one noted
    raises (`KeyboardInterrupt`, or `Terminated` for SIGTERM). For importing torch and its kin and
    loading models: an interrupt raised inside a library's import can crash the process (SIGABRT,
    SIGSEGV) or be swallowed with a traceback (`python benchmarks/interrupt_generate.py`; the figures:
    docs/results/robustness.md). A signal ignored before the block stays ignored. Off the main thread,
    where Python runs no signal handler, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    watched = [sig for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN]
    with _handlers({sig: lambda signum, frame: noted.append(signum) for sig in watched}):
        yield
    if noted:
        raise Terminated() if noted[0] == signal.SIGTERM else KeyboardInterrupt()
