"""Streaming generation: `stream(...)` yields latent frames (tokens and RGB frames) without end;
`generate(...)` collects a clip of a given length; `stream_batch(...)` streams several prompts as the
rows of one batch. The checks live here; the loop that draws and decodes is `arvid.sampling.drawing`.

Modes, chosen by what is given: text-to-video (a prompt, possibly empty = unconditional);
image-to-video (`image`: its encoding is the anchor frame f0); continuation (`video`: its
encoding fills the anchor and the window first, and its frames are yielded back, marked given, as
the tokenizer reconstructs them: the frames the model goes on from, not the caller's pixels).

Every yielded latent frame is decoded right away by the tokenizer's streaming decoder, so the first
frames reach the caller before later tokens exist; with `pipelined`, a latent frame is decoded on a
second thread while the LM draws the next (the same frames, one latent frame later; batched first-window
candidates are decoded so as drawn, to float rounding). The other speed
levers (`rolling_cache`, `batched_candidates`, `bf16_decoder`) are measured one by one in
docs/results/streaming_and_speed.md.

Without a `config`, the LM's own generation config (its folder's generation_config.json) is used:
the same settings as `arvid generate`'s defaults.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import islice
from numbers import Integral

import numpy as np
from torch import Tensor

from arvid.lm.checkpoint import VideoLM
from arvid.lm.code_digits import tokenizer_code_levels
from arvid.lm.layout import Prefixes
from arvid.sampling.drawing import LatentFrame, Levers, PromptSwitches, checked_levers, latent_frames
from arvid.sampling.logits import SamplerConfig
from arvid.sampling.window import check_window
from arvid.tokenizer import VideoTokenizer, frames_to_video


class TokenizerMismatchWarning(UserWarning):
    """The tokenizer encodes videos otherwise than the one the LM's token shards were made with."""


class UnknownPromptWarning(UserWarning):
    """A prompt names nothing the LM's training captions named (`VideoLM.names_nothing_known`): the
    LM will draw what it knows, not what the prompt asks."""


# How the warning's message goes on after the prompt (`arvid` commands say it their own way).
UNKNOWN_PROMPT = "names nothing this LM's training captions named"


def warn_unknown_prompt(lm: VideoLM, prompt: str) -> None:
    """Warn (`UnknownPromptWarning`) when `prompt` names nothing the LM learnt."""
    if lm.names_nothing_known(prompt):
        warnings.warn(f"{prompt!r} {UNKNOWN_PROMPT}; it will draw what it knows, not what the prompt asks",
                      UnknownPromptWarning, stacklevel=3)


def tokenizer_mismatch(lm: VideoLM, tokenizer: VideoTokenizer) -> str | None:
    """Why `tokenizer` reads the LM's codes otherwise than the tokenizer of its training videos did
    (the fingerprints its training_data.json records and `codes_fingerprint` differ: the encoder or
    quantizer changed since; a decoder phase keeps it), or None where they agree or none is recorded."""
    if not tokenizer.encodes_otherwise((lm.training_data or {}).get("tokenizer_codes")):
        return None
    return ("the tokenizer encodes videos otherwise than the one the LM's token shards were made with (its encoder or "
            "quantizer weights changed since): the LM's codes mean other things to it")


def check_compatible(lm: VideoLM, tokenizer: VideoTokenizer) -> None:
    """Raise `ValueError` unless the LM's video vocabulary, frame size and code digits are the tokenizer's;
    warn (`TokenizerMismatchWarning`) where the tokenizer's encoder is not the one the LM learnt from
    (`tokenizer_mismatch`)."""
    _, height, width = tokenizer.latent_shape(1, tokenizer.config.image_size, tokenizer.config.image_size)
    if lm.config.video_vocab_size != tokenizer.codebook_size or lm.config.tokens_per_frame != height * width:
        raise ValueError(f"the LM expects {lm.config.video_vocab_size} codes and {lm.config.tokens_per_frame} "
                         f"tokens per latent frame; the tokenizer has {tokenizer.codebook_size} codes and "
                         f"{height}x{width} per latent frame")
    lm.config.check_frame_shape(height, width, "the tokenizer's")
    config = tokenizer.config
    lm.config.check_code_levels(tokenizer_code_levels(config.quantizer, config.fsq_levels, config.codebook_bits),
                                "the tokenizer's")
    mismatch = tokenizer_mismatch(lm, tokenizer)
    if mismatch:
        warnings.warn(mismatch, TokenizerMismatchWarning, stacklevel=3)


def stream(lm: VideoLM, tokenizer: VideoTokenizer, prompt: str, config: SamplerConfig | None = None, *,
           image: np.ndarray | None = None, video: np.ndarray | None = None,
           pipelined: bool = False, rolling_cache: bool = False, batched_candidates: bool = False,
           bf16_decoder: bool = False, jacobi_block: int = 0, fused_steps: int = 0,
           prompts: Callable[[int], str] | None = None, switch_from: str = "window",
           seed: int | None = None) -> Iterator[LatentFrame]:
    """An endless iterator of latent frames (stop by not asking for more).

    Every check runs here, before the first frame is asked for, so a caller can report bad input
    before opening any output; the one exception is a prompt that `prompts` returns later, which
    is checked as it takes over (a ValueError from the iterator then).

    Args:
        prompt: the caption; "" generates unconditionally. With a text encoder it is encoded once,
            here (the encoder keeps it for the next stream of the same prompt).
        config: how tokens are drawn; None: `SamplerConfig.from_model(lm)`, the LM's generation
            config (the neutral `SamplerConfig()` for an LM without one), seed 0.
        image: uint8 (h w c) first frame at the tokenizer's size (image-to-video); a PIL image works.
        video: uint8 (t h w c) frames to continue at the tokenizer's size (continuation); only its
            last `1 + temporal_factor * (window - 1)` frames (or fewer, a length the tokenizer
            accepts) are used: the anchor and the window's history.
        pipelined: decode each drawn latent frame on a second thread while the LM draws the next, so
            that on two cores the tokenizer's decoder and the LM overlap (run torch with one thread
            then: two threads each would fight over the cores). Yields exactly the same frames, each
            once the next one is drawn. With `batched_candidates`, the candidates' latent frames are
            decoded so too, as they are drawn: their frames to float rounding, so a choice between
            candidates that are a rounding apart by the selector's measure could differ.
        rolling_cache: when the window moves, shift the LM's cache instead of prefilling the
            shortened context afresh (`WindowedContext`'s `rolling`): faster, not exact for a deeper
            model (its quality cost: docs/results/streaming_and_speed.md).
        batched_candidates: draw the first-window candidates as the rows of one batch rather than one
            after another (other random draws of the same distributions than unbatched), and decode
            them as one batch.
        bf16_decoder: run the tokenizer's streaming decoder under bfloat16 autocast (`StreamingDecoder`).
        jacobi_block: 0 draws as always; otherwise every token is drawn from its own uniform number
            (inverse-CDF; after the candidates, and from the anchor when there is one candidate), one token
            per forward pass for 1, and for n >= 2 up to n per pass by Jacobi decoding, the tokens
            of 1 to float rounding (`arvid.sampling.jacobi` says when they can differ).
        fused_steps: 0 draws as always; n >= 1 draws every token from its own uniform number
            (inverse-CDF, as `jacobi_block` 1, and the first-window candidates too, which `jacobi_block`
            draws as always) in runs of n tokens per call, each run one compiled graph when the LM's
            decode step is compiled (`arvid.sampling.fused`). Not with `jacobi_block`.
        prompts: called with a latent frame's index before the LM draws it (from the first frame
            after the first window's candidates); a prompt other than the current one becomes the
            prefix from that frame on, over what `switch_from` says, and that frame's
            `LatentFrame.prompt` says so. A schedule, or a way to steer a
            running stream (return what the user last typed).
        switch_from: what a new prompt goes on from (`SWITCH_FROM`; docs/results/sampling.md measures
            each): "window", the same anchor and window under the new prefix (the context as a fresh
            forward pass over them would read it, `WindowedContext.switch`); "frame", the frame on
            screen, encoded alone, as the anchor of a new first window drawn as an image-to-video one
            (the object stays where it is, as it looks, and takes its motion from the new prompt;
            a switch before any frame is shown keeps the window); "scratch", a new anchor and first
            window drawn from the new prompt alone, without candidates (for a change of look the old
            frames would hold back, at the price of continuity).
        seed: replaces `config.seed` (so `seed=3` alone keeps the LM's generation config).
    Raises:
        ValueError: incompatible models, a prompt too long (over `text_tokens` pieces, or the text
            encoder's limit), both `image` and `video`, a window the model was not trained for,
            malformed frames (an image that is not one frame, a video that is not a stack of them),
            a bad generation config of the LM or seed, or an unknown `switch_from`.
        TypeError: `prompts` that is not callable; `lm`, `tokenizer` or `config` of another kind;
            a lever of the wrong type.

    An exception while the stream runs (from `prompts`, or a prompt it returns that cannot be read)
    ends the stream, as any generator's; check typed input before returning it (`arvid generate
    --interactive` refuses such a line and keeps the prompt). A stream runs in the grad mode it was
    started in (`torch.inference_mode()` around the whole loop, or not at all: its cache is made
    there). Streams of one `VideoLM` in several threads take turns a latent frame at a time (its KV
    cache is the model's; `prompts` runs in its stream's turn and may use the same LM); for streams
    that run at once, load one LM per thread. For a bfloat16 LM use `lm.model.to(torch.bfloat16)`,
    not autocast; `lm.model.compile_decode()` compiles its decode step (`--bf16-lm`, `--compile`).
    """
    _check_models(lm, tokenizer, config)
    config = _config_with_seed(lm, config, seed)
    check_compatible(lm, tokenizer)
    if prompts is not None and not callable(prompts):
        raise TypeError(f"prompts must be a function of the latent frame's index that returns a prompt, got "
                        f"{type(prompts).__name__}; the stream's first prompt is the `prompt` argument")
    image = None if image is None else _checked_frames(image, "image", 3)
    video = None if video is None else _checked_frames(video, "video", 4)
    if image is not None and video is not None:
        raise ValueError("give either an image or a video to continue, not both")
    window = config.window_for(lm.config.window_frames)
    check_window(window, lm.config.window_frames)
    task = "image-to-video" if image is not None else "continuation" if video is not None else "text-to-video"
    # The prompt's row, then (under guidance) the unconditional one.
    prefixes = lm.prefixes([prompt, ""] if config.guided else [prompt], task=task)
    warn_unknown_prompt(lm, prompt)
    given = image if image is not None else None if video is None else _continuation_frames(tokenizer, video, window)
    given_codes = _encode_given(tokenizer, given)
    switch = None
    if prompts is not None:
        # A stream that goes on from the frame on screen is an image-to-video one from there.
        switch_task = "image-to-video" if switch_from == "frame" else task

        def switch(prompt: str) -> Prefixes:  # the new prompt's rows, checked as the first prompt's were
            rows = lm.prefixes([prompt, ""] if config.guided else [prompt], task=switch_task)
            warn_unknown_prompt(lm, prompt)
            return rows
    levers = checked_levers(Levers(pipelined, rolling_cache, batched_candidates, bf16_decoder, jacobi_block,
                                   fused_steps))
    switches = PromptSwitches(prompt, prompts, switch, switch_from)
    return (step[0] for step in latent_frames(lm, tokenizer, prefixes, given_codes, config, window, levers, switches))


def stream_batch(lm: VideoLM, tokenizer: VideoTokenizer, prompts: list[str], config: SamplerConfig | None = None, *,
                 pipelined: bool = False, rolling_cache: bool = False, bf16_decoder: bool = False,
                 fused_steps: int = 0, seed: int | None = None) -> Iterator[list[LatentFrame]]:
    """Text-to-video for several prompts at once, as the rows of one batch (prompts x guidance rows;
    with first-window candidates, prompts x candidates x guidance rows, drawn and decoded together):
    an endless iterator whose every step is a list of one `LatentFrame` per prompt, in order.

    Each prompt's video follows the distribution `stream` draws from, but not its exact draws: the
    batch shares one random generator, seeded by `config.seed`. The levers are `stream`'s but
    `jacobi_block` (the candidates are always batched).

    Raises:
        ValueError: no prompts, or as `stream`.
        TypeError: `prompts` that is a string (or bytes, or no sequence at all), not a list of them.
    """
    if isinstance(prompts, (str, bytes)) or not isinstance(prompts, (list, tuple)):
        got = f"the string {prompts!r}" if isinstance(prompts, (str, bytes)) else type(prompts).__name__
        raise TypeError(f"prompts must be a list of prompts, got {got}: pass [prompt] for one")
    if not prompts:
        raise ValueError("give at least one prompt")
    _check_models(lm, tokenizer, config)
    config = _config_with_seed(lm, config, seed)
    check_compatible(lm, tokenizer)
    window = config.window_for(lm.config.window_frames)
    check_window(window, lm.config.window_frames)
    rows = [row for prompt in prompts for row in ([prompt, ""] if config.guided else [prompt])]  # stream-major
    prefixes = lm.prefixes(rows)
    for prompt in dict.fromkeys(prompts):  # each distinct prompt once
        warn_unknown_prompt(lm, prompt)
    levers = checked_levers(Levers(pipelined, rolling_cache, True, bf16_decoder, fused_steps=fused_steps))
    return latent_frames(lm, tokenizer, prefixes, [], config, window, levers)


def generate(lm: VideoLM, tokenizer: VideoTokenizer, prompt: str, latent_frames: int,
             config: SamplerConfig | None = None, **conditions) -> list[LatentFrame]:
    """The first `latent_frames` latent frames of `stream(...)` (given frames included); `config`
    None uses the LM's generation config, and `conditions` are `stream`'s keyword options (`image`,
    `video`, `seed`, the speed levers).

    With first-window candidates (the shipped config draws 4), the first frame comes only after every
    candidate's first window is drawn (whole, unless `first_window_choice_frames` ends it earlier):
    for a quick look, `dataclasses.replace(config, first_window_candidates=1)`.

    Raises:
        ValueError: `latent_frames` < 1, or as `stream`.
        TypeError: `latent_frames` that is not an integer.
    """
    if isinstance(latent_frames, bool) or not isinstance(latent_frames, Integral):
        raise TypeError(f"latent_frames must be an integer, got {latent_frames!r}")
    if latent_frames < 1:
        raise ValueError(f"latent_frames must be >= 1, got {latent_frames}")
    return list(islice(stream(lm, tokenizer, prompt, config, **conditions), latent_frames))


def _check_models(lm, tokenizer, config) -> None:
    """Raise `TypeError` for arguments of other kinds than `stream` takes (swapped, a path, a dict),
    which would otherwise fail deep inside with an AttributeError."""
    for name, value, kind, how in (("lm", lm, VideoLM, "VideoLM.from_pretrained(folder)"),
                                   ("tokenizer", tokenizer, VideoTokenizer, "VideoTokenizer.from_pretrained(folder)"),
                                   ("config", config, (SamplerConfig, type(None)), "SamplerConfig(...) or None")):
        if not isinstance(value, kind):
            raise TypeError(f"{name} must be a {how}, got {type(value).__name__}")


def _config_with_seed(lm: VideoLM, config: SamplerConfig | None, seed: int | None) -> SamplerConfig:
    """`config` (None: the LM's generation config) with `seed` in place of its own when one is given."""
    config = SamplerConfig.from_model(lm) if config is None else config
    return config if seed is None else replace(config, seed=seed)


def _checked_frames(frames, name: str, ndim: int) -> np.ndarray:
    """`frames` (an image (h w c) for ndim 3, a video (t h w c) for 4; numpy, a tensor on any device,
    or PIL) as an array, not copied where numpy need not (`_encode_given` copies the frames it uses).

    Raises:
        ValueError: another number of dimensions, or a video of no frames.
    """
    if isinstance(frames, Tensor):
        frames = frames.detach().cpu()
    array = np.asarray(frames)
    if array.ndim != ndim:
        hint = "one frame, (h, w, 3); give a clip as video=" if ndim == 3 else \
            "frames (t, h, w, 3); give a single frame as image="
        raise ValueError(f"{name} must be {hint}; got an array of shape {array.shape}")
    if ndim == 4 and len(array) == 0:
        raise ValueError("video has no frames")
    return array


def continued_latent_frames(tokenizer: VideoTokenizer, frames: int, window: int) -> int:
    """How many latent frames a continued clip of `frames` frames fills before the first new one:
    the anchor and up to `window - 1` more (`stream(video=...)` takes the clip's last frames)."""
    usable = min(frames, tokenizer.video_frames(window))
    return 1 + (usable - 1) // tokenizer.config.temporal_factor


def _continuation_frames(tokenizer: VideoTokenizer, video: np.ndarray, window: int) -> np.ndarray:
    """The last frames of `video` that make `continued_latent_frames` latent frames: a length of
    1 + temporal_factor * k frames."""
    usable = tokenizer.video_frames(continued_latent_frames(tokenizer, len(video), window))
    return np.asarray(video)[len(video) - usable:]


def _encode_given(tokenizer: VideoTokenizer, frames: np.ndarray | None) -> list[Tensor]:
    """Codes (h' w') of each latent frame of the given image (h w c) or video (t h w c)."""
    if frames is None:
        return []
    frames = np.array(frames)  # a copy of the few frames used: writable and contiguous (a flipped view is not)
    if frames.ndim == 3:
        frames = frames[None]
    size = tokenizer.config.image_size
    if frames.dtype != np.uint8 or frames.shape[1:] != (size, size, 3):
        raise ValueError(f"expected uint8 frames of {size}x{size}x3, got {frames.dtype} {frames.shape[1:]}")
    device = next(tokenizer.parameters()).device
    return list(tokenizer.encode(frames_to_video(frames).to(device))[0].cpu())
