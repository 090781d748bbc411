"""Export an LM checkpoint as a `transformers` LlamaForCausalLM folder. Example:

    arvid export-hf --model runs/lm-tiny/checkpoint -o runs/lm-tiny-hf

`--model` takes an LM folder (what `arvid train-lm` writes) or a model folder holding lm/. The
output loads with `LlamaForCausalLM.from_pretrained`, keeps the text tokenizer beside the weights,
and reads back into arvid with `arvid.lm.hf.from_hf`.
"""

from __future__ import annotations

import argparse

from arvid.tools.errors import UsageError, fail
from arvid.tools.options import add_model_argument, check_replaceable_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid export-hf`'s arguments."""
    add_model_argument(parser, what="lm/, an LM folder, or a training run's folder")
    parser.add_argument("-o", "--out", required=True,
                        help="output folder: new or empty (a folder of other files is refused)")
    parser.add_argument("--overwrite", action="store_true", help="replace a transformers checkpoint already in -o")


def run(args: argparse.Namespace) -> int:
    """Export the LM -> exit code (2: bad folder, or an LM Llama cannot hold)."""
    from arvid.lm.checkpoint import VideoLM
    from arvid.lm.hf import export_hf, is_hf_export
    from arvid.tools.checkpoints import lm_folder

    try:
        check_replaceable_folder(args.out, "-o", holds="a transformers checkpoint", is_ours=is_hf_export,
                                 overwrite=args.overwrite)
        folder = export_hf(VideoLM.from_pretrained(lm_folder(args.model)), args.out)
    except (UsageError, ValueError, OSError) as err:  # FileNotFoundError is an OSError
        return fail(str(err))
    print(f"transformers checkpoint: {folder}")
    return 0
