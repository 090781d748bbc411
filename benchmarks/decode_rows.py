"""What one compiled decode step costs per row as rows are added: the ceiling on batching (issue 31, point 5).

    python benchmarks/decode_rows.py [--model DIR] [--rows 1 2 4 8 16] [--slots 64 320] [--threads 1]

A batch of prompts is a decode step of more rows (8 prompts x 2 guidance rows = 16). Batching pays
only as far as a step's cost per row falls with its rows. For each row count, the shipped LM's
compiled step is timed over a cache holding the prompt's prefix and `--slots` more slots (320: the
anchor and a 4-frame window, the sampler's full context), in a fresh process per row count (each
compiles its own graph; one process keeping several graphs hung before). Prints microseconds a step
and a row, and each row count's per-row cost against one row's. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import torch

from bench_models import load_for_streaming  # benchmarks/bench_models.py, beside this script
from device_info import device_name, write_json  # benchmarks/device_info.py, beside this script

PROMPT = "a small red circle moving right on a black background"


def time_step(model: str | None, rows: int, slots: int, threads: int, steps: int, repeats: int) -> float:
    """Best mean seconds of one compiled decode step at `rows` rows over a cache of prefix + `slots`."""
    lm, *_ = load_for_streaming(model, threads=threads, compile=True)
    prefix = lm.prefixes([PROMPT] * rows)
    length = prefix.tokens.shape[1]
    tokens = torch.zeros(rows, 1, dtype=torch.long)
    lm.model.setup_cache(rows, length + slots)
    lm.model.prefill(prefix.tokens, torch.arange(length), prefix.text)
    for index in range(3):  # compiles, then warms
        lm.model.decode(tokens, torch.tensor([length + index]))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for index in range(steps):
            lm.model.decode(tokens, torch.tensor([length + 3 + index % (slots - 3)]))
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder with lm/ and tokenizer/ (default: the shipped model)")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--slots", type=int, nargs="+", default=[64, 320], help="cache slots after the prefix")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the table as JSON here")
    parser.add_argument("--one", nargs=2, type=int, metavar=("ROWS", "SLOTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # the child process: time one shape, print seconds
        print(time_step(args.model, *args.one, args.threads, args.steps, args.repeats))
        return
    print(f"compiled decode step of the {args.model or 'shipped'} LM, {args.threads} thread(s), "
          f"{device_name('cpu')}, best of {args.repeats} x {args.steps} steps")
    print(f"{'slots':>6} {'rows':>5} {'us/step':>9} {'us/row':>8} {'per row vs the first':>21}")
    table = []
    for slots in args.slots:
        one_row = None
        for rows in args.rows:
            command = [sys.executable, __file__, "--one", str(rows), str(slots), "--threads", str(args.threads),
                       "--steps", str(args.steps), "--repeats", str(args.repeats)]
            if args.model:
                command += ["--model", args.model]
            seconds = float(subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()[-1])
            per_row = seconds / rows
            one_row = one_row or per_row
            table.append({"slots": slots, "rows": rows, "us_per_step": seconds * 1e6, "us_per_row": per_row * 1e6})
            print(f"{slots:>6} {rows:>5} {seconds * 1e6:>9.0f} {per_row * 1e6:>8.0f} {per_row / one_row:>20.2f}x",
                  flush=True)
    write_json(args.json, {"threads": args.threads, "table": table})


if __name__ == "__main__":
    main()
