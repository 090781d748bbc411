"""Training of the video tokenizer: `train_tokenizer(run_config)`.

One process (CPU or one CUDA device) or every process of a `torchrun` launch (DDP), in the shared
loop (`arvid.training.loop`): bf16 autocast on CUDA and on CPUs with native bf16, atomic checkpoint
folders that `VideoTokenizer.from_pretrained` reads directly, and `resume=True` continuing on exactly
the batches the interrupted run would have drawn.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from arvid.data.clips import ClipSource
from arvid.data.decoded import DEFAULT_CACHE_MB, DecodedVideos
from arvid.data.folder_clips import FileClips
from arvid.data.images import frame_strip, save_png
from arvid.data.step_batches import StepBatches
from arvid.metrics import codebook_usage, psnr
from arvid.tokenizer import losses
from arvid.tokenizer.config import TokenizerConfig
from arvid.tokenizer.discriminator import Discriminator3d
from arvid.tokenizer.evaluate import evaluate, reconstruct
from arvid.tokenizer.grow import init_weights
from arvid.tokenizer.model import TokenizerOutput, VideoTokenizer, frames_to_video
from arvid.training.checkpoint import (load_tensors, optimizer_state_from_files, optimizer_state_to_files,
                                       save_tensors)
from arvid.training.distributed import (DistInfo, all_reduce_sum, any_rank, failing_together, gradient_sync,
                                       init_distributed, rank_rows, wrap_ddp)
from arvid.training.loop import Evaluation, LoopConfig, StepResult, start_run, train_loop
from arvid.training.micro_batches import micro_slices


@dataclass(kw_only=True)
class TokenizerTrainConfig(LoopConfig):
    """How to train a tokenizer; the loop's own fields come from `arvid.training.loop.LoopConfig`.

    `data` (training clips) and `val_data` (the fixed evaluation clips; None: no evaluation) name
    clip sources that `train_tokenizer`'s `open_clips` opens: a folder or text manifest of videos
    and images (`arvid.data.folder_clips.FileClips`), or any name the caller's opener knows
    (`arvid train-tokenizer` also knows the shapes world's and prepared manifests,
    `arvid.tools.data_sources`)."""

    # `LoopConfig` fields with this trainer's own defaults.
    out_dir: str = "runs/tokenizer"
    steps: int = 4000
    lr: float = 5e-4
    eval_every: int = 500
    data: str | None = None
    val_data: str | None = None
    clip_frames: int = 9
    batch_size: int = 4
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
    eval_videos: int = 16
    eval_frames: int = 17
    # Frames a second that video files are read at, whatever their own rate (the shapes world runs
    # at 8); null reads each file at its own rate.
    fps: float | None = 8.0
    # Processes that decode the training batches ahead of the steps (`arvid.data.step_batches`);
    # 0 decodes them in the training process. Every step's batch is the same for any number.
    num_workers: int = 0
    # Megabytes of decoded video each process keeps, so clips are cut from memory rather than
    # decoded again (`arvid.data.decoded`); 0 decodes every clip from its file.
    cache_mb: float = DEFAULT_CACHE_MB
    # An exponential moving average of the weights, kept from `ema_start_step` on and saved beside
    # the checkpoint as a complete tokenizer folder (`checkpoint/ema`); None keeps none.
    ema_decay: float | None = None
    ema_start_step: int = 0
    # A second phase: `init_from` (a tokenizer folder of the same architecture, or one whose decoder
    # has fewer residual blocks per level: it is grown, `arvid.tokenizer.grow`; its training crops may
    # have another size) gives the starting weights, and with `train_encoder: false` only the decoder
    # learns. The encoder and quantizer are then frozen, so every video keeps exactly the codes it
    # had: token shards and an LM trained on them stay valid while the decoder draws them more sharply.
    init_from: str | None = None
    train_encoder: bool = True
    # `compile` (LoopConfig's) compiles the step's forward pass and its reconstruction and quantizer
    # losses (inductor); the perceptual and adversarial terms and evaluation stay eager. Off by
    # default: on CPU it saves too little a step to pay for its compiling
    # (`python benchmarks/train_tokenizer.py`).

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.perceptual_weight > 0 and not self.perceptual_weights:
            raise ValueError("perceptual_weight > 0 needs perceptual_weights: a local path to VGG16 safetensors")
        if self.edge_weight < 0:
            raise ValueError(f"edge_weight must be >= 0, got {self.edge_weight}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1) or null, got {self.ema_decay}")
        if self.fps is not None and not 0 < self.fps < float("inf"):
            raise ValueError(f"fps must be > 0 and finite, or null, got {self.fps}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if not self.cache_mb >= 0:
            raise ValueError(f"cache_mb must be >= 0, got {self.cache_mb}")


@dataclass(kw_only=True)
class TokenizerRunConfig:
    """A whole run: the architecture (`model`) and how to train it (`train`)."""

    model: TokenizerConfig = field(default_factory=TokenizerConfig)
    train: TokenizerTrainConfig = field(default_factory=TokenizerTrainConfig)


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
    of it (dynamic=False: every training batch has one shape, so it compiles once, and once more for a
    shorter last micro-batch)."""
    return torch.compile(generator_objective, dynamic=False) if compile else generator_objective


def freeze_encoder(model: VideoTokenizer) -> None:
    """Stop the encoder and quantizer learning (a decoder phase): every video keeps its codes."""
    model.encoder.requires_grad_(False)
    model.quantizer.requires_grad_(False)


# Under `train.out_dir`: what reading each source's files found (shots, image sizes), so that a
# resumed run does not decode every unchanged video again (`arvid.data.scan_index`).
FILE_INDEXES = {"train": "files_train.json", "val": "files_val.json"}


# The preset and overrides that describe each shipped tokenizer (tested), for `train.init_from` hints.
SHIPPED_ARCHITECTURES = {"shapes": "--config tiny model.decoder_res_blocks=4", "natural": "--config natural"}


def train_tokenizer(config: TokenizerRunConfig, *, resume: bool = False,
                    open_clips: Callable[..., ClipSource] = FileClips) -> Path:
    """Train a tokenizer as `config` says; returns the checkpoint folder.

    `open_clips(name, frames=, size=, fps=, cache=, workers=, index=)` opens the clip sources
    `train.data` and `train.val_data` name (`workers`: processes it may read files in; `index`: a
    file under `out_dir` where it may keep what reading them found, `FILE_INDEXES`); the default
    reads folders and text manifests of videos and images. The evaluation set is `eval_videos` clips of
    `eval_frames` frames drawn once from `val_data`, with a generator seeded by `10_000 + seed`.
    Training batches are drawn in `train.num_workers` processes (`arvid.data.step_batches`).

    Under `torchrun` every process trains its share of each step's batch (the rows one process would
    draw there, `batch_size` divided among the processes) with the gradients all-reduced by DDP, the
    discriminator's too; the first process evaluates and writes.

    Raises:
        ValueError: `train.data` not set, a batch not divisible by the processes, or `resume` with a
            checkpoint of another architecture.
        OtherProcessFailed: under torchrun, the first process could not open the evaluation clips
            (it raises that error itself).
        FileNotFoundError: a data source that does not exist, or `resume` without a checkpoint.
        TrainingDiverged: a non-finite loss (the message names the step).
    """
    cfg, size = config.train, config.model.image_size
    if cfg.data is None:
        raise ValueError("train.data is not set: name the training clips (a folder or manifest of videos)")
    checked = [("train.clip_frames", cfg.clip_frames)] + ([("train.eval_frames", cfg.eval_frames)] if cfg.val_data else [])
    for field_name, frames in checked:
        try:  # before any clip is decoded: a folder can take minutes to read
            config.model.check_frame_count(frames)
        except ValueError as err:
            raise ValueError(f"{field_name}={frames}: {err}") from None
    # Fits the model? Before any clip is decoded (that can take minutes). A resumed run's weights are its
    # checkpoint's (init_from stays in its config as where it began).
    if cfg.init_from is not None and not resume:
        try:
            init_weights(VideoTokenizer(config.model), cfg.init_from)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"train.init_from={cfg.init_from}: {err}") from err
        except ValueError as err:
            hint = (f" (the shipped {cfg.init_from} tokenizer trains on with {SHIPPED_ARCHITECTURES[cfg.init_from]})"
                    if cfg.init_from in SHIPPED_ARCHITECTURES else "")
            raise ValueError(f"train.init_from={cfg.init_from}: {err}{hint}") from err
    info = init_distributed(start_run(cfg))
    rank_rows(cfg.batch_size, info)  # a batch that does not divide among the processes fails before any reading
    reading = dict(fps=cfg.fps, workers=cfg.num_workers)
    # Under torchrun every process opens the training data itself (each first reads a folder it has
    # not indexed in its own worker processes: no process waits on another's reading in a collective
    # call); the others quietly, as the first says what the data holds.
    quiet = contextlib.nullcontext() if info.is_main else contextlib.redirect_stderr(io.StringIO())
    # The evaluation clips first: they are fewer, so a missing one (a preset's own, for a run on your
    # data) fails before the training files are all decoded. Only the first process reads them:
    # should they fail, every process stops there, the others at once.
    eval_clips = []
    with failing_together(info):
        if cfg.val_data is not None and info.is_main:
            with _naming_the_field("train.val_data", cfg.val_data, "or train.val_data=null for no evaluation"):
                source = open_clips(cfg.val_data, frames=cfg.eval_frames, size=size,
                                    cache=DecodedVideos(cfg.cache_mb), index=Path(cfg.out_dir) / FILE_INDEXES["val"],
                                    **reading)
            rng = np.random.default_rng(10_000 + cfg.seed)
            eval_clips = [source.sample(rng) for _ in range(cfg.eval_videos)]  # fixed for the whole run
            del source  # and the videos it decoded: up to train.cache_mb more for the whole run otherwise
    with quiet, _naming_the_field("train.data", cfg.data):
        train_clips = open_clips(cfg.data, frames=cfg.clip_frames, size=size, cache=DecodedVideos(cfg.cache_mb),
                                 index=Path(cfg.out_dir) / FILE_INDEXES["train"], **reading)
    # The initial weights from the run's seed alone, whatever opening the sources drew from torch's
    # generator (a DataLoader draws its workers' seeds from it).
    torch.manual_seed(cfg.seed)
    task = TokenizerTraining(config, info.device, train_clips, eval_clips, resumed=resume, info=info)
    try:
        return train_loop(task, cfg, device=info.device, run_config=config, name="tokenizer", unit="clips",
                          resume=resume, is_main=info.is_main,
                          evaluate_first=cfg.init_from is not None and not resume).checkpoint
    finally:
        task.batches.close()  # the data loader's workers, on a stop by an error too


@contextlib.contextmanager
def _naming_the_field(field: str, value: str, alternative: str = "") -> Iterator[None]:
    """Prefix a missing or unusable source's error (FileNotFoundError; ValueError: nothing readable
    in it, a bad manifest line) with the config field that named it (a preset's default path is not
    something the user typed) and, for a missing one, how to set another."""
    try:
        yield
    except FileNotFoundError as err:
        hint = f"set {field}=FOLDER or a manifest{f', {alternative}' if alternative else ''}"
        raise FileNotFoundError(f"{field}={value}: {err} ({hint})") from None
    except ValueError as err:
        raise ValueError(f"{field}={value}: {err}") from err


class TokenizerTraining:
    """The tokenizer's part of `train_loop`: the tokenizer (with a discriminator, a perceptual loss
    and a weight average when the config asks for them), its step, evaluation and checkpoints."""

    def __init__(self, config: TokenizerRunConfig, device: torch.device, train_clips: ClipSource,
                 eval_clips: list[np.ndarray], *, resumed: bool = False, info: DistInfo | None = None) -> None:
        cfg = self.cfg = config.train
        self.info = info = info or DistInfo(0, 1, device)
        self.device, self.train_clips, self.eval_clips = device, train_clips, eval_clips
        self.batches = StepBatches(train_clips, batch_size=cfg.batch_size, seed=cfg.seed, workers=cfg.num_workers,
                                   rows=rank_rows(cfg.batch_size, info))
        self.model = VideoTokenizer(config.model).to(device)
        if cfg.init_from is not None and not resumed:  # a resumed run's weights are its checkpoint's
            # Raises ValueError on another architecture; a deeper decoder is grown from the checkpoint's.
            started_from = init_weights(self.model, cfg.init_from)  # init_weights resolves the folder
            if info.is_main:
                print(f"starting from {started_from}")
        if not cfg.train_encoder:
            freeze_encoder(self.model)
        # Under torchrun, DDP all-reduces the gradients; the module itself is what is saved and scored.
        self.trained_model = wrap_ddp(self.model, info)
        self.trained = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trained, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        adversarial = cfg.adversarial_weight > 0
        self.discriminator = Discriminator3d().to(device) if adversarial else None
        # The discriminator's own step goes through DDP; the generator's adversarial term reads the
        # module itself (the gradients it leaves in the discriminator are cleared before its step).
        self.trained_discriminator = wrap_ddp(self.discriminator, info) if adversarial else None
        self.lecam = losses.LeCAMRegularizer().to(device) if adversarial else None
        # The discriminator keeps a constant learning rate: only `optimizer` follows the schedule.
        self.disc_optimizer = (torch.optim.AdamW(self.discriminator.parameters(), lr=cfg.lr, betas=cfg.betas)
                               if adversarial else None)
        self.perceptual = losses.PerceptualLoss(cfg.perceptual_weights).to(device) if cfg.perceptual_weight > 0 else None
        self.ema = (AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
                    if cfg.ema_decay is not None else None)
        self.objective = step_objective(cfg.compile)
        self.recent_codes: list[torch.Tensor] = []
        self.model.train()

    def step(self, step: int, rng: np.random.Generator, autocast: AbstractContextManager) -> StepResult:
        """One generator step on `batch_size` clips, then (from `adversarial_start_step`) one
        discriminator step and the weight average's update. With `micro_batch_size`, that many clips
        go forward and backward at a time, each pass's losses weighed by its share of the batch, so the
        gradients add up to the whole batch's (LFQ's batch-entropy term excepted: it is each pass's)."""
        cfg = self.cfg
        batch = torch.cat([frames_to_video(clip) for clip in self.batches.batch(step)]).to(self.device)
        use_gan = self.discriminator is not None and step >= cfg.adversarial_start_step
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, fakes, codes, quality = 0.0, [], [], 0.0
        parts = micro_slices(len(batch), cfg.micro_batch_size)
        for index, rows in enumerate(parts):
            part, share = batch[rows], (rows.stop - rows.start) / len(batch)
            with gradient_sync(self.trained_model, last=index == len(parts) - 1):
                with autocast:
                    loss, out = self.objective(self.trained_model, part, frozen_encoder=not cfg.train_encoder,
                                               edge_weight=cfg.edge_weight, entropy_weight=cfg.entropy_weight,
                                               commitment_weight=cfg.commitment_weight)
                    if self.perceptual is not None:
                        loss = loss + cfg.perceptual_weight * self.perceptual(out.reconstruction.float(), part)
                    if use_gan:
                        loss = loss + cfg.adversarial_weight * losses.generator_adversarial_loss(
                            self._judge(self.discriminator, out.reconstruction))
                # Every rank stops together on a non-finite loss, before a backward pass would wait on the others.
                value = loss.item()
                if any_rank(not math.isfinite(value), self.device):  # no update: the loop stops here
                    return StepResult(value if not math.isfinite(value) else float("nan"), cfg.batch_size, {})
                # Each rank's loss is its rows' mean; DDP averages the ranks' gradients: the global mean.
                (loss * share).backward()
            loss_sum += value * share
            fakes.append(out.reconstruction.detach())
            codes.append(out.quantized.indices.detach().flatten().cpu())
            quality += psnr(fakes[-1], part).sum().item()
        torch.nn.utils.clip_grad_norm_(self.trained, cfg.grad_clip)
        self.optimizer.step()

        if use_gan:
            self._discriminator_step(batch, parts, fakes)
        # The loss and PSNR over every process's clips (the codebook usage is this process's codes).
        loss_sum, quality = (all_reduce_sum(torch.tensor([loss_sum, quality / len(batch)], device=self.device), self.info)
                             / self.info.world).tolist()
        if self.ema is not None and step >= cfg.ema_start_step:
            self.ema.update_parameters(self.model)  # the first update copies the weights
        self.recent_codes = (self.recent_codes + [torch.cat(codes)])[-50:]
        usage = codebook_usage(torch.cat(self.recent_codes), self.model.codebook_size).usage
        return StepResult(loss_sum, cfg.batch_size, {"psnr": f"{quality:.1f}", "usage": f"{usage:.3f}"})

    def _discriminator_step(self, batch: torch.Tensor, parts: list[slice], fakes: list[torch.Tensor]) -> None:
        """One discriminator step on the real clips `batch` (b c t h w) and the step's reconstructions
        `fakes` (of the micro-batches `parts`, before the generator's update), a micro-batch at a time,
        its real and fake clips judged in one pass; then LeCAM's averages move once toward the step's
        mean logits (over every process's)."""
        cfg = self.cfg
        self.disc_optimizer.zero_grad(set_to_none=True)
        means = torch.zeros(2, device=self.device)
        for index, (rows, fake) in enumerate(zip(parts, fakes)):
            share = len(fake) / len(batch)
            with gradient_sync(self.trained_discriminator, last=index == len(parts) - 1):
                real_logits, fake_logits = self._judge(self.trained_discriminator, torch.cat([batch[rows], fake])).chunk(2)
                disc_loss = (losses.discriminator_hinge_loss(real_logits, fake_logits)
                             + cfg.lecam_weight * self.lecam(real_logits, fake_logits))
                (disc_loss * share).backward()
            means += torch.stack([real_logits.detach().mean(), fake_logits.detach().mean()]) * share
        self.disc_optimizer.step()
        real_mean, fake_mean = all_reduce_sum(means, self.info) / self.info.world
        self.lecam.update(real_mean, fake_mean)

    @staticmethod
    def _judge(discriminator: torch.nn.Module, video: torch.Tensor) -> torch.Tensor:
        """The `discriminator`'s logits for `video` (b c t h w), in float32 even inside bf16 autocast:
        under bf16 its losses turned NaN within four steps (natural preset, 2026-12-05)."""
        with torch.autocast(video.device.type, enabled=False):
            return discriminator(video.float())

    def evaluate(self, step: int, autocast: AbstractContextManager) -> Evaluation | None:
        """Scores on the evaluation clips (and the weight average's PSNR once it has started); writes
        the first clip's reconstruction beside the original under `samples/`."""
        if not self.eval_clips or not self.info.is_main:  # under torchrun the first process scores
            return None
        record = evaluate(self.model, self.eval_clips)
        message = (f"step {step}: held-out PSNR {record['psnr']:.2f} dB, SSIM {record['ssim']:.4f}, "
                   f"codebook usage {record['codebook_usage']:.3f}")
        if self._started_ema() is not None:
            record["ema"] = evaluate(self._started_ema(), self.eval_clips)
            message += f"; EMA weights {record['ema']['psnr']:.2f} dB"
        self.model.eval()
        recon = reconstruct(self.model, self.eval_clips[0]).frames
        self.model.train()
        clip = self.eval_clips[0][: len(recon)]
        save_png(Path(self.cfg.out_dir) / "samples" / f"step_{step:06d}.png", frame_strip([clip, recon]))
        return Evaluation(record, message)

    def checkpoint(self) -> Callable[[Path], dict[str, Any]]:
        """Writes the tokenizer (a folder `from_pretrained` reads), the average as `ema/` once started,
        the optimizer and the discriminator's state."""
        return self._write

    def _write(self, folder: Path) -> dict[str, Any]:
        self.model.write_files(folder)
        if self._started_ema() is not None:
            (folder / "ema").mkdir()
            self._started_ema().write_files(folder / "ema")
        tensors, meta = optimizer_state_to_files(self.optimizer.state_dict())
        save_tensors(folder / "optimizer.safetensors", tensors)
        state = {"optimizer": meta}
        if self.discriminator is not None:
            save_tensors(folder / "discriminator.safetensors", self.discriminator.state_dict())
            save_tensors(folder / "lecam.safetensors", self.lecam.state_dict())
            disc_tensors, disc_meta = optimizer_state_to_files(self.disc_optimizer.state_dict())
            save_tensors(folder / "discriminator_optimizer.safetensors", disc_tensors)
            state["discriminator_optimizer"] = disc_meta
        return state

    def load(self, folder: Path, state: dict[str, Any]) -> None:
        """Restore a checkpoint `checkpoint` wrote. Raises ValueError on another architecture."""
        self.model.load_weights(folder)
        if self.ema is not None and (folder / "ema").is_dir():
            self.ema.module.load_weights(folder / "ema")
            self.ema.n_averaged.fill_(1)  # started: the next update blends rather than copies
        settings = {"lr": self.cfg.lr, "betas": tuple(self.cfg.betas)}  # the config's, a resume's overrides included
        self.optimizer.load_state_dict(optimizer_state_from_files(load_tensors(folder / "optimizer.safetensors"),
                                                                  state["optimizer"],
                                                                  {**settings, "weight_decay": self.cfg.weight_decay}))
        if self.discriminator is not None and (folder / "discriminator.safetensors").is_file():
            self.discriminator.load_state_dict(load_tensors(folder / "discriminator.safetensors"))
            if (folder / "lecam.safetensors").is_file():  # checkpoints before 2026-12-06 lack it: averages from 0
                self.lecam.load_state_dict(load_tensors(folder / "lecam.safetensors"))
            self.disc_optimizer.load_state_dict(optimizer_state_from_files(
                load_tensors(folder / "discriminator_optimizer.safetensors"), state["discriminator_optimizer"], settings))

    def _started_ema(self) -> VideoTokenizer | None:
        """The averaged tokenizer once it has seen a step, else None."""
        return self.ema.module if self.ema is not None and self.ema.n_averaged.item() > 0 else None
