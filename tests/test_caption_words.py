"""Caption words (`arvid.data.caption_words`): what a prompt shares with an LM's training captions."""

from __future__ import annotations

from arvid.data.caption_words import FUNCTION_WORDS, caption_vocabulary, content_words, names_nothing_known


def test_content_words_leave_out_function_words_and_keep_hyphenated_words():
    assert content_words("A Red car, moving LEFT on the street") == {"red", "car", "moving", "left", "street"}
    assert content_words("a snow-white van") == {"snow-white", "van"}
    assert content_words("on the of a") == set() and {"a", "the", "on", "of"} <= FUNCTION_WORDS


def test_the_vocabulary_is_sorted_distinct_and_bounded(monkeypatch):
    import arvid.data.caption_words as module

    captions = ["a red car on a street", "a red car on a street", "a blue bus in the rain", "red light"]
    assert caption_vocabulary(captions) == ["blue", "bus", "car", "light", "rain", "red", "street"]
    monkeypatch.setattr(module, "MAX_WORDS", 2)  # the most frequent: red (2 distinct captions), then blue by name
    assert caption_vocabulary(captions) == ["blue", "red"]


def test_a_prompt_names_nothing_known_only_when_it_has_words_none_of_them_known():
    words = ["car", "red", "street"]
    assert names_nothing_known("a cat on the grass", words)
    assert not names_nothing_known("a cat on the street", words)
    assert not names_nothing_known("", words) and not names_nothing_known("on the", words)
