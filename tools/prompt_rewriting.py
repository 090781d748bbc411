"""`--rewrite-prompts` of `arvid generate` and `arvid eval-video`: prompt words the LM's training
captions never used, read as the caption words WordNet relates them to (`arvid.data.synonyms`), each
replacement said on standard error."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from arvid.tools.errors import UsageError


def add_rewrite_argument(parser: argparse.ArgumentParser) -> None:
    """The `--rewrite-prompts` flag."""
    parser.add_argument("--rewrite-prompts", action="store_true",
                        help="read each prompt word the LM's training captions never used as a caption word WordNet "
                             "relates to it ('crimson' as 'red'), saying each; needs nltk and WordNet (python "
                             "scripts/fetch_wordnet.py); about 5 s to load (default: prompts as written)")


def rewrite_lexicon(args: argparse.Namespace):
    """With --rewrite-prompts, WordNet (`arvid.data.synonyms.WordNet`), loaded before the models so
    that a missing one is said at once; else None.

    Raises:
        UsageError: --rewrite-prompts without nltk or WordNet.
    """
    if not args.rewrite_prompts:
        return None
    from arvid.data.synonyms import WordNet

    try:
        return WordNet()
    except (FileNotFoundError, ImportError) as err:
        raise UsageError(f"--rewrite-prompts: {err}") from None


def prompt_reader(lm, lexicon, *, say: bool = True) -> Callable[..., str]:
    """read(prompt, where="the prompt") -> the prompt the LM is given: `prompt` itself when `lexicon`
    is None, else its rewrite into `lm`'s caption words (`rewrite_lexicon`'s WordNet; a note line
    names the replacements when `say`). `where` names the prompt in that note.

    Raises:
        UsageError: a lexicon for an LM that records no caption words.
    """
    if lexicon is None:
        return lambda prompt, where="the prompt": prompt
    from arvid.data.synonyms import rewrite_prompt

    vocabulary = lm.caption_vocabulary()
    if not vocabulary:
        raise UsageError("--rewrite-prompts: this LM records no caption words to read prompts into (train-lm records "
                         "them in training_data.json as caption_words)")

    def read(prompt: str, where: str = "the prompt") -> str:
        rewrite = rewrite_prompt(prompt, vocabulary, lexicon)
        if rewrite.replaced and say:
            print(f"note: {where}: reading {rewrite.describe()} (--rewrite-prompts): {rewrite.prompt!r}", file=sys.stderr)
        return rewrite.prompt

    return read
