"""Reading the small text files commands take (prompt lists, prompt schedules), with the one-line
errors of bad usage."""

from __future__ import annotations

from pathlib import Path

from arvid.tools.errors import UsageError


def read_lines(path: str, what: str) -> list[str]:
    """The lines of the UTF-8 text file `path`, which a message calls `what` ("prompts file"); a
    byte-order mark at its start (as some editors save) is dropped.

    Raises:
        UsageError: the file cannot be read, or is not UTF-8 text (names it).
    """
    try:
        return Path(path).read_text(encoding="utf-8-sig").splitlines()
    except OSError as err:
        raise UsageError(f"cannot read {what} {path!r}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise UsageError(f"{what} {path!r} is not text (byte {err.start} is not UTF-8)") from None


# A prompt file's line (or a line typed with --interactive) that asks for the empty prompt, where a
# blank line is skipped: an unconditional video.
EMPTY_PROMPT = '""'


def read_prompts(path: str) -> list[tuple[int, str]]:
    """The prompts of a prompts file (`generate --prompts`, `eval-video --prompts`) -> [(line number,
    prompt)]: its lines, stripped, but for blank lines and `#` comments (as a prompt schedule's); a
    line of `""` (`EMPTY_PROMPT`) is the empty prompt.

    Raises:
        UsageError: an unreadable file, or one without a prompt.
    """
    lines = ((number, line.strip()) for number, line in enumerate(read_lines(path, "prompts file"), start=1))
    prompts = [(number, "" if line == EMPTY_PROMPT else line) for number, line in lines if line and not line.startswith("#")]
    if not prompts:
        raise UsageError(f"prompts file {path!r} has no prompt (one per line; blank lines and # comments are skipped)")
    return prompts
