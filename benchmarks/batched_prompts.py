"""Videos per second for several prompts: one at a time (`generate`) against one batch (`stream_batch`),
in one run (issue 31, point 5).

    python benchmarks/batched_prompts.py [--model DIR] [--prompts 8] [--frames 64] [--rounds 2]

Both sides use the model's default sampling (guidance, first-window candidates, pixels included) and
the same levers (`--pipelined`, `--fused N` etc., default none). Each round runs one-at-a-time and batched
alternately after a warm-up that compiles the decode step for every shape; the table gives the
median videos per second over the rounds and their ratio. `--threads 1 2` times both sides at each
torch thread count and compares each side's best (as `lm_decode.py` does): one prompt's small
products gain little from a second thread, a batch's larger ones more. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from itertools import islice


from bench_models import load_for_streaming  # benchmarks/bench_models.py, beside this script
from device_info import device_name, write_json  # benchmarks/device_info.py, beside this script

PROMPTS = ["a small red circle moving right on a black background",
           "a large blue square moving up on a white background",
           "a small green triangle moving left on a gray background",
           "a large yellow circle moving down on a navy background",
           "a small cyan square moving up-right on a black background",
           "a large magenta triangle moving down-left on a white background",
           "a small orange circle moving up-left on a navy background",
           "a large white square moving down-right on a gray background"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder with lm/ and tokenizer/ (default: the shipped model)")
    parser.add_argument("--prompts", type=int, default=8, help=f"how many prompts (at most {len(PROMPTS)})")
    parser.add_argument("--frames", type=int, default=64, help="frames per video")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pipelined", action="store_true")
    parser.add_argument("--rolling-cache", action="store_true")
    parser.add_argument("--bf16-decoder", action="store_true")
    parser.add_argument("--fused", type=int, default=0, metavar="N", help="fused draws, N tokens a call (default 0: off)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="torch thread counts to time both sides at; each side's best counts (default 1)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    import torch

    from arvid.sampling import generate, stream_batch

    lm, tokenizer, config, _ = load_for_streaming(args.model, threads=args.threads[0], compile=True)
    prompts = PROMPTS[:args.prompts]
    latent_frames = tokenizer.latent_frames_for(args.frames)
    levers = {"pipelined": args.pipelined, "rolling_cache": args.rolling_cache, "bf16_decoder": args.bf16_decoder,
              "fused_steps": args.fused}

    def one_at_a_time(count: int) -> float:
        started = time.perf_counter()
        for prompt in prompts[:count]:
            generate(lm, tokenizer, prompt, latent_frames, config, batched_candidates=True, **levers)
        return count / (time.perf_counter() - started)

    def batched(count: int) -> float:
        started = time.perf_counter()
        list(islice(stream_batch(lm, tokenizer, prompts[:count], config, **levers), latent_frames))
        return count / (time.perf_counter() - started)

    one_at_a_time(1)  # warm-up: compiles every batch shape
    batched(len(prompts))
    rates: dict[int, dict[str, list[float]]] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        rates[threads] = {"one at a time": [], "one batch": []}
        for _ in range(args.rounds):
            rates[threads]["one at a time"].append(one_at_a_time(len(prompts)))
            rates[threads]["one batch"].append(batched(len(prompts)))
    print(f"model {args.model or 'shipped'}; {device_name('cpu')}; {len(prompts)} prompts x {args.frames} frames; "
          f"levers {levers}; first-window candidates batched on both sides")
    best: dict[str, tuple[float, int]] = {}
    for threads, sides in rates.items():
        for name, values in sides.items():
            rate = statistics.median(values)
            print(f"{name:<14} {threads} thread(s): {rate:.3f} videos/s ({args.frames * rate / 8:.2f}x real time at "
                  f"8 fps, all videos)")
            best[name] = max(best.get(name, (0.0, 0)), (rate, threads))
    ratio = best["one batch"][0] / best["one at a time"][0]
    print(f"ratio {ratio:.2f} (one batch at {best['one batch'][1]} thread(s), one at a time at "
          f"{best['one at a time'][1]})")
    write_json(args.json, {"prompts": len(prompts), "frames": args.frames, "levers": levers,
                           "rates": {str(threads): sides for threads, sides in rates.items()}, "ratio": ratio,
                           "best_threads": {name: threads for name, (_, threads) in best.items()}})


if __name__ == "__main__":
    main()
