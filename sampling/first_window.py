"""Choosing among several first windows: draw `SamplerConfig.first_window_candidates` first windows
and keep one, picked by a named selector (`SamplerConfig.first_window_selector`, one of
`FIRST_WINDOW_SELECTORS`).

The first window (the anchor and the latent frames up to `window`, drawn before the context first
slides) is where the motion must come from the text alone, and where generated videos miss their
prompts: mostly a direction 45 degrees off, now in one draw, now in another.

"motion-medoid" (the shipped model's choice, tuned on the shapes world, see docs/results/sampling.md)
is a minimum-Bayes-risk choice among the sampler's own draws: draws that go wrong go wrong in
different ways, so the draw closest to the others' motion is most often the right one. Motion is
each candidate's dominant translation (`dominant_motion`, a global Lucas-Kanade fit per frame pair,
summed); the chosen candidate minimises the summed distance to the others' (the medoid). No
detector, prompt parsing or outside model is involved. Scoring by the LM's own prompt information
picked no better than chance (docs/results/sampling.md).

A selector is a function from the candidates' decoded videos, each uint8 (t h w 3), to the index of
the one kept; add one to `FIRST_WINDOW_SELECTORS` under a new name to make it selectable.

Einops legend: t frames, h w pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from arvid.lm.checkpoint import VideoLM
from arvid.lm.text_encoder import TextStates
from arvid.sampling.fused import FusedDraws
from arvid.sampling.logits import SamplerConfig, draw_codes
from arvid.sampling.window import WindowedContext

BLUR_SIGMA = 1.5  # pixels: smooths sharp edges so a 1-3 pixel step stays within the linear fit's reach


@dataclass(frozen=True)
class Candidate:
    """A drawn first window: `frames`, token ids (tokens_per_frame,) of each latent frame drawn
    (the ones after the given frames, up to index `window`, or `until` when the choice comes earlier)."""

    frames: list[Tensor]


def draw_first_windows(lm: VideoLM, prefixes: Tensor, given: list[Tensor], config: SamplerConfig, window: int,
                       generator: torch.Generator, count: int, *, text: TextStates | None = None,
                       batched: bool = False, fused_steps: int = 0,
                       on_frame: Callable[[Tensor], None] | None = None, until: int | None = None) -> list[Candidate]:
    """`count` first windows of each stream of `prefixes`, drawn from `generator`: one candidate after
    another, as the stream draws one, or (`batched`) all at once as the streams of one batch, one
    decode step per token for all of them. Batched draws come from the same distributions but use
    the generator differently, so the candidates differ from the unbatched ones of the same seed.

    Args:
        prefixes: (b P) prefix rows of s streams, stream-major: each stream's prompt, then (under
            guidance) the empty prompt's.
        given: token ids (tokens_per_frame,) of latent frames given in advance, anchor first;
            at most `window` of them, else there is nothing to draw.
        config: the stream's config: its first window's temperature and its guidance.
        text: the prefixes' text states, for an LM with a text encoder.
        fused_steps: draw by runs of this many tokens per call (`arvid.sampling.fused`); 0: a call
            and a `draw_codes` per token.
        on_frame: with `batched`, called with each latent frame's token ids (count x s, t),
            candidate-major, as soon as it is drawn (to decode it while the next is drawn).
        until: index of the last latent frame drawn, from `len(given)` to `window`; None: the
            config's (`SamplerConfig.candidates_until`: the whole first window unless
            `first_window_choice_frames` is set).
    Returns:
        count x s candidates, candidate-major: candidate c of stream j at c * s + j.
    Raises:
        ValueError: nothing left to draw.
    """
    if len(given) > window:
        raise ValueError(f"{len(given)} latent frames given: the first window ({window + 1} frames) is complete")
    until = config.candidates_until(window, len(given)) if until is None else until
    if not len(given) <= until <= window:
        raise ValueError(f"until must be from {len(given)} (the first frame to draw) to {window} (the window's "
                         f"last), got {until}")
    streams = prefixes.shape[0] // (2 if config.guided else 1)
    if not batched:
        if on_frame is not None:
            raise ValueError("on_frame is for batched draws: one after another, candidates finish at different times")
        return [candidate for _ in range(count)
                for candidate in _draw_first_window(lm, prefixes, given, config, window, until, generator, streams,
                                                    text, fused_steps)]
    rows = prefixes.repeat(count, 1)  # candidate-major, each candidate's rows stream-major
    text = None if text is None else text.repeat(count)
    return _draw_first_window(lm, rows, given, config, window, until, generator, count * streams, text, fused_steps,
                              on_frame)


def _draw_first_window(lm: VideoLM, prefixes: Tensor, given: list[Tensor], config: SamplerConfig, window: int,
                       until: int, generator: torch.Generator, streams: int, text: TextStates | None,
                       fused_steps: int = 0, on_frame: Callable[[Tensor], None] | None = None) -> list[Candidate]:
    """The first windows of `streams` streams sharing `prefixes` (b P), drawn together to latent frame
    `until`; `on_frame` gets each latent frame's token ids (s t) as it is drawn."""
    first_window = config.first_window()
    video_logits = lm.vocab.video_slice()
    context = WindowedContext(lm.model, prefixes, window_frames=window, frames=list(given), text=text, streams=streams)
    frames: list[Tensor] = []  # each (s t)
    fused = FusedDraws(lm.model, first_window, video_logits, lm.vocab.video_offset, fused_steps) if fused_steps else None
    while len(given) + len(frames) <= until:
        # The candidates' last frame is their last: the model need not run on its last token (`final`).
        final = len(given) + len(frames) == until
        if fused is not None:
            frame = fused.draw_frame(context, generator, final=final)
        else:
            codes = draw_codes(context.logits[:, video_logits], first_window, generator)
            frame = context.push(codes + lm.vocab.video_offset, final=final)
        if frame is not None:
            frames.append(frame)
            if on_frame is not None:
                on_frame(frame)
    return [Candidate([frame[stream] for frame in frames]) for stream in range(streams)]


def _gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """(n h w) float images blurred by a separable Gaussian (edges replicated)."""
    radius = int(3 * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = F.pad(images[:, None], (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return F.conv2d(x, kernel.view(1, 1, -1, 1))[:, 0]


def dominant_motion(frames: np.ndarray) -> Tensor:
    """The summed dominant translation of a clip: (2,) float32 (dx, dy) in pixels, x to the right
    and y down, from uint8 (t h w 3) RGB frames, t >= 2.

    Each consecutive pair gets one least-squares Lucas-Kanade fit over the whole frame (brightness
    constancy, one translation): a static, flat background adds nothing, so the moving content
    sets it. A zero vector means no measurable motion.

    Raises:
        ValueError: frames not of shape (t h w 3) with t >= 2.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 2:
        raise ValueError(f"expected (t h w 3) frames with t >= 2, got shape {frames.shape}")
    grey = _gaussian_blur(torch.from_numpy(frames).float().mean(-1), BLUR_SIGMA)
    mean = (grey[1:] + grey[:-1]) / 2
    dx = (mean[:, 1:-1, 2:] - mean[:, 1:-1, :-2]) / 2
    dy = (mean[:, 2:, 1:-1] - mean[:, :-2, 1:-1]) / 2
    dt = (grey[1:] - grey[:-1])[:, 1:-1, 1:-1]
    normal = torch.stack([torch.stack([(dx * dx).sum((1, 2)), (dx * dy).sum((1, 2))], -1),
                          torch.stack([(dx * dy).sum((1, 2)), (dy * dy).sum((1, 2))], -1)], -2)  # (t-1 2 2)
    rhs = -torch.stack([(dx * dt).sum((1, 2)), (dy * dt).sum((1, 2))], -1)  # (t-1 2)
    # A frame pair with no edges (a blank frame) has a singular system: it gets no motion.
    solvable = torch.linalg.det(normal).abs() > 1e-6 * normal.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(1e-12) ** 2
    identity = torch.eye(2).expand_as(normal)
    steps = torch.linalg.solve(torch.where(solvable[:, None, None], normal, identity), rhs)
    return (steps * solvable[:, None]).sum(0)


def consensus(motions: list[Tensor]) -> int:
    """Index of the medoid of (2,) motion vectors: the one with the least summed Euclidean
    distance to the others (the earliest among equals)."""
    points = torch.stack(motions)
    costs = torch.cdist(points[None], points[None])[0].sum(-1)
    return int(torch.argmin(costs))


def motion_medoid(videos: Sequence[np.ndarray]) -> int:
    """Index of the video whose `dominant_motion` is the medoid of all the videos' motions.

    Args:
        videos: uint8 (t h w 3) clips, t >= 2, one per candidate.
    Raises:
        ValueError: a clip of the wrong shape or with fewer than 2 frames.
    """
    return consensus([dominant_motion(video) for video in videos])


FirstWindowSelector = Callable[[Sequence[np.ndarray]], int]

# name -> selector; `SamplerConfig.first_window_selector` names one of these.
FIRST_WINDOW_SELECTORS: dict[str, FirstWindowSelector] = {"motion-medoid": motion_medoid}
