"""Captions beyond the six templates: paraphrases with synonyms and other sentence shapes, in two
disjoint pools, so that a text encoder's grasp of free language can be measured honestly.

- `"train"`: words and sentence shapes that training captions may use (`paraphrase(..., "train")`).
- `"heldout"`: other words for every attribute value and other sentence shapes, which training
  never sees (`paraphrase(..., "heldout")`, `heldout_paraphrase_set`): a model reads them right
  only through what its pretrained text encoder knows of language.
- `"fresh"`: a second held-out pool, written (2026-12-06) after the first had been read to find
  what `--rewrite-prompts` misreads, and before any change made for it, so that a change can be
  measured on words nobody tuned on (`heldout_paraphrase_set(pool="fresh")`).

Every paraphrase names the shape, colour, size, direction and background; some name the speed.
The pools share no word for any attribute value (tested), and a held-out sentence shape is
none of the training ones. The template captions of `arvid.shapes.world.caption` stay training
captions; `parse_caption` does not read these words, so a paraphrase travels with its attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from arvid.shapes.world import ATTRIBUTE_NAMES, ShapeAttributes, attribute_combinations

Pool = Literal["train", "heldout", "fresh"]

# Per pool, per attribute, per value: the words that may name it. Words of one value never name
# another, and no word is in both pools (tests/test_paraphrase.py checks both).
_WORDS: dict[Pool, dict[str, dict[str, tuple[str, ...]]]] = {
    "train": {
        "shape": {"circle": ("circle", "disc", "round dot"), "square": ("square", "box", "block"),
                  "triangle": ("triangle", "three-cornered shape")},
        "colour": {"red": ("red", "scarlet"), "green": ("green", "emerald"), "blue": ("blue", "azure"),
                   "yellow": ("yellow", "golden"), "cyan": ("cyan", "aqua"), "magenta": ("magenta", "fuchsia"),
                   "orange": ("orange", "tangerine"), "white": ("white", "snow-white")},
        "size": {"small": ("small", "little"), "large": ("large", "big")},
        "direction": {"right": ("right", "to the right", "rightwards"), "left": ("left", "to the left", "leftwards"),
                      "up": ("up", "upwards", "towards the top"), "down": ("down", "downwards", "towards the bottom"),
                      "up-right": ("up and to the right", "towards the top right"),
                      "up-left": ("up and to the left", "towards the top left"),
                      "down-right": ("down and to the right", "towards the bottom right"),
                      "down-left": ("down and to the left", "towards the bottom left")},
        "speed": {"slow": ("slowly", "gently"), "fast": ("quickly", "rapidly")},
        "background": {"black": ("black", "jet-black"), "white": ("white", "snow-white"),
                       "gray": ("gray", "grey"), "navy": ("navy", "dark navy")},
    },
    "heldout": {
        "shape": {"circle": ("ball", "round blob"), "square": ("tile", "four-sided shape"),
                  "triangle": ("pyramid shape", "wedge")},
        "colour": {"red": ("crimson", "cherry"), "green": ("lime", "grass-green"), "blue": ("cobalt", "royal blue"),
                   "yellow": ("lemon", "canary"), "cyan": ("turquoise", "teal"), "magenta": ("pink", "violet"),
                   "orange": ("amber", "pumpkin"), "white": ("ivory", "pearl")},
        "size": {"small": ("tiny", "miniature"), "large": ("huge", "massive")},
        "direction": {"right": ("eastward", "toward the right edge"), "left": ("westward", "toward the left edge"),
                      "up": ("northward", "toward the upper edge"), "down": ("southward", "toward the lower edge"),
                      "up-right": ("northeast", "diagonally toward the upper right corner"),
                      "up-left": ("northwest", "diagonally toward the upper left corner"),
                      "down-right": ("southeast", "diagonally toward the lower right corner"),
                      "down-left": ("southwest", "diagonally toward the lower left corner")},
        "speed": {"slow": ("lazily", "at a crawl"), "fast": ("swiftly", "at high speed")},
        "background": {"black": ("pitch-dark", "inky"), "white": ("milky", "chalky"),
                       "gray": ("ash", "slate"), "navy": ("midnight", "deep-sea")},
    },
}

# The second held-out pool (see the module docstring), in the first's manner: per direction a
# map word and a phrase, per colour two single names or compounds.
_WORDS["fresh"] = {
    "shape": {"circle": ("roundel", "globe"), "square": ("quadrilateral", "equal-sided shape"),
              "triangle": ("trilateral", "arrow shape")},
    "colour": {"red": ("garnet", "claret"), "green": ("moss", "bottle-green"), "blue": ("periwinkle", "steel blue"),
               "yellow": ("maize", "straw"), "cyan": ("greenish-blue", "peacock blue"),
               "magenta": ("hot pink", "raspberry"), "orange": ("persimmon", "flame"), "white": ("blanched", "lily-white")},
    "size": {"small": ("minuscule", "bite-sized"), "large": ("gigantic", "king-size")},
    "direction": {"right": ("to the east", "toward the right-hand border"),
                  "left": ("to the west", "toward the left-hand border"),
                  "up": ("to the north", "toward the ceiling"), "down": ("to the south", "toward the floor"),
                  "up-right": ("north-eastwards", "on a rising slant to the right"),
                  "up-left": ("north-westwards", "on a rising slant to the left"),
                  "down-right": ("south-eastwards", "on a falling slant to the right"),
                  "down-left": ("south-westwards", "on a falling slant to the left")},
    "speed": {"slow": ("sluggishly", "unhurriedly"), "fast": ("briskly", "in a hurry")},
    "background": {"black": ("coal", "obsidian"), "white": ("paper", "frosty"), "gray": ("gunmetal", "overcast"),
                   "navy": ("ink-blue", "dark sapphire")},
}

# Sentence shapes per pool; {speed} only in some, so captions also leave the speed free.
_SHAPES: dict[Pool, tuple[str, ...]] = {
    "train": (
        "a {size} {colour} {shape} drifting {direction} across a {background} background",
        "{size} {colour} {shape} travelling {direction} {speed} on {background}",
        "the {shape} is {colour} and {size}, and it moves {direction} over a {background} backdrop",
        "a {colour} {shape}, {size}, sliding {direction} on a plain {background} field",
        "{speed}, a {size} {colour} {shape} glides {direction}; the background is {background}",
        "video of a {size} {colour} {shape} that goes {direction} on a {background} background",
    ),
    "heldout": (
        "watch a {size} {colour} {shape} as it wanders {direction} in front of a {background} backdrop",
        "there is a {shape}, {colour} and {size}, travelling {direction} {speed} over {background} scenery",
        "show me a {colour} {shape} of {size} size heading {direction} with a {background} setting behind it",
        "against a {background} canvas, one {size} {colour} {shape} makes its way {direction}",
        "{speed}, a {size} {shape} painted {colour} crosses the {background} screen {direction}",
    ),
    "fresh": (
        "here a {size} {colour} {shape} floats {direction} over a {background} surface",
        "a {shape} in {colour}, {size}, slipping {direction} {speed} across {background}",
        "picture one {colour} {shape}, {size}, that journeys {direction} on a {background} ground",
        "{speed} the {size} {colour} {shape} shifts {direction} against {background}",
        "on a {background} plane a {size} {shape} of {colour} hue proceeds {direction}",
    ),
}


@dataclass(frozen=True)
class Paraphrase:
    """A prompt, the attributes it was written from, and the names of those its words give (all
    but the speed in some sentence shapes): what `eval-video` checks the video against."""

    prompt: str
    attrs: ShapeAttributes
    pool: Pool
    named: tuple[str, ...]

    def expected(self) -> dict[str, str]:
        """The attributes the prompt names: name -> value."""
        return {name: getattr(self.attrs, name) for name in self.named}


def vocabulary(pool: Pool) -> dict[str, dict[str, tuple[str, ...]]]:
    """The words `pool` uses: attribute -> value -> words."""
    return _WORDS[pool]


def sentence_shapes(pool: Pool) -> tuple[str, ...]:
    """The sentence shapes (format strings) `pool` uses."""
    return _SHAPES[pool]


def paraphrase(attrs: ShapeAttributes, rng: np.random.Generator, pool: Pool = "train") -> str:
    """A caption of `attrs` in one of `pool`'s sentence shapes, each attribute in one of its words,
    all drawn from `rng`."""
    return _written(attrs, rng, pool).prompt


def _written(attrs: ShapeAttributes, rng: np.random.Generator, pool: Pool) -> Paraphrase:
    words = _WORDS[pool]
    shapes = _SHAPES[pool]
    template = shapes[int(rng.integers(len(shapes)))]
    chosen = {name: _pick(words[name][getattr(attrs, name)], rng)
              for name in ("shape", "colour", "size", "direction", "speed", "background")}
    text = re.sub(r"\b([aA]) (?=[aeiou])", r"\1n ", template.format(**chosen))  # "an ivory", "an ash"
    text = text[0].upper() + text[1:] if template.startswith("{speed}") else text
    named = tuple(name for name in ATTRIBUTE_NAMES if "{" + name + "}" in template)
    return Paraphrase(text, attrs, pool, named)


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def heldout_paraphrase_set(count: int = 240, *, seed: int = 0, pool: Pool = "heldout") -> list[Paraphrase]:
    """`count` held-out paraphrases (240 by default), half of distinct training attribute
    combinations and half of distinct held-out ones (`arvid.shapes.world.HELD_OUT`; combinations
    with their speed and background), in the words and sentence shapes of `pool` ("heldout", or
    "fresh", the second held-out pool); the same list for the same `count`, `seed` and `pool`.

    Raises:
        ValueError: `count` < 2, or more than the held-out combinations hold (2 x their number), or
            `pool` not a held-out pool.
    """
    if pool not in ("heldout", "fresh"):
        raise ValueError(f"pool must be a held-out pool, heldout or fresh, got {pool!r}")
    rng = np.random.default_rng(seed)
    splits = (("train", count - count // 2), ("heldout", count // 2))
    combinations = {split: list(attribute_combinations(split)) for split, _ in splits}
    if count < 2 or count // 2 > len(combinations["heldout"]):
        raise ValueError(f"count must be in [2, {2 * len(combinations['heldout'])}], got {count}")
    prompts = []
    for split, share in splits:
        for index in rng.permutation(len(combinations[split]))[:share]:
            attrs = combinations[split][int(index)]
            prompts.append(_written(attrs, rng, pool))
    return prompts
