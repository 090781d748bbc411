"""Training of the video tokenizer: `train_tokenizer(run_config)`.

One process, CPU or one CUDA device (bf16 autocast on CUDA and on CPUs with native bf16). Checkpoints are atomic folders that
`VideoTokenizer.from_pretrained` reads directly; `resume=True` continues from the last one on
exactly the batches the interrupted run would have drawn (batches are seeded by step).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from arvid.configs import to_dict
from arvid.training.checkpoint import (atomic_folder, load_tensors, optimizer_state_from_files, optimizer_state_to_files,
                                   resolve_checkpoint, save_tensors, write_json)
from arvid.data.clips import FileClips
from arvid.shapes.clips import ShapesClips
from arvid.data.images import frame_strip, save_png
from arvid.training.loop import TrainingDiverged
from arvid.training.precision import check_precision, mixed_precision
from arvid.training.schedule import warmup_cosine
from arvid.metrics import codebook_usage, psnr
from arvid.tokenizer import losses
from arvid.tokenizer.config import TokenizerConfig
from arvid.tokenizer.discriminator import Discriminator3d
from arvid.tokenizer.evaluate import evaluate, reconstruct
from arvid.tokenizer.grow import init_weights
from arvid.tokenizer.model import TokenizerOutput, VideoTokenizer, frames_to_video


@dataclass(kw_only=True)
class TokenizerTrainConfig:
    """How to train a tokenizer. `data` is "shapes" or a folder / manifest of videos."""

    data: str = "shapes"
    out_dir: str = "runs/tokenizer"
    clip_frames: int = 9
    batch_size: int = 4
    steps: int = 4000
    max_minutes: float | None = None
    lr: float = 5e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # Extra weight of the reconstruction error on object outlines (`losses.reconstruction_loss`); 0: plain L2.
    edge_weight: float = 0.0
    entropy_weight: float = 0.1
    commitment_weight: float = 0.25
    adversarial_weight: float = 0.0
    adversarial_start_step: int = 2000
    lecam_weight: float = 0.001
    perceptual_weight: float = 0.0
    perceptual_weights: str | None = None
    eval_every: int = 500
    eval_videos: int = 16
    eval_frames: int = 17
    checkpoint_every: int = 250
    # An exponential moving average of the weights, kept from `ema_start_step` on and saved beside
    # the checkpoint as a complete tokenizer folder (`checkpoint/ema`); None keeps none.
    ema_decay: float | None = None
    ema_start_step: int = 0
    # A second phase: `init_from` (a tokenizer folder of the same architecture, or one whose decoder
    # has fewer residual blocks per level: it is grown, `arvid.tokenizer.grow`) gives the starting
    # weights, and with `train_encoder: false` only the decoder learns. The encoder and quantizer
    # are then frozen, so every video keeps exactly the codes it had: token shards and an LM
    # trained on them stay valid while the decoder draws those codes more sharply.
    init_from: str | None = None
    train_encoder: bool = True
    seed: int = 0
    device: str = "auto"
    # "auto": bf16 autocast on CUDA and on CPUs with native bf16, float32 elsewhere.
    precision: str = "auto"
    # Compile the step's forward pass and its reconstruction and quantizer losses with torch.compile
    # (inductor); the perceptual and adversarial terms and evaluation stay eager. The first step
    # waits while it compiles. Off by default: on the 2-core CPU it saved only 3-6% a step
    # (`python benchmarks/train_tokenizer.py`, README), where the LM's step gains 1.68x.
    compile: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be positive")
        check_precision(self.precision)
        if self.perceptual_weight > 0 and not self.perceptual_weights:
            raise ValueError("perceptual_weight > 0 needs perceptual_weights: a local path to VGG16 safetensors")
        if self.edge_weight < 0:
            raise ValueError(f"edge_weight must be >= 0, got {self.edge_weight}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1) or null, got {self.ema_decay}")


@dataclass(kw_only=True)
class TokenizerRunConfig:
    """A whole run: the architecture (`model`) and how to train it (`train`)."""

    model: TokenizerConfig = field(default_factory=TokenizerConfig)
    train: TokenizerTrainConfig = field(default_factory=TokenizerTrainConfig)


def pick_device(name: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; anything else is passed to `torch.device`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def heldout_eval_clips(config: TokenizerRunConfig) -> list[np.ndarray]:
    """The fixed evaluation set: `eval_videos` shapes clips of held-out attribute combinations."""
    source = ShapesClips(frames=config.train.eval_frames, size=config.model.image_size, split="heldout")
    rng = np.random.default_rng(10_000 + config.train.seed)
    return [source.sample(rng) for _ in range(config.train.eval_videos)]


def generator_objective(model: VideoTokenizer, batch: torch.Tensor, *, frozen_encoder: bool, edge_weight: float,
                        entropy_weight: float, commitment_weight: float) -> tuple[torch.Tensor, TokenizerOutput]:
    """The tokenizer's own loss on `batch` (b 3 t h w, in [-1, 1]): reconstruction error (outlines
    weighted by `edge_weight`) plus the weighted quantizer terms. Returns (scalar loss, the model's
    output). The part of a step `train.compile` compiles: tensors and constants only."""
    out = model(batch, frozen_encoder=frozen_encoder)
    loss = losses.reconstruction_loss(out.reconstruction.float(), batch, edge_weight=edge_weight)
    loss = loss + losses.quantizer_loss(out.quantized, entropy_weight=entropy_weight, commitment_weight=commitment_weight)
    return loss, out


def step_objective(compile: bool):
    """The training step's objective: `generator_objective`, or with `compile` a `torch.compile` copy
    of it (dynamic=False: every training batch has one shape, so it compiles once)."""
    return torch.compile(generator_objective, dynamic=False) if compile else generator_objective


def freeze_encoder(model: VideoTokenizer) -> None:
    """Stop the encoder and quantizer learning (a decoder phase): every video keeps its codes."""
    model.encoder.requires_grad_(False)
    model.quantizer.requires_grad_(False)


def train_tokenizer(config: TokenizerRunConfig, *, resume: bool = False) -> Path:
    """Train a tokenizer as `config` says; returns the checkpoint folder.

    Raises:
        ValueError: `resume` with a checkpoint of another architecture.
        TrainingDiverged: a non-finite loss (the message names the step).
    """
    cfg = config.train
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    out_dir = Path(cfg.out_dir)
    ckpt_dir = out_dir / "checkpoint"
    torch.manual_seed(cfg.seed)

    model = VideoTokenizer(config.model).to(device)
    if cfg.init_from is not None:
        # Raises ValueError on another architecture; a deeper decoder is grown from the checkpoint's.
        print(f"starting from {init_weights(model, cfg.init_from)}")  # init_weights resolves the folder
    if not cfg.train_encoder:
        freeze_encoder(model)
    trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    adversarial = cfg.adversarial_weight > 0
    discriminator = Discriminator3d().to(device) if adversarial else None
    lecam = losses.LeCAMRegularizer().to(device) if adversarial else None
    disc_optimizer = (torch.optim.AdamW(discriminator.parameters(), lr=cfg.lr, betas=cfg.betas)
                      if discriminator is not None else None)
    perceptual = losses.PerceptualLoss(cfg.perceptual_weights).to(device) if cfg.perceptual_weight > 0 else None

    ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
           if cfg.ema_decay is not None else None)
    step = 0
    if resume:
        step = _load_training_state(ckpt_dir, config, model, optimizer, discriminator, disc_optimizer, ema)
        print(f"resumed from {ckpt_dir} at step {step}")

    if cfg.data == "shapes":
        source = ShapesClips(frames=cfg.clip_frames, size=config.model.image_size)
    else:
        source = FileClips(cfg.data, frames=cfg.clip_frames, size=config.model.image_size)
    eval_clips = heldout_eval_clips(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "run_config.json").write_text(json.dumps(to_dict(config), indent=2) + "\n")

    autocast = mixed_precision(device, cfg.precision)
    objective = step_objective(cfg.compile)
    started = time.monotonic()
    recent_codes: list[torch.Tensor] = []
    bar = tqdm(total=cfg.steps, initial=step, desc="tokenizer", dynamic_ncols=True)
    model.train()
    while step < cfg.steps:
        if cfg.max_minutes is not None and time.monotonic() - started > 60 * cfg.max_minutes:
            bar.write(f"time budget of {cfg.max_minutes} min reached at step {step}")
            break
        tick = time.monotonic()
        rng = np.random.default_rng([cfg.seed, step])
        batch = torch.cat([frames_to_video(source.sample(rng)) for _ in range(cfg.batch_size)]).to(device)
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(step, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                                        total_steps=cfg.steps, min_lr_ratio=cfg.min_lr_ratio)

        with autocast:
            loss, out = objective(model, batch, frozen_encoder=not cfg.train_encoder, edge_weight=cfg.edge_weight,
                                  entropy_weight=cfg.entropy_weight, commitment_weight=cfg.commitment_weight)
            if perceptual is not None:
                loss = loss + cfg.perceptual_weight * perceptual(out.reconstruction.float(), batch)
            use_gan = discriminator is not None and step >= cfg.adversarial_start_step
            if use_gan:
                loss = loss + cfg.adversarial_weight * losses.generator_adversarial_loss(discriminator(out.reconstruction))
        if not torch.isfinite(loss):
            bar.close()
            raise TrainingDiverged(f"non-finite loss {loss.item()} at step {step}; last good checkpoint: {ckpt_dir}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, cfg.grad_clip)
        optimizer.step()

        if use_gan:
            with autocast:
                real_logits = discriminator(batch)
                fake_logits = discriminator(out.reconstruction.detach())
                disc_loss = (losses.discriminator_hinge_loss(real_logits, fake_logits)
                             + cfg.lecam_weight * lecam(real_logits.float(), fake_logits.float()))
            disc_optimizer.zero_grad(set_to_none=True)
            disc_loss.backward()
            disc_optimizer.step()

        step += 1
        if ema is not None and step > cfg.ema_start_step:
            ema.update_parameters(model)  # the first update copies the weights
        recent_codes = (recent_codes + [out.quantized.indices.detach().flatten().cpu()])[-50:]
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", psnr=f"{psnr(out.reconstruction.detach(), batch).mean().item():.1f}",
                        usage=f"{codebook_usage(torch.cat(recent_codes), model.codebook_size).usage:.3f}",
                        clips_s=f"{cfg.batch_size / (time.monotonic() - tick):.1f}")

        if step % cfg.eval_every == 0 or step == cfg.steps:
            _evaluate_and_log(model, _started_ema(ema), eval_clips, out_dir, step, bar)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            _save_training_state(ckpt_dir, model, optimizer, step, discriminator, disc_optimizer, ema)
    bar.close()
    _save_training_state(ckpt_dir, model, optimizer, step, discriminator, disc_optimizer, ema)
    return ckpt_dir


def _started_ema(ema: AveragedModel | None) -> VideoTokenizer | None:
    """The averaged tokenizer once it has seen a step, else None."""
    return ema.module if ema is not None and ema.n_averaged.item() > 0 else None


def _evaluate_and_log(model: VideoTokenizer, ema_model: VideoTokenizer | None, clips: list[np.ndarray], out_dir: Path,
                      step: int, bar: tqdm) -> None:
    result = {"step": step, **evaluate(model, clips)}
    message = (f"step {step}: held-out PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}, "
               f"codebook usage {result['codebook_usage']:.3f}")
    if ema_model is not None:
        result["ema"] = evaluate(ema_model, clips)
        message += f"; EMA weights {result['ema']['psnr']:.2f} dB"
    with open(out_dir / "eval.jsonl", "a") as log:
        log.write(json.dumps(result) + "\n")
    bar.write(message)
    model.eval()
    recon = reconstruct(model, clips[0]).frames
    model.train()
    save_png(out_dir / "samples" / f"step_{step:06d}.png", frame_strip([clips[0][: len(recon)], recon]))


def _save_training_state(ckpt_dir: Path, model: VideoTokenizer, optimizer: torch.optim.Optimizer, step: int,
                         discriminator: torch.nn.Module | None, disc_optimizer: torch.optim.Optimizer | None,
                         ema: AveragedModel | None) -> None:
    with atomic_folder(ckpt_dir) as staging:
        model.write_files(staging)
        if _started_ema(ema) is not None:
            (staging / "ema").mkdir()
            ema.module.write_files(staging / "ema")
        tensors, meta = optimizer_state_to_files(optimizer.state_dict())
        save_tensors(staging / "optimizer.safetensors", tensors)
        state = {"step": step, "optimizer": meta}
        if discriminator is not None:
            save_tensors(staging / "discriminator.safetensors", discriminator.state_dict())
            disc_tensors, disc_meta = optimizer_state_to_files(disc_optimizer.state_dict())
            save_tensors(staging / "discriminator_optimizer.safetensors", disc_tensors)
            state["discriminator_optimizer"] = disc_meta
        write_json(staging / "trainer_state.json", state)


def _load_training_state(ckpt_dir: Path, config: TokenizerRunConfig, model: VideoTokenizer,
                         optimizer: torch.optim.Optimizer, discriminator: torch.nn.Module | None,
                         disc_optimizer: torch.optim.Optimizer | None, ema: AveragedModel | None) -> int:
    folder = resolve_checkpoint(ckpt_dir)
    model.load_weights(folder)  # raises ValueError on another architecture
    state = json.loads((folder / "trainer_state.json").read_text())
    if ema is not None and (folder / "ema").is_dir():
        ema.module.load_weights(folder / "ema")
        ema.n_averaged.fill_(1)  # started: the next update blends rather than copies
    optimizer.load_state_dict(optimizer_state_from_files(load_tensors(folder / "optimizer.safetensors"), state["optimizer"]))
    if discriminator is not None and (folder / "discriminator.safetensors").is_file():
        discriminator.load_state_dict(load_tensors(folder / "discriminator.safetensors"))
        disc_optimizer.load_state_dict(optimizer_state_from_files(
            load_tensors(folder / "discriminator_optimizer.safetensors"), state["discriminator_optimizer"]))
    return int(state["step"])
