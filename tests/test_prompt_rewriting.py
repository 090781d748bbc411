"""Prompt words an LM never read, rewritten into its caption words (`arvid.data.synonyms`,
`--rewrite-prompts`): the rewrite's rules on a small word list, WordNet itself where it is fetched,
and the commands' wiring."""

from __future__ import annotations

import io
import json
import shutil
import time

import pytest
from lm_fixtures import write_tiny_model

from arvid.data.synonyms import WordNet, rewrite_prompt, wordnet_folder
from arvid.tools.cli import main


class WordList:
    """A lexicon of a few entries: phrase -> [synonyms, words one relation away]."""

    def __init__(self, entries: dict[str, list[list[str]]]) -> None:
        self.entries, self.asked = entries, []

    def knows(self, phrase: str) -> bool:
        return phrase in self.entries

    def related(self, phrase: str):
        self.asked.append(phrase)
        yield from self.entries.get(phrase, [])


VOCABULARY = ["red", "blue", "circle", "small", "moving", "left", "up", "right", "background", "gray"]
LEXICON = {"crimson": [["crimson", "deep red"], ["red", "blue"]],  # nearest first: red, not blue
           "ball": [["ball"], ["game equipment"]],                 # no caption word near: kept as written
           "tiny": [["tiny", "small"], ["large"]],
           "royal blue": [["royal blue"], ["blue"]],
           "ash": [["ash"], ["gray"]],
           "back up": [["back up"], ["left"]],                     # holds "up": never traded for another word
           "non-red": [["non-red"], []]}


def test_unknown_words_become_the_nearest_caption_word_and_the_rest_of_the_prompt_is_kept():
    rewrite = rewrite_prompt("A Tiny crimson ball, moving left!", VOCABULARY, WordList(LEXICON))
    assert rewrite.prompt == "A Small red ball, moving left!"  # a capital stays a capital
    assert rewrite.replaced == (("Tiny", "small"), ("crimson", "red"))
    assert rewrite.describe() == "'Tiny' as 'small', 'crimson' as 'red'"


def test_two_word_entries_hyphenated_words_and_function_words():
    lexicon = WordList(LEXICON)
    # "royal blue" is one entry; "ash gray" is not, so "ash" is read alone (and "gray" is known).
    assert rewrite_prompt("a royal blue circle on ash gray", VOCABULARY, lexicon).prompt == "a blue circle on gray gray"
    # A hyphenated word keeps the parts the LM knows; one with none is looked up whole.
    assert rewrite_prompt("an up-right or pea-red circle", VOCABULARY, lexicon).prompt == "an up right or red circle"
    assert rewrite_prompt("the circle", VOCABULARY, lexicon).replaced == ()
    assert all(word not in lexicon.asked for word in ("the", "an", "or", "circle"))
    # A two-word entry holding a caption word reads as that word or not at all; negations are not read by parts.
    assert rewrite_prompt("a circle moving back up", VOCABULARY, lexicon).prompt == "a circle moving back up"
    assert rewrite_prompt("a non-red circle", VOCABULARY, lexicon).prompt == "a non-red circle"
    assert rewrite_prompt("Crimson circle", VOCABULARY, lexicon).prompt == "Red circle"  # a capital stays


class FakeSynset:
    def __init__(self, lemmas, **relations):
        self.lemma_list, self.relations = lemmas, relations

    def lemma_names(self):
        return self.lemma_list

    def lemmas(self):
        return []

    def __getattr__(self, relation):  # hypernyms(), similar_tos(), attributes(), ...
        return lambda: self.relations.get(relation, [])


def test_wordnet_walks_one_relation_and_never_the_attribute_relation():
    size_values = FakeSynset(["large", "small"])
    dimension = FakeSynset(["dimension"], hypernyms=[FakeSynset(["magnitude"])])
    size = FakeSynset(["size"], hypernyms=[dimension], attributes=[size_values])

    class Reader:
        def synsets(self, phrase):
            return {"size": [size]}.get(phrase, [])

    lexicon = WordNet.__new__(WordNet)
    lexicon.depth, lexicon.reader = 1, Reader()
    assert list(lexicon.related("size")) == [["size"], ["dimension"]]
    lexicon.depth = 2
    assert list(lexicon.related("size")) == [["size"], ["dimension"], ["magnitude"]]


def test_a_prompt_of_caption_words_is_never_looked_up():
    class Untouchable:
        def knows(self, phrase):
            raise AssertionError(f"looked up {phrase!r}")

        related = knows

    import numpy as np

    from arvid.shapes.content import training_caption_words
    from arvid.shapes.paraphrase import paraphrase
    from arvid.shapes.world import all_phrasings, attribute_combinations

    rng = np.random.default_rng(0)
    words = training_caption_words()
    for attrs in list(attribute_combinations("all"))[::7]:
        for caption in [*all_phrasings(attrs), paraphrase(attrs, rng, "train")]:
            assert rewrite_prompt(caption, words, Untouchable()).prompt == caption


def test_the_shipped_lm_records_the_words_of_its_training_captions():
    from arvid.lm.checkpoint import VideoLM
    from arvid.tokenizer import VideoTokenizer
    from arvid.shapes.content import training_caption_words
    from arvid.weights import default_model_dir

    folder = default_model_dir("lm")
    record = json.loads((folder / "training_data.json").read_text())
    assert record.pop("caption_words") == training_caption_words()
    assert record == {"tokenizer_codes": VideoTokenizer.from_pretrained(default_model_dir("tokenizer")).codes_fingerprint()}
    lm = VideoLM.from_pretrained(folder)
    vocabulary = lm.caption_vocabulary()
    assert {"small", "scarlet", "gray", "towards", "circle"} <= vocabulary and "the" not in vocabulary
    # The record of its tokenizer's codes: an untrained tokenizer of the same shape is warned of.
    from arvid.sampling.stream import TokenizerMismatchWarning, check_compatible

    shipped = VideoTokenizer.from_pretrained(default_model_dir("tokenizer"))
    with pytest.warns(TokenizerMismatchWarning):
        check_compatible(lm, VideoTokenizer(shipped.config))


@pytest.mark.skipif(not (wordnet_folder() / "corpora" / "wordnet" / "data.noun").is_file(),
                    reason="WordNet not fetched (python scripts/fetch_wordnet.py)")
def test_wordnet_reads_colour_and_size_words_as_the_captions_words():
    from arvid.shapes.content import training_caption_words

    # Words of my own (the held-out paraphrases' words stay out of tests and tuning alike).
    rewrite = rewrite_prompt("a tiny sapphire square on a charcoal backdrop", training_caption_words(), WordNet())
    assert rewrite.prompt == "a small azure square on a gray backdrop"
    # An attribute is none of its values: "size" is not read as "large" (WordNet's attribute relation).
    assert rewrite_prompt("a box of enormous size", training_caption_words(), WordNet()).prompt == "a box of large size"


def test_a_missing_or_partial_wordnet_or_nltk_says_how_to_get_it(tmp_path, monkeypatch):
    from arvid.data.synonyms import WORDNET_FILES

    monkeypatch.setenv("ARVID_WORDNET", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no WordNet in .*python scripts/fetch_wordnet.py"):
        WordNet()
    folder = tmp_path / "corpora" / "wordnet"
    folder.mkdir(parents=True)
    for name in WORDNET_FILES[1:]:
        (folder / name).write_text("")
    with pytest.raises(FileNotFoundError, match="lacks lexnames"):
        WordNet()
    (folder / "lexnames").write_text("")
    monkeypatch.setitem(__import__("sys").modules, "nltk", None)  # as if nltk were not installed
    with pytest.raises(ImportError, match=r"pip install 'arvid\[prompts\]'"):
        WordNet()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The tiny test model, its LM recording the caption words of the shapes templates."""
    folder = write_tiny_model(tmp_path_factory.mktemp("model"))
    (folder / "lm" / "training_data.json").write_text(json.dumps({"caption_words": VOCABULARY}))
    return folder


@pytest.fixture
def word_list(monkeypatch):
    monkeypatch.setattr("arvid.data.synonyms.WordNet", lambda: WordList(LEXICON))


def test_generate_reads_the_prompt_and_schedule_rewritten_and_says_so(model_dir, tmp_path, capsys, word_list):
    schedule, tokens = tmp_path / "schedule.tsv", tmp_path / "tokens.ndjson"
    schedule.write_text("5\ta crimson circle moving up\n")
    assert main(["generate", "a tiny circle moving left", "--model", str(model_dir), "--frames", "9", "--rewrite-prompts",
                 "--first-window-candidates", "1", "--prompt-schedule", str(schedule), "--tokens-out", str(tokens)]) == 0
    err = capsys.readouterr().err
    assert "note: the prompt: reading 'tiny' as 'small' (--rewrite-prompts): 'a small circle moving left'" in err
    assert f"note: {schedule}, the prompt at frame 5: reading 'crimson' as 'red'" in err
    lines = [json.loads(line) for line in tokens.read_text().splitlines()]
    assert lines[0]["prompt"] == "a small circle moving left"  # the stream records what the LM read
    assert [line["prompt"] for line in lines[1:] if "prompt" in line] == ["a red circle moving up"]


def test_a_prompts_file_and_typed_lines_are_rewritten(model_dir, tmp_path, capsys, word_list):
    from arvid.tools.prompt_schedule import typed_prompts

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a crimson circle\na blue circle\n")
    assert main(["generate", "--prompts", str(prompts), "--model", str(model_dir), "--frames", "5", "--rewrite-prompts",
                 "--tokens-out", str(tmp_path / "{n}.ndjson")]) == 0
    err = capsys.readouterr().err
    assert f"note: {prompts}:1: reading 'crimson' as 'red'" in err and f"{prompts}:2" not in err
    assert json.loads((tmp_path / "0.ndjson").read_text().splitlines()[0])["prompt"] == "a red circle"
    typed = typed_prompts("first", check=lambda line: None, stdin=io.StringIO("a tiny ball\n"),
                          read_as=lambda line: rewrite_prompt(line, VOCABULARY, WordList(LEXICON)).prompt)
    deadline = time.monotonic() + 5
    while typed(0) == "first" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert typed(1) == "a small ball"

    def failing(line):
        raise OSError("a WordNet file went away")

    typed = typed_prompts("first", check=lambda line: None, stdin=io.StringIO("a tiny ball\n"), read_as=failing)
    deadline = time.monotonic() + 5
    while typed(0) == "first" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert typed(1) == "a tiny ball" and "taken as typed: it could not be rewritten" in capsys.readouterr().err


def test_rewriting_refuses_what_it_cannot_do(model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ARVID_WORDNET", str(tmp_path / "none"))
    args = ["generate", "a crimson circle", "--model", str(model_dir), "--frames", "5", "--rewrite-prompts",
            "--tokens-out", str(tmp_path / "t.ndjson")]
    assert main(args) == 2
    assert "--rewrite-prompts: no WordNet in" in capsys.readouterr().err and not (tmp_path / "t.ndjson").exists()
    bare = tmp_path / "bare"
    shutil.copytree(model_dir, bare)
    (bare / "lm" / "training_data.json").unlink()
    monkeypatch.setattr("arvid.data.synonyms.WordNet", lambda: WordList(LEXICON))
    assert main([*args[:3], str(bare), *args[4:]]) == 2
    assert "this LM records no caption words" in capsys.readouterr().err
    assert main(["eval-video", str(tmp_path / "clip.mp4"), "--prompt", "a red circle", "--rewrite-prompts",
                 "-o", str(tmp_path / "eval")]) == 2
    assert "--rewrite-prompts rewrites the prompts the model generates from" in capsys.readouterr().err
