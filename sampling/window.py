"""`WindowedContext`: the LM's context while streaming, with constant memory and time per frame.

The context is the text prefix, the anchor latent frame f0, and the most recent latent frames,
numbered contiguously as in training. A frame in progress sits in the last of `window_frames`
slots; when a frame completes and every slot is taken, the oldest non-anchor frame leaves and the
shortened context is prefilled afresh (the cached keys of later layers depended on the frame that
left, so the cache cannot simply drop it). Between shifts each token costs one cached decode step.

Invariant (tested): `logits` always equals the last logits of a fresh forward pass over `tokens()`
(until a `final` push: that context has no logits and takes nothing more).

`rolling=True` trades that invariant for speed: at a shift the cache keeps the frames that stay,
moved back one frame's slots with their keys rotated to their new positions
(`Transformer.shift_cache`), so no prefill is needed; the anchor and the prefix stay put, an
attention sink as in StreamingLLM. Exact for a one-layer model without grid positions (tested);
for deeper models the kept frames' cached states still reflect the frame that left, a quality cost
measured in docs/results/streaming_and_speed.md.

Several contexts may share one model (two streams in turn, or a `generate` call while a stream
waits): each keeps its own cache (`arvid.lm.cache.CacheState`) and puts it back into the model
before using it (`claim_cache`).

Several `streams` share one context as rows of one batch (first-window candidates, several
prompts): each stream has its own video tokens and `rows_per_stream` prefix rows (its prompt and,
under guidance, the empty prompt), rows stream-major.

Einops legend: b rows (streams x rows per stream), s streams, t tokens per latent frame, v vocabulary.
"""

from __future__ import annotations

import torch
from torch import Tensor

from arvid.lm.cache import CacheState
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
        prefixes: (b P) prefix tokens, `b / streams` rows per stream, stream-major.
        window_frames: latent frames after the anchor, the one in progress included (>= 2).
        frames: latent frames given in advance, anchor first: each (t,) token ids shared by every
            stream, or (s t), one row per stream.
        text: for an LM with a text encoder, the prefixes' text states (`arvid.lm.layout.Prefixes.text`);
            they go into every prefill (the prefix is prefilled afresh after each shift).
        streams: independent video sequences in the batch (each drawn its own tokens).
        rolling: shift the cache rather than prefill afresh when the window moves (see the module).
    Raises:
        ValueError: a window outside [2, the trained window], prefixes of the wrong length, or rows
            that do not split evenly into `streams`.
    """

    def __init__(self, model: Transformer, prefixes: Tensor, *, window_frames: int, frames: list[Tensor] = (),
                 text: TextStates | None = None, streams: int = 1, rolling: bool = False) -> None:
        config = model.config
        check_window(window_frames, config.window_frames)
        if streams < 1 or prefixes.shape[0] % streams:
            raise ValueError(f"{prefixes.shape[0]} prefix rows do not split into {streams} streams")
        self.model, self.window_frames, self.streams, self.rolling = model, window_frames, streams, rolling
        self.tokens_per_frame = config.tokens_per_frame
        self.frames: list[Tensor] = []  # complete latent frames, anchor first, each (s t)
        self.current: list[Tensor] = []  # tokens of the frame in progress, each (s,)
        self.finished = False  # a `final` push completed a frame: nothing more is taken
        self.frames.extend(frame.reshape(-1, self.tokens_per_frame).expand(streams, -1) for frame in frames)
        self._keep_window()
        self.prefixes: Tensor | None = None
        self.text: TextStates | None = None
        self._cache: CacheState | None = None
        self.switch(prefixes, text)

    @property
    def rows_per_stream(self) -> int:
        """Prefix rows of each stream (2 under guidance: the prompt's and the empty prompt's)."""
        return self.prefixes.shape[0] // self.streams

    def switch(self, prefixes: Tensor, text: TextStates | None = None) -> None:
        """Make `prefixes` (b P) (and `text`, for an LM with a text encoder) the context's prefix, over
        the same anchor, window and frame in progress: a prompt that changes mid-stream. The context
        is prefilled afresh, so `logits` then equal a fresh forward over the new `tokens()`.

        Raises:
            ValueError: prefixes of the wrong length, another number of rows than before, or a
                `finished` context.
        """
        self._check_open()
        config = self.model.config
        expected = config.prefix_len if text is None else PREFIX_SPECIALS + text.hidden.shape[1]
        if prefixes.shape[1] != expected:
            raise ValueError(f"expected prefixes of {expected} tokens, got {prefixes.shape[1]}")
        first = self.prefixes is None
        if not first and prefixes.shape[0] != self.prefixes.shape[0]:
            raise ValueError(f"expected {self.prefixes.shape[0]} prefix rows, got {prefixes.shape[0]}")
        if first or prefixes.shape[1] > self.prefixes.shape[1]:  # a longer prefix needs a longer cache
            self._cache = None  # the old cache goes as the new one is made, not after
            self.model.setup_cache(prefixes.shape[0], prefixes.shape[1] + (1 + self.window_frames) * self.tokens_per_frame)
            self._cache = self.model.cache_state()
        self.prefixes, self.text = prefixes, text
        self._prefill()

    def tokens(self) -> Tensor:
        """The context as token ids (b n): prefix, anchor, window, and the frame in progress."""
        parts = [*self.frames, torch.stack(self.current, dim=1)] if self.current else list(self.frames)
        video = torch.cat(parts, dim=1) if parts else self.prefixes.new_zeros(self.streams, 0)
        return torch.cat([self.prefixes, video.repeat_interleave(self.rows_per_stream, dim=0)], dim=1)

    def push(self, token: Tensor, *, final: bool = False) -> Tensor | None:
        """Append the next video token of each stream: a 0-d int64 tensor (one stream) or (s,).
        Returns the latent frame it completed, if any: (t,) for a 0-d token, else (s t).

        `final`: nothing will be drawn after a frame this token completes (a first-window candidate
        about to be dropped), so the model is not run on it: no decode step and no slide of the
        window (at a full window, a prefill of every row). The context's `logits` are then None.
        A token that does not complete a frame is fed as usual.

        Raises:
            ValueError: the context is `finished` (a final push completed a frame)."""
        self._check_open()
        tokens = token.reshape(self.streams)
        self.current.append(tokens)
        if len(self.current) < self.tokens_per_frame:
            self._decode(tokens)
            return None
        frame = torch.stack(self.current, dim=1)
        self.frames.append(frame)
        self.current = []
        if final:
            self.logits, self.finished = None, True
            return frame.reshape(*token.shape, self.tokens_per_frame)
        dropped = self._keep_window()
        if dropped and self.rolling:
            self._roll(dropped)
            self._decode(tokens)
        elif dropped:
            self._prefill()
        else:
            self._decode(tokens)
        return frame.reshape(*token.shape, self.tokens_per_frame)

    def peek(self, tokens: Tensor) -> Tensor:
        """Logits (b n v) after each of `tokens` (n,), fed after the context of its one stream in one
        decode pass, without taking them in: the context stays as it was, except that their cache
        slots are written (`commit` keeps the first ones). For Jacobi decoding (`arvid.sampling.jacobi`).

        Raises:
            ValueError: several streams, tokens that would complete the frame in progress, or a
                `finished` context.
        """
        self._check_open()
        if self.streams != 1 or len(self.current) + len(tokens) >= self.tokens_per_frame:
            raise ValueError(f"peek feeds one stream's tokens inside the frame in progress: {len(self.current)} of "
                             f"{self.tokens_per_frame} drawn, {len(tokens)} fed")
        rows = tokens[None].expand(self.prefixes.shape[0], -1)
        self.claim_cache()
        return self.model.decode(rows, self.model.positions(self.length, len(tokens)))

    def commit(self, tokens: Tensor, logits: Tensor) -> None:
        """Take in `tokens` (n,) of one stream or (n s), already fed through the model (the first
        tokens of the last `peek`, or a run of `arvid.sampling.fused`), whose logits after the last
        of them are `logits` (b v): as pushing them would, without another pass.

        Raises:
            ValueError: tokens that would complete the frame in progress (its last token slides the
                window: `push` it), or a `finished` context.
        """
        self._check_open()
        if len(self.current) + len(tokens) >= self.tokens_per_frame:
            raise ValueError(f"commit takes tokens inside the frame in progress: {len(self.current)} of "
                             f"{self.tokens_per_frame} drawn, {len(tokens)} given")
        self.current.extend(tokens.reshape(len(tokens), self.streams))
        self.length += len(tokens)
        self.logits = logits

    def _check_open(self) -> None:
        if self.finished:
            raise ValueError("this context took its final token (push(final=True)): it takes nothing more")

    def release(self) -> None:
        """Let go of this context's KV cache in the model when it is the one in use (`Transformer.release_cache`):
        for a stream that has ended, whose cache would otherwise stay until the next stream's."""
        if self._cache is not None:
            self.model.release_cache(self._cache)

    def claim_cache(self) -> None:
        """Put this context's cache back into the model if another context (or `setup_cache`) has
        replaced it since this one last ran; callers that run the model on the context's cache
        themselves (`arvid.sampling.fused`) call it first."""
        if not self.model.holds_cache(self._cache):
            self.model.restore_cache(self._cache)

    def _keep_window(self) -> int:
        """Drop the oldest non-anchor frames so that the next frame fits; returns how many left."""
        extra = len(self.frames) - self.window_frames  # anchor + (window - 1) complete frames fit
        if extra <= 0:
            return 0
        del self.frames[1:1 + extra]
        return extra

    def _roll(self, dropped: int) -> None:
        """Move the cached frames after the `dropped` ones into their slots (their keys re-rotated):
        the cache then holds the context up to the completed frame's last token, not yet decoded."""
        shift = dropped * self.tokens_per_frame
        first_kept = self.prefixes.shape[1] + self.tokens_per_frame + shift  # after prefix, anchor, dropped
        self.claim_cache()
        self.model.shift_cache(first_kept, self.length, shift)
        self.length -= shift

    # Positions come from the model's table on its device (`Transformer.positions`, checked on the
    # host): a fresh host tensor a token would be a copy that waits for the GPU's queue.
    def _prefill(self) -> None:
        tokens = self.tokens()
        self.length = tokens.shape[1]
        self.claim_cache()
        self.logits = self.model.prefill(tokens, self.model.positions(0, self.length), self.text)[:, -1]
        self._cache = self.model.cache_state()  # the prefix's extra length is the prefill's

    def _decode(self, tokens: Tensor) -> None:
        rows = tokens.repeat_interleave(self.rows_per_stream)[:, None]
        self.claim_cache()
        self.logits = self.model.decode(rows, self.model.positions(self.length))[:, -1]
        self.length += 1
