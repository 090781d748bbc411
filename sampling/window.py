"""`WindowedContext`: the LM's context while streaming, with constant memory and time per frame.

The context is the text prefix, the anchor latent frame f0, and the most recent latent frames,
numbered contiguously as in training. A frame in progress sits in the last of `window_frames`
slots; when a frame completes and every slot is taken, the oldest non-anchor frame leaves and the
shortened context is prefilled afresh (the cached keys of later layers depended on the frame that
left, so the cache cannot simply drop it). Between shifts each token costs one cached decode step.

Invariant (tested): `logits` always equals the last logits of a fresh forward pass over `tokens()`.

Einops legend: b rows (the conditional and unconditional rows under guidance), v vocabulary.
"""

from __future__ import annotations

import torch
from torch import Tensor

from arvid.lm.config import PREFIX_SPECIALS
from arvid.lm.model import Transformer
from arvid.lm.text_encoder import TextStates


def check_window(window_frames: int, trained: int) -> None:
    """Raise `ValueError` unless 2 <= window_frames <= the window the model was trained with (0 too:
    it is not a request for the trained window, which None is, in `SamplerConfig`)."""
    if not 2 <= window_frames <= trained:
        raise ValueError(f"window_frames must be in [2, {trained}] (the model was trained with {trained}), "
                         f"got {window_frames}")


class WindowedContext:
    """Context of `prefixes` (b P) + anchor + window for `model`.

    Args:
        model: the LM; its static cache is (re)allocated here.
        prefixes: (b P) prefix tokens, one row per sequence (all rows get the same video tokens).
        window_frames: latent frames after the anchor, the one in progress included (>= 2).
        frames: latent frames given in advance (each (tokens_per_frame,) token ids), anchor first.
        text: for an LM with a text encoder, the prefixes' text states (`arvid.lm.layout.Prefixes.text`);
            they go into every prefill (the prefix is prefilled afresh after each shift).
    Raises:
        ValueError: a window outside [2, the trained window], or prefixes of the wrong length.
    """

    def __init__(self, model: Transformer, prefixes: Tensor, *, window_frames: int, frames: list[Tensor] = (),
                 text: TextStates | None = None) -> None:
        config = model.config
        check_window(window_frames, config.window_frames)
        self.model, self.window_frames = model, window_frames
        self.tokens_per_frame = config.tokens_per_frame
        self.frames: list[Tensor] = []  # complete latent frames, anchor first, each (tokens_per_frame,)
        self.current: list[Tensor] = []  # tokens of the frame in progress, each () int64
        self.frames.extend(frames)
        self._keep_window()
        self.prefixes: Tensor | None = None
        self.text: TextStates | None = None
        self.switch(prefixes, text)

    def switch(self, prefixes: Tensor, text: TextStates | None = None) -> None:
        """Make `prefixes` (b P) (and `text`, for an LM with a text encoder) the context's prefix, over
        the same anchor, window and frame in progress: a prompt that changes mid-stream. The context
        is prefilled afresh, so `logits` then equal a fresh forward over the new `tokens()`.

        Raises:
            ValueError: prefixes of the wrong length, or another number of rows than before.
        """
        config = self.model.config
        expected = config.prefix_len if text is None else PREFIX_SPECIALS + text.hidden.shape[1]
        if prefixes.shape[1] != expected:
            raise ValueError(f"expected prefixes of {expected} tokens, got {prefixes.shape[1]}")
        first = self.prefixes is None
        if not first and prefixes.shape[0] != self.prefixes.shape[0]:
            raise ValueError(f"expected {self.prefixes.shape[0]} prefix rows, got {prefixes.shape[0]}")
        if first or prefixes.shape[1] > self.prefixes.shape[1]:  # a longer prefix needs a longer cache
            self.model.setup_cache(prefixes.shape[0], prefixes.shape[1] + (1 + self.window_frames) * self.tokens_per_frame)
        self.prefixes, self.text = prefixes, text
        self._prefill()

    def tokens(self) -> Tensor:
        """The context as token ids (b n): prefix, anchor, window, and the frame in progress."""
        parts = [*self.frames, torch.stack(self.current)] if self.current else list(self.frames)
        video = torch.cat(parts) if parts else self.prefixes.new_zeros(0)
        return torch.cat([self.prefixes, video.expand(self.prefixes.shape[0], -1)], dim=1)

    def push(self, token: Tensor) -> Tensor | None:
        """Append the next video token (a 0-d int64 tensor); returns the latent frame it completed, if any."""
        self.current.append(token.reshape(()))
        if len(self.current) < self.tokens_per_frame:
            self._decode(token)
            return None
        frame = torch.stack(self.current)
        self.frames.append(frame)
        self.current = []
        if self._keep_window():
            self._prefill()
        else:
            self._decode(token)
        return frame

    def _keep_window(self) -> bool:
        """Drop the oldest non-anchor frames so that the next frame fits; True if any left."""
        extra = len(self.frames) - self.window_frames  # anchor + (window - 1) complete frames fit
        if extra <= 0:
            return False
        del self.frames[1:1 + extra]
        return True

    # Positions stay on the CPU on purpose: the model checks them against its cache on the host and
    # moves them to the tokens' device itself.
    def _prefill(self) -> None:
        tokens = self.tokens()
        self.length = tokens.shape[1]
        self.logits = self.model.prefill(tokens, torch.arange(self.length), self.text)[:, -1]

    def _decode(self, token: Tensor) -> None:
        rows = self.prefixes.shape[0]
        self.logits = self.model.decode(token.reshape(1, 1).expand(rows, 1), torch.tensor([self.length]))[:, -1]
        self.length += 1
