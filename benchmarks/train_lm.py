"""Training-step speed of the LM, eager against `train.compile` (torch.compile), same run.

    python benchmarks/train_lm.py [--config tiny] [--steps 30] [--threads 2]

Two copies of the preset's model from the same seed train on the same batches (random tokens of
the preset's sequence length: a step's cost does not depend on the token values), under the
trainer's autocast and AdamW, their steps interleaved so that a busy machine slows both alike.
Compilation happens in warm-up steps that are not timed. Prints the median step time of each,
tokens per second, the speed-up, and the two runs' mean losses (they should agree to rounding);
a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import time

import torch

from arvid.configs import load_config, resolve_preset
from arvid.training.precision import mixed_precision
from arvid.lm.examples import Batch
from arvid.lm.model import Transformer
from arvid.lm.train import LMRunConfig, step_loss, train_step
from interleaved import interleaved_medians  # benchmarks/interleaved.py, beside this script

WARMUP_STEPS = 3


def random_batches(config: LMRunConfig, steps: int, seed: int = 0) -> list[Batch]:
    """`steps` batches of (batch_size, max_seq_len) random tokens (max_seq_len: the longest sequence
    the model takes, a training window's plus its end tokens); every position after the text prefix
    is a target."""
    generator = torch.Generator().manual_seed(seed)
    shape = (config.train.batch_size, config.model.max_seq_len)
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[:, config.model.prefix_len:] = True
    return [Batch(torch.randint(0, config.model.vocab_size, shape, generator=generator), mask)
            for _ in range(steps)]


class TrainingCopy:
    """One model with its optimiser; `step(batch)` runs the trainer's step (`train_step`) on a batch
    and returns (seconds, mean loss)."""

    def __init__(self, config: LMRunConfig, compiled: bool) -> None:
        torch.manual_seed(config.train.seed)
        self.model = Transformer(config.model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.train.lr, betas=config.train.betas,
                                           weight_decay=config.train.weight_decay)
        self.loss = step_loss(compiled)
        self.autocast = mixed_precision(torch.device("cpu"), config.train.precision)
        self.grad_clip = config.train.grad_clip

    def step(self, batch: Batch) -> tuple[float, float]:
        targets = int(batch.loss_mask[:, 1:].sum())
        start = time.perf_counter()
        loss_sum = train_step(self.model, self.optimizer, batch, targets=targets, autocast=self.autocast,
                              grad_clip=self.grad_clip, loss=self.loss)
        return time.perf_counter() - start, loss_sum.item() / targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny", help="LM preset name or YAML path")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per copy")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be positive")
    torch.set_num_threads(args.threads)
    config = load_config(LMRunConfig, resolve_preset(args.config, "lm"), [])
    copies = {"eager": TrainingCopy(config, compiled=False), "compiled": TrainingCopy(config, compiled=True)}
    batches = random_batches(config, WARMUP_STEPS + args.steps)
    results = interleaved_medians({name: copy.step for name, copy in copies.items()}, batches, warmup=WARMUP_STEPS)
    median = {name: seconds for name, (seconds, _) in results.items()}
    tokens = batches[0].tokens.numel()
    print(f"LM training step, preset {args.config!r}, batch {tuple(batches[0].tokens.shape)}, "
          f"{args.threads} threads, {args.steps} timed steps each")
    print(f"{'':10} {'ms/step':>9} {'tokens/s':>9} {'mean loss':>10}")
    for name in copies:
        print(f"{name:10} {1000 * median[name]:9.1f} {tokens / median[name]:9.0f} "
              f"{results[name][1]:10.4f}")
    print(f"speed-up of train.compile: {median['eager'] / median['compiled']:.2f}x")


if __name__ == "__main__":
    main()
