"""Peak memory of one LM training step with a large vocabulary: the loss over all logits in one
product against the loss in chunks of positions (`arvid.lm.model.summed_cross_entropy`).

    python benchmarks/loss_memory.py [--vocab 262144] [--batch 4] [--threads 2]

The `tiny` preset's model and sequence (349 tokens) with the video vocabulary of the `base`
preset's tokenizer (2^18 codes), random tokens, every video position a target; one forward and
backward under the trainer's loss (`arvid.lm.train.summed_loss`). Each variant runs in a process
of its own, which reports how far its peak resident memory rose during the step (the model and
batch already built) and the step's time. Prints a table; a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from child_runs import peak_rss_mib, run_child  # benchmarks/child_runs.py, beside this script

VARIANTS = {"one product over all logits": 2**62, "chunks (LOSS_CHUNK_LOGITS, the default)": None}


def one_step(vocab: int, batch: int, chunk_logits: int | None, threads: int) -> dict:
    """Build the model and batch, then time one step -> {"peak_rise_mib", "seconds", "loss"}."""
    import torch

    import arvid.lm.model as model_module
    from arvid.configs import load_config, resolve_preset
    from arvid.lm.train import LMRunConfig, summed_loss

    torch.set_num_threads(threads)
    if chunk_logits is not None:
        model_module.LOSS_CHUNK_LOGITS = chunk_logits
    config = load_config(LMRunConfig, resolve_preset("tiny", "lm"), [f"model.video_vocab_size={vocab}"]).model
    torch.manual_seed(0)
    model = model_module.Transformer(config)
    tokens = torch.randint(0, config.vocab_size, (batch, config.max_seq_len))
    targets = tokens.roll(-1, dims=1)
    targets[:, :config.prefix_len] = -100
    before = peak_rss_mib()
    start = time.perf_counter()
    loss = summed_loss(model, tokens, targets)
    loss.backward()
    seconds = time.perf_counter() - start
    return {"peak_rise_mib": peak_rss_mib() - before, "seconds": seconds, "loss": loss.item()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=2**18, help="video codes (default 262144, the base preset's)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process: the variant's chunk size
    args = parser.parse_args(argv)
    if args.one is not None:
        chunk = None if args.one == "default" else int(args.one)
        print(json.dumps(one_step(args.vocab, args.batch, chunk, args.threads)))
        return 0
    print(f"tiny preset, {args.vocab} video codes, batch {args.batch} x 349 tokens, {args.threads} threads")
    print(f"{'loss':<42} {'peak rise MiB':>13} {'step s':>8} {'loss value':>12}")
    for name, chunk in VARIANTS.items():
        row = run_child(__file__, ["--vocab", str(args.vocab), "--batch", str(args.batch), "--threads", str(args.threads),
                                   "--one", "default" if chunk is None else str(chunk)])
        print(f"{name:<42} {row['peak_rise_mib']:>13.0f} {row['seconds']:>8.2f} {row['loss']:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
