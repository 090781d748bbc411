"""Training of the video LM: `train_lm(run_config)`, on one process or under `torchrun`.

AdamW with linear warm-up and cosine decay, gradient clipping and bf16 autocast (on CUDA, and on
CPUs with native bf16), in the shared loop (`arvid.training.loop`). Every rank draws the same
global batch from a generator seeded by the step and trains on its own slice, so a run resumes on
exactly the batches it would have drawn and N processes see what one process would. Only rank 0
writes logs and checkpoints.

With `model.text_encoder` set, captions are read by that frozen encoder (each distinct caption
encoded once, before the first step) instead of the sentencepiece model in `train.text_tokenizer`,
which is then not read; `model.text_encoder_dim` is taken from the encoder when unset.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

from arvid.data.caption_words import caption_vocabulary
from arvid.data.shards import JoinedShards, TokenShards, open_shards, same_rate, same_videos, videos_record
from arvid.lm.checkpoint import GENERATION_CONFIG, VideoLM, read_training_data
from arvid.lm.config import LMConfig
from arvid.lm.examples import Batch, WindowExamples
from arvid.lm.model import Transformer
from arvid.lm.parallel import parallelize
from arvid.lm.text import FILE_NAME as TEXT_FILE_NAME, TextTokenizer
from arvid.lm.text_encoder import TextEncoder, TextStates
from arvid.lm.vocabulary import TASKS, Vocabulary
from arvid.training.checkpoint import (load_module_weights, load_tensors, optimizer_state_from_files,
                                     optimizer_state_to_files, resolve_checkpoint, save_tensors)
from arvid.training.distributed import DistInfo, all_reduce_sum, gradient_sync, init_distributed, rank_rows
from arvid.training.loop import Evaluation, LoopConfig, StepResult, start_run, train_loop
from arvid.training.micro_batches import micro_slices


@dataclass(kw_only=True)
class LMTrainConfig(LoopConfig):
    """How to train the LM; the loop's own fields come from `arvid.training.loop.LoopConfig`.
    `data`, `val_data` and `unseen_data` are token-shard folders (`arvid tokenize-dataset`);
    `text_tokenizer` is a folder holding `text_tokenizer.model` (`arvid train-text-tokenizer`),
    unused when the model reads its text with a text encoder (`model.text_encoder`).

    `val_data` holds videos of held-out prompts (generalisation to new attribute combinations).
    `unseen_data`, optional, holds new videos of the training prompts: when it is given, the
    evaluation also scores the same number of batches drawn from `data`, and the gap between the
    two losses is what the LM has memorised of its training videos rather than learnt. `data` may
    also be a list of shard folders (`train.data=[a,b]`), read as one dataset: a dataset grows by
    another folder of new videos without re-encoding the ones it has."""

    # `LoopConfig` fields with this trainer's own defaults.
    out_dir: str = "runs/lm"
    steps: int = 2000
    data: str | tuple[str, ...] | None = None
    val_data: str | None = None
    unseen_data: str | None = None
    text_tokenizer: str = "runs/text-tokenizer"
    batch_size: int = 16
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    caption_dropout: float = 0.1
    # Share of the video tokens a training step reads replaced by random codes (`with_context_noise`).
    context_noise: float = 0.0
    # Share of examples that are a video's first window (see `arvid.lm.examples`); None: uniform starts.
    first_window_share: float | None = None
    # Task tokens drawn for videos whose record names none (one that does, as the videos of
    # `tokenize-dataset --anywhere`, keeps its own); leaving "image-to-video" out keeps it theirs.
    tasks: tuple[str, ...] = tuple(TASKS)
    # The anchor frame is a target under every task; false: only under text-to-video, the one task
    # whose sampler draws it (`arvid.lm.examples`; docs/results/sampling.md).
    given_anchor_targets: bool = True
    eval_batches: int = 4
    # Keep no block's activations for the backward pass: each transformer block's forward runs again
    # there (about a third more compute a step, by the count of operations; unmeasured on a GPU) for a
    # fraction of the memory; with micro-batches, a lever for a model whose batch does not fit a GPU
    # (docs/training.md).
    activation_checkpointing: bool = False
    # Start from this LM folder's weights (the same architecture) with a fresh optimiser and schedule:
    # a fine-tuning stage, as the prompt-switch fine-tune of docs/results/lm.md.
    init_from: str | None = None
    parallel: Literal["ddp", "fsdp2"] = "ddp"
    # `compile` (LoopConfig's) compiles the step's forward and loss (inductor): after its first steps a
    # step runs faster, mostly from fusing the loss's log-softmax over the whole vocabulary
    # (`python benchmarks/train_lm.py`). Evaluation stays eager.

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("batch_size", "eval_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.context_noise < 1:
            raise ValueError(f"context_noise must be in [0, 1), got {self.context_noise}")
        if not 0 <= self.caption_dropout <= 1:
            raise ValueError(f"caption_dropout must be in [0, 1], got {self.caption_dropout}")
        unknown = [task for task in self.tasks if task not in TASKS]
        if unknown or not self.tasks:
            raise ValueError(f"tasks must be some of {list(TASKS)}, got {list(self.tasks)}")
        if self.first_window_share is not None and not 0 <= self.first_window_share <= 1:
            raise ValueError(f"first_window_share must be in [0, 1] or null, got {self.first_window_share}")


@dataclass(kw_only=True)
class LMRunConfig:
    """A whole run: the architecture (`model`) and how to train it (`train`)."""

    model: LMConfig = field(default_factory=LMConfig)
    train: LMTrainConfig = field(default_factory=LMTrainConfig)


class TrainResult(NamedTuple):
    """The checkpoint folder, the trained model (the module itself: under FSDP2 its parameters stay
    sharded) and the last step's global mean loss."""

    checkpoint: Path
    model: Transformer
    loss: float


def summed_loss(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                text: TextStates | None = None) -> torch.Tensor:
    """Summed cross-entropy of `model(inputs, text)`'s logits against `targets`, both (b n) int64, -100
    where a position is not a target: a scalar, computed by the model (`Transformer.forward` with
    targets: chunked where the logits would be large). Tensors only (`text` is a named tuple of
    them), so `torch.compile` takes it whole."""
    return model(inputs, text, targets)


def step_loss(compile: bool):
    """The training step's loss function: `summed_loss`, or with `compile` a `torch.compile` copy of it
    (dynamic=False: one graph per batch shape. Batches have few shapes: the text prefix has
    `text_tokens` slots unless a text encoder's caption is longer (`note_text_lengths`), and a
    window that ends a video adds its 2 end tokens)."""
    return torch.compile(summed_loss, dynamic=False) if compile else summed_loss


def token_loss_sum(model: torch.nn.Module, batch: Batch, loss=summed_loss) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over the targets of `batch`, and how many targets there were.
    `loss` computes the sum (`summed_loss`, or a compiled copy of it)."""
    targets = batch.tokens[:, 1:].masked_fill(~batch.loss_mask[:, 1:], -100)
    inputs = batch.tokens if batch.inputs is None else batch.inputs
    return loss(model, inputs[:, :-1], targets, batch.text), int(batch.loss_mask[:, 1:].sum())


def with_context_noise(batch: Batch, rate: float, vocab: Vocabulary, rng: np.random.Generator) -> Batch:
    """`batch` whose model inputs (`Batch.inputs`, (b n) as its tokens) have each video token replaced,
    with probability `rate`, by a video token drawn uniformly; the targets stay the clean tokens.
    The LM then learns to go on from a context with errors in it, as its own drawn frames have
    (GameNGen trains on noised context frames for the same reason)."""
    tokens = batch.tokens
    video = (tokens >= vocab.video_offset) & (tokens < vocab.size)
    noisy = video & torch.from_numpy(rng.random(tokens.shape) < rate)
    drawn = torch.from_numpy(rng.integers(vocab.video_offset, vocab.size, tokens.shape))
    return batch._replace(inputs=torch.where(noisy, drawn, tokens))


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, *, targets: int, autocast,
               grad_clip: float, loss=summed_loss, world: int = 1, micro_batch_size: int | None = None) -> torch.Tensor:
    """One optimiser step on this rank's `batch`: the loss is its summed cross-entropy over `targets`
    (the global batch's target count), gradients are clipped to `grad_clip`. With `micro_batch_size`,
    `micro_batch_size` rows at a time go forward and backward and their gradients add up (each
    micro-batch's sum is over the same global count, so the update is the whole batch's). Returns the
    summed loss of `batch`, detached (a scalar)."""
    optimizer.zero_grad(set_to_none=True)
    parts = micro_slices(len(batch.tokens), micro_batch_size)
    total = torch.zeros((), device=batch.tokens.device)
    for index, rows in enumerate(parts):
        part = batch if len(parts) == 1 else batch.rows(rows, batch.tokens.device)
        with gradient_sync(model, last=index == len(parts) - 1):
            with autocast:
                loss_sum, _ = token_loss_sum(model, part, loss)
            # DDP averages gradients over ranks, so scale by the world size to get the global token mean.
            (loss_sum * world / targets).backward()
        total = total + loss_sum.detach().float()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return total


def _check_resumed_text_tokenizer(text: TextTokenizer, cfg: LMTrainConfig) -> None:
    """Raise a ValueError when a resumed run's `train.text_tokenizer` is not the one its checkpoint
    was trained with (the copy every checkpoint holds): its piece ids would mean other words, and the
    next checkpoint's copy would be replaced without a word."""
    try:
        folder = resolve_checkpoint(Path(cfg.out_dir) / "checkpoint")
    except FileNotFoundError:  # no checkpoint: the loop says so
        return
    if (folder / TEXT_FILE_NAME).is_file() and TextTokenizer.load(folder).model_proto != text.model_proto:
        raise ValueError(f"train.text_tokenizer={cfg.text_tokenizer} is not the text tokenizer this run was trained "
                         f"with (its copy in {folder}): its pieces would read other words; resume with "
                         f"train.text_tokenizer={folder}, or start a new run")


def train_lm(config: LMRunConfig, *, resume: bool = False) -> TrainResult:
    """Train as `config` says (one process, or every rank of a `torchrun` launch).

    Raises:
        ValueError: `train.data` not set, shards that do not fit the model, a batch not divisible by
            the world size, or `resume` from a checkpoint of another architecture (or of videos of
            another frame rate or tokenizer encoder).
        FileNotFoundError: a shard folder, text tokenizer or `init_from` checkpoint that does not exist, or
            `resume` without a checkpoint.
        TextEncoderNotFound (a FileNotFoundError): `model.text_encoder` names an encoder this machine
            does not have (the message says how to install it).
        TrainingDiverged: a non-finite loss.
    """
    cfg = config.train
    if cfg.data is None:
        raise ValueError("train.data is not set: name the token-shard folder(s) to train on")
    info = init_distributed(start_run(cfg))
    rank_rows(cfg.batch_size, info)  # a batch that does not divide among the processes fails here
    if config.model.text_encoder is None:
        try:
            text = TextTokenizer.load(cfg.text_tokenizer)
        except FileNotFoundError as err:  # the preset's folder, relative to where the command runs
            raise FileNotFoundError(f"train.text_tokenizer={cfg.text_tokenizer}: {err}; or set "
                                    f"train.text_tokenizer=FOLDER (or model.text_encoder=...)") from None
        if resume:
            _check_resumed_text_tokenizer(text, cfg)
    else:
        text = TextEncoder.load(config.model.text_encoder, device=info.device)
        config = replace(config, model=with_encoder_width(config.model, text))
    initial = None
    # Checked before the captions are encoded, which takes minutes; a resumed run's weights are its
    # checkpoint's (init_from stays in its config as where it began).
    if cfg.init_from is not None and not resume:
        initial = Transformer(config.model)
        # ValueError on another architecture; an LM without prompt onset may start one with it.
        load_module_weights(initial, cfg.init_from, config.model, grown={"prompt_onset": ("onset_embedding",)})
        if info.is_main:
            print(f"starting from the weights in {cfg.init_from}")
    log = (lambda message: print(message, flush=True)) if info.is_main else None  # one process speaks
    train_shards = open_shards(cfg.data)
    eval_shards = {key: open_shards(path) for key, path in (("val_loss", cfg.val_data), ("unseen_loss", cfg.unseen_data),
                                                            ("seen_loss", cfg.data if cfg.unseen_data else None)) if path}
    # Held-out shards of another rate or tokenizer are said as such, before a model setting that fits
    # one set but not the other is.
    training_data = recorded_training_data(train_shards, list(eval_shards.values()))
    train_examples = WindowExamples(train_shards, text, config.model, caption_dropout=cfg.caption_dropout,
                                    first_window_share=cfg.first_window_share, tasks=tuple(cfg.tasks),
                                    given_anchor_targets=cfg.given_anchor_targets, log=log)
    # Scored every `eval_every` steps, without caption dropout: log key -> examples.
    eval_sets = {key: WindowExamples(shards, text, config.model, caption_dropout=0.0,
                                     given_anchor_targets=cfg.given_anchor_targets, log=log)
                 for key, shards in eval_shards.items()}
    if cfg.compile and info.is_main:
        note_text_lengths(train_examples.text_lengths, config.model.text_tokens)
    task = LMTraining(config, info, text, train_examples, eval_sets, initial, training_data=training_data)
    result = train_loop(task, cfg, device=info.device, run_config=config, name="lm", unit="tokens", resume=resume,
                        is_main=info.is_main, evaluate_first=initial is not None)
    return TrainResult(result.checkpoint, task.lm.model, result.loss)


def note_text_lengths(lengths: set[int], text_tokens: int) -> None:
    """Say when captions longer than `text_tokens` give batches several prefix lengths: the compiled
    step compiles once for each (minutes on a CPU), and after torch's limit of 8 graphs runs the
    others eagerly, slower; `model.text_tokens` at the longest keeps one length."""
    if len(lengths) > 1:
        print(f"note: captions up to {max(lengths)} text-encoder tokens, over model.text_tokens={text_tokens}, give "
              f"batches {len(lengths)} text lengths, each compiling its own training step (past 8 they run "
              f"uncompiled); model.text_tokens={max(lengths)} keeps one", file=sys.stderr)


def recorded_training_data(shards: TokenShards | JoinedShards, held_out: list[TokenShards | JoinedShards]) -> dict[str, Any]:
    """What the checkpoint records of its videos (`arvid.lm.checkpoint`'s training_data.json): the
    frame rate and the tokenizer the training `shards` recorded, and the content words of their
    captions -> {"fps", "tokenizer", "tokenizer_codes", "caption_words"} (each where known).

    Raises:
        ValueError: `held_out` shards read at another frame rate (their loss would score another pace)
            or encoded by another encoder, or with another number of codes.
    """
    record = videos_record(shards)
    for other in held_out:
        if other.codebook_size != shards.codebook_size:
            raise ValueError(f"the evaluation shards {str(other.path)!r} hold codes of {other.codebook_size:,} values, "
                             f"the training shards of {shards.codebook_size:,}: encode both with one tokenizer")
        if not same_videos(record, videos_record(other)):
            what = (f"were read at {other.fps:g} fps, the training shards at {shards.fps:g}"
                    if not same_rate(shards.fps, other.fps) else
                    "were encoded by another tokenizer's encoder than the training shards: their codes mean other things")
            raise ValueError(f"the evaluation shards {str(other.path)!r} {what}")
    captions = (caption for video in shards.records
                for caption in (*video.captions, *(video.switch.captions if video.switch else ())))
    if words := caption_vocabulary(captions):  # `arvid generate` says when a prompt names none of them
        record["caption_words"] = words
    return record


def with_encoder_width(config: LMConfig, encoder: TextEncoder) -> LMConfig:
    """`config` with `text_encoder_dim` the encoder's width when unset.

    Raises:
        ValueError: it is set to another width.
    """
    if config.text_encoder_dim is None:
        return replace(config, text_encoder_dim=encoder.dim)
    if config.text_encoder_dim != encoder.dim:
        raise ValueError(f"model.text_encoder_dim is {config.text_encoder_dim}, but the text encoder "
                         f"{config.text_encoder!r} is {encoder.dim} wide (leave it unset)")
    return config


# How the progress bar names each evaluation's log key.
_EVAL_NAMES = {"val_loss": "held-out loss", "unseen_loss": "unseen-video loss", "seen_loss": "training-video loss"}

# Full (unsharded) state dicts on the CPU: what a checkpoint stores under any parallelism.
_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


class LMTraining:
    """The LM's part of `train_loop`: the model (wrapped by DDP or sharded by FSDP2 under
    `torchrun`), its step on this rank's slice of the global batch, the evaluation losses and
    checkpoints (full state dicts, gathered from every rank)."""

    def __init__(self, config: LMRunConfig, info: DistInfo, text: TextTokenizer | TextEncoder,
                 train_examples: WindowExamples, eval_sets: dict[str, WindowExamples],
                 initial: Transformer | None = None, training_data: dict[str, Any] | None = None) -> None:
        cfg = self.cfg = config.train
        self.info, self.train_examples, self.eval_sets = info, train_examples, eval_sets
        model = Transformer(config.model).to(info.device)
        if initial is not None:
            model.load_state_dict(initial.state_dict())
        self.lm = (VideoLM(model, None, encoder=text, training_data=training_data) if isinstance(text, TextEncoder)
                   else VideoLM(model, text, training_data=training_data))
        self.trained = parallelize(self.lm.model, info, cfg.parallel, activation_checkpointing=cfg.activation_checkpointing)
        self.optimizer = torch.optim.AdamW(self.trained.parameters(), **_optimizer_settings(cfg))
        self.loss = step_loss(cfg.compile)
        self.rows = rank_rows(cfg.batch_size, info)
        self.last_loss = float("nan")
        self.trained.train()

    def step(self, step: int, rng: np.random.Generator, autocast: contextlib.AbstractContextManager) -> StepResult:
        """One optimiser step on this rank's rows of the global batch; the loss is the global mean."""
        batch = self.train_examples.batch(rng, self.cfg.batch_size)
        if self.cfg.context_noise:
            batch = with_context_noise(batch, self.cfg.context_noise, self.lm.vocab, rng)
        targets = int(batch.loss_mask[:, 1:].sum())  # over the global batch, the same on every rank
        local = batch.rows(self.rows, self.info.device)
        loss_sum = train_step(self.trained, self.optimizer, local, targets=targets, autocast=autocast,
                              grad_clip=self.cfg.grad_clip, loss=self.loss, world=self.info.world,
                              micro_batch_size=self.cfg.micro_batch_size)
        self.last_loss = all_reduce_sum(loss_sum, self.info).item() / targets
        return StepResult(self.last_loss, batch.tokens.numel(), {})

    def evaluate(self, step: int, autocast: contextlib.AbstractContextManager) -> Evaluation | None:
        """The loss on each evaluation set (collective: every rank scores its rows), beside the last
        step's training loss; None without evaluation sets."""
        if not self.eval_sets:
            return None
        losses = {key: evaluate_loss(self.trained, examples, self.cfg, self.info, self.rows, autocast)
                  for key, examples in self.eval_sets.items()}
        trained = math.isfinite(self.last_loss)  # no step yet (a fine-tune's baseline at step 0): no train loss
        message = (f"step {step}: " + (f"train loss {self.last_loss:.4f}, " if trained else "")
                   + ", ".join(f"{_EVAL_NAMES[key]} {value:.4f}" for key, value in losses.items()))
        return Evaluation({**({"train_loss": self.last_loss} if trained else {}), **losses}, message)

    def checkpoint(self) -> Callable[[Path], dict[str, Any]]:
        """Gathers the full model and optimizer state (collective under FSDP2); the writer stores the
        LM as a folder `VideoLM.from_pretrained` reads (text tokenizer inside) and the optimizer."""
        model_state, optim_state = get_state_dict(self.trained, self.optimizer, options=_FULL)

        def write(folder: Path) -> dict[str, Any]:
            self.lm.write_files(folder, model_state=model_state)
            # Sampling settings put beside the weights (docs/training.md) stay with the next checkpoint.
            try:  # `checkpoint.old` where a crash fell between the last save's renames
                given = resolve_checkpoint(Path(self.cfg.out_dir) / "checkpoint") / GENERATION_CONFIG
            except FileNotFoundError:
                given = None
            if given is not None and given.is_file():
                shutil.copyfile(given, folder / GENERATION_CONFIG)
            tensors, meta = optimizer_state_to_files(optim_state)
            save_tensors(folder / "optimizer.safetensors", tensors)
            return {"optimizer": meta}

        return write

    def load(self, folder: Path, state: dict[str, Any]) -> None:
        """Restore a checkpoint `checkpoint` wrote, on every rank.

        Raises:
            ValueError: a checkpoint of another architecture than the configured model, or one that
                learnt from videos of another frame rate or tokenizer encoder than `train.data`'s.
        """
        # The weights alone (not `VideoLM.from_pretrained`, which would load a second text encoder).
        saved = Transformer(self.lm.config)
        load_module_weights(saved, folder, self.lm.config)  # raises ValueError on another architecture
        was, now = read_training_data(folder) or {}, self.lm.training_data or {}
        if not same_videos(was, now):
            raise ValueError(f"checkpoint {str(folder)!r} learnt from videos of another frame rate or tokenizer "
                             f"encoder than train.data's ({was} against {now}): start a new run to train on these")
        optim_state = optimizer_state_from_files(load_tensors(folder / "optimizer.safetensors"), state["optimizer"],
                                                 settings=_optimizer_settings(self.cfg))  # a resume's overrides
        set_state_dict(self.trained, self.optimizer, model_state_dict=saved.state_dict(),
                       optim_state_dict=optim_state, options=StateDictOptions(full_state_dict=True))


def _optimizer_settings(cfg: LMTrainConfig) -> dict[str, Any]:
    """AdamW's settings from the config: set when the optimizer is made and again when a resume
    loads its state (`optimizer_state_from_files`), so that overrides given with --resume hold."""
    return {"lr": cfg.lr, "betas": tuple(cfg.betas), "weight_decay": cfg.weight_decay}


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, examples: WindowExamples, cfg: LMTrainConfig, info: DistInfo,
                  rows: slice = slice(None), autocast=None) -> float:
    """Mean next-token loss over `eval_batches` fixed batches of `examples` (the same batches every
    time). Each rank scores its `rows` of every batch, `micro_batch_size` rows a pass; the sums are
    added over ranks."""
    model.eval()
    total = torch.zeros((), device=info.device)
    count = torch.zeros((), device=info.device)
    for index in range(cfg.eval_batches):
        batch = examples.batch(np.random.default_rng([cfg.seed, 10**9 + index]), cfg.batch_size)
        local = batch.rows(rows, "cpu")
        for part in micro_slices(len(local.tokens), cfg.micro_batch_size):  # as many rows a pass as a step
            with autocast or contextlib.nullcontext():
                loss_sum, targets = token_loss_sum(model, local.rows(part, info.device))
            total, count = total + loss_sum.float(), count + targets
    model.train()
    return (all_reduce_sum(total, info) / all_reduce_sum(count, info)).item()
