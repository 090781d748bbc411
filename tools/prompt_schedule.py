"""Prompts that change while `arvid generate` streams: a schedule file (`--prompt-schedule`, lines of
`FRAME<TAB>PROMPT`) or lines typed on standard input (`--interactive`), both turned into the
`prompts(index)` function `arvid.sampling.stream` takes (index: a latent frame's)."""

from __future__ import annotations

import bisect
import sys
import threading
from collections.abc import Callable

from arvid.tools.errors import UsageError
from arvid.tools.text_files import EMPTY_PROMPT, read_lines


def read_schedule(path: str) -> list[tuple[int, str]]:
    """The (video frame, prompt) lines of a schedule file, in order: each `FRAME<TAB>PROMPT`, FRAME
    an integer >= 1 (frame 0 is the command's own prompt), increasing; blank lines and `#` comments
    skipped. A prompt of `""` (`EMPTY_PROMPT`) is the empty prompt, as a FRAME and tab with nothing after.

    Raises:
        UsageError: a missing or non-text file, or a bad line (the message names the file and line).
    """
    lines = read_lines(path, "prompt schedule")
    schedule: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        frame, tab, prompt = line.partition("\t")
        if not tab or not frame.strip().isdecimal() or not frame.strip().isascii() or int(frame) < 1:
            raise UsageError(f"{path}:{number}: expected FRAME<TAB>PROMPT with FRAME an integer >= 1, got {line[:80]!r}")
        if schedule and int(frame) <= schedule[-1][0]:
            raise UsageError(f"{path}:{number}: frame {int(frame)} is not after frame {schedule[-1][0]}")
        prompt = " ".join(prompt.split())  # spacing alone is no new prompt
        schedule.append((int(frame), "" if prompt == EMPTY_PROMPT else prompt))
    if not schedule:
        raise UsageError(f"prompt schedule {path!r} has no FRAME<TAB>PROMPT line")
    return schedule


def _latent_start(frame: int, temporal_factor: int, continued: int = 0) -> int:
    """The latent frame a line for video frame `frame` takes over from: the first that starts at or
    after it (`frame_start`). `continued`: the latent frames of a continued clip before the video's
    first frame (`arvid generate --continue`), 0 for a video that starts at the anchor."""
    if continued:
        return continued + -(-frame // temporal_factor)
    return 1 + -(-(frame - 1) // temporal_factor)


def frame_start(latent: int, temporal_factor: int, continued: int = 0) -> int:
    """The video frame latent frame `latent` starts at: after the anchor's one frame, latent k >= 1 at
    1 + temporal_factor * (k - 1); after `continued` latent frames of a continued clip, which the video
    does not show, latent `continued` + k at temporal_factor * k."""
    if continued:
        return temporal_factor * (latent - continued)
    return 1 + temporal_factor * (latent - 1)


def schedule_warnings(schedule: list[tuple[int, str]], temporal_factor: int, frames: int, continued: int = 0
                      ) -> list[str]:
    """What a schedule will not do as written: a line superseded by the next one, which takes over
    at the same latent frame, lines at or after the video's end (`frames`; 0: no end), and empty
    prompts (unconditional from there, rarely meant). `continued` as `_latent_start`."""
    warnings = [f"the prompt at frame {frame} is empty: from there the video is drawn unconditionally"
                for frame, prompt in schedule if not prompt]
    latent = {frame: _latent_start(frame, temporal_factor, continued) for frame, _ in schedule}
    takes_over = {frame: frame_start(latent[frame], temporal_factor, continued) for frame, _ in schedule}
    for (frame, _), (later, _) in zip(schedule, schedule[1:]):
        if latent[frame] == latent[later]:
            warnings.append(f"the prompts at frames {frame} and {later} both take over at frame {takes_over[later]} "
                            f"(a latent frame's first): the one at frame {frame} is never used")
    past = [frame for frame, _ in schedule if frames and takes_over[frame] >= frames]
    if past:
        landing = ", ".join(f"{frame} at {takes_over[frame]}" for frame in past)
        warnings.append(f"a switch takes over at a latent frame's first frame ({landing}), after the video's last "
                        f"frame ({frames - 1}, with --frames {frames}): never used")
    return warnings


def scheduled_prompts(first: str, schedule: list[tuple[int, str]], temporal_factor: int, continued: int = 0
                      ) -> Callable[[int], str]:
    """`prompts(index)`: the prompt in force for latent frame `index`. A line for video frame F takes
    over from the first latent frame that starts at or after F (`_latent_start`; `continued` as
    there), so a switch lands on a latent frame's start."""
    starts = [_latent_start(frame, temporal_factor, continued) for frame, _ in schedule]  # latent index of each line

    def prompts(index: int) -> str:
        position = bisect.bisect_right(starts, index)
        return first if position == 0 else schedule[position - 1][1]

    return prompts


def typed_prompts(first: str, *, check: Callable[[str], object], stdin=None,
                  read_as: Callable[[str], str] | None = None) -> Callable[[int], str]:
    """`prompts(index)`: the last line typed on `stdin` (default: standard input), read by a daemon
    thread, so each line becomes the prompt from the next latent frame on. Blank lines are ignored;
    a line of two double quotes, `""`, is the empty prompt (unconditional from there, as `""` is on
    the command line). Each other line is first passed through `read_as` when given (a rewrite,
    `--rewrite-prompts`); a line `check` raises ValueError for (too long for the model) is refused
    with a warning (and `check` may print warnings of its own about a line it takes)."""
    stdin = sys.stdin if stdin is None else stdin
    latest = [first]

    def read() -> None:
        for line in stdin:
            if not line.strip():
                continue
            if line.strip() == EMPTY_PROMPT:
                print("note: the empty prompt: the video is drawn unconditionally from the next latent frame",
                      file=sys.stderr)
                latest[0] = ""
                continue
            if read_as is not None:
                try:
                    line = read_as(line.strip())
                except Exception as err:  # noqa: BLE001 - a failed rewrite must not end the typed prompts
                    print(f"warning: the line is taken as typed: it could not be rewritten ({err})", file=sys.stderr)
            try:
                check(line.strip())
            except ValueError as err:
                print(f"warning: prompt not taken: {err}", file=sys.stderr)
                continue
            latest[0] = " ".join(line.split())  # spacing alone is no new prompt

    threading.Thread(target=read, name="arvid-prompts", daemon=True).start()
    return lambda index: latest[0]
