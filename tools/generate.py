"""Generate video from a prompt, streaming frames and tokens as they complete. Examples:

    arvid generate "a small red circle moving right on a black background" --frames 240 -o out.mp4
    arvid generate "a large blue square moving up" --frames 0 -o live.mp4    # until Ctrl-C
    arvid generate "a circle" --image first.png -o out.mp4                    # image-to-video
    arvid generate "a circle" --continue clip.mp4 --frames 64 -o more.mp4     # continuation
    arvid generate "a circle" --tokens-out - | arvid decode - -o out.mp4      # token stream
    arvid generate --prompts prompts.txt --frames 64 -o videos/{n}.mp4        # a batch of prompts

--frames N is the number of frames in the video, in every mode: with --image the first of them is
the image (as the tokenizer reconstructs it); with --continue they are N new frames that follow the
clip's last frame (the clip is not copied in: play or join clip then output). The token stream
records which frames the video holds, so `arvid decode` writes the same N frames.

Ctrl-C (or SIGTERM), at any moment, stops cleanly with exit code 130: the video and the token file
keep every frame done so far, or, before the first frame, no file is made. (A job a script started
in the background (`&`) ignores SIGINT, as shells start them: stop it with SIGTERM, `kill PID`.) An mp4 is written
fragmented (a fragment per frame) and every frame is on disk once written, so even a process
killed outright (kill -9) leaves files that play, missing only the latent frame in progress.
An empty prompt generates unconditionally. Sampling follows the model's lm/generation_config.json;
each sampling flag overrides one of its fields (the shipped values were chosen on the shapes world:
see docs/results/sampling.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path

from arvid.tools.errors import UsageError, fail
from arvid.tools.prompt_rewriting import add_rewrite_argument, prompt_reader, rewrite_lexicon
from arvid.tools.prompt_schedule import read_schedule
from arvid.tools.options import (DEFAULT_FPS, SAMPLER_FLAGS, add_device_argument, add_model_argument, add_sampler_arguments,
                                 add_speed_arguments, apply_runtime_options, check_fps, check_runtime_options, check_window,
                                 note_default_sampling, sampler_config, speed_levers)


def _shipped_prompt_reading() -> str:
    """How the shipped LM reads a prompt, for the help text ("" when no LM is shipped)."""
    from arvid.weights import default_model_dir

    try:
        config = json.loads((default_model_dir("lm") / "config.json").read_text())
    except (OSError, ValueError):  # FileNotFoundError is an OSError
        return ""
    if config.get("text_encoder"):
        return f" (the shipped model reads it with the {config['text_encoder']} encoder)"
    return f" (the shipped model reads at most {config.get('text_tokens')} sentencepiece pieces)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid generate`'s arguments."""
    parser.add_argument("prompt", nargs="?", help=f'the caption ("" for unconditional){_shipped_prompt_reading()}: '
                                       f'up to the text encoder\'s limit in its tokens, or for a model that reads '
                                       f'sentencepiece pieces, its text length in pieces; longer is an error (a sentencepiece '
                                       f'model also names characters it does not know, other scripts or emoji, in a '
                                       f'warning)')
    parser.add_argument("--prompts", metavar="FILE",
                        help="instead of one prompt, one per line of FILE, generated together as the rows of one batch; "
                             "blank lines and # comments skipped, a line of \"\" the empty prompt; -o and --tokens-out "
                             "then name one file per prompt with {n}, its number among the file's prompts from 0 (for "
                             "example -o videos/{n}.mp4) (default: none, the one prompt given)")
    parser.add_argument("-o", "--output", help="video file to write, .mp4 or .gif (default: none; give -o, --tokens-out "
                                               "or both)")
    parser.add_argument("--frames", type=int, default=64,
                        help="frames in the video; with --image the first is the image, with --continue all N are new "
                             "frames after the clip's last (the clip is not copied in); 0 = until Ctrl-C")
    parser.add_argument("--tokens-out", metavar="FILE",
                        help="write the token stream (NDJSON, a line per latent frame, flushed as each completes) "
                             "here; '-' for standard output; `arvid decode` turns it into the same frames (to "
                             "float rounding for rows decoded as a batch: --prompts, --batched-candidates) "
                             "(default: none)")
    add_model_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampler, >= 0")
    parser.add_argument("--prompt-schedule", metavar="FILE",
                        help="prompts that take over while streaming: lines of FRAME<TAB>PROMPT (video frame >= 1, "
                             "increasing); each from the first latent frame starting at or after FRAME (default: none)")
    parser.add_argument("--interactive", action="store_true",
                        help="each line typed on standard input becomes the prompt from the next latent frame on "
                             "(\"\" alone: the empty prompt, unconditional)")
    # No `choices`: the names live in arvid.sampling (which imports torch); `stream` checks them.
    parser.add_argument("--switch-from", metavar="{window,frame,scratch}",
                        help="with --prompt-schedule or --interactive, what a new prompt goes on from: window (the "
                             "default: the same anchor and window), frame (the frame on screen anchors a new first "
                             "window: the object stays and takes the new motion), scratch (a new anchor and first "
                             "window: for a new colour or shape, at the price of a jump; the new anchor is one frame, so "
                             "the schedule's later frame numbers land 3 frames early)")
    parser.add_argument("--image", help="first frame, for image-to-video (default: none)")
    parser.add_argument("--continue", dest="continue_from", metavar="VIDEO",
                        help="video to continue (default: none)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate of the output, and the rate a --continue clip is read at (default: the rate "
                             f"of the LM's training videos, from its training_data.json, else {DEFAULT_FPS:g}, the "
                             "shipped LM's)")
    add_rewrite_argument(parser)
    add_sampler_arguments(parser)
    add_speed_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Check the arguments, load the models and stream frames into the outputs -> exit code
    (2: bad usage, 130: interrupted, at any moment)."""
    from arvid.tools.interrupts import INTERRUPTS, sigterm_raises, stop_signals_ignored

    if args.prompts is not None or args.prompt is None:
        from arvid.tools.generate_batch import run_batch

        return run_batch(args)
    with sigterm_raises():
        try:
            prepared = _prepare(args)
            if isinstance(prepared, int):
                return prepared
            return _write(*prepared, args)
        except INTERRUPTS:  # before the first frame: _write handles those after it
            with stop_signals_ignored():
                print("interrupted before the first frame: no file written", file=sys.stderr)
            return 130


def check_common_arguments(args: argparse.Namespace) -> None:
    """The checks of the numbers every generation takes (--frames, --seed, --fps, --threads, sampling flags, --window).

    Raises:
        UsageError: the first problem found.
    """
    for flag, name in (("-o", args.output), ("--tokens-out", args.tokens_out)):
        if name is not None and not name.strip():
            raise UsageError(f"{flag} is empty: give a file name (an unset shell variable?)")
    if args.frames < 0:
        raise UsageError(f"--frames must be >= 0 (0 streams until Ctrl-C), got {args.frames}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    check_fps(args.fps)
    check_runtime_options(args)
    for flag, field, kind, _ in SAMPLER_FLAGS:  # nan and inf pass every range check; the sampler checks the rest
        value = getattr(args, field)
        if kind is float and value is not None and not math.isfinite(value):
            raise UsageError(f"{flag} must be a finite number, got {value}")
    if args.window_frames is not None and args.window_frames < 2:
        raise UsageError(f"--window must be at least 2 latent frames (at most the model's trained window), "
                         f"got {args.window_frames}")


def _check_arguments(args: argparse.Namespace) -> Path | None:
    """The checks that need no model -> the video's path (None: no video).

    Raises:
        UsageError: the first problem found.
    """
    from arvid.sampling.drawing import SWITCH_FROM
    from arvid.tools.paths import check_not_the_input, check_video_output, check_writable

    if args.output is None and args.tokens_out is None:
        raise UsageError("nothing to write: give -o VIDEO and/or --tokens-out FILE")
    check_common_arguments(args)
    if args.image and args.continue_from:
        raise UsageError("give --image or --continue, not both")
    if args.prompt_schedule and args.interactive:
        raise UsageError("give --prompt-schedule or --interactive, not both")
    if args.switch_from and not (args.prompt_schedule or args.interactive):
        raise UsageError("--switch-from changes how a new prompt takes over: give --prompt-schedule or --interactive")
    if args.interactive and args.tokens_out == "-":
        raise UsageError("--interactive reads standard input; write the tokens to a file, not to standard output")
    if args.switch_from is not None and args.switch_from not in SWITCH_FROM:
        raise UsageError(f"--switch-from must be one of {', '.join(SWITCH_FROM)}, got {args.switch_from!r}")
    for flag, path in (("--image", args.image), ("--continue", args.continue_from)):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{flag} {path!r}: {'a folder, not a file' if Path(path).is_dir() else 'no such file'}")
    video = check_video_output(args.output) if args.output else None
    tokens = check_writable(args.tokens_out) if args.tokens_out not in (None, "-") else None
    if video is not None and tokens is not None and video.resolve() == tokens.resolve():
        raise UsageError(f"-o and --tokens-out are the same file, {str(video)!r}")
    for flag, given in (("--image", args.image), ("--continue", args.continue_from),
                        ("--prompt-schedule", args.prompt_schedule)):
        for output, path in (("-o", video), ("--tokens-out", tokens)):
            check_not_the_input(path, given, output, f"the {flag} file")
    return video


def _prepare(args: argparse.Namespace):
    """Check everything and load the models -> (latent frame iterator, its `Outputs`, continuing) or an exit code."""
    from arvid.tools.interrupts import interrupts_deferred

    with interrupts_deferred():  # torch and its kin import here (`load_models` says why)
        from arvid.data.video import read_video
        from arvid.sampling import stream
        from arvid.sampling.stream import continued_latent_frames
        from arvid.tools.checkpoints import codes_origin, load_models, model_parts

    try:
        video = _check_arguments(args)
        levers = speed_levers(args)
        schedule = read_schedule(args.prompt_schedule) if args.prompt_schedule else []
        parts = model_parts(args.model)
        config = sampler_config(args, parts.lm, seed=args.seed)  # checked before the models load
        lexicon = rewrite_lexicon(args)
        lm, tokenizer = load_models(parts, args.device)
        apply_runtime_options(args, lm)
        check_window(config, lm)
        fps = model_fps(args, lm)
        read = prompt_reader(lm, lexicon)  # --rewrite-prompts: the prompts as the LM will read them
        args.prompt = read(args.prompt)
        schedule = [(frame, read(text, f"{args.prompt_schedule}, the prompt at frame {frame}")) for frame, text in schedule]
        check_prompt(lm, args.prompt)
        for frame, text in schedule:
            check_prompt(lm, text, where=f"{args.prompt_schedule}, the prompt at frame {frame}")
        warn_unknown_content(lm, args.prompt)  # warnings once every prompt is known to be readable
        for frame, text in schedule:
            warn_unknown_content(lm, text, where=f"{args.prompt_schedule}, the prompt at frame {frame}")
        size = tokenizer.config.image_size
        conditions = {}
        if args.image:
            conditions["image"] = read_video(args.image, size=size, max_frames=1)[0]
        if args.continue_from:
            conditions["video"] = read_video(args.continue_from, size=size, fps=fps)
        window = config.window_for(lm.config.window_frames)
        continued = 0 if args.continue_from is None else continued_latent_frames(tokenizer, len(conditions["video"]), window)
        prompts = _prompt_changes(args, schedule, lm, tokenizer, config, read, continued=continued)
        # `stream` checks everything (prompt length, window, frames) before returning its iterator.
        latent_frames = stream(lm, tokenizer, args.prompt, config, prompts=prompts, switch_from=args.switch_from or "window",
                               **levers, **conditions)
    except (UsageError, ValueError) as err:  # VideoReadError is a ValueError
        return fail(str(err))
    note_default_sampling(parts.lm)  # after every check: bad input stays one line
    if not args.prompt.strip():
        print("empty prompt: generating unconditionally", file=sys.stderr)
    return latent_frames, Outputs(video, args.tokens_out, fps,
                                 codes_origin(tokenizer, fps, bf16_decoder=levers["bf16_decoder"]), args.prompt), \
        args.continue_from is not None, first_frame_wait(config, streams=1)


def first_frame_wait(config, *, streams: int) -> str | None:
    """What the progress line says until the model's first frame: the first window's candidates are
    drawn before it (minutes for a large LM on a CPU; whole, or to `first_window_choice_frames`),
    after an image or a continued clip's frames too (they fill at most the anchor and the window
    before its last frame); None for one."""
    count = config.first_window_candidates
    if count < 2:
        return None
    videos = f" for each of {streams} prompts" if streams > 1 else ""
    early = config.first_window_choice_frames  # counted from the anchor; at least one frame is drawn
    length = "" if early is None else f" to latent frame {early - 1} (or the first drawn)"
    return (f"drawing {count} candidate first windows{length}{videos} to keep one ({config.first_window_selector}): "
            f"the first frames come after them")


def _prompt_changes(args: argparse.Namespace, schedule: list[tuple[int, str]], lm, tokenizer, config, read, *,
                    continued: int = 0):
    """The `prompts(index)` function of --prompt-schedule (its lines: `schedule`) or --interactive, or
    None; `config` is the run's SamplerConfig, `read` the `prompt_reader` typed lines go through,
    `continued` the latent frames of a continued clip before the video's first frame."""
    from arvid.tools.prompt_schedule import frame_start, schedule_warnings, scheduled_prompts, typed_prompts

    if schedule:
        factor = tokenizer.config.temporal_factor
        for warning in schedule_warnings(schedule, factor, args.frames, continued):
            print(f"warning: {args.prompt_schedule}: {warning}", file=sys.stderr)
        window = config.window_for(lm.config.window_frames)
        # Drawn whole (to the candidates' last frame) when candidates are compared:
        first_window_ends = frame_start(config.candidates_until(window, continued) + 1, factor, continued)
        early = [frame for frame, _ in schedule if frame < first_window_ends]
        if early and config.first_window_candidates > 1:  # the last early line is the one in force then
            unused = (f"; the one{'s' * (len(early) > 2)} at frame{'s' * (len(early) > 2)} "
                      f"{', '.join(map(str, early[:-1]))} before it {'are' if len(early) > 2 else 'is'} never used"
                      if len(early) > 1 else "")
            drawn = (f"the first window (frames 0-{first_window_ends - 1}) is drawn whole, as several candidates"
                     if config.first_window_choice_frames is None else
                     f"frames 0-{first_window_ends - 1} are drawn as several first-window candidates")
            print(f"warning: {drawn}; the switch at frame {early[-1]} takes effect at frame {first_window_ends}{unused}",
                  file=sys.stderr)
        return scheduled_prompts(args.prompt, schedule, factor, continued)
    if args.interactive:
        print("interactive: type a prompt and press Enter to switch to it from the next latent frame (the "
              "last line typed by then; each switch is shown as it happens)", file=sys.stderr)
        def check(prompt: str) -> None:
            lm.prefixes([prompt])  # raises ValueError for one too long: the line is refused
            warn_unknown_content(lm, prompt, where="the typed prompt")

        return typed_prompts(args.prompt, check=check, read_as=lambda line: read(line, "the typed prompt"))
    return None


def check_prompt(lm, prompt: str, *, where: str = "the prompt") -> None:
    """Warn about characters the text tokenizer does not know; raise UsageError for a prompt over the model's length
    (or its text encoder's limit). `where` names the prompt in messages ("the prompt", or a schedule line's)."""
    if lm.encoder is not None:
        try:
            lm.encoder.check(prompt)
        except ValueError as err:
            raise UsageError(f"{where}: {err}: shorten it" if where != "the prompt" else f"{err}: shorten it") from None
        return
    limit, pieces = lm.config.text_tokens, len(lm.text.encode(prompt))
    if pieces > limit:
        raise UsageError(f"{where} is {pieces} text pieces long; this model reads at most {limit}: shorten it")
    unknown = lm.text.unknown(prompt)
    if unknown:
        print(f"warning: the text tokenizer does not know {', '.join(repr(part) for part in unknown)} in {where}; "
              f"the model reads each as the same unknown piece, which carries no meaning", file=sys.stderr)


def learnt_fps(lm) -> float:
    """The rate of the LM's training videos (its training_data.json), else `DEFAULT_FPS`."""
    return float((lm.training_data or {}).get("fps") or DEFAULT_FPS)


def model_fps(args: argparse.Namespace, lm) -> float:
    """The frame rate a run writes and reads at: --fps, else `learnt_fps`. A --fps other than the
    LM's recorded rate is noted: the motion then plays faster or slower than it was learnt."""
    from arvid.data.shards import same_rate

    learnt = (lm.training_data or {}).get("fps")
    if args.fps is None:
        return learnt_fps(lm)
    if not same_rate(args.fps, learnt):
        print(f"note: --fps {args.fps:g}: the LM learnt its motion at {learnt:g} fps, so it plays "
              f"{args.fps / learnt:.2g}x as fast", file=sys.stderr)
    return args.fps


def warn_unknown_content(lm, prompt: str, *, where: str = "the prompt") -> None:
    """Print a warning line when the prompt names nothing the LM's training captions named
    (`VideoLM.names_nothing_known`: a shapes-world LM's shape, colour and direction words, or another
    LM's recorded caption words; LMs that record neither are not checked), with examples of what it
    knows: the model will draw that, not what was asked. `where` names the prompt."""
    if not lm.names_nothing_known(prompt):
        return
    named = "" if where == "the prompt" else f" ({where}: {prompt!r})"
    if lm.content_words is not None:
        from arvid.shapes.content import word_examples

        print(f"warning: the prompt{named} names no shape, colour or direction this model was trained on "
              f"({word_examples(lm.content_words)}); it will draw what it knows, not what the prompt asks",
              file=sys.stderr)
        return
    words = lm.training_data["caption_words"]
    examples = ", ".join(words[:: max(1, len(words) // 6)][:6])
    print(f"warning: the prompt{named} shares no word with this model's training captions (such as {examples}); "
          "it will draw what it knows, not what the prompt asks", file=sys.stderr)


class Outputs:
    """The video and token files of one run, each opened when the first frame comes (so that a run
    stopped before it leaves no file). A latent frame is written whole, its video frames first, then
    its token line: an interruption lands between latent frames, and even a process killed outright
    leaves no token line whose frames were not handed to the video."""

    def __init__(self, video: Path | None, tokens_out: str | None, fps: float, origin=None,
                 prompt: str | None = None) -> None:
        self.video_path, self.tokens_out, self.fps = video, tokens_out, fps
        self.origin = origin  # the `StreamOrigin` each token line records
        self.prompt = prompt  # the prompt the stream begins with: its first token line records it
        self.writer = None
        self.tokens = sys.stdout if tokens_out == "-" else None
        self.opened: list[str] = []  # names of the files made, for the closing message
        self.frames = 0  # video frames written

    def write(self, frame, keep) -> None:
        """Write `keep` (the first frames of latent `frame`, t h w c uint8) and the frame's token line."""
        from arvid.data.video_writer import stop_signals_held

        with stop_signals_held():  # Ctrl-C lands between latent frames: the files hold the same frames
            self._write(frame, keep)

    def _write(self, frame, keep) -> None:
        from arvid.data.token_stream import write_token_frame
        from arvid.data.video_writer import VideoWriter

        if self.video_path is not None and len(keep):
            with _naming_the_file(self.video_path):
                if self.writer is None:
                    self.writer = VideoWriter(self.video_path, fps=self.fps, streaming=True)
                    self.opened.append(str(self.video_path))
                for image in keep:
                    self.writer.write(image)
        self.frames += len(keep)
        if self.tokens_out is not None:
            with _naming_the_file(self.tokens_out):
                if self.tokens is None:
                    self.tokens = open(self.tokens_out, "w")
                    self.opened.append(self.tokens_out)
                prompt, self.prompt = frame.prompt if frame.prompt is not None else self.prompt, None
                write_token_frame(self.tokens, frame.index, frame.codes.numpy(), given=frame.given, frames=len(keep),
                                  prompt=prompt, anchor=None if frame.anchor is None else frame.anchor.numpy(),
                                  restart=frame.restart, origin=self.origin)

    def close(self) -> None:
        """Finish the files: the video's index, the token file's last flush.

        Raises:
            OSError: a file could not be finished (a full disk); it names the file.
        """
        try:
            if self.writer is not None:
                with _naming_the_file(self.video_path):
                    self.writer.close()
        finally:
            if self.tokens is not None and self.tokens is not sys.stdout:
                with _naming_the_file(self.tokens_out):
                    self.tokens.close()

    def where(self) -> str:
        return ", ".join(self.opened + (["standard output"] if self.tokens_out == "-" else []))


class _OutputError(OSError):
    """An output file could not be written (a full disk, a device gone), naming the file: what
    `write_streams` turns into one line, apart from other OSErrors, which are not the outputs'."""


@contextlib.contextmanager
def _naming_the_file(path):
    """An OSError inside re-raised as an `_OutputError` naming `path` (Python's file writes name no
    file); a closed pipe passes as it is (`write_streams` handles it apart)."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as err:
        raise _OutputError(err.errno, err.strerror or str(err), err.filename or str(path)) from err


def _write(latent_frames, outputs: Outputs, continuing: bool, waiting: str | None, args: argparse.Namespace) -> int:
    """Write each latent frame's frames and tokens as it comes, until --frames or an interruption -> exit code."""
    return write_streams(([frame] for frame in latent_frames), [outputs], continuing, args, waiting=waiting)


def write_streams(steps, outputs: list[Outputs], continuing: bool, args: argparse.Namespace, *,
                  waiting: str | None = None) -> int:
    """Write each step's latent frames (a list, one per stream) into the stream's `outputs`, as they
    come, until --frames or an interruption -> exit code. `waiting` is the progress line's text until
    the first frame (`first_frame_wait`)."""
    from arvid.tools.interrupts import INTERRUPTS, stop_signals_ignored
    from arvid.tools.progress import ProgressLine, seconds_since_process_start

    limit = args.frames if args.frames > 0 else math.inf
    progress = ProgressLine()
    started, status, first, write_error = time.monotonic(), 0, None, None
    if waiting is not None:
        progress.update(waiting)
    try:
        for step in steps:
            for frame, output in zip(step, outputs, strict=True):
                # A continued clip's own frames only prime the decoder; --image's image is the video's first frame.
                room = 0 if frame.given and continuing else limit - output.frames
                keep = frame.frames[:int(min(room, len(frame.frames)))]
                if frame.prompt is not None and len(keep):  # a scheduled or typed prompt took over here
                    progress.note(f"from frame {output.frames}: {frame.prompt!r}")
                output.write(frame, keep)
            if first is None and len(keep):  # (seconds since the models loaded, since the start, frames by then)
                first = (time.monotonic() - started, seconds_since_process_start(), outputs[0].frames)
            waiting = waiting if waiting is None or all(frame.given for frame in step) else None
            if len(keep) and waiting is None:  # the waiting line stays over an image's given first frame
                progress.update(_progress(outputs[0].frames, args.frames, time.monotonic() - started, outputs[0].fps,
                                          len(outputs)))
            if outputs[0].frames >= limit:
                break
    except INTERRUPTS:
        status = 130
    except BrokenPipeError:
        # The reader of --tokens-out - went away: keep the video, stop writing to the pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    except _OutputError as err:  # a full disk, a device gone: one line below, not a traceback
        status, write_error = 1, err
    finally:  # on any exception too: the files stay valid
        with stop_signals_ignored():  # a second Ctrl-C must not cut the closing of the files short
            progress.end()
            for output in outputs:
                try:
                    output.close()
                except _OutputError as err:  # the last frames or the index could not be written
                    write_error, status = write_error or err, status or 1
    elapsed = time.monotonic() - started
    frames = outputs[0].frames
    where = ", ".join(filter(None, (output.where() for output in outputs)))
    opened = any(output.opened for output in outputs)
    if status == 130:
        print(f"interrupted: kept the {frames} frames done so far in {where}"
              if opened or frames else "interrupted before the first frame: no file written", file=sys.stderr)
    elif write_error is not None:
        print(f"arvid: error: cannot write {write_error.filename or where}: {write_error.strerror or write_error}; "
              f"the files keep what was written before it ({frames} frames)", file=sys.stderr)
    elif status == 1:
        print("the token stream's reader closed the pipe: keeping the frames done so far", file=sys.stderr)
    each = " each" if len(outputs) > 1 else ""
    first_frame = ""
    if first is not None:  # time to first frame, from the models loaded and from the command's start
        since_start = "" if first[1] is None else f", {first[1]:.1f} s after the command started"
        first_frame = f"; the first after {first[0]:.2f} s{since_start}"
        # The pace after it, once there is a second of it to go by (the first window's frames come at once).
        if frames > first[2] and elapsed - first[0] >= 1.0:
            first_frame += f"; then {(frames - first[2]) / (elapsed - first[0]) / outputs[0].fps:.1f}x real time"
    print(f"{frames} frames{each} in {elapsed:.1f} s -> {where or 'nothing'}{first_frame}", file=sys.stderr)
    return status


def _progress(done: int, total: int, elapsed: float, fps: float, videos: int = 1) -> str:
    """The progress line: frames done (of each video, when several), the pace of each video in frames
    a second and against real time at `fps` (as the closing line gives it), and the frames a second of
    all videos together."""
    rate = done / elapsed if elapsed > 0 else 0.0
    of = f"/{total}" if total else ""
    if videos == 1:
        return f"frames {done}{of} | {rate:.1f} frames/s | {rate / fps:.2f}x real time"
    return (f"frames {done}{of} of each of {videos} videos | {rate:.1f} frames/s each, {rate * videos:.1f} in all | "
            f"{rate / fps:.2f}x real time each")
