"""The words of captions: what an LM's training captions named, so that a prompt that names none of
it ("a cat on the grass" to a model of street footage) is said rather than drawn in silence.

Words are lower-case runs of letters (hyphenated ones kept whole); English function words (articles,
prepositions, conjunctions, pronouns, forms of "be") carry no content and are left out, so that "a"
or "the" never counts as naming something. A pretrained text encoder may still read a synonym the
captions never used: a prompt without a caption word is a reason to say so, not to refuse it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FUNCTION_WORDS = frozenset("""
a an the this that these those some any each every one
of on in at to into onto over under across through with without by for from against behind beside
between near along around about after before as than
and or but nor so then
it its they them their he she his her we our you your i me my
is are was were be been being am has have had do does did
very just there here while
""".split())

# Kept in a model's training record: enough for any caption set of words, bounded for a huge one.
MAX_WORDS = 20_000

# Beside an LM's weights, the words and phrases its captions named by category (category -> words;
# the shipped shapes-world LM's shape, colour and direction words, written by `arvid.shapes.content`).
CONTENT_FILE = "content_words.json"

# A word: a run of letters, hyphenated ones kept whole (matched in lower-case text).
WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def content_words(text: str) -> set[str]:
    """The words of `text` that are not function words, lower-case."""
    return {word for word in WORD.findall(text.lower()) if word not in FUNCTION_WORDS}


def caption_vocabulary(captions: Iterable[str]) -> list[str]:
    """The content words of `captions`, sorted (at most `MAX_WORDS`, the most frequent kept)."""
    counts: dict[str, int] = {}
    for caption in dict.fromkeys(captions):  # each distinct caption once
        for word in content_words(caption):
            counts[word] = counts.get(word, 0) + 1
    kept = sorted(counts, key=lambda word: (-counts[word], word))[:MAX_WORDS]
    return sorted(kept)


def names_nothing_known(prompt: str, vocabulary: Iterable[str]) -> bool:
    """Whether `prompt` has content words and none of them is in `vocabulary`."""
    words = content_words(prompt)
    return bool(words) and words.isdisjoint(vocabulary)


def normalized(text: str) -> str:
    """Lower-case words separated by single spaces, padded by one each side (for phrase search)."""
    return " " + " ".join(WORD.findall(text.lower())) + " "


def names_no_phrase(prompt: str, phrases: Iterable[str]) -> bool:
    """Whether `prompt` holds none of `phrases` as whole words ("towards the top" in "moving towards
    the top", not "red" in "redwood")."""
    text = normalized(prompt)
    return not any(f" {phrase} " in text for phrase in phrases)
