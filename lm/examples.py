"""Training examples for the LM, cut from token shards in the layout the streaming sampler sees.

An example is text + the anchor latent frame f0 + a window of `window_frames` consecutive latent
frames starting anywhere in the video (start 1 gives the plain clip), positions contiguous. The
caption is one of the video's phrasings, or empty with probability `caption_dropout` (so that
classifier-free guidance has an unconditional model to subtract).

A share `first_window_share` of examples is the plain clip (start 1); the rest start uniformly
anywhere. The first window is where the text matters most: it alone has no motion history, so only
there must direction and speed come from the caption (later windows can read them off the past).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from arvid.data.shards import JoinedShards, TokenShards
from arvid.lm.code_digits import tokenizer_code_levels
from arvid.lm.config import LMConfig
from arvid.lm.layout import Sequence, build_sequence
from arvid.lm.text import TextTokenizer
from arvid.lm.vocabulary import TASKS, Vocabulary


class Batch(NamedTuple):
    """`tokens` (b n) int64 and `loss_mask` (b n) bool (True where the token is a target); rows are
    padded with `<pad>` (not a target) to the longest."""

    tokens: Tensor
    loss_mask: Tensor


class WindowExamples:
    """Draws training batches from `shards` for a model of `config`.

    Raises:
        ValueError: shards whose videos are shorter than anchor + window, whose codebook is not the
            model's, or whose captions are longer than `text_tokens`.
    """

    def __init__(self, shards: TokenShards | JoinedShards, text: TextTokenizer, config: LMConfig, *,
                 caption_dropout: float = 0.1, first_window_share: float | None = None,
                 tasks: tuple[str, ...] = tuple(TASKS)) -> None:
        latent_frames, height, width = shards.grid
        if latent_frames < 1 + config.window_frames:
            raise ValueError(f"{shards.path}: videos have {latent_frames} latent frames; anchor + window_frames="
                             f"{config.window_frames} needs at least {1 + config.window_frames}")
        if height * width != config.tokens_per_frame:
            raise ValueError(f"{shards.path}: latent frames of {height}x{width} codes, the model expects "
                             f"tokens_per_frame={config.tokens_per_frame}")
        config.check_frame_shape(height, width, f"the shards' in {shards.path}")
        tokenizer = shards.meta.get("tokenizer") or {}
        if config.code_levels is not None and "quantizer" in tokenizer:  # test shards carry no tokenizer
            config.check_code_levels(tokenizer_code_levels(tokenizer["quantizer"], tokenizer["fsq_levels"],
                                                           tokenizer["codebook_bits"]), f"{shards.path}'s")
        if shards.codebook_size != config.video_vocab_size:
            raise ValueError(f"{shards.path}: codebook of {shards.codebook_size} codes, the model expects "
                             f"video_vocab_size={config.video_vocab_size}")
        self.shards, self.config = shards, config
        self.vocab = Vocabulary(text_size=config.text_vocab_size, video_size=config.video_vocab_size)
        self.caption_dropout, self.tasks = caption_dropout, tasks
        # None: every start equally likely, as a uniform cut of the video gives.
        self.first_window_share = first_window_share
        # Encode every caption once; training reads them millions of times.
        self.pieces = [[text.encode(caption) for caption in record.captions] for record in shards.records]
        longest = max(len(pieces) for captions in self.pieces for pieces in captions)
        if longest > config.text_tokens:
            raise ValueError(f"{shards.path}: a caption is {longest} text pieces long; the model reads "
                             f"text_tokens={config.text_tokens}")

    def example(self, rng: np.random.Generator) -> Sequence:
        """One `Sequence` (tokens, loss_mask) drawn with `rng`.

        Task tokens are drawn from `tasks`: with a causal tokenizer, image-to-video and continuation
        sequences look exactly like text-to-video ones, and drawing the token keeps all three in
        distribution for the sampler."""
        index = int(rng.integers(len(self.shards)))
        codes = self.shards[index]
        window = self.config.window_frames
        last_start = len(codes) - window
        if self.first_window_share is None or last_start == 1:
            start = int(rng.integers(1, last_start + 1))
        else:
            start = 1 if rng.random() < self.first_window_share else int(rng.integers(2, last_start + 1))
        frames = np.concatenate([codes[:1], codes[start:start + window]])
        captions = self.pieces[index]
        text = [] if rng.random() < self.caption_dropout else captions[int(rng.integers(len(captions)))]
        task = self.tasks[int(rng.integers(len(self.tasks)))]
        sequence = build_sequence(self.vocab, text, torch.from_numpy(frames.astype(np.int64)), task=task,
                                  text_tokens=self.config.text_tokens,
                                  end=self.shards.ends and start + window == len(codes))
        if start > 1:
            # The first window frame follows the anchor across a gap of unknown length: a guess the
            # sampler never asks for (after a shift it always has window - 1 frames of history).
            first = slice(self.config.prefix_len + self.config.tokens_per_frame,
                          self.config.prefix_len + 2 * self.config.tokens_per_frame)
            sequence.loss_mask[first] = False
        return sequence

    def batch(self, rng: np.random.Generator, size: int) -> Batch:
        """`size` examples, padded to the longest."""
        sequences = [self.example(rng) for _ in range(size)]
        length = max(len(s.tokens) for s in sequences)
        tokens = torch.full((size, length), self.vocab.pad, dtype=torch.long)
        loss_mask = torch.zeros((size, length), dtype=torch.bool)
        for row, sequence in enumerate(sequences):
            tokens[row, :len(sequence.tokens)] = sequence.tokens
            loss_mask[row, :len(sequence.tokens)] = sequence.loss_mask
        return Batch(tokens, loss_mask)
