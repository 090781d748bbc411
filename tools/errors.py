"""How subcommands report a user's mistake: a message on stderr and exit code 2, no traceback."""

from __future__ import annotations

import os
import sys


class UsageError(Exception):
    """A bad argument or input file, reported as `arvid: error: <message>` with exit code 2."""


def fail(message: str, code: int = 2) -> int:
    """Print `arvid: error: <message>` on stderr and return exit code `code` (2: bad usage; 1: a failure
    of the machine's, not the input's), for `run` to return."""
    print(f"arvid: error: {message}", file=sys.stderr)
    return code


def fail_writing(err: OSError, path, kept: str = "") -> int:
    """Print that `path` (or the file `err` names) could not be written (a full disk, a device gone)
    as one `arvid: error:` line, `kept` saying what the output holds, and return exit code 1: a
    failure, not bad usage."""
    print(f"arvid: error: cannot write {err.filename or path}: {err.strerror or err}{kept}", file=sys.stderr)
    return 1


def fail_once(message: str) -> int:
    """`fail` for an error every process of a `torchrun` launch meets alike (a bad setting, a run
    folder that holds a checkpoint): said by the first process alone; every process returns 2."""
    if first_process():
        return fail(message)
    return 2


def first_process() -> bool:
    """Whether this is the first process of a `torchrun` launch (RANK 0), or the only process."""
    return os.environ.get("RANK", "0").strip() in ("", "0")
