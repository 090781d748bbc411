"""Train the sentencepiece text tokenizer on captions. Examples:

    arvid train-text-tokenizer -o runs/text-tokenizer                  # captions of the shapes world
    arvid train-text-tokenizer --manifest videos.jsonl -o runs/text    # captions of your manifest

Writes `text_tokenizer.model` into the output folder; `arvid train-lm` copies it into every checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from arvid.tools.errors import UsageError, fail
from arvid.tools.options import check_output_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid train-text-tokenizer`'s arguments."""
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("--manifest", help="JSON-lines manifest with a caption per video (default: shapes captions)")
    parser.add_argument("--vocab-size", type=int, default=128, help="most text pieces")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a text tokenizer already in the output folder (an LM trained with it reads "
                             "its captions through it: it would read them otherwise)")


def run(args: argparse.Namespace) -> int:
    """Train the text tokenizer and write text_tokenizer.model -> exit code (2: bad usage or manifest)."""
    from arvid.data.captioned import read_manifest
    from arvid.shapes.world import all_phrasings, attribute_combinations
    from arvid.lm.text import FILE_NAME, train_text_tokenizer

    if args.vocab_size < 8:
        return fail(f"--vocab-size must be at least 8, got {args.vocab_size}")
    try:
        check_output_folder(args.out, "-o")
        if (Path(args.out) / FILE_NAME).exists() and not args.overwrite:
            raise UsageError(f"{Path(args.out) / FILE_NAME} exists (an LM checkpoint's, or a text tokenizer an "
                             f"LM may have been trained with); --overwrite replaces it, or choose another -o")
        if args.manifest:
            captions = [caption for _, caption in read_manifest(args.manifest)]
        else:
            captions = [c for attrs in attribute_combinations("train") for c in all_phrasings(attrs)]
        text = train_text_tokenizer(captions, vocab_size=args.vocab_size)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        path = text.save(args.out)
    except (UsageError, ValueError, OSError) as err:  # FileNotFoundError is an OSError
        return fail(str(err))
    print(f"{path}: {text.size} pieces from {len(captions)} captions")
    return 0
