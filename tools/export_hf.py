"""Export an LM checkpoint as a `transformers` LlamaForCausalLM folder. Example:

    arvid export-hf runs/lm-tiny/checkpoint -o runs/lm-tiny-hf

The folder loads with `LlamaForCausalLM.from_pretrained`, keeps the text tokenizer beside the
weights, and reads back into arvid with `arvid.lm.hf.from_hf`.
"""

from __future__ import annotations

import argparse

from arvid.tools.errors import fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("ckpt", help="arvid LM checkpoint folder")
    parser.add_argument("-o", "--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    from arvid.lm.checkpoint import VideoLM
    from arvid.lm.hf import export_hf

    try:
        folder = export_hf(VideoLM.from_pretrained(args.ckpt), args.out)
    except (FileNotFoundError, ValueError, OSError) as err:
        return fail(str(err))
    print(f"transformers checkpoint: {folder}")
    return 0
