"""The `arvid` command. Each subcommand lives in its own module of `arvid.tools` with
`add_arguments(parser)` and `run(args) -> int`; this file only wires them up."""

from __future__ import annotations

import argparse
import importlib
import sys

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
    "eval-video": ("eval_video", "score videos (files, or generated from a prompt set) against their prompts"),
    "export-hf": ("export_hf", "write an LM checkpoint as a transformers LlamaForCausalLM folder"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arvid", description="Autoregressive video generation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(f"arvid.tools.{module_name}")
        command = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args._run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
