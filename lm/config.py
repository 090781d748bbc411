"""`LMConfig`: the architecture and token layout of the video LM, saved as `config.json` beside its weights."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from arvid.lm.vocabulary import SPECIAL_TOKENS

# Tokens before the first video token: [BOS][TASK][BOT] text [EOT][BOV] (text padded to `text_tokens`).
PREFIX_SPECIALS = 5
# Where the text slots start: after [BOS][TASK][BOT].
TEXT_START = 3


@dataclass(kw_only=True)
class LMConfig:
    """Llama-style decoder over one vocabulary of special tokens, text pieces and video codes.

    Sizes: `dim` model width, `n_layers` blocks, `n_heads` query heads, `n_kv_heads` key/value
    heads (fewer than `n_heads` for grouped-query attention), `ffn_dim` SwiGLU hidden width
    (default: Llama's rule, 8/3 * dim rounded up to a multiple of 32).

    Layout: every sequence is `[BOS][TASK][BOT] text [EOT][BOV]` with the text padded to
    `text_tokens`, then the anchor latent frame f0 and up to `window_frames` more latent frames of
    `tokens_per_frame` codes each, then optionally `[EOV][EOS]`.

    Text: sentencepiece pieces from the checkpoint's own text tokenizer (`text_encoder` None), or
    the hidden states of a frozen pretrained encoder (`text_encoder`: a short name such as
    "all-minilm-l6-v2" or a local Hugging Face folder, see `arvid.lm.text_encoder`), projected from
    `text_encoder_dim` (the encoder's width) to `dim`. With an encoder, a prompt's states fill the
    text slots and `<pad>` the rest, as pieces do; a prompt of more than `text_tokens` encoder
    tokens lengthens the prefix, up to the encoder's own limit, and the text pieces' ids go unused.
    `text_encoder_dim` may be left unset: the trainer reads it from the encoder.

    Positions: rotary embeddings over the flat sequence always; `grid_positions` also adds learned
    embeddings of the latent grid cell (frame in the context, row, column) that each input
    predicts, for frames `frame_width` codes wide (None: square frames). Llama has no such
    embeddings, so a model with them does not convert to `transformers`.

    Codes: `code_levels` (None: off) gives the tokenizer's digits of a video code, least
    significant first (its FSQ levels; LFQ: 2 per bit); each video code's input embedding then also
    gets learned terms per digit (`arvid.lm.code_digits`), which export folds into Llama's table.

    Prompt onset: with `prompt_onset` (a text encoder's LM only), a learned vector is added to the
    projected text states of a prompt that took effect inside the window being read (a stream's
    first window, or the window of a switch to it; `TextStates.onset`): so that the LM can tell a
    prompt that just changed, whose motion the window does not show yet, from an old one whose
    motion bounces have since changed (docs/results/sampling.md).

    Derived (not settable): `frame_shape` ((rows, columns) of a latent frame with `grid_positions`,
    else None), `vocab_size`, `prefix_len` (tokens before the first video token),
    `max_seq_len`, `head_dim`.
    """

    dim: int = 256
    n_layers: int = 6
    n_heads: int = 4
    n_kv_heads: int | None = None
    ffn_dim: int | None = None
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    text_vocab_size: int = 128
    video_vocab_size: int = 4096
    text_tokens: int = 24
    tokens_per_frame: int = 64
    window_frames: int = 4
    # VideoPoet attends bidirectionally inside the text prefix; False makes the whole sequence causal.
    bidirectional_prefix: bool = True
    grid_positions: bool = False
    frame_width: int | None = None
    code_levels: tuple[int, ...] | None = None
    text_encoder: str | None = None
    text_encoder_dim: int | None = None
    prompt_onset: bool = False

    frame_shape: tuple[int, int] | None = field(init=False)
    vocab_size: int = field(init=False)
    prefix_len: int = field(init=False)
    max_seq_len: int = field(init=False)
    head_dim: int = field(init=False)

    def __post_init__(self) -> None:
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        for name in ("dim", "n_heads", "n_kv_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.dim % self.n_heads:
            raise ValueError(f"dim {self.dim} is not a multiple of n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        for name in ("n_layers", "text_vocab_size", "video_vocab_size", "text_tokens", "tokens_per_frame",
                     "window_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.window_frames < 2:
            # Each frame after the first window would be drawn after the anchor alone, a step training
            # never takes (a window frame after a gap is no target: `arvid.lm.examples`).
            raise ValueError(f"window_frames must be >= 2 (a window of one frame has no frame before the one "
                             f"drawn to go on from), got {self.window_frames}")
        if self.text_encoder is not None and not self.text_encoder.strip():
            raise ValueError("text_encoder must name an encoder or be null (sentencepiece text), got ''")
        if self.text_encoder_dim is not None and (self.text_encoder is None or self.text_encoder_dim < 1):
            raise ValueError(f"text_encoder_dim {self.text_encoder_dim} needs a text_encoder and must be positive")
        if self.prompt_onset and self.text_encoder is None:
            raise ValueError("prompt_onset needs a text_encoder (it marks the encoder's states)")
        if self.ffn_dim is None:
            self.ffn_dim = 32 * -(-(8 * self.dim // 3) // 32)
        if self.code_levels is not None and (min(self.code_levels, default=0) < 2
                                             or math.prod(self.code_levels) != self.video_vocab_size):
            raise ValueError(f"code_levels {list(self.code_levels)} must be >= 2 each and multiply to "
                             f"video_vocab_size {self.video_vocab_size}")
        self.frame_shape = self._frame_shape() if self.grid_positions else None
        self.head_dim = self.dim // self.n_heads
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for rotary embeddings")
        self.vocab_size = len(SPECIAL_TOKENS) + self.text_vocab_size + self.video_vocab_size
        self.prefix_len = PREFIX_SPECIALS + self.text_tokens
        self.max_seq_len = self.prefix_len + (1 + self.window_frames) * self.tokens_per_frame + 2

    def check_frame_shape(self, height: int, width: int, whose: str) -> None:
        """Raise `ValueError` if this model has grid positions for another latent frame shape than
        `whose` (a phrase for the message, e.g. "the tokenizer's") height x width codes."""
        if self.frame_shape not in (None, (height, width)):
            rows, columns = self.frame_shape
            raise ValueError(f"the LM's grid positions expect latent frames of {rows}x{columns} codes; "
                             f"{whose} are {height}x{width}")

    def check_code_levels(self, levels: tuple[int, ...], whose: str) -> None:
        """Raise `ValueError` if this model has `code_levels` other than `levels`, the digits of
        `whose` (a phrase for the message, e.g. "the tokenizer's") codes."""
        if self.code_levels not in (None, tuple(levels)):
            raise ValueError(f"the LM's code_levels {list(self.code_levels)} are not the digits of {whose} codes "
                             f"{list(levels)}")

    def _frame_shape(self) -> tuple[int, int]:
        width = self.frame_width
        if width is None:
            width = math.isqrt(self.tokens_per_frame)
            if width * width != self.tokens_per_frame:
                raise ValueError(f"tokens_per_frame {self.tokens_per_frame} is not a square; grid_positions needs "
                                 f"frame_width (codes per row of a latent frame)")
        if width < 1 or self.tokens_per_frame % width:
            raise ValueError(f"frame_width {width} does not divide tokens_per_frame {self.tokens_per_frame}")
        return self.tokens_per_frame // width, width
