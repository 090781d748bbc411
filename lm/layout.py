"""VideoPoet's sequence layout: `[BOS][TASK][BOT] text [EOT][BOV] f0 f1 ... [EOV][EOS]`.

The text is padded with `<pad>` to the model's fixed `text_tokens`, so every sequence of a model
has its first video token at the same position (`config.prefix_len`). Fixed positions let the
conditional and unconditional rows of classifier-free guidance share one batch and one set of
positions; pad tokens are ordinary inputs inside the bidirectional prefix.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from arvid.lm.vocabulary import Vocabulary


class Sequence(NamedTuple):
    """`tokens` (n) int64 and `loss_mask` (n) bool: True where the token is a training target
    (video codes and end tokens)."""

    tokens: Tensor
    loss_mask: Tensor


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
