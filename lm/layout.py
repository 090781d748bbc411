"""VideoPoet's sequence layout: `[BOS][TASK][BOT] text [EOT][BOV] f0 f1 ... [EOV][EOS]`.

The text is padded with `<pad>` to the model's fixed `text_tokens`, so every sequence of a model
has its first video token at the same position (`config.prefix_len`). Fixed positions let the
conditional and unconditional rows of classifier-free guidance share one batch and one set of
positions; pad tokens are ordinary inputs inside the bidirectional prefix.

With a text encoder (`arvid.lm.text_encoder`) the text slots hold `<pad>` tokens and the prompt's
encoder states ride beside the tokens (`Prefixes.text`): the model puts their projections in the
slots they fill, so the layout, the specials and the fixed positions stay. A prompt shorter than
`text_tokens` is padded with `<pad>` as pieces are; a longer one (up to the encoder's limit)
lengthens the prefix of its batch, and every row of the batch pads to it. The unconditional prefix
(the empty prompt, and caption dropout in training) has no encoder states at all: every slot is
`<pad>`, as for a sentencepiece LM, so its meaning (the text left out) is the same; the encoder's
states for "" ([CLS][SEP]) would be a prompt of their own.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from arvid.lm.text_encoder import TextStates
from arvid.lm.vocabulary import Vocabulary


class Sequence(NamedTuple):
    """`tokens` (n) int64 and `loss_mask` (n) bool: True where the token is a training target
    (video codes and end tokens)."""

    tokens: Tensor
    loss_mask: Tensor


class Prefixes(NamedTuple):
    """A batch of prefixes: `tokens` (b P) int64, and for an LM with a text encoder `text`, the
    text slots' encoder states (hidden (b P-5 d_enc), mask (b P-5)); None for a sentencepiece LM."""

    tokens: Tensor
    text: TextStates | None = None

    def to(self, device) -> Prefixes:
        """Both parts on `device`."""
        return Prefixes(self.tokens.to(device), None if self.text is None else self.text.to(device))


def pad_text(text: TextStates, slots: int) -> TextStates:
    """`text` padded with masked-out zero slots to `slots` (>= its length)."""
    extra = slots - text.hidden.shape[1]
    if extra < 0:
        raise ValueError(f"text states of {text.hidden.shape[1]} slots do not fit in {slots}")
    hidden = torch.nn.functional.pad(text.hidden, (0, 0, 0, extra))
    return text._replace(hidden=hidden, mask=torch.nn.functional.pad(text.mask, (0, extra), value=False))


def encoder_prefixes(vocab: Vocabulary, text: TextStates, *, task: str, text_tokens: int) -> Prefixes:
    """The prefixes of prompts whose encoder states are `text` (b n d_enc): the text padded to
    max(n, `text_tokens`) slots, every slot's token `<pad>`."""
    text = pad_text(text, max(text.hidden.shape[1], text_tokens))
    row = prefix_tokens(vocab, [], task=task, text_tokens=text.hidden.shape[1])
    return Prefixes(row.to(text.hidden.device).expand(text.hidden.shape[0], -1).clone(), text)


def prefix_tokens(vocab: Vocabulary, text_pieces: list[int], *, task: str, text_tokens: int) -> Tensor:
    """`[BOS][TASK][BOT] text <pad>... [EOT][BOV]` as ids (text_tokens + 5). Empty text = unconditional.

    Raises:
        ValueError: more than `text_tokens` pieces, or pieces outside the text vocabulary.
    """
    if len(text_pieces) > text_tokens:
        raise ValueError(f"the text is {len(text_pieces)} pieces long; this model reads at most {text_tokens}")
    text = vocab.text_ids(list(text_pieces))
    padding = torch.full((text_tokens - len(text_pieces),), vocab.pad, dtype=torch.long)
    head = torch.tensor([vocab.bos, vocab.task_id(task), vocab.bot])
    return torch.cat([head, text, padding, torch.tensor([vocab.eot, vocab.bov])])


def build_sequence(vocab: Vocabulary, text_pieces: list[int], video_codes: Tensor, *, task: str, text_tokens: int,
                   end: bool) -> Sequence:
    """The training sequence for latent frames `video_codes` (t h w), raster order per frame;
    `end` appends `[EOV][EOS]` (only for videos that really end there)."""
    prefix = prefix_tokens(vocab, text_pieces, task=task, text_tokens=text_tokens)
    video = vocab.video_ids(video_codes).flatten()
    tail = torch.tensor([vocab.eov, vocab.eos] if end else [], dtype=torch.long)
    tokens = torch.cat([prefix, video, tail])
    loss_mask = torch.zeros(len(tokens), dtype=torch.bool)
    loss_mask[len(prefix):] = True
    return Sequence(tokens, loss_mask)
