"""How subcommands report a user's mistake: a message on stderr and exit code 2, no traceback."""

from __future__ import annotations

import sys


class UsageError(Exception):
    """A bad argument or input file, reported as `arvid: error: <message>` with exit code 2."""


def fail(message: str) -> int:
    """Print `arvid: error: <message>` on stderr and return exit code 2, for `run` to return."""
    print(f"arvid: error: {message}", file=sys.stderr)
    return 2
