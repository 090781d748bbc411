"""Streaming generation: `stream(...)` yields latent frames (tokens and RGB frames) without end;
`generate(...)` collects a clip of a given length.

Modes, chosen by what is given: text-to-video (a prompt, possibly empty = unconditional);
image-to-video (`image`: its encoding is the anchor frame f0); continuation (`video`: its
encoding fills the anchor and the window first, and its frames are yielded back, marked given).

Every yielded latent frame is decoded right away by the tokenizer's streaming decoder, so the first
frames reach the caller before later tokens exist; with `pipelined`, a latent frame is decoded on a
second thread while the LM draws the next (the same frames, one latent frame later).

Without a `config`, the LM's own generation config (its folder's generation_config.json) is used:
the same settings as `arvid generate`'s defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice

import numpy as np
import torch
from torch import Tensor

from arvid.lm.checkpoint import VideoLM
from arvid.lm.code_digits import tokenizer_code_levels
from arvid.lm.layout import Prefixes
from arvid.sampling.first_window import FIRST_WINDOW_SELECTORS, draw_first_windows
from arvid.sampling.logits import SamplerConfig, draw_code
from arvid.sampling.window import WindowedContext, check_window
from arvid.tokenizer import StreamingDecoder, VideoTokenizer, frames_to_video


@dataclass(frozen=True)
class LatentFrame:
    """One latent frame of the stream: `index` (0 = anchor), `codes` (h' w') int64 tokenizer codes,
    `frames` (t h w c) uint8 RGB (1 frame for the anchor, `temporal_factor` after), and whether it
    came from the caller's video (`given`) rather than from the model."""

    index: int
    codes: Tensor
    frames: np.ndarray
    given: bool = False
    prompt: str | None = None  # the prompt that took over from this latent frame on (None: unchanged)


def check_compatible(lm: VideoLM, tokenizer: VideoTokenizer) -> None:
    """Raise `ValueError` unless the LM's video vocabulary, frame size and code digits are the tokenizer's."""
    _, height, width = tokenizer.latent_shape(1, tokenizer.config.image_size, tokenizer.config.image_size)
    if lm.config.video_vocab_size != tokenizer.codebook_size or lm.config.tokens_per_frame != height * width:
        raise ValueError(f"the LM expects {lm.config.video_vocab_size} codes and {lm.config.tokens_per_frame} "
                         f"tokens per latent frame; the tokenizer has {tokenizer.codebook_size} codes and "
                         f"{height}x{width} per latent frame")
    lm.config.check_frame_shape(height, width, "the tokenizer's")
    config = tokenizer.config
    lm.config.check_code_levels(tokenizer_code_levels(config.quantizer, config.fsq_levels, config.codebook_bits),
                                "the tokenizer's")


def stream(lm: VideoLM, tokenizer: VideoTokenizer, prompt: str, config: SamplerConfig | None = None, *,
           image: np.ndarray | None = None, video: np.ndarray | None = None,
           pipelined: bool = False, prompts: Callable[[int], str] | None = None) -> Iterator[LatentFrame]:
    """An endless iterator of latent frames (stop by not asking for more).

    Every check runs here, before the first frame is asked for, so a caller can report bad input
    before opening any output.

    Args:
        prompt: the caption; "" generates unconditionally. With a text encoder it is encoded once,
            here (the encoder keeps it for the next stream of the same prompt).
        config: how tokens are drawn; None: `SamplerConfig.from_model(lm)`, the LM's generation
            config (the neutral `SamplerConfig()` for an LM without one), seed 0.
        image: uint8 (h w c) first frame at the tokenizer's size (image-to-video).
        video: uint8 (t h w c) frames to continue at the tokenizer's size (continuation); only its
            last `1 + temporal_factor * (window - 1)` frames (or fewer, a length the tokenizer
            accepts) are used: the anchor and the window's history.
        pipelined: decode each drawn latent frame on a second thread while the LM draws the next, so
            that on two cores the tokenizer's decoder and the LM overlap (run torch with one thread
            then: two threads each would fight over the cores). Yields exactly the same frames, each
            once the next one is drawn.
        prompts: called with a latent frame's index before the LM draws it (from the first frame
            after the first window's candidates); a prompt other than the current one becomes the
            prefix from that frame on, over the same anchor and window (`WindowedContext.switch`),
            and that frame's `LatentFrame.prompt` says so. A schedule, or a way to steer a
            running stream (return what the user last typed).
    Raises:
        ValueError: incompatible models, a prompt too long (over `text_tokens` pieces, or the text
            encoder's limit), both `image` and `video`, a window the model was not trained for,
            malformed frames, or a bad generation config of the LM.
    """
    if config is None:
        config = SamplerConfig.from_model(lm)
    check_compatible(lm, tokenizer)
    if image is not None and video is not None:
        raise ValueError("give either an image or a video to continue, not both")
    # `is None`, not `or`: a window of 0 is an error to report, not a request for the trained window.
    window = lm.config.window_frames if config.window_frames is None else config.window_frames
    check_window(window, lm.config.window_frames)
    task = "image-to-video" if image is not None else "continuation" if video is not None else "text-to-video"
    # The prompt's row, then (under guidance) the unconditional one.
    prefixes = lm.prefixes([prompt, ""] if config.guided else [prompt], task=task)
    given = image if image is not None else None if video is None else _continuation_frames(tokenizer, video, window)
    given_codes = _encode_given(tokenizer, given)
    switch = None
    if prompts is not None:
        def switch(prompt: str) -> Prefixes:  # the new prompt's rows, checked as the first prompt's were
            return lm.prefixes([prompt, ""] if config.guided else [prompt], task=task)
    return _frames(lm, tokenizer, prefixes, given_codes, config, window, pipelined, _Prompts(prompt, prompts, switch))


class _Prompts:
    """The stream's current prompt and the caller's `prompts` function: `at(index)` -> the new
    prefixes and prompt when the prompt changes at latent frame `index`, else None."""

    def __init__(self, prompt: str, prompts: Callable[[int], str] | None, rows: Callable[[str], Prefixes] | None):
        self.current, self.prompts, self.rows = prompt, prompts, rows

    def at(self, index: int) -> tuple[Prefixes, str] | None:
        if self.prompts is None:
            return None
        prompt = self.prompts(index)
        if prompt == self.current:
            return None
        self.current = prompt
        return self.rows(prompt), prompt


def _frames(lm: VideoLM, tokenizer: VideoTokenizer, prefixes: Prefixes, given_codes: list[Tensor],
            config: SamplerConfig, window: int, pipelined: bool, prompts: _Prompts) -> Iterator[LatentFrame]:
    device = lm.model.lm_head.weight.device
    decoder = tokenizer.streaming_decoder()
    grid = tokenizer.latent_shape(1, tokenizer.config.image_size, tokenizer.config.image_size)[1:]
    given: list[Tensor] = []
    for index, codes in enumerate(given_codes):
        given.append(lm.vocab.video_ids(codes.flatten()).to(device))
        yield LatentFrame(index, codes, decoder.push_frames(codes), given=True)
    prefixes = prefixes.to(device)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    if config.first_window_candidates > 1 and len(given) <= window:
        decoder, chosen = _select_first_window(lm, tokenizer, prefixes, given, given_codes, grid, config, window,
                                               generator)
        for codes, frames in chosen:
            given.append(lm.vocab.video_ids(codes.flatten()).to(device))
            yield LatentFrame(len(given) - 1, codes, frames)
    # With a chosen first window among the given frames, the context is the one that drawing it
    # token by token would have left (the window has slid once and been prefilled).
    context = WindowedContext(lm.model, prefixes.tokens, window_frames=window, frames=given, text=prefixes.text)

    drawn = _drawn_codes(lm, context, config, generator, grid, first=len(given), window=window, prompts=prompts)
    yield from (_decoded_in_background if pipelined else _decoded)(drawn, decoder)


Drawn = tuple[int, Tensor, "str | None"]  # (index, codes (h' w'), the prompt switched to at it)


def _drawn_codes(lm: VideoLM, context: WindowedContext, config: SamplerConfig, generator: torch.Generator,
                 grid: tuple[int, int], *, first: int, window: int, prompts: _Prompts) -> Iterator[Drawn]:
    """Each latent frame the LM draws, from latent frame `first` on, switching prompts as `prompts` says."""
    video_logits = lm.vocab.video_slice()
    first_window = config.first_window()
    index = first
    while True:
        switched = prompts.at(index)
        if switched is not None:
            rows, _ = switched
            rows = rows.to(context.prefixes.device)
            context.switch(rows.tokens, rows.text)
        # Latent frames 0 (the anchor) to `window` are drawn before the context first slides.
        while (frame := _draw_frame(lm, context, first_window if index <= window else config, generator,
                                    video_logits)) is None:
            pass
        yield index, lm.vocab.video_codes(frame).view(*grid).cpu(), None if switched is None else switched[1]
        index += 1


def _draw_frame(lm: VideoLM, context: WindowedContext, config: SamplerConfig, generator: torch.Generator,
                video_logits: slice) -> Tensor | None:
    """Draw one token into `context` -> the latent frame it completed, or None."""
    code = draw_code(context.logits[:, video_logits], config, generator)
    return context.push(code + lm.vocab.video_offset)


def _decoded(drawn: Iterator[Drawn], decoder: StreamingDecoder) -> Iterator[LatentFrame]:
    for index, codes, prompt in drawn:
        yield LatentFrame(index, codes, decoder.push_frames(codes), prompt=prompt)


def _decoded_in_background(drawn: Iterator[Drawn], decoder: StreamingDecoder) -> Iterator[LatentFrame]:
    """As `_decoded`, with each latent frame decoded on a worker thread while the next is drawn
    (PyTorch releases the GIL inside its operations, so the two run at once). The decoder sees the
    frames in order, one at a time, as inline."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="arvid-decode") as worker:
        pending = None
        for index, codes, prompt in drawn:
            decoding = worker.submit(decoder.push_frames, codes)
            if pending is not None:
                yield LatentFrame(pending[0], pending[1], pending[2].result(), prompt=pending[3])
            pending = (index, codes, decoding, prompt)


def _select_first_window(lm: VideoLM, tokenizer: VideoTokenizer, prefixes: Prefixes, given: list[Tensor],
                         given_codes: list[Tensor], grid: tuple[int, int], config: SamplerConfig, window: int,
                         generator: torch.Generator) -> tuple[StreamingDecoder, list[tuple[Tensor, np.ndarray]]]:
    """Draw `config.first_window_candidates` first windows after the given frames, decode each, and
    keep the one `config.first_window_selector` picks from their drawn frames (`arvid.sampling.first_window`).

    Returns the chosen candidate's streaming decoder (it has seen the given frames and the chosen
    ones, so the stream goes on with it) and its drawn latent frames as (codes (h' w'), uint8 RGB
    frames (t h w c)) pairs."""
    decoded = []
    for candidate in draw_first_windows(lm, prefixes.tokens, given, config, window, generator,
                                        config.first_window_candidates, text=prefixes.text):
        decoder = tokenizer.streaming_decoder()
        for codes in given_codes:
            decoder.push_frames(codes)
        drawn = [lm.vocab.video_codes(frame).view(*grid).cpu() for frame in candidate.frames]
        decoded.append((decoder, [(codes, decoder.push_frames(codes)) for codes in drawn]))
    select = FIRST_WINDOW_SELECTORS[config.first_window_selector]
    return decoded[select([np.concatenate([frames for _, frames in drawn]) for _, drawn in decoded])]


def generate(lm: VideoLM, tokenizer: VideoTokenizer, prompt: str, latent_frames: int,
             config: SamplerConfig | None = None, **conditions) -> list[LatentFrame]:
    """The first `latent_frames` latent frames of `stream(...)` (given frames included); `config`
    None uses the LM's generation config, and `conditions` are `stream`'s `image` or `video`.

    Raises:
        ValueError: `latent_frames` < 1, or as `stream`.
    """
    if latent_frames < 1:
        raise ValueError(f"latent_frames must be >= 1, got {latent_frames}")
    return list(islice(stream(lm, tokenizer, prompt, config, **conditions), latent_frames))


def _continuation_frames(tokenizer: VideoTokenizer, video: np.ndarray, window: int) -> np.ndarray:
    """The last frames of `video` that make the anchor plus `window - 1` latent frames, or fewer:
    a length of 1 + temporal_factor * k frames."""
    factor = tokenizer.config.temporal_factor
    usable = min(len(video), tokenizer.video_frames(window))
    usable -= (usable - 1) % factor
    return np.asarray(video)[len(video) - usable:]


def _encode_given(tokenizer: VideoTokenizer, frames: np.ndarray | None) -> list[Tensor]:
    """Codes (h' w') of each latent frame of the given image (h w c) or video (t h w c)."""
    if frames is None:
        return []
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    size = tokenizer.config.image_size
    if frames.dtype != np.uint8 or frames.shape[1:] != (size, size, 3):
        raise ValueError(f"expected uint8 frames of {size}x{size}x3, got {frames.dtype} {frames.shape[1:]}")
    device = next(tokenizer.parameters()).device
    return list(tokenizer.encode(frames_to_video(frames).to(device))[0].cpu())
