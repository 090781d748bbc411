"""Paraphrased captions: two disjoint pools of words and sentence shapes, every paraphrase naming
its attributes, and a fixed held-out set of at least 200 prompts over both kinds of combination."""

from __future__ import annotations

import re

import numpy as np
import pytest

from arvid.shapes.paraphrase import heldout_paraphrase_set, paraphrase, sentence_shapes, vocabulary
from arvid.shapes.world import (
    ATTRIBUTE_NAMES,
    HELD_OUT,
    N_PHRASINGS,
    ShapeAttributes,
    all_phrasings,
    attribute_combinations,
    sample_attributes,
)


def _words(pool: str) -> set[tuple[str, str]]:
    return {(name, word) for name, values in vocabulary(pool).items() for words in values.values() for word in words}


def test_every_value_has_words_in_every_pool_and_the_pools_share_none():
    for pool in ("train", "heldout", "fresh"):
        words = vocabulary(pool)
        assert set(words) == set(ATTRIBUTE_NAMES)
        for name, values in words.items():
            assert all(values[value] for value in values), (pool, name)
            flat = [word for options in values.values() for word in options]
            assert len(flat) == len(set(flat)), f"{pool} {name}: a word names two values"
    pools = ("train", "heldout", "fresh")
    for first, second in ((a, b) for a in pools for b in pools if a < b):
        assert not {word for _, word in _words(first)} & {word for _, word in _words(second)}, (first, second)
        assert not set(sentence_shapes(first)) & set(sentence_shapes(second)), (first, second)


@pytest.mark.parametrize("pool", ["train", "heldout", "fresh"])
def test_a_paraphrase_names_each_attribute_in_its_pools_words(pool):
    rng = np.random.default_rng(0)
    words = vocabulary(pool)
    for _ in range(200):
        attrs = sample_attributes(rng, "all")
        text = paraphrase(attrs, rng, pool).lower()
        for name in ("shape", "colour", "size", "direction", "background"):
            assert any(word in text for word in words[name][getattr(attrs, name)]), (name, text)
        assert not re.search(r"\ba [aeiou]", text), text  # "an ash canvas", never "a ash"


def test_held_out_paraphrases_use_no_template_sentence():
    attrs = ShapeAttributes("circle", "red", "small", "right", "slow", "black")
    templates = set(all_phrasings(attrs))
    rng = np.random.default_rng(1)
    assert len(templates) == N_PHRASINGS
    assert not {paraphrase(attrs, rng, "heldout") for _ in range(50)} & templates


def test_the_held_out_set_is_fixed_and_covers_both_kinds_of_combination():
    prompts = heldout_paraphrase_set()
    assert len(prompts) == 240 and len({p.prompt for p in prompts}) > 230
    held = [p for p in prompts if p.attrs.combination in HELD_OUT]
    assert len(held) == 120 and len({p.attrs.combination for p in held}) == len(HELD_OUT)
    assert [p.prompt for p in heldout_paraphrase_set()] == [p.prompt for p in prompts]
    assert len(list(attribute_combinations("heldout"))) >= 120
    with pytest.raises(ValueError, match="count must be in"):
        heldout_paraphrase_set(1)
    fresh = heldout_paraphrase_set(pool="fresh")  # the second held-out pool: the same combinations, its own words
    assert [p.attrs for p in fresh] == [p.attrs for p in prompts] and fresh[0].prompt != prompts[0].prompt
    with pytest.raises(ValueError, match="held-out pool"):
        heldout_paraphrase_set(pool="train")


def test_shapes_videos_add_paraphrases_without_changing_the_videos():
    from arvid.shapes.clips import shapes_videos

    plain = list(shapes_videos(3, frames=5, seed=4, size=32))
    worded = list(shapes_videos(3, frames=5, seed=4, size=32, paraphrases=4))
    for (video, record), (same, richer) in zip(plain, worded, strict=True):
        assert np.array_equal(video, same)
        assert richer.captions[:N_PHRASINGS] == record.captions and len(richer.captions) == N_PHRASINGS + 4
        assert not set(richer.captions[N_PHRASINGS:]) & set(record.captions)
