"""What a shapes-world LM knows to draw, as words: the shape, colour and direction words of its
training captions, written beside the LM (`content_words.json`) so that `arvid generate` can say
when a prompt names none of them ("a cat walking on the grass") instead of drawing silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from arvid.data.caption_words import CONTENT_FILE, caption_vocabulary, normalized
from arvid.shapes.paraphrase import sentence_shapes, vocabulary
from arvid.shapes.world import COLOURS, DIRECTIONS, SHAPES, all_phrasings, attribute_combinations, direction_words

CATEGORIES = ("shape", "colour", "direction")


def _known_words() -> dict[str, set[str]]:
    """Every word any caption pool uses per category: the templates' and both paraphrase pools'."""
    words = {"shape": set(SHAPES), "colour": set(COLOURS), "direction": {direction_words(d) for d in DIRECTIONS}}
    for pool in ("train", "heldout"):
        for category in CATEGORIES:
            for options in vocabulary(pool)[category].values():
                words[category].update(options)
    return words


def content_words(captions: Iterable[str]) -> dict[str, list[str]]:
    """The shape, colour and direction words (phrases) that occur in `captions`: category -> sorted words."""
    known = _known_words()
    found: dict[str, set[str]] = {category: set() for category in CATEGORIES}
    for caption in captions:
        text = normalized(caption)
        for category in CATEGORIES:
            found[category].update(word for word in known[category] if f" {word} " in text)
    return {category: sorted(words) for category, words in found.items()}


def _template_captions() -> list[str]:
    return [caption for attrs in attribute_combinations("all") for caption in all_phrasings(attrs)]


def template_content_words() -> dict[str, list[str]]:
    """`content_words` of every template caption: what the shipped model's captions hold."""
    return content_words(_template_captions())


def training_caption_words() -> list[str]:
    """The caption words (`arvid.data.caption_words.caption_vocabulary`) of the shipped LM's training
    captions: the six templates of every combination and the training paraphrase pool's sentence
    shapes and words (its 96,000 paraphrases use every one). What `train-lm` records as
    `caption_words` today; the shipped LM predates that record, so its folder's was written from this."""
    texts = _template_captions()
    texts += [re.sub(r"\{\w+\}", " ", shape) for shape in sentence_shapes("train")]
    texts += [word for values in vocabulary("train").values() for words in values.values() for word in words]
    return caption_vocabulary(texts)


def word_examples(words: dict[str, list[str]], per_category: int = 3) -> str:
    """A few words of each category of a `content_words` dict, for a message: the shapes world's
    own names first (circle before "round dot"), then the shortest: "shapes such as circle, square,
    triangle; colours such as ...". """
    plain = {"shape": set(SHAPES), "colour": set(COLOURS), "direction": {direction_words(d) for d in DIRECTIONS}}
    parts = []
    for category, options in words.items():
        ranked = sorted(options, key=lambda word: (word not in plain.get(category, ()), len(word), word))
        if ranked:
            parts.append(f"{category}s such as {', '.join(ranked[:per_category])}")
    return "; ".join(parts)


def write_content_words(folder: str | Path, words: dict[str, list[str]]) -> Path:
    """Write `words` as `folder/content_words.json`; returns its path."""
    path = Path(folder) / CONTENT_FILE
    path.write_text(json.dumps(words, indent=1) + "\n")
    return path
