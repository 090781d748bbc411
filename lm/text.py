"""`TextTokenizer`: the sentencepiece model that turns captions into text pieces.

It is trained on captions (`train_text_tokenizer`) and stored inside each LM checkpoint as
`text_tokenizer.model`, so a checkpoint folder is self-contained.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

FILE_NAME = "text_tokenizer.model"


class TextTokenizer:
    """Captions <-> sentencepiece piece ids in [0, size). Text is lower-cased before encoding
    (the shapes captions are; a user's "Red Circle" should read the same)."""

    def __init__(self, model_proto: bytes) -> None:
        self.model_proto = model_proto
        self._processor = spm.SentencePieceProcessor(model_proto=model_proto)

    @property
    def size(self) -> int:
        """Number of pieces; piece ids are in [0, size)."""
        return self._processor.get_piece_size()

    @property
    def unknown_id(self) -> int:
        """The piece id that every text the captions never had encodes to."""
        return self._processor.unk_id()

    def encode(self, text: str) -> list[int]:
        """Piece ids of `text`; an empty or blank text gives []."""
        text = " ".join(text.lower().split())
        return self._processor.encode(text) if text else []

    def unknown(self, text: str) -> list[str]:
        """The parts of `text` that encode to the unknown piece (characters the captions never had,
        e.g. Chinese or emoji), each as written (lower-cased), in order, without repeats. The model
        reads them all as one and the same token, so they carry no meaning."""
        text = " ".join(text.lower().split())
        if not text:
            return []
        pieces = self._processor.encode(text, out_type=str)
        ids = self._processor.encode(text)
        return list(dict.fromkeys(piece.lstrip("\u2581") or piece for piece, id_ in zip(pieces, ids, strict=True)
                                  if id_ == self.unknown_id))

    def decode(self, pieces: list[int]) -> str:
        """Piece ids -> text (lower-cased, as encoded)."""
        return self._processor.decode(pieces)

    def save(self, folder: str | Path) -> Path:
        """Write `text_tokenizer.model` into `folder` (made if missing, as every `save` here does); returns its path."""
        path = Path(folder) / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.model_proto)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> TextTokenizer:
        """Read `text_tokenizer.model` from a folder (an LM checkpoint or a text tokenizer's own).

        Raises:
            FileNotFoundError: the folder has no text tokenizer.
            ValueError: the file is not a sentencepiece model (truncated or corrupt).
        """
        path = Path(folder) / FILE_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (LM checkpoints hold one; `arvid train-text-tokenizer` writes one)")
        try:
            return cls(path.read_bytes())
        except RuntimeError as err:  # sentencepiece's parse error
            raise ValueError(f"{str(path)!r} is not a sentencepiece model (truncated or corrupt): "
                             f"{str(err).strip().splitlines()[0]}") from None


def train_text_tokenizer(captions: Iterable[str], *, vocab_size: int = 128) -> TextTokenizer:
    """Train a BPE sentencepiece model of at most `vocab_size` pieces on `captions` (fewer when
    the captions cannot fill it). BPE, because its merges make whole words of the captions'
    few words: 128 pieces cover every shapes caption in at most 24, where unigram stops at 62
    pieces and needs 37.

    Raises:
        ValueError: no captions, or sentencepiece failed on them.
    """
    captions = [" ".join(c.lower().split()) for c in captions]
    captions = [c for c in captions if c]
    if not captions:
        raise ValueError("no captions to train the text tokenizer on")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(captions), model_writer=model, vocab_size=vocab_size, model_type="bpe",
            character_coverage=1.0, num_threads=1, minloglevel=2, hard_vocab_limit=False,
            # The pad id lives in arvid's own special tokens; sentencepiece keeps unk only.
            unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1)
    except RuntimeError as error:
        raise ValueError(f"sentencepiece could not train a {vocab_size}-piece model on {len(captions)} "
                         f"captions: {error}") from None
    return TextTokenizer(model.getvalue())
