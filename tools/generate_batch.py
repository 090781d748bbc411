"""`arvid generate --prompts FILE`: several prompts generated together, as the rows of one batch
(`arvid.sampling.stream_batch`), each into its own files: `-o` and `--tokens-out` name them with
`{n}`, the prompt's number (0 for the file's first prompt; blank lines and `#` comments are not
prompts). Text-to-video only.

Each file is written as `arvid generate` writes its one video: streamed, a latent frame at a time,
every frame kept on Ctrl-C. The videos follow the distributions of one-at-a-time generation, not
its exact draws (the batch shares one random generator, seeded by --seed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arvid.tools.errors import UsageError, fail
from arvid.tools.generate import (Outputs, check_common_arguments, check_prompt, first_frame_wait, model_fps,
                                 warn_unknown_content, write_streams)
from arvid.tools.prompt_rewriting import prompt_reader, rewrite_lexicon
from arvid.tools.text_files import read_prompts
from arvid.tools.options import (apply_runtime_options, batch_levers, check_window, note_default_sampling,
                                 sampler_config)

PLACEHOLDER = "{n}"
# Options of one-prompt generation that a batch does not take, with their flags.
SINGLE_ONLY = (("image", "--image"), ("continue_from", "--continue"), ("prompt_schedule", "--prompt-schedule"),
               ("interactive", "--interactive"), ("switch_from", "--switch-from"))


def run_batch(args: argparse.Namespace) -> int:
    """Check the arguments, load the models and stream every prompt's frames into its files -> exit
    code (2: bad usage, 130: interrupted)."""
    from arvid.tools.interrupts import INTERRUPTS, sigterm_raises, stop_signals_ignored

    with sigterm_raises():
        try:
            prepared = _prepare(args)
            if isinstance(prepared, int):
                return prepared
            steps, outputs, waiting = prepared
            return write_streams(steps, outputs, False, args, waiting=waiting)
        except INTERRUPTS:  # before the first frame: write_streams handles those after it
            with stop_signals_ignored():
                print("interrupted before the first frame: no file written", file=sys.stderr)
            return 130


def file_names(pattern: str | None, flag: str, count: int) -> list[str | None]:
    """`pattern` with {n} replaced by 0 .. count - 1 (None: no such files).

    Raises:
        UsageError: a pattern without {n}, or standard output ('-').
    """
    if pattern is None:
        return [None] * count
    if pattern == "-" or PLACEHOLDER not in pattern:
        raise UsageError(f"with --prompts, {flag} names one file per prompt: put {PLACEHOLDER} in it (the prompt's "
                         f"number), for example {flag} videos/{PLACEHOLDER}.mp4; got {pattern!r}")
    return [pattern.replace(PLACEHOLDER, str(n)) for n in range(count)]


def _check_arguments(args: argparse.Namespace) -> tuple[list[tuple[int, str]], list[Path | None], list[str | None]]:
    """The checks that need no model -> ((line number, prompt) of each prompt, video paths, token paths).

    Raises:
        UsageError: the first problem found.
    """
    from arvid.tools.paths import check_not_the_input, check_video_output, check_writable

    if args.prompts is None:
        raise UsageError("give a prompt, or --prompts FILE for several")
    if args.prompt is not None:
        raise UsageError("give a prompt or --prompts FILE, not both")
    for field, flag in SINGLE_ONLY:
        if getattr(args, field):
            raise UsageError(f"--prompts generates text-to-video from each prompt; {flag} takes one prompt")
    if args.output is None and args.tokens_out is None:
        raise UsageError("nothing to write: give -o VIDEO and/or --tokens-out FILE, each with {n}")
    check_common_arguments(args)
    prompts = read_prompts(args.prompts)  # a prompt's {n} is its number in this list
    videos = [None if name is None else check_video_output(name)
              for name in file_names(args.output, "-o", len(prompts))]
    tokens = [None if name is None else str(check_writable(name))
              for name in file_names(args.tokens_out, "--tokens-out", len(prompts))]
    names = [str(path.resolve()) for path in videos if path is not None] + [str(Path(t).resolve()) for t in tokens if t]
    if len(set(names)) < len(names):
        raise UsageError("-o and --tokens-out name the same file")
    for flag, paths in (("-o", videos), ("--tokens-out", [None if t is None else Path(t) for t in tokens])):
        for path in paths:
            check_not_the_input(path, args.prompts, flag, "the --prompts file")
    return prompts, videos, tokens


def _prepare(args: argparse.Namespace):
    """Check everything and load the models -> (steps, outputs) or an exit code."""
    from arvid.tools.interrupts import interrupts_deferred

    with interrupts_deferred():  # torch and its kin import here (`load_models` says why)
        from arvid.sampling import stream_batch
        from arvid.tools.checkpoints import codes_origin, load_models, model_parts

    try:
        numbered, videos, tokens = _check_arguments(args)
        levers = batch_levers(args, "--prompts")
        parts = model_parts(args.model)
        config = sampler_config(args, parts.lm, seed=args.seed)  # checked before the models load
        lexicon = rewrite_lexicon(args)
        lm, tokenizer = load_models(parts, args.device)
        apply_runtime_options(args, lm)
        check_window(config, lm)
        fps = model_fps(args, lm)
        read = prompt_reader(lm, lexicon)  # --rewrite-prompts: the prompts as the LM will read them
        numbered = [(line, read(prompt, f"{args.prompts}:{line}")) for line, prompt in numbered]
        prompts = [prompt for _, prompt in numbered]
        for line, prompt in numbered:
            check_prompt(lm, prompt, where=f"{args.prompts}:{line}")
            warn_unknown_content(lm, prompt, where=f"{args.prompts}:{line}")
        steps = stream_batch(lm, tokenizer, prompts, config, **levers)
    except (UsageError, ValueError) as err:
        return fail(str(err))
    note_default_sampling(parts.lm)  # after every check: bad input stays one line
    origin = codes_origin(tokenizer, fps, bf16_decoder=levers["bf16_decoder"])
    return steps, [Outputs(video, token, fps, origin, prompt)
                   for video, token, prompt in zip(videos, tokens, prompts, strict=True)], \
        first_frame_wait(config, streams=len(prompts))
