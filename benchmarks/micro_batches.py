"""Memory and time of a training step split into micro-batches (`train.micro_batch_size`), and of
the LM's with activation checkpointing (`train.activation_checkpointing`).

    python benchmarks/micro_batches.py [--threads 2] [--lm-batch 32] [--tokenizer-batch 8]

The `tiny` LM preset (random tokens of its 349-token sequences) and the `tiny` tokenizer preset
(shapes clips, 17 frames at 64x64), each with its whole batch in one pass and in smaller passes (the
LM also with its blocks' activations made again in the backward pass), under the trainer's autocast
and AdamW. Each variant runs in a process of its own, which reports how
far its peak resident memory rose during its first step (the model and optimizer built; the first
step also makes AdamW's state, alike in every variant) and the median time of the next three steps.
Prints a table; a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from child_runs import peak_rss_mib, run_child  # benchmarks/child_runs.py, beside this script

TIMED_STEPS = 3


def lm_steps(batch: int, micro: int | None, checkpointed: bool = False) -> list:
    """The LM's step on random tokens, as a list of callables (one per step)."""
    import torch

    from arvid.configs import load_config, resolve_preset
    from arvid.lm.model import Transformer
    from arvid.lm.parallel import parallelize
    from arvid.lm.train import LMRunConfig, train_step
    from arvid.training.distributed import DistInfo
    from arvid.training.precision import mixed_precision
    from train_lm import random_batches  # benchmarks/train_lm.py

    config = load_config(LMRunConfig, resolve_preset("tiny", "lm"), [f"train.batch_size={batch}"])
    torch.manual_seed(0)
    model = parallelize(Transformer(config.model), DistInfo(0, 1, torch.device("cpu")), "ddp",
                        activation_checkpointing=checkpointed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr)
    autocast = mixed_precision(torch.device("cpu"), config.train.precision)

    def step(item):
        return train_step(model, optimizer, item, targets=int(item.loss_mask[:, 1:].sum()), autocast=autocast,
                          grad_clip=1.0, micro_batch_size=micro)

    return [lambda item=item: step(item) for item in random_batches(config, 1 + TIMED_STEPS)]


def tokenizer_steps(batch: int, micro: int | None) -> list:
    """The tokenizer trainer's step on shapes clips, as a list of callables (one per step)."""
    import numpy as np
    import torch

    from arvid.configs import load_config, resolve_preset
    from arvid.shapes.clips import ShapesClips
    from arvid.tokenizer.train import TokenizerRunConfig, TokenizerTraining
    from arvid.training.precision import mixed_precision

    config = load_config(TokenizerRunConfig, resolve_preset("tiny", "tokenizer"),
                         [f"train.batch_size={batch}", f"train.micro_batch_size={'null' if micro is None else micro}"])
    torch.manual_seed(0)
    training = TokenizerTraining(config, torch.device("cpu"), ShapesClips(frames=config.train.clip_frames), [])
    autocast = mixed_precision(torch.device("cpu"), config.train.precision)
    return [lambda step=step: training.step(step, np.random.default_rng([0, step]), autocast)
            for step in range(1 + TIMED_STEPS)]


def one_variant(kind: str, batch: int, micro: int | None, threads: int) -> dict:
    """Build, run the first step (memory), then time the rest -> {"peak_rise_mib", "seconds"}.
    `kind`: "lm", "lm-checkpointed" or "tokenizer"."""
    import torch

    torch.set_num_threads(threads)
    steps = (tokenizer_steps(batch, micro) if kind == "tokenizer" else
             lm_steps(batch, micro, checkpointed=kind == "lm-checkpointed"))
    before = peak_rss_mib()
    steps[0]()
    rise = peak_rss_mib() - before
    times = []
    for step in steps[1:]:
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"peak_rise_mib": rise, "seconds": statistics.median(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lm-batch", type=int, default=32)
    parser.add_argument("--tokenizer-batch", type=int, default=8)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process: "kind,batch,micro"
    args = parser.parse_args(argv)
    if args.one is not None:
        kind, batch, micro = args.one.split(",")
        print(json.dumps(one_variant(kind, int(batch), None if micro == "none" else int(micro), args.threads)))
        return 0
    variants = [("lm", args.lm_batch, micro) for micro in (None, args.lm_batch // 4, args.lm_batch // 16)]
    variants += [("lm-checkpointed", args.lm_batch, micro) for micro in (None, args.lm_batch // 4)]
    variants += [("tokenizer", args.tokenizer_batch, micro) for micro in (None, args.tokenizer_batch // 4)]
    print(f"tiny presets, {args.threads} threads; peak rise over the first step, median of {TIMED_STEPS} steps after")
    print(f"{'preset':<16} {'batch':>6} {'rows a pass':>12} {'peak rise MiB':>14} {'step s':>8}")
    for kind, batch, micro in variants:
        row = run_child(__file__, ["--threads", str(args.threads), "--one", f"{kind},{batch},{micro or 'none'}"])
        print(f"{kind:<16} {batch:>6} {micro or batch:>12} {row['peak_rise_mib']:>14.0f} {row['seconds']:>8.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
