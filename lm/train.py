"""Training of the video LM: `train_lm(run_config)`, on one process or under `torchrun`.

AdamW with linear warm-up and cosine decay, gradient clipping, bf16 autocast (on CUDA, and on CPUs with native bf16). Every rank
draws the same global batch from a generator seeded by the step and trains on its own slice, so a
run resumes on exactly the batches it would have drawn and N processes see what one process
would. Only rank 0 writes logs and checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict
from tqdm import tqdm

from arvid.configs import to_dict
from arvid.training.checkpoint import (atomic_folder, load_tensors, optimizer_state_from_files, optimizer_state_to_files,
                                   resolve_checkpoint, save_tensors, write_json)
from arvid.data.shards import open_shards
from arvid.training.loop import TrainingDiverged
from arvid.training.precision import check_precision, mixed_precision
from arvid.training.schedule import warmup_cosine
from arvid.lm.checkpoint import VideoLM
from arvid.lm.config import LMConfig
from arvid.lm.examples import Batch, WindowExamples
from arvid.lm.model import Transformer
from arvid.lm.parallel import DistInfo, all_reduce_sum, init_distributed, parallelize
from arvid.lm.text import TextTokenizer


@dataclass(kw_only=True)
class LMTrainConfig:
    """How to train the LM. `data`, `val_data` and `unseen_data` are token-shard folders (`arvid
    tokenize-dataset`); `text_tokenizer` is a folder holding `text_tokenizer.model` (`arvid
    train-text-tokenizer`).

    `val_data` holds videos of held-out prompts (generalisation to new attribute combinations).
    `unseen_data`, optional, holds new videos of the training prompts: when it is given, the
    evaluation also scores the same number of batches drawn from `data`, and the gap between the
    two losses is what the LM has memorised of its training videos rather than learnt. `data` may
    also be a list of shard folders (`train.data=[a,b]`), read as one dataset: a dataset grows by
    another folder of new videos without re-encoding the ones it has."""

    data: str | tuple[str, ...] = "runs/shapes-tokens/train"
    val_data: str | None = "runs/shapes-tokens/heldout"
    unseen_data: str | None = None
    text_tokenizer: str = "runs/text-tokenizer"
    out_dir: str = "runs/lm"
    batch_size: int = 16
    steps: int = 2000
    max_minutes: float | None = None
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    caption_dropout: float = 0.1
    # Share of examples that are a video's first window (see `arvid.lm.examples`); None: uniform starts.
    first_window_share: float | None = None
    eval_every: int = 250
    eval_batches: int = 4
    checkpoint_every: int = 250
    seed: int = 0
    device: str = "auto"
    # "auto": bf16 autocast on CUDA and on CPUs with native bf16, float32 elsewhere.
    precision: str = "auto"
    threads: int | None = None
    parallel: Literal["ddp", "fsdp2"] = "ddp"
    # Compile the training step's forward and loss with torch.compile (inductor). The first steps
    # then wait while it compiles (about 20 s for the tiny preset on this CPU); on this 2-core CPU
    # a tiny-preset step runs about 1.6 times as fast (`python benchmarks/train_lm.py`),
    # mostly from fusing the loss's log-softmax over the whole vocabulary. Evaluation stays eager.
    compile: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "eval_batches", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.caption_dropout <= 1:
            raise ValueError(f"caption_dropout must be in [0, 1], got {self.caption_dropout}")
        if self.first_window_share is not None and not 0 <= self.first_window_share <= 1:
            raise ValueError(f"first_window_share must be in [0, 1] or null, got {self.first_window_share}")
        check_precision(self.precision)


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


def summed_loss(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of `model(inputs)` against `targets`, both (b n) int64, -100 where a
    position is not a target: a scalar. Tensors only, so `torch.compile` takes it whole."""
    logits = model(inputs)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum")


def step_loss(compile: bool):
    """The training step's loss function: `summed_loss`, or with `compile` a `torch.compile` copy of it
    (dynamic=False: training batches all have one shape, as the text prefix has a fixed length; a
    batch of another shape would only compile once more)."""
    return torch.compile(summed_loss, dynamic=False) if compile else summed_loss


def token_loss_sum(model: torch.nn.Module, batch: Batch, loss=summed_loss) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over the targets of `batch`, and how many targets there were.
    `loss` computes the sum (`summed_loss`, or a compiled copy of it)."""
    targets = batch.tokens[:, 1:].masked_fill(~batch.loss_mask[:, 1:], -100)
    return loss(model, batch.tokens[:, :-1], targets), int(batch.loss_mask[:, 1:].sum())


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, *, targets: int, autocast,
               grad_clip: float, loss=summed_loss, world: int = 1) -> torch.Tensor:
    """One optimiser step on this rank's `batch`: the loss is its summed cross-entropy over `targets`
    (the global batch's target count), gradients are clipped to `grad_clip`. Returns the summed
    loss of `batch`, detached (a scalar)."""
    with autocast:
        loss_sum, _ = token_loss_sum(model, batch, loss)
    # DDP averages gradients over ranks, so scale by the world size to get the global token mean.
    optimizer.zero_grad(set_to_none=True)
    (loss_sum * world / targets).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss_sum.detach()


def train_lm(config: LMRunConfig, *, resume: bool = False) -> TrainResult:
    """Train as `config` says (one process, or every rank of a `torchrun` launch).

    Raises:
        ValueError: shards that do not fit the model, a batch not divisible by the world size, or
            `resume` from a checkpoint of another architecture.
        TrainingDiverged: a non-finite loss.
    """
    cfg = config.train
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    info = init_distributed(device)
    if cfg.batch_size % info.world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {info.world} processes")
    text = TextTokenizer.load(cfg.text_tokenizer)
    train_examples = WindowExamples(open_shards(cfg.data), text, config.model, caption_dropout=cfg.caption_dropout,
                                    first_window_share=cfg.first_window_share)
    # Scored every `eval_every` steps, without caption dropout: log key -> examples.
    eval_sets = {key: WindowExamples(open_shards(path), text, config.model, caption_dropout=0.0)
                 for key, path in (("val_loss", cfg.val_data), ("unseen_loss", cfg.unseen_data),
                                   ("seen_loss", cfg.data if cfg.unseen_data else None)) if path}

    torch.manual_seed(cfg.seed)
    lm = VideoLM(Transformer(config.model).to(info.device), text)
    out_dir, ckpt_dir = Path(cfg.out_dir), Path(cfg.out_dir) / "checkpoint"
    trained = parallelize(lm.model, info, cfg.parallel)
    optimizer = torch.optim.AdamW(trained.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    step = _load_state(ckpt_dir, lm, trained, optimizer) if resume else 0
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "run_config.json").write_text(json.dumps(to_dict(config), indent=2) + "\n")
        if resume:
            print(f"resumed from {ckpt_dir} at step {step}")

    autocast = mixed_precision(info.device, cfg.precision)
    loss_fn = step_loss(cfg.compile)
    rows = slice(info.rank * cfg.batch_size // info.world, (info.rank + 1) * cfg.batch_size // info.world)
    started, loss_value, saved_step = time.monotonic(), float("nan"), step
    bar = tqdm(total=cfg.steps, initial=step, desc="lm", dynamic_ncols=True, disable=not info.is_main)
    trained.train()
    while step < cfg.steps:
        if cfg.max_minutes is not None and time.monotonic() - started > 60 * cfg.max_minutes:
            bar.write(f"time budget of {cfg.max_minutes} min reached at step {step}")
            break
        tick = time.monotonic()
        batch = train_examples.batch(np.random.default_rng([cfg.seed, step]), cfg.batch_size)
        targets = int(batch.loss_mask[:, 1:].sum())  # over the global batch, the same on every rank
        local = Batch(batch.tokens[rows].to(info.device), batch.loss_mask[rows].to(info.device))
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(step, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                                        total_steps=cfg.steps, min_lr_ratio=cfg.min_lr_ratio)
        loss_sum = train_step(trained, optimizer, local, targets=targets, autocast=autocast, grad_clip=cfg.grad_clip,
                              loss=loss_fn, world=info.world)
        loss_value = all_reduce_sum(loss_sum, info).item() / targets
        if not math.isfinite(loss_value):
            bar.close()
            raise TrainingDiverged(f"non-finite loss at step {step}; last good checkpoint: {ckpt_dir}")
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", tokens_s=f"{batch.tokens.numel() / (time.monotonic() - tick):.0f}")
        if eval_sets and (step % cfg.eval_every == 0 or step == cfg.steps):
            losses = {key: evaluate_loss(trained, examples, cfg, info, rows, autocast)
                      for key, examples in eval_sets.items()}
            if info.is_main:
                _log(out_dir, {"step": step, "train_loss": loss_value, **losses})
                bar.write(f"step {step}: train loss {loss_value:.4f}, "
                          + ", ".join(f"{_EVAL_NAMES[key]} {value:.4f}" for key, value in losses.items()))
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            _save_state(ckpt_dir, lm, trained, optimizer, step, info)
            saved_step = step
    bar.close()
    if saved_step != step:  # stopped by the time budget between checkpoints
        _save_state(ckpt_dir, lm, trained, optimizer, step, info)
    return TrainResult(ckpt_dir, lm.model, loss_value)


# How the progress bar names each evaluation's log key.
_EVAL_NAMES = {"val_loss": "held-out loss", "unseen_loss": "unseen-video loss", "seen_loss": "training-video loss"}


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, examples: WindowExamples, cfg: LMTrainConfig, info: DistInfo,
                  rows: slice = slice(None), autocast=None) -> float:
    """Mean next-token loss over `eval_batches` fixed batches of `examples` (the same batches every
    time). Each rank scores its `rows` of every batch; the sums are added over ranks."""
    model.eval()
    total = torch.zeros((), device=info.device)
    count = torch.zeros((), device=info.device)
    for index in range(cfg.eval_batches):
        batch = examples.batch(np.random.default_rng([cfg.seed, 10**9 + index]), cfg.batch_size)
        local = Batch(batch.tokens[rows].to(info.device), batch.loss_mask[rows].to(info.device))
        with autocast or contextlib.nullcontext():
            loss_sum, targets = token_loss_sum(model, local)
        total, count = total + loss_sum.float(), count + targets
    model.train()
    return (all_reduce_sum(total, info) / all_reduce_sum(count, info)).item()


def _log(out_dir: Path, record: dict) -> None:
    with open(out_dir / "eval.jsonl", "a") as log:
        log.write(json.dumps(record) + "\n")


_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def _save_state(ckpt_dir: Path, lm: VideoLM, trained: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int,
                info: DistInfo) -> None:
    # Gathering full state dicts is collective under FSDP2: every rank calls it, rank 0 writes.
    model_state, optim_state = get_state_dict(trained, optimizer, options=_FULL)
    if not info.is_main:
        return
    with atomic_folder(ckpt_dir) as staging:
        lm.write_files(staging, model_state=model_state)
        tensors, meta = optimizer_state_to_files(optim_state)
        save_tensors(staging / "optimizer.safetensors", tensors)
        write_json(staging / "trainer_state.json", {"step": step, "optimizer": meta})


def _load_state(ckpt_dir: Path, lm: VideoLM, trained: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    folder = resolve_checkpoint(ckpt_dir)
    saved = VideoLM.from_pretrained(folder)  # raises ValueError on another architecture
    if saved.config != lm.config:
        raise ValueError(f"checkpoint {str(folder)!r} is another architecture than the configured model")
    state = json.loads((folder / "trainer_state.json").read_text())
    optim_state = optimizer_state_from_files(load_tensors(folder / "optimizer.safetensors"), state["optimizer"])
    set_state_dict(trained, optimizer, model_state_dict=saved.model.state_dict(), optim_state_dict=optim_state,
                   options=StateDictOptions(full_state_dict=True))
    return int(state["step"])
