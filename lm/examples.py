"""Training examples for the LM, cut from token shards in the layout the streaming sampler sees.

An example is text + the anchor latent frame f0 + a window of `window_frames` consecutive latent
frames starting anywhere in the video (start 1 gives the plain clip), positions contiguous. The
caption is one of the video's phrasings, or empty with probability `caption_dropout` (so that
classifier-free guidance has an unconditional model to subtract).

A share `first_window_share` of examples is the plain clip (start 1); the rest start uniformly
anywhere. The first window is where the text matters most: it alone has no motion history, so only
there must direction and speed come from the caption (later windows can read them off the past).

Under image-to-video and continuation the anchor is a given frame, which the sampler never draws;
with `given_anchor_targets` False it is not a training target there either, so that videos of
`tokenize-dataset --anywhere` (objects that start anywhere, image-to-video) do not teach text-to-video
first frames their starts: the task token alone did not keep the two apart (docs/results/sampling.md).

A video whose prompt changes part way (its record's `switch`) is captioned with the new prompt in
every window that reaches the switch's latent frame: the streaming sampler's context when a prompt
changes (the old motion in the window, the new prompt in the prefix). For an LM with
`prompt_onset`, the captions' states say whether the window holds the prompt's onset: the video's
first window, or a window that reaches its switch (`TextStates.onset`).

With a text encoder, every distinct caption is encoded once, when the examples are made, and a
batch carries its captions' states (`Batch.text`) beside the tokens, padded to its longest caption
or `text_tokens` slots, whichever is more (`arvid.lm.layout`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from arvid.data.shards import JoinedShards, TokenShards
from arvid.lm.code_digits import tokenizer_code_levels
from arvid.lm.config import PREFIX_SPECIALS, LMConfig
from arvid.lm.layout import Sequence, build_sequence
from arvid.lm.text import TextTokenizer
from arvid.lm.text_encoder import TextEncoder, TextStates, stack_states
from arvid.lm.vocabulary import TASKS, Vocabulary


class Batch(NamedTuple):
    """`tokens` (b n) int64 and `loss_mask` (b n) bool (True where the token is a target); rows are
    padded with `<pad>` (not a target) to the longest. `text`: the captions' encoder states for an
    LM with a text encoder (hidden (b s d_enc), mask (b s)), else None. `inputs` (b n): what the model
    reads where it differs from `tokens` (context noise, `arvid.lm.train.with_context_noise`), else None."""

    tokens: Tensor
    loss_mask: Tensor
    text: TextStates | None = None
    inputs: Tensor | None = None

    def rows(self, rows: slice, device: torch.device | str) -> Batch:
        """`rows` of the batch on `device` (a rank's share)."""
        text = None if self.text is None else self.text.rows(rows).to(device)
        inputs = None if self.inputs is None else self.inputs[rows].to(device)
        return Batch(self.tokens[rows].to(device), self.loss_mask[rows].to(device), text, inputs)


class _Draw(NamedTuple):
    """What one example is made of: latent frames (t h w) codes, its caption (sentencepiece pieces,
    or encoder states (n d_enc); empty when dropped), task, window start, whether the video ends,
    and whether the window holds its caption's onset (the video's first window, or its switch), and
    how many of its frames lead it as context only (`context`: the anchor and the frames before the
    switch in a window captioned with the prompt switched to, which the sampler never draws under it)."""

    frames: np.ndarray
    caption: list[int] | Tensor
    task: str
    start: int
    end: bool
    onset: bool
    context: int = 0


class WindowExamples:
    """Draws training batches from `shards` for a model of `config`.

    `text` reads the captions: the LM's sentencepiece tokenizer, or its text encoder (`config.text_encoder`).
    `log` (None: silent) is told when the encoder starts and ends encoding the captions, which takes minutes,
    and of captions holding text the text tokenizer never saw.

    Raises:
        ValueError: shards whose videos are shorter than anchor + window, whose codebook is not the
            model's, or whose captions are longer than `text_tokens` pieces (sentencepiece) or the
            text encoder's limit.
    """

    def __init__(self, shards: TokenShards | JoinedShards, text: TextTokenizer | TextEncoder, config: LMConfig, *,
                 caption_dropout: float = 0.1, first_window_share: float | None = None,
                 tasks: tuple[str, ...] = tuple(TASKS), given_anchor_targets: bool = True,
                 log: Callable[[str], object] | None = None) -> None:
        latent_frames, height, width = shards.grid
        if latent_frames < 1 + config.window_frames:
            shorter = f", or train with model.window_frames={latent_frames - 1}" if latent_frames > 2 else ""
            raise ValueError(f"{shards.path}: videos have {latent_frames} latent frames; anchor + window_frames="
                             f"{config.window_frames} needs at least {1 + config.window_frames} (tokenize longer "
                             f"videos, `arvid tokenize-dataset --frames`{shorter})")
        if height * width != config.tokens_per_frame:
            raise ValueError(f"{shards.path}: latent frames of {height}x{width} codes, the model expects "
                             f"tokens_per_frame={config.tokens_per_frame}")
        config.check_frame_shape(height, width, f"the shards' in {shards.path}")
        tokenizer = shards.meta.get("tokenizer") or {}
        if config.code_levels is not None and "quantizer" in tokenizer:  # test shards carry no tokenizer
            # Each record holds the field its quantizer reads (older ones hold both).
            config.check_code_levels(tokenizer_code_levels(tokenizer["quantizer"], tokenizer.get("fsq_levels"),
                                                           tokenizer.get("codebook_bits")), f"{shards.path}'s")
        if shards.codebook_size != config.video_vocab_size:
            raise ValueError(f"{shards.path}: codebook of {shards.codebook_size} codes, the model expects "
                             f"video_vocab_size={config.video_vocab_size} (for these shards set "
                             f"model.video_vocab_size={shards.codebook_size}: the embeddings and output layer grow "
                             f"with it, see docs/training.md)")
        self.shards, self.config = shards, config
        self.vocab = Vocabulary(text_size=config.text_vocab_size, video_size=config.video_vocab_size)
        unknown = {record.task for record in shards.records if record.task is not None} - set(TASKS)
        if unknown:
            raise ValueError(f"{shards.path}: records name the tasks {sorted(unknown)}; the tasks are {list(TASKS)}")
        self.caption_dropout, self.tasks = caption_dropout, tasks
        self.given_anchor_targets = given_anchor_targets
        # None: every start equally likely, as a uniform cut of the video gives.
        self.first_window_share = first_window_share
        # Encode every caption once; training reads them millions of times.
        self.encoder = text if isinstance(text, TextEncoder) else None
        # Per video, its captions' pieces (or states), and after its switch, if it has one, the new ones.
        phrasings = [record.captions for record in shards.records]
        switched = [record.switch.captions for record in shards.records if record.switch is not None]
        if self.encoder is None:
            read = {caption: text.encode(caption) for captions in phrasings + switched for caption in captions}
            too_long = [caption for caption, pieces in read.items() if len(pieces) > config.text_tokens]
            if too_long:
                longest = max(len(read[caption]) for caption in too_long)
                raise ValueError(f"{shards.path}: {_where(shards, too_long[0])}'s caption is "
                                 f"{len(read[too_long[0]])} text pieces long; the model reads "
                                 f"text_tokens={config.text_tokens} (captions longer than that: {len(too_long)}, the longest "
                                 f"{longest} pieces): set model.text_tokens={longest}, or train the text tokenizer "
                                 f"with a larger --vocab-size (fewer, longer pieces), or use model.text_encoder")
            unknown = {caption: text.unknown(caption) for caption, pieces in read.items() if text.unknown_id in pieces}
            if unknown and log is not None:  # the model reads every such part as one and the same piece
                caption, parts = next(iter(unknown.items()))
                log(f"warning: {shards.path}: {len(unknown)} of {len(read)} captions hold text the text tokenizer "
                    f"never saw, read as one unknown piece (e.g. {parts[:3]} in {caption[:60]!r}); a text tokenizer "
                    f"trained on these captions (arvid train-text-tokenizer --manifest ...) reads them")
        else:
            distinct = list(dict.fromkeys(c for captions in phrasings + switched for c in captions))
            if log is not None:  # minutes for a large set: the trainer says so (`log`, its main process's print)
                log(f"encoding {len(distinct):,} distinct captions with the text encoder {self.encoder.name} "
                    f"(once, before the first step)")
            started = time.monotonic()
            try:  # one CPU copy per distinct caption
                with _caption_bar(len(distinct), shown=log is not None) as bar:
                    read = self.encoder.encode_distinct(distinct, progress=bar.update)
            except ValueError:
                caption = next((c for c in distinct if self.encoder.count(c) > self.encoder.max_tokens), None)
                if caption is None:  # not a length the encoder refused: its own message
                    raise
                raise ValueError(f"{shards.path}: {_where(shards, caption)}'s caption is {self.encoder.count(caption)} "
                                 f"tokens long for the text encoder {self.encoder.name}; it reads at most "
                                 f"{self.encoder.max_tokens}") from None
            if log is not None:
                log(f"encoded them in {time.monotonic() - started:.0f} s")
        self.pieces = [[read[caption] for caption in captions] for captions in phrasings]
        self.switches = {index: (record.switch.latent_frame, [read[caption] for caption in record.switch.captions])
                         for index, record in enumerate(shards.records) if record.switch is not None}
        # A dropped caption: no pieces, or no encoder states (every text slot <pad>, see arvid.lm.layout).
        self._no_caption = [] if self.encoder is None else torch.zeros(0, self.encoder.dim)

    @property
    def text_lengths(self) -> set[int]:
        """The prefix's text slots batches can have: `text_tokens`, and each encoder caption length
        over it (a batch takes its longest caption's: `_slots`)."""
        captions = [c for captions in self.pieces for c in captions]
        captions += [c for _, captions in self.switches.values() for c in captions]
        return {self.config.text_tokens} | {len(c) for c in captions if len(c) > self.config.text_tokens}

    def example(self, rng: np.random.Generator) -> Sequence:
        """One `Sequence` (tokens, loss_mask) drawn with `rng`. (With a text encoder its text slots
        hold `<pad>`, as many as its caption needs; `batch` gives the states.)

        Task tokens are drawn from `tasks`: with a causal tokenizer, image-to-video and continuation
        sequences look exactly like text-to-video ones, and drawing the token keeps all three in
        distribution for the sampler. A video whose record names its task (one that starts
        anywhere: image-to-video) always carries that one."""
        draw = self._draw(rng)
        return self._sequence(draw, self._slots([draw]))

    def _draw(self, rng: np.random.Generator) -> _Draw:
        index = int(rng.integers(len(self.shards)))
        codes = self.shards[index]
        window = self.config.window_frames
        last_start = len(codes) - window
        if self.first_window_share is None or last_start == 1:
            start = int(rng.integers(1, last_start + 1))
        else:
            start = 1 if rng.random() < self.first_window_share else int(rng.integers(2, last_start + 1))
        frames = np.concatenate([codes[:1], codes[start:start + window]])
        captions, onset, switched_at = self.pieces[index], start == 1, None
        if index in self.switches and start + window - 1 >= self.switches[index][0]:
            switched_at = self.switches[index][0]
            captions, onset = self.switches[index][1], start <= switched_at
        dropped = rng.random() < self.caption_dropout
        caption = self._no_caption if dropped else captions[int(rng.integers(len(captions)))]
        # Under the prompt switched to, the anchor and the frames before the switch were drawn for the
        # old prompt: context, as the sampler gives them, never targets (an unconditional row learns all).
        context = 0 if switched_at is None or dropped else 1 + max(0, switched_at - start)
        task = self.shards.records[index].task or self.tasks[int(rng.integers(len(self.tasks)))]
        return _Draw(frames, caption, task, start, self.shards.ends and start + window == len(codes), onset, context)

    def _slots(self, draws: list[_Draw]) -> int:
        """Text slots for these draws: `text_tokens`, or a longer encoder caption's length."""
        if self.encoder is None:
            return self.config.text_tokens
        return max([self.config.text_tokens, *(len(draw.caption) for draw in draws)])

    def _sequence(self, draw: _Draw, slots: int) -> Sequence:
        pieces = draw.caption if self.encoder is None else []
        sequence = build_sequence(self.vocab, pieces, torch.from_numpy(draw.frames.astype(np.int64)), task=draw.task,
                                  text_tokens=slots, end=draw.end)
        prefix_len, frame = PREFIX_SPECIALS + slots, self.config.tokens_per_frame
        if draw.task != "text-to-video" and not self.given_anchor_targets:
            sequence.loss_mask[prefix_len:prefix_len + frame] = False  # a given frame, never drawn by the sampler
        if draw.start > 1:
            # The first window frame follows the anchor across a gap of unknown length: a guess the
            # sampler never asks for (after a shift it always has window - 1 frames of history).
            sequence.loss_mask[prefix_len + frame:prefix_len + 2 * frame] = False
        sequence.loss_mask[prefix_len:prefix_len + draw.context * frame] = False  # context under a switched prompt
        return sequence

    def batch(self, rng: np.random.Generator, size: int) -> Batch:
        """`size` examples, padded to the longest."""
        draws = [self._draw(rng) for _ in range(size)]
        slots = self._slots(draws)
        sequences = [self._sequence(draw, slots) for draw in draws]
        length = max(len(s.tokens) for s in sequences)
        tokens = torch.full((size, length), self.vocab.pad, dtype=torch.long)
        loss_mask = torch.zeros((size, length), dtype=torch.bool)
        for row, sequence in enumerate(sequences):
            tokens[row, :len(sequence.tokens)] = sequence.tokens
            loss_mask[row, :len(sequence.tokens)] = sequence.loss_mask
        onset = [draw.onset for draw in draws] if self.config.prompt_onset else None
        text = None if self.encoder is None else stack_states([draw.caption for draw in draws], self.encoder.dim,
                                                               slots, onset)
        return Batch(tokens, loss_mask, text)


def _where(shards: TokenShards | JoinedShards, caption: str) -> str:
    """Which video of `shards` has `caption` (a phrasing, or one after its switch), for a message: "video 12"."""
    for index, record in enumerate(shards.records):
        if caption in record.captions or (record.switch is not None and caption in record.switch.captions):
            shown = caption if len(caption) <= 40 else caption[:40] + "..."
            return f"video {index} ({shown!r})"
    return "a video"


@contextlib.contextmanager
def _caption_bar(total: int, *, shown: bool):
    """A progress bar over `total` captions being encoded (minutes for a large training set), on
    stderr as the trainer's bar is, its last count written when the block ends; a silent one where
    `shown` is false (the other processes of a run)."""
    from tqdm import tqdm

    from arvid.training.progress import LineFile, progress_file

    file = progress_file() if shown else None
    with tqdm(total=total, desc="captions", unit="caption", dynamic_ncols=True, disable=not shown, file=file) as bar:
        yield bar
    if isinstance(file, LineFile):  # a log file: the final count may be held back by its one-line-a-second pace
        file.flush_pending()
