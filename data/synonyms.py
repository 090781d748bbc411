"""Prompt words an LM never read, rewritten to words of its training captions that WordNet relates
to them ("a crimson ball" -> "a red ball" for an LM whose captions said "red"): a lexical bridge
for a text encoder that does not place synonyms near each other (docs/results/evaluation.md).

A word (or a two-word WordNet entry, "royal blue") that is neither in the LM's caption vocabulary
nor a function word is looked up in WordNet: first its own synonyms, then the synsets one relation
away (hypernyms, similar adjectives, see-alsos, pertainyms, derivations; never antonyms, and never
the attribute relation, which reads a noun such as "size" as one of its values, "large"). The first
caption word met, in WordNet's sense order, replaces it; a word with no such neighbour stays as
written. A two-word entry that holds a caption word is taken only when it reads as that word
("royal blue" -> "blue", but "back up" keeps its "up"). A hyphenated word keeps its parts the LM
knows ("pea-green" -> "green") unless a part negates ("non-red" is looked up whole). Everything else
in the prompt, punctuation and sentence shape included, is kept; a capital stays a capital.

One relation away, all senses, was chosen on my own validation words (`python
benchmarks/encoder_synonyms.py --rewrite`); the attribute relation was dropped after reading the
first held-out pool's rewrites, so the change is measured on the second, `fresh`, written before it
(docs/results/evaluation.md).

WordNet 3.0 comes from Debian's `wordnet-base` (`python scripts/fetch_wordnet.py`), read through
nltk; nothing downloads at run time.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from arvid.data.caption_words import WORD, content_words

# Where `scripts/fetch_wordnet.py` puts WordNet (an nltk data folder: corpora/wordnet/ inside).
WORDNET_ENV = "ARVID_WORDNET"
DEFAULT_WORDNET = Path.home() / ".cache" / "arvid" / "wordnet"
FETCH_HINT = "python scripts/fetch_wordnet.py (from an arvid checkout; it needs nltk: pip install 'arvid[prompts]')"

_WORD = re.compile(WORD.pattern, re.IGNORECASE)  # caption words, found in the prompt as written
# Parts of a hyphenated word that turn its meaning around: such a word is never read by its parts.
_NEGATING = frozenset({"non", "not", "no", "un", "anti", "less", "free"})
# The files nltk's WordNet reader opens (scripts/fetch_wordnet.py writes them all).
WORDNET_FILES = ("lexnames", "index.sense", *(f"{kind}.{pos}" for kind in ("index", "data")
                                               for pos in ("noun", "verb", "adj", "adv")))


class Lexicon(Protocol):
    """What the rewrite asks of a word list (WordNet, or a small one in tests)."""

    def knows(self, phrase: str) -> bool:
        """Whether `phrase` (lower-case words separated by spaces) is an entry."""

    def related(self, phrase: str) -> Iterator[list[str]]:
        """`phrase`'s synonyms, then the words one relation away: one list per distance, each in
        the lexicon's order of preference."""


@dataclass(frozen=True)
class Rewrite:
    """A prompt after `rewrite_prompt`: the new text and each (written, read as) replacement."""

    prompt: str
    replaced: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        """One line naming the replacements ("" when there were none): 'crimson' as 'red', ..."""
        return ", ".join(f"{old!r} as {new!r}" for old, new in self.replaced)


def rewrite_prompt(prompt: str, vocabulary: Collection[str], lexicon: Lexicon) -> Rewrite:
    """`prompt` with each word that `vocabulary` (lower-case caption words) lacks replaced by a
    caption word `lexicon` relates to it (see the module docstring); a prompt of known words comes
    back unchanged."""
    known = {word.lower() for word in vocabulary}
    matches = list(_WORD.finditer(prompt))
    pieces, replaced, cursor, index = [], [], 0, 0
    while index < len(matches):
        match = matches[index]
        word = match.group().lower()
        span, reading = (match.start(), match.end()), None
        if index + 1 < len(matches) and _only_space(prompt, match, matches[index + 1]):
            pair = f"{word} {matches[index + 1].group().lower()}"
            if _worth_reading(pair, known) and lexicon.knows(pair):
                reading = _nearest_known(pair, known, lexicon)
                if reading is not None and any(part in known and part != reading for part in pair.split()):
                    reading = None  # never trade a word the LM knows for another
                if reading is not None:
                    span = (match.start(), matches[index + 1].end())
                    index += 1
        if reading is None and _worth_reading(word, known):
            reading = _read_word(word, known, lexicon)
        written = prompt[span[0]:span[1]]
        if reading is not None and reading != written.lower():
            pieces.append(prompt[cursor:span[0]])
            pieces.append(reading[:1].upper() + reading[1:] if written[:1].isupper() else reading)
            replaced.append((written, reading))
            cursor = span[1]
        index += 1
    pieces.append(prompt[cursor:])
    return Rewrite("".join(pieces), tuple(replaced))


def _worth_reading(phrase: str, known: set[str]) -> bool:
    return not content_words(phrase) <= known  # a word that is neither a caption word nor a function word


def _only_space(prompt: str, first: re.Match, second: re.Match) -> bool:
    return prompt[first.end():second.start()].isspace()


def _read_word(word: str, known: set[str], lexicon: Lexicon) -> str | None:
    parts = word.split("-")
    by_parts = len(parts) > 1 and _NEGATING.isdisjoint(parts)
    if by_parts and any(part in known for part in parts):  # an English compound's head is known: keep what the LM reads
        return " ".join(part for part in parts if part in known)
    reading = _nearest_known(word, known, lexicon)
    if reading is None and by_parts:
        reading = _nearest_known(parts[-1], known, lexicon)
    return reading


def _nearest_known(phrase: str, known: set[str], lexicon: Lexicon) -> str | None:
    for level in lexicon.related(phrase):
        for candidate in level:
            if candidate in known:
                return candidate
    return None


class WordNet:
    """WordNet 3.0 through nltk, `depth` relations deep (the `Lexicon` the commands use; 1, the
    default, was chosen on validation words, see the module docstring).

    Raises (at construction):
        ImportError: nltk is not installed (the message says how to get it).
        FileNotFoundError: no WordNet in `folder`, or part of one (the message says how to fetch it).
    """

    def __init__(self, folder: str | Path | None = None, *, depth: int = 1) -> None:
        self.depth = depth
        root = wordnet_folder(folder)
        missing = [name for name in WORDNET_FILES if not (root / "corpora" / "wordnet" / name).is_file()]
        if missing:
            what = f"no WordNet in {root}" if len(missing) == len(WORDNET_FILES) else \
                f"the WordNet in {root} lacks {', '.join(missing)}"
            raise FileNotFoundError(f"{what} (rewriting prompts needs it): fetch it with {FETCH_HINT}, "
                                    f"or name its folder in {WORDNET_ENV}")
        try:
            import nltk
            from nltk.corpus.reader.wordnet import WordNetCorpusReader
        except ImportError as error:
            raise ImportError("rewriting prompts reads WordNet through nltk: pip install 'arvid[prompts]'") from error
        # nltk reads corpora only from folders on its data path (its path sandbox); ours goes first.
        if str(root) not in nltk.data.path:
            nltk.data.path.insert(0, str(root))
        with warnings.catch_warnings():  # "multilingual functions are not available": none are used
            warnings.simplefilter("ignore", UserWarning)
            self.reader = WordNetCorpusReader(str(root / "corpora" / "wordnet"), None)

    def knows(self, phrase: str) -> bool:
        """Whether WordNet has an entry for `phrase`."""
        return bool(self.reader.synsets(phrase.replace(" ", "_")))

    def related(self, phrase: str) -> Iterator[list[str]]:
        """`phrase`'s synonyms (its synsets' lemmas, senses in WordNet's order), then the lemmas of
        the synsets one relation away, and so on to `depth` relations."""
        synsets = self.reader.synsets(phrase.replace(" ", "_"))
        seen = set(synsets)
        yield _lemma_names(synsets)
        for _ in range(self.depth):
            synsets = [neighbour for synset in synsets for neighbour in _relations(synset)]
            synsets = [seen.add(synset) or synset for synset in dict.fromkeys(synsets) if synset not in seen]
            yield _lemma_names(synsets)


def wordnet_folder(folder: str | Path | None = None) -> Path:
    """Where WordNet is looked for: `folder`, else `$ARVID_WORDNET`, else ~/.cache/arvid/wordnet."""
    return Path(folder or os.environ.get(WORDNET_ENV) or DEFAULT_WORDNET).expanduser()


def _relations(synset) -> list:
    related = synset.hypernyms() + synset.instance_hypernyms() + synset.similar_tos() + synset.also_sees()
    for lemma in synset.lemmas():
        related += [other.synset() for other in lemma.pertainyms() + lemma.derivationally_related_forms()]
    return related


def _lemma_names(synsets) -> list[str]:
    return [lemma.replace("_", " ").lower() for synset in synsets for lemma in synset.lemma_names()]
