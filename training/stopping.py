"""Stopping a training run between steps: a first Ctrl-C or SIGTERM asks the run to stop after the step
it is in, with a checkpoint of that step; a second one stops it at once, as before.

Without this a stop lost every step since the last checkpoint (`train.checkpoint_every`, 250 steps
in the presets: minutes to an hour on a CPU), and a stop that lands inside a step cannot be saved:
the optimizer may have updated some weights and not others.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Whether a stop was asked for (`signal`: the number of the signal that asked, else None)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def asked(self) -> bool:
        """Whether a first stop signal arrived."""
        return self.signal is not None


@contextlib.contextmanager
def stop_between_steps(name: str = "training", *, say: bool = True) -> Iterator[StopRequest]:
    """Inside the block, the first SIGINT or SIGTERM only sets the yielded request's `signal` (and
    says so on stderr where `say`: `name` names the run); the handlers from before the block are then back, so a
    second signal acts as it would have (a KeyboardInterrupt from Ctrl-C). Handlers can only be set
    in the main thread: elsewhere the block runs as is and the request is never asked. A signal that is
    ignored stays ignored, and one whose handler was set outside Python (getsignal None), which could
    not be put back, is left alone."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous: dict[int, object] = {}

    def ask(number: int, _frame) -> None:
        request.signal = number
        for sig, handler in previous.items():  # a second signal: as before the block
            signal.signal(sig, handler)
        if say:  # os.write: a print here could land inside one of the progress bar's writes
            _write_to_stderr(f"\n{name}: {signal.Signals(number).name} caught: stopping after this step with a "
                             f"checkpoint (again to stop at once, losing the steps since the last checkpoint)\n")

    for sig in STOP_SIGNALS:
        # A signal ignored (a job a shell started with `&` ignores Ctrl-C) stays ignored.
        if signal.getsignal(sig) not in (None, signal.SIG_IGN):
            previous[sig] = signal.signal(sig, ask)
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _write_to_stderr(text: str) -> None:
    """Write `text` to stderr's file descriptor directly (no Python buffer a signal handler could
    interrupt); nothing where stderr has none (a captured stream)."""
    try:
        os.write(sys.stderr.fileno(), text.encode())
    except (AttributeError, OSError, ValueError):
        pass
