"""The loop behind `stream` and `stream_batch`: draw latent frames for one or several streams (rows
of one batch), choose first windows among candidates, switch prompts, and decode to pixels.

Every stream of a batch has its own video tokens, its own first-window choice, and its row of the
tokenizer's streaming decoder; they share one `WindowedContext`, one decode step per token and one
random generator (so a stream's draws depend on the batch it is in, not their distribution).

Einops legend: s streams, c first-window candidates, t tokens per latent frame, h' w' latent grid.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from torch import Tensor

from arvid.lm.checkpoint import VideoLM
from arvid.lm.layout import Prefixes
from arvid.sampling.first_window import FIRST_WINDOW_SELECTORS, draw_first_windows
from arvid.sampling.fused import FusedDraws
from arvid.sampling.jacobi import draw_frame_jacobi, draw_frame_plain
from arvid.sampling.logits import SamplerConfig, draw_codes
from arvid.sampling.window import WindowedContext
from arvid.tokenizer import StreamingDecoder, VideoTokenizer, frames_to_video, video_to_frames


@dataclass(frozen=True)
class LatentFrame:
    """One latent frame of the stream: `index` (0 = anchor), `codes` (h' w') int64 tokenizer codes,
    `frames` (t h w c) uint8 RGB (1 frame for the anchor and for a `restart`, `temporal_factor`
    after), and whether it came from the caller's image or video (`given`) rather than from the
    model: then its frames are the tokenizer's reconstruction of them, which the model goes on from."""

    index: int
    codes: Tensor
    frames: np.ndarray
    given: bool = False
    prompt: str | None = None  # the prompt that took over from this latent frame on (None: unchanged)
    # Codes (h' w') of the anchor the stream went on from at this frame (a switch from the frame on
    # screen: its decoder started afresh from them), else None.
    anchor: Tensor | None = None
    # Whether these codes begin a new video (a switch from scratch draws a new anchor): decoded
    # afresh, as a first frame, not as the next frame of the video before.
    restart: bool = False


@dataclass(frozen=True)
class Levers:
    """The speed options of `stream` (each off: the exact, one-after-another path); see there."""

    pipelined: bool = False
    rolling_cache: bool = False
    batched_candidates: bool = False
    bf16_decoder: bool = False
    jacobi_block: int = 0  # 0: today's draws; 1: inverse-CDF draws one token per pass; >= 2: Jacobi blocks
    fused_steps: int = 0  # 0: a call per token; n: runs of n inverse-CDF draws per call (`arvid.sampling.fused`)


def checked_levers(levers: Levers) -> Levers:
    """`levers`, if they make sense together.

    Raises:
        TypeError: a switch that is not a bool, a count that is not an int.
        ValueError: a negative `jacobi_block` or `fused_steps`, or both set.
    """
    for name in ("pipelined", "rolling_cache", "batched_candidates", "bf16_decoder"):
        if not isinstance(getattr(levers, name), bool):
            raise TypeError(f"{name} must be True or False, got {getattr(levers, name)!r}")
    for name in ("jacobi_block", "fused_steps"):
        value = getattr(levers, name)
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an int >= 0, got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if levers.jacobi_block and levers.fused_steps:
        raise ValueError("jacobi_block and fused_steps are two ways of drawing: choose one")
    return levers


SWITCH_FROM = ("window", "frame", "scratch")  # what a new prompt goes on from: see `stream`


class PromptSwitches:
    """A stream's current prompt and the caller's `prompts` function: `at(index)` -> the new
    prefixes and prompt when the prompt changes at latent frame `index`, else None; `switch_from`:
    what the new prompt goes on from (one of `SWITCH_FROM`, see `stream`)."""

    def __init__(self, prompt: str, prompts: Callable[[int], str] | None = None,
                 rows: Callable[[str], Prefixes] | None = None, switch_from: str = "window"):
        if switch_from not in SWITCH_FROM:
            raise ValueError(f"switch_from must be one of {', '.join(SWITCH_FROM)}, got {switch_from!r}")
        self.current, self.prompts, self.rows, self.switch_from = prompt, prompts, rows, switch_from

    def at(self, index: int) -> tuple[Prefixes, str] | None:
        if self.prompts is None:
            return None
        prompt = self.prompts(index)
        if isinstance(prompt, str) and prompt.split() == self.current.split():  # spacing alone is no new prompt
            return None
        self.current = prompt
        return self.rows(prompt), prompt


NO_SWITCHES = PromptSwitches("")


class ShownFrames:
    """The frames each stream showed last, kept for a switch that goes on from the frame on screen:
    a list of uint8 (t h w c) arrays, one per stream, or on the pipelined path the future that
    decodes them."""

    def __init__(self) -> None:
        self.latest: list[np.ndarray] | Future | None = None

    def last_frames(self) -> np.ndarray | None:
        """uint8 (s h w c): each stream's last frame shown (waiting for its decoding), or None before any."""
        latest = self.latest.result() if isinstance(self.latest, Future) else self.latest
        return None if latest is None else np.stack([frames[-1] for frames in latest])


def latent_frames(lm: VideoLM, tokenizer: VideoTokenizer, prefixes: Prefixes, given_codes: list[Tensor],
                  config: SamplerConfig, window: int, levers: Levers, switches: PromptSwitches = NO_SWITCHES
                  ) -> Iterator[list[LatentFrame]]:
    """Latent frames without end, each step a list with one `LatentFrame` per stream.

    Args:
        prefixes: the streams' prefix rows, stream-major (each stream's prompt, then under guidance
            its empty prompt's row).
        given_codes: codes (h' w') of latent frames given to every stream (anchor first).
        switches: prompt switches (for a batch of one stream only).

    Streams of one LM in several threads take turns a step at a time (`_taking_turns`; the first
    window's candidates are one step): the KV cache is the model's, and each step puts its own back
    (`WindowedContext.claim_cache`).
    """
    return _taking_turns(_latent_frames(lm, tokenizer, prefixes, given_codes, config, window, levers, switches),
                         lm.model)


class Turns:
    """A fair, re-entrant lock: threads waiting for it are served in the order they came (a plain
    `threading.Lock` lets the thread that releases it take it again at once, so one stream starved
    the others), and the thread that holds it may take it again (a `prompts` function that uses the
    same LM runs under it)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._tickets = self._serving = 0
        self._abandoned: set[int] = set()  # tickets whose threads stopped waiting (Ctrl-C): skipped
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._changed:
            if self._owner == me:
                self._depth += 1
                return
            ticket, self._tickets = self._tickets, self._tickets + 1
            try:
                self._changed.wait_for(lambda: self._owner is None and self._serving == ticket)
            except BaseException:
                self._abandoned.add(ticket)
                self._advance(to=self._serving)  # were it this ticket's turn, the next one's
                raise
            self._owner, self._depth = me, 1

    def __exit__(self, *exc_info) -> None:
        with self._changed:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._advance(to=self._serving + 1)

    def _advance(self, to: int) -> None:
        """Serve ticket `to`, or the first after it that is still waited for; wake the waiters."""
        while to in self._abandoned:
            self._abandoned.remove(to)
            to += 1
        self._serving = to
        self._changed.notify_all()

    def __reduce__(self):  # a copied or pickled model gets turns of its own (a lock cannot be copied)
        return (Turns, ())


def _taking_turns(steps: Iterator, model: torch.nn.Module) -> Iterator:
    """`steps`, each computed while holding `model`'s `Turns` (kept on the model, made at its first
    stream), so that streams of one model in several threads run a step each in turn (each correct)
    rather than overwrite each other's cache."""
    turns = model.__dict__.setdefault("_arvid_turns", Turns())  # dict.setdefault: one even when threads race
    try:
        while True:
            with turns:
                step = next(steps, None)
            if step is None:
                return
            yield step
    finally:
        with turns:  # its KV cache is let go (`_drawn_codes`) in its turn, never under another stream's step
            steps.close()  # a stream closed by its caller stops its decoder thread now, as before


def _latent_frames(lm: VideoLM, tokenizer: VideoTokenizer, prefixes: Prefixes, given_codes: list[Tensor],
                   config: SamplerConfig, window: int, levers: Levers, switches: PromptSwitches = NO_SWITCHES
                   ) -> Iterator[list[LatentFrame]]:
    device = lm.model.lm_head.weight.device
    streams = prefixes.tokens.shape[0] // (2 if config.guided else 1)
    decoder = tokenizer.streaming_decoder(bf16=levers.bf16_decoder)
    grid = tokenizer.latent_shape(1, tokenizer.config.image_size, tokenizer.config.image_size)[1:]
    shown = ShownFrames()
    given: list[Tensor] = []  # token ids, each (t,) shared or (s t)
    for index, codes in enumerate(given_codes):
        given.append(lm.vocab.video_ids(codes.flatten()).to(device))
        shown.latest = frames = _decode(decoder, codes.expand(streams, -1, -1))
        yield [LatentFrame(index, codes, row, given=True) for row in frames]
    prefixes = prefixes.to(device)
    if lm.config.prompt_onset:  # the prompt begins with the first frame the model draws
        prefixes = _with_onset(prefixes, True)
    prompt_start = max(1, len(given))
    generator = torch.Generator(device=device).manual_seed(config.seed)
    if config.first_window_candidates > 1 and len(given) <= window:
        decoder, chosen = _select_first_windows(lm, prefixes, given, given_codes, grid, config, window, generator,
                                                levers, lambda: tokenizer.streaming_decoder(bf16=levers.bf16_decoder))
        for codes, frames in chosen:  # codes (s h' w'), frames: one array per stream
            given.append(lm.vocab.video_ids(codes.flatten(1)).to(device))
            shown.latest = frames
            yield [LatentFrame(len(given) - 1, codes[s], frames[s]) for s in range(streams)]
    # With a chosen first window among the given frames, the context is the one that drawing it
    # token by token would have left (the window has slid once and been prefilled); with one chosen
    # early (`first_window_choice_frames`), the kept candidate's first window goes on from here.
    context = WindowedContext(lm.model, prefixes.tokens, window_frames=window, frames=given, text=prefixes.text,
                              streams=streams, rolling=levers.rolling_cache)
    on_screen = None if switches.switch_from != "frame" else lambda: _encoded_as_anchor(tokenizer, shown.last_frames())
    drawn = _drawn_codes(lm, context, config, generator, grid, first=len(given), window=window, switches=switches,
                         prompt_start=prompt_start, jacobi_block=levers.jacobi_block, fused_steps=levers.fused_steps,
                         on_screen=on_screen)
    del context  # `drawn` holds it, and lets it go when a switch starts a new one
    yield from (_decoded_in_background if levers.pipelined else _decoded)(drawn, decoder, shown)


# (index, codes (s h' w'), the prompt switched to at it, the anchor codes (s h' w') the decoder starts
# afresh from before it: a switch from the frame on screen; whether the codes themselves start a
# new video: a switch from scratch)
Drawn = tuple[int, Tensor, "str | None", "Tensor | None", bool]


def _encoded_as_anchor(tokenizer: VideoTokenizer, frames: np.ndarray | None) -> Tensor | None:
    """uint8 frames (s h w c) -> codes (s h' w') of each encoded alone, as a first frame (an anchor)."""
    if frames is None:
        return None
    device = next(tokenizer.parameters()).device
    video = torch.cat([frames_to_video(frame[None]) for frame in frames])  # (s 3 1 h w)
    return tokenizer.encode(video.to(device))[:, 0].cpu()


def _drawn_codes(lm: VideoLM, context: WindowedContext, config: SamplerConfig, generator: torch.Generator,
                 grid: tuple[int, int], *, first: int, window: int, switches: PromptSwitches, prompt_start: int = 1,
                 jacobi_block: int = 0, fused_steps: int = 0, on_screen: Callable[[], Tensor | None] | None = None
                 ) -> Iterator[Drawn]:
    """Each latent frame the LM draws, from latent frame `first` on, switching prompts as `switches`
    says (see `stream`'s `switch_from`; `on_screen` gives the anchor codes (s h' w') of the frame on
    screen for "frame"); `jacobi_block` and `fused_steps` as `Levers`. For a `prompt_onset` LM, the
    text says whether the prompt began (at latent frame `prompt_start`, or at its switch) inside the
    window that draws each frame."""
    video_logits = lm.vocab.video_slice()
    first_window, after_switch = config.first_window(), config.after_switch()
    fused = {sampling: FusedDraws(lm.model, sampling, video_logits, lm.vocab.video_offset, fused_steps)
             for sampling in {first_window, after_switch, config}} if fused_steps else {}
    index = first
    first_window_ends = window  # latent frames up to this one are drawn as a first window
    switch_window_ends = -1  # and up to this one as the window after a switch
    try:
        while True:
            switched, anchor, restart = switches.at(index), None, False
            if switched is not None:
                rows, _ = switched
                rows = rows.to(context.prefixes.device)
                if lm.config.prompt_onset:
                    rows = _with_onset(rows, True)
                if switches.switch_from == "frame":
                    anchor = on_screen()
                if anchor is not None or switches.switch_from == "scratch":
                    # A fresh context whose first window starts here: after the frame on screen as its
                    # anchor, or (scratch) with an anchor the new prompt draws at `index` as its frame 0.
                    frames = [] if anchor is None else [lm.vocab.video_ids(anchor.flatten(1)).to(context.prefixes.device)]
                    streams, rolling = context.streams, context.rolling
                    context = None  # its cache goes before the new context makes its own
                    context = WindowedContext(lm.model, rows.tokens, window_frames=window, frames=frames,
                                              text=rows.text, streams=streams, rolling=rolling)
                    prompt_start = index + (anchor is None)
                    first_window_ends = prompt_start + window - 1
                    restart = anchor is None
                else:
                    context.switch(rows.tokens, rows.text)
                    prompt_start = max(index, 1)  # at the anchor (a first prompt of `prompts`): from frame 1, as a start
                    switch_window_ends = index + window - 1
            if lm.config.prompt_onset:
                _mark_onset(context, index < prompt_start + window)
            sampling = first_window if index <= first_window_ends else after_switch if index <= switch_window_ends else config
            if jacobi_block:
                frame = _draw_by_uniforms(lm, context, sampling, generator, jacobi_block)[None]
            elif fused:
                frame = fused[sampling].draw_frame(context, generator)
            else:
                while (frame := context.push(draw_codes(context.logits[:, video_logits], sampling, generator)
                                             + lm.vocab.video_offset)) is None:
                    pass
            yield (index, lm.vocab.video_codes(frame).view(-1, *grid).cpu(), None if switched is None else switched[1],
                   anchor, restart)
            index += 1
    finally:  # the stream closed (or failed): its KV cache goes now, not at the next stream's setup
        if context is not None:
            context.release()


def _with_onset(prefixes: Prefixes, onset: bool) -> Prefixes:
    """`prefixes` whose text states say `onset` in every row (`TextStates.onset`)."""
    return prefixes._replace(text=prefixes.text.with_onset(onset))


def _mark_onset(context: WindowedContext, onset: bool) -> None:
    """Make the context's text say `onset` (whether its prompt began inside the window), prefilling
    afresh when that changes: once a window after each prompt's onset."""
    if bool(context.text.onset[0]) != onset:
        context.switch(context.prefixes, context.text.with_onset(onset))


def _draw_by_uniforms(lm: VideoLM, context: WindowedContext, config: SamplerConfig, generator: torch.Generator,
                      block: int) -> Tensor:
    """One latent frame (t,) of a one-stream context, each token drawn from its own uniform number
    (`arvid.sampling.jacobi`): one token per pass for `block` 1, else Jacobi blocks guessed from the
    previous latent frame (the same tokens)."""
    uniforms = torch.rand(context.tokens_per_frame, generator=generator, device=generator.device)
    video, offset = lm.vocab.video_slice(), lm.vocab.video_offset
    if block == 1:
        return draw_frame_plain(context, config, uniforms, video, offset)
    if context.frames:
        guesses = context.frames[-1][0]
    else:  # the anchor has no frame before it: any guess keeps the tokens exact, fewer are accepted
        guesses = torch.full((context.tokens_per_frame,), offset, device=context.logits.device)
    return draw_frame_jacobi(context, config, uniforms, guesses, video, offset, block=block)[0]


def _decode(decoder: StreamingDecoder, codes: Tensor) -> list[np.ndarray]:
    """One latent frame of each stream, codes (s h' w') -> its uint8 RGB frames (t h w c) per stream."""
    device = next(decoder.tokenizer.parameters()).device
    return [video_to_frames(row).numpy() for row in decoder.push(codes[:, None].to(device))]


def _latent(index: int, codes: Tensor, frames: list[np.ndarray], prompt: str | None, anchor: Tensor | None,
            restart: bool) -> list[LatentFrame]:
    return [LatentFrame(index, codes[s], frames[s], prompt=prompt, anchor=None if anchor is None else anchor[s],
                        restart=restart) for s in range(len(frames))]


def _restarted(decoder: StreamingDecoder, anchor: Tensor | None) -> StreamingDecoder:
    """A fresh decoder of `decoder`'s kind, for a stream that starts a new video: one that has
    decoded the `anchor` codes (s h' w') as its first latent frame, to go on from it (its frame is
    the one on screen: not shown again), or with None one that has decoded nothing."""
    fresh = decoder.tokenizer.streaming_decoder(bf16=decoder.bf16)
    if anchor is not None:
        _decode(fresh, anchor)
    return fresh


def _decoded(drawn: Iterator[Drawn], decoder: StreamingDecoder, shown: ShownFrames) -> Iterator[list[LatentFrame]]:
    """Each drawn latent frame decoded (`shown` keeps the last frames)."""
    for index, codes, prompt, anchor, restart in drawn:
        if anchor is not None or restart:
            decoder = _restarted(decoder, anchor)
        shown.latest = frames = _decode(decoder, codes)
        yield _latent(index, codes, frames, prompt, anchor, restart)


def _decoded_in_background(drawn: Iterator[Drawn], decoder: StreamingDecoder, shown: ShownFrames
                           ) -> Iterator[list[LatentFrame]]:
    """As `_decoded`, with each latent frame decoded on a worker thread while the next is drawn
    (PyTorch releases the GIL inside its operations, so the two run at once). The decoder sees the
    frames in order, one at a time, as inline."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="arvid-decode") as worker:
        pending = None
        for index, codes, prompt, anchor, restart in drawn:
            if anchor is not None or restart:  # a new decoder: the worker may still be using the old one
                decoder = _restarted(decoder, anchor)
            shown.latest = decoding = worker.submit(_decode, decoder, codes)
            if pending is not None:
                yield _latent(pending[0], pending[1], pending[2].result(), *pending[3:])
            pending = (index, codes, decoding, prompt, anchor, restart)


def _select_first_windows(lm: VideoLM, prefixes: Prefixes, given: list[Tensor], given_codes: list[Tensor],
                          grid: tuple[int, int], config: SamplerConfig, window: int, generator: torch.Generator,
                          levers: Levers, new_decoder: Callable[[], StreamingDecoder]
                          ) -> tuple[StreamingDecoder, list[tuple[Tensor, list[np.ndarray]]]]:
    """Draw `config.first_window_candidates` first windows per stream after the given frames (to
    `config.candidates_until`), decode them, and keep for each stream the one
    `config.first_window_selector` picks from its candidates' drawn frames (`arvid.sampling.first_window`).
    Several streams always draw their candidates as one batch; one stream does so with
    `levers.batched_candidates`, else one candidate after another.

    Returns a streaming decoder of the streams' chosen candidates (it has seen the given frames and
    the chosen ones, so the streams go on with it) and the drawn latent frames as (codes (s h' w'),
    uint8 RGB frames (t h w c) per stream) pairs."""
    count = config.first_window_candidates
    streams = prefixes.tokens.shape[0] // (2 if config.guided else 1)
    batched = levers.batched_candidates or streams > 1
    as_drawn = None  # pipelined, batched candidates are decoded a latent frame at a time while the next is drawn
    if batched and levers.pipelined:
        as_drawn = _DecodedAsDrawn(new_decoder(), given_codes, count * streams)
    try:
        # Candidate-major: candidate c of stream s at c * streams + s.
        candidates = draw_first_windows(lm, prefixes.tokens, given, config, window, generator, count,
                                        text=prefixes.text, batched=batched, fused_steps=levers.fused_steps,
                                        on_frame=None if as_drawn is None else
                                        lambda tokens: as_drawn.push(lm.vocab.video_codes(tokens).view(-1, *grid)))
        drawn = [[lm.vocab.video_codes(frame).view(*grid).cpu() for frame in candidate.frames] for candidate in candidates]
        if as_drawn is not None:
            decoders, frames = as_drawn.result()
        else:
            decoders, frames = (_decoded_together if batched else _decoded_apart)(new_decoder, given_codes, drawn)
    finally:
        if as_drawn is not None:
            as_drawn.close()
    select = FIRST_WINDOW_SELECTORS[config.first_window_selector]
    kept = [c * streams + s for s in range(streams)
            for c in [select([np.concatenate(frames[c * streams + s]) for c in range(count)])]]
    chosen = [(torch.stack([drawn[k][i] for k in kept]), [frames[k][i] for k in kept]) for i in range(len(drawn[0]))]
    return decoders(kept), chosen


Decoded = tuple[Callable[[list[int]], StreamingDecoder], list[list[np.ndarray]]]  # (rows -> their decoder, frames)


def _decoded_apart(new_decoder: Callable[[], StreamingDecoder], given_codes: list[Tensor],
                   drawn: list[list[Tensor]]) -> Decoded:
    """Each candidate's latent frames (codes (h' w')) decoded by its own decoder, one frame at a time
    (one stream's candidates only)."""
    decoders, frames = [], []
    for candidate in drawn:
        decoder = new_decoder()
        for codes in given_codes:
            decoder.push_frames(codes)
        frames.append([decoder.push_frames(codes) for codes in candidate])
        decoders.append(decoder)
    return lambda rows: decoders[rows[0]], frames


class _DecodedAsDrawn:
    """The first-window candidates' latent frames decoded on a worker thread as each is drawn (the
    `pipelined` lever with batched candidates): when the last is drawn, the others are decoded. The
    frames are `_decoded_together`'s (a streaming decoder gives whole-clip decoding's, to float rounding).

    Args:
        decoder: a fresh streaming decoder.
        given_codes: codes (h' w') of the latent frames given to every row, anchor first.
        rows: the videos decoded side by side (candidates x streams).
    """

    def __init__(self, decoder: StreamingDecoder, given_codes: list[Tensor], rows: int) -> None:
        self.decoder, self.rows = decoder, rows
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arvid-decode")
        self.decoded: list[Future] = []  # each latent frame's frames: one array (t h w c) per row
        self.given = self.worker.submit(_push_given, decoder, given_codes, rows)

    def push(self, codes: Tensor) -> None:
        """Start decoding the next latent frame, codes (rows h' w')."""
        self.decoded.append(self.worker.submit(_decode, self.decoder, codes))

    def result(self) -> Decoded:
        """Wait for every pushed frame -> (rows -> their decoder, each row's frames per latent frame)."""
        self.given.result()  # raises what decoding the given frames raised
        latent = [future.result() for future in self.decoded]
        return self.decoder.rows, [[frames[row] for frames in latent] for row in range(self.rows)]

    def close(self) -> None:
        """Stop the worker (after the frame it is decoding; the queued ones are dropped)."""
        self.worker.shutdown(wait=True, cancel_futures=True)


def _push_given(decoder: StreamingDecoder, given_codes: list[Tensor], rows: int) -> None:
    """Feed `decoder` the latent frames given to all its `rows` videos, codes (h' w') each, anchor
    first (none: nothing), so that the rows go on from them; their frames are not needed."""
    if given_codes:
        device = next(decoder.tokenizer.parameters()).device
        decoder.push(torch.stack(given_codes)[None].expand(rows, -1, -1, -1).to(device))


def _decoded_together(new_decoder: Callable[[], StreamingDecoder], given_codes: list[Tensor],
                      drawn: list[list[Tensor]]) -> Decoded:
    """Every candidate's latent frames decoded in one call, the candidates as a batch."""
    decoder = new_decoder()
    tokenizer = decoder.tokenizer
    device = next(tokenizer.parameters()).device
    _push_given(decoder, given_codes, len(drawn))
    video = decoder.push(torch.stack([torch.stack(candidate) for candidate in drawn]).to(device))  # (c 3 t h w)
    first = len(given_codes)
    sizes = [1 if first + i == 0 else tokenizer.config.temporal_factor for i in range(len(drawn[0]))]
    splits = np.cumsum(sizes)[:-1]
    frames = [np.split(video_to_frames(row).numpy(), splits) for row in video]
    return decoder.rows, frames
