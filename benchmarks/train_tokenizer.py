"""Training-step speed of the tokenizer, eager against `train.compile` (torch.compile), same run.

    python benchmarks/train_tokenizer.py [--config tiny] [--steps 20] [--threads 2] [--decoder-only]
        [--decoder-res-blocks N]

Two copies of the preset's tokenizer from the same seed train on the same shapes batches under
the trainer's autocast, objective (`generator_objective`) and AdamW, their steps interleaved so
that a busy machine slows both alike; `--decoder-only` freezes the encoder as a decoder phase does.
Compilation happens in warm-up steps that are not timed. Prints the median step time of each,
clips per second, the speed-up, and the two runs' mean losses (they should agree to rounding);
a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from arvid.configs import load_config, resolve_preset
from arvid.shapes.clips import ShapesClips
from arvid.training.precision import mixed_precision
from arvid.tokenizer.model import VideoTokenizer, frames_to_video
from arvid.tokenizer.train import TokenizerRunConfig, freeze_encoder, step_objective
from interleaved import interleaved_medians  # benchmarks/interleaved.py, beside this script

WARMUP_STEPS = 3


def shapes_batches(config: TokenizerRunConfig, steps: int, seed: int = 0) -> list[torch.Tensor]:
    """`steps` training batches (batch_size 3 clip_frames h w) of shapes clips, as the trainer draws them."""
    source = ShapesClips(frames=config.train.clip_frames, size=config.model.image_size)
    rng = np.random.default_rng(seed)
    return [torch.cat([frames_to_video(source.sample(rng)) for _ in range(config.train.batch_size)])
            for _ in range(steps)]


class TokenizerCopy:
    """One tokenizer with its optimiser; `step(batch)` runs the trainer's step on a batch and
    returns (seconds, loss)."""

    def __init__(self, config: TokenizerRunConfig, compiled: bool, decoder_only: bool) -> None:
        torch.manual_seed(config.train.seed)
        self.model = VideoTokenizer(config.model).train()
        if decoder_only:
            freeze_encoder(self.model)
        self.trained = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trained, lr=config.train.lr, betas=config.train.betas)
        self.objective = step_objective(compiled)
        self.autocast = mixed_precision(torch.device("cpu"), config.train.precision)
        self.cfg = config.train
        self.decoder_only = decoder_only

    def step(self, batch: torch.Tensor) -> tuple[float, float]:
        start = time.perf_counter()
        with self.autocast:
            loss, _ = self.objective(self.model, batch, frozen_encoder=self.decoder_only,
                                     edge_weight=self.cfg.edge_weight, entropy_weight=self.cfg.entropy_weight,
                                     commitment_weight=self.cfg.commitment_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trained, self.cfg.grad_clip)
        self.optimizer.step()
        return time.perf_counter() - start, loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny", help="tokenizer preset name or YAML path")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per copy")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--decoder-only", action="store_true", help="freeze the encoder, as a decoder phase does")
    parser.add_argument("--decoder-res-blocks", type=int, help="override model.decoder_res_blocks")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be positive")
    torch.set_num_threads(args.threads)
    overrides = [f"model.decoder_res_blocks={args.decoder_res_blocks}"] if args.decoder_res_blocks else []
    config = load_config(TokenizerRunConfig, resolve_preset(args.config, "tokenizer"), overrides)
    copies = {name: TokenizerCopy(config, compiled=name == "compiled", decoder_only=args.decoder_only)
              for name in ("eager", "compiled")}
    batches = shapes_batches(config, WARMUP_STEPS + args.steps)
    results = interleaved_medians({name: copy.step for name, copy in copies.items()}, batches, warmup=WARMUP_STEPS)
    clips = config.train.batch_size
    print(f"tokenizer training step, preset {args.config!r}, batch {tuple(batches[0].shape)}, "
          f"{'decoder only, ' if args.decoder_only else ''}{args.threads} threads, {args.steps} timed steps each")
    print(f"{'':10} {'ms/step':>9} {'clips/s':>9} {'mean loss':>10}")
    for name, (seconds, loss) in results.items():
        print(f"{name:10} {1000 * seconds:9.1f} {clips / seconds:9.2f} {loss:10.4f}")
    print(f"speed-up of train.compile: {results['eager'][0] / results['compiled'][0]:.2f}x")


if __name__ == "__main__":
    main()
