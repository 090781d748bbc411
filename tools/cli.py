"""The `arvid` command. Each subcommand lives in its own module of `arvid.tools` with
`add_arguments(parser)` and `run(args) -> int`; this file only wires them up.

Subcommand modules import torch and the models inside `run`, not at the top, and `main` builds only
the chosen subcommand's arguments: `arvid --help` and `arvid COMMAND --help` start in a fraction of
a second (`python benchmarks/cli_startup.py` measures it).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from arvid.tools.options import HelpFormatter

# name -> (module in arvid.tools, one-line help)
SUBCOMMANDS = {
    "train-tokenizer": ("train_tokenizer", "train a video tokenizer (shapes world or your videos)"),
    "eval-tokenizer": ("eval_tokenizer", "PSNR, SSIM and codebook use of a tokenizer checkpoint"),
    "tokenize": ("tokenize_file", "encode a video file into codes (.npy)"),
    "detokenize": ("detokenize_file", "decode codes (.npy) into a video file"),
    "generate": ("generate", "generate video from a prompt (streams frames and tokens)"),
    "decode": ("decode_tokens", "decode an NDJSON token stream into video"),
    "train-text-tokenizer": ("train_text_tokenizer", "train the sentencepiece model of the captions"),
    "tokenize-dataset": ("tokenize_dataset", "encode captioned videos into token shards for LM training"),
    "train-lm": ("train_lm", "train the video LM on token shards (torchrun for many GPUs)"),
    "eval-video": ("eval_video", "score videos (files, or generated from prompts) against their prompts"),
    "export-hf": ("export_hf", "write an LM checkpoint as a transformers LlamaForCausalLM folder"),
}


class OneLineErrorParser(argparse.ArgumentParser):
    """Reports a usage error as one line (`arvid COMMAND: error: ... (see --help)`) and exit code 2,
    like every other bad input, rather than argparse's usage block followed by the error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `arvid` parser, listing every subcommand. With `command` None every subcommand gets its
    arguments; otherwise only the one of that name does (none, for a name that is no subcommand:
    enough for `arvid --help`), so that only its module is imported."""
    parser = OneLineErrorParser(prog="arvid", description="Autoregressive video generation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        if command is not None and name != command:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(f"arvid.tools.{module_name}")
        subparser = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(subparser)
        subparser.formatter_class = HelpFormatter  # after add_arguments, so every command shows its defaults
        subparser.set_defaults(_run=module.run)
    return parser


TOKENIZER_MISMATCH = "the tokenizer encodes videos otherwise"  # how `arvid.sampling.tokenizer_mismatch` begins
# What `arvid.sampling.stream.UNKNOWN_PROMPT` says after the prompt (the commands say it with examples).
UNKNOWN_PROMPT = r".* names nothing this LM's training captions named"


def main(argv: list[str] | None = None) -> int:
    """Run `arvid ARGV` and return its exit code (0 done, 1 some inputs failed, 2 bad usage, 130 interrupted)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        # The top-level parser takes no options but -h, so the first word that is not one names the subcommand.
        args = build_parser(next((word for word in argv if not word.startswith("-")), "")).parse_args(argv)
        with warnings.catch_warnings():
            # A command says a tokenizer mismatch once, as a line (`load_models`), and an unknown prompt
            # with examples of known words (`warn_unknown_content`), not again as Python warnings from
            # every `stream` call (by message: the classes would import torch here).
            warnings.filterwarnings("ignore", message=TOKENIZER_MISMATCH)
            warnings.filterwarnings("ignore", message=UNKNOWN_PROMPT)
            library_format = warnings.formatwarning
            warnings.formatwarning = _one_line_for_arvid(library_format)
            try:
                code = args._run(args)
            finally:
                warnings.formatwarning = library_format
    except KeyboardInterrupt:  # also while the command's module is imported or its arguments parsed
        print("interrupted", file=sys.stderr)
        code = 130
    if code == 130:
        _forget_caught_interrupt()
    return code


def _one_line_for_arvid(library_format):
    """A `warnings.formatwarning` that writes arvid's own warnings (a truncated video, ...) as one
    `warning: ...` line, as the commands say theirs, and others as `library_format` does. Formatting
    only: a caller recording warnings (pytest.warns, logging.captureWarnings) still gets them."""

    def format_warning(message, category, filename, lineno, line=None) -> str:
        if category.__module__.split(".")[0] == "arvid":
            return f"warning: {message}\n"
        return library_format(message, category, filename, lineno, line)

    return format_warning


def _forget_caught_interrupt() -> None:
    """Let a Ctrl-C that was caught end the process with its exit code (130), not by SIGINT.

    CPython marks a KeyboardInterrupt as unhandled when it leaves code that an extension ran
    through the C API's `PyRun_*` functions (some do while torch and its kin import), and then
    `python -m arvid.tools.cli` ends by killing itself with SIGINT whatever the exit code (9 of 80
    Ctrl-Cs in the first 2.5 s of `arvid generate`: docs/results/robustness.md). Each `PyRun_*` run
    clears that mark first, so an empty one clears it.
    """
    import ctypes

    ctypes.pythonapi.PyRun_SimpleString(b"")


if __name__ == "__main__":
    sys.exit(main())
