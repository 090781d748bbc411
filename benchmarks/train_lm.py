"""Training-step speed of the LM, eager against `train.compile` (torch.compile), same run.

    python benchmarks/train_lm.py [--config tiny] [--steps 30] [--threads 2]
    python benchmarks/train_lm.py --config base --device cuda --paths eager --set train.batch_size=8 --json train.json

Two copies of the preset's model from the same seed train on the same batches (random tokens of
the preset's sequence length: a step's cost does not depend on the token values), under the
trainer's autocast and AdamW, their steps interleaved so that a busy machine slows both alike.
Compilation happens in warm-up steps that are not timed. Prints the median step time of each,
tokens per second, the speed-up, and the two runs' mean losses (they should agree to rounding);
a benchmark, not a test.

On `--device cuda` the models train there (autocast as the trainer sets it for CUDA: bf16 under
`precision: auto`), each timed step ends by waiting for the GPU, and the GPU's peak allocated memory
is printed. `--paths eager` (or `compiled`) times one copy alone; `--set KEY=VALUE` overrides the
preset (`train.batch_size=8`: a short check; the step runs the preset's `train.micro_batch_size`
rows a pass, as the trainer does, so the peak memory printed is that of one pass).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from arvid.configs import load_config, resolve_preset
from arvid.training.precision import mixed_precision
from arvid.lm.examples import Batch
from arvid.lm.model import Transformer
from arvid.lm.train import LMRunConfig, step_loss, train_step
from device_info import device_name, synchronize, write_json  # benchmarks/device_info.py, beside this script
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

    def __init__(self, config: LMRunConfig, compiled: bool, device: torch.device) -> None:
        torch.manual_seed(config.train.seed)
        with device:  # built where it trains: drawing a large model's initial weights on one CPU core takes a while
            self.model = Transformer(config.model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.train.lr, betas=config.train.betas,
                                           weight_decay=config.train.weight_decay)
        self.loss = step_loss(compiled)
        self.autocast = mixed_precision(device, config.train.precision)
        self.grad_clip = config.train.grad_clip
        self.micro_batch_size = config.train.micro_batch_size
        self.device = device

    def step(self, batch: Batch) -> tuple[float, float]:
        targets = int(batch.loss_mask[:, 1:].sum())
        batch = Batch(batch.tokens.to(self.device), batch.loss_mask.to(self.device))
        synchronize(self.device)
        start = time.perf_counter()
        loss_sum = train_step(self.model, self.optimizer, batch, targets=targets, autocast=self.autocast,
                              grad_clip=self.grad_clip, loss=self.loss, micro_batch_size=self.micro_batch_size)
        synchronize(self.device)
        return time.perf_counter() - start, loss_sum.item() / targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny", help="LM preset name or YAML path")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a preset override, e.g. train.batch_size=8 (repeatable)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per copy")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--paths", default="eager,compiled", help="eager, compiled or both (default both)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be positive")
    paths = [name for name in args.paths.split(",") if name]
    if not paths or set(paths) - {"eager", "compiled"}:
        parser.error(f"--paths takes eager and/or compiled, got {args.paths!r}")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    config = load_config(LMRunConfig, resolve_preset(args.config, "lm"), args.set)
    copies = {name: TrainingCopy(config, compiled=name == "compiled", device=device) for name in paths}
    batches = random_batches(config, WARMUP_STEPS + args.steps)
    results = interleaved_medians({name: copy.step for name, copy in copies.items()}, batches, warmup=WARMUP_STEPS)
    median = {name: seconds for name, (seconds, _) in results.items()}
    tokens = batches[0].tokens.numel()
    parameters = sum(p.numel() for p in copies[paths[0]].model.parameters())
    peak_gib = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    print(f"LM training step, preset {args.config!r}{' ' + ' '.join(args.set) if args.set else ''}, "
          f"{parameters / 1e6:.0f}M parameters, batch {tuple(batches[0].tokens.shape)}, {device_name(device)}"
          f"{f', {args.threads} threads' if device.type == 'cpu' else ''}, {args.steps} timed steps each"
          + (f", peak GPU memory {peak_gib:.1f} GiB" if peak_gib is not None else ""))
    print(f"{'':10} {'ms/step':>9} {'tokens/s':>9} {'mean loss':>10}")
    for name in copies:
        print(f"{name:10} {1000 * median[name]:9.1f} {tokens / median[name]:9.0f} "
              f"{results[name][1]:10.4f}")
    if len(copies) == 2:
        print(f"speed-up of train.compile: {median['eager'] / median['compiled']:.2f}x")
    write_json(args.json, {"config": args.config, "overrides": args.set, "device": device_name(device),
                           "parameters": parameters, "batch": list(batches[0].tokens.shape), "steps": args.steps,
                           "warmup_steps": WARMUP_STEPS, "peak_gpu_gib": peak_gib,
                           "paths": {name: {"ms_per_step": 1000 * median[name], "tokens_per_s": tokens / median[name],
                                            "mean_loss": results[name][1]} for name in copies}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
