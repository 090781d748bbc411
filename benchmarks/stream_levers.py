"""The streaming speed levers, lever by lever, in one run (issue 31, point 3).

    python benchmarks/stream_levers.py [--model DIR] [--latent-frames 40] [--rounds 2] [--json FILE]

Streams the model's default sampling (its generation config: guidance, first-window candidates
and all) through `stream(...)`, pixels included, once with every lever off (today's path), once
with each lever on alone, and once with all on; each row runs once per round, rows interleaved, and
the table gives each row's median over the rounds (other load on a shared machine falls on every
row alike). Before the timed rounds each row streams a few latent frames, so compiling the decode
step (and its batched shapes) is not timed; `--cold` reports that first call too.

Per row: time to first frame (from the `stream(...)` call, models loaded), the median time per
latent frame once the window slides, the real-time factor that gives at the tokenizer's frame rate
(`--fps`, 8), the real-time factor of the whole run (first window included), and the resident
memory after the row. Jacobi decoding and the fused runs are read against "uniform draws", the
one-token-per-pass path whose tokens they reproduce. The "choice at N frames" rows change the
sampling, not only its speed: the candidates are drawn for N latent frames, not the whole first
window. Then the bf16 decoder's reconstruction PSNR beside float32's on held-out shapes clips (the
same codes). On a CPU without native bfloat16 (AVX2
only), where the bf16 decoder is emulated and far slower, "all on" leaves it off, and its row and
PSNR run only when named. Quality of the approximate levers (rolling cache): `arvid eval-video`
with the flags, docs/results/streaming_and_speed.md. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from bench_models import load_for_streaming  # benchmarks/bench_models.py, beside this script
from device_info import device_name, write_json  # benchmarks/device_info.py, beside this script
from stream import resident_mib  # benchmarks/stream.py

LEVERS = ("pipelined", "rolling_cache", "batched_candidates", "bf16_decoder")
JACOBI = 8  # tokens per Jacobi pass in the "+ jacobi" row
FUSED = 7  # tokens per call in the "+ fused" and "all on" rows: 9 runs of 7 and the last token of a 64-token frame
# jacobi_block 1 draws each token from its own uniform number, one per pass: the draws Jacobi and the
# fused runs reproduce.
ROWS = {"today (all off)": {}, **{f"+ {lever}": {lever: True} for lever in LEVERS},
        "+ uniform draws (jacobi 1)": {"jacobi_block": 1}, f"+ jacobi {JACOBI}": {"jacobi_block": JACOBI},
        f"+ fused draws {FUSED}": {"fused_steps": FUSED},
        "all on but fused draws": dict.fromkeys(LEVERS, True),
        "all on": dict.fromkeys(LEVERS, True) | {"fused_steps": FUSED},
        # Not a lever but the sampling: the candidates drawn for 2 or 3 latent frames, not the whole
        # first window (`first_window_choice_frames`; its quality: docs/results/sampling.md).
        **{f"all on, choice at {early} frames": dict.fromkeys(LEVERS, True)
           | {"fused_steps": FUSED, "sampling": {"first_window_choice_frames": early}} for early in (2, 3)}}
# On a CPU without native bfloat16 the bf16 decoder runs emulated, about 35 times slower than float32
# (docs/results/streaming_and_speed.md): there the all-on rows leave it off, and its own row and its
# PSNR run only when asked for (--rows).
BF16_ROW = "+ bf16_decoder"


def timed_stream(lm, tokenizer, prompt: str, config, latent_frames: int, window: int, levers: dict, fps: float) -> dict:
    """Stream `latent_frames` latent frames with `levers` (its "sampling": fields of `config` to
    replace) -> the row's figures."""
    from arvid.sampling import stream

    levers = dict(levers)
    config = replace(config, **levers.pop("sampling", {}))
    started = time.perf_counter()
    frames, stamps = 0, []
    for latent in stream(lm, tokenizer, prompt, config, **levers):
        stamps.append(time.perf_counter())
        frames += len(latent.frames)
        if latent.index + 1 >= latent_frames:
            break
    steady = np.diff(stamps[window + 2:])  # after the first window and the first slide
    per_frame = float(np.median(steady))
    video_seconds = tokenizer.config.temporal_factor / fps
    return {"ttff_s": stamps[0] - started, "ms_per_latent_frame": 1000 * per_frame,
            "real_time_factor": video_seconds / per_frame, "video_s": frames / fps, "run_s": stamps[-1] - started,
            "whole_run_real_time_factor": frames / fps / (stamps[-1] - started), "rss_mib": resident_mib()}


def decoder_psnr(tokenizer, clips: int = 8) -> dict[str, float]:
    """Reconstruction PSNR of held-out shapes clips (17 frames) through the streaming decoder in float32
    and under bf16 autocast, the same codes."""
    from arvid.metrics.reconstruction import psnr
    from arvid.shapes.world import random_clip
    from arvid.tokenizer import frames_to_video

    rng = np.random.default_rng(1)
    videos = torch.cat([frames_to_video(random_clip(rng, "heldout", 17).video) for _ in range(clips)])
    codes = tokenizer.encode(videos)
    figures = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        decoder = tokenizer.streaming_decoder(bf16=bf16)
        decoded = torch.cat([decoder.push(codes[:, i:i + 1]) for i in range(codes.shape[1])], dim=2)
        figures[name] = float(psnr(decoded, videos).mean())
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder with lm/ and tokenizer/ (default: the shipped model)")
    parser.add_argument("--latent-frames", type=int, default=40, help="latent frames per timed stream")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--prompt", default="a small red circle moving right on a black background")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; pipelining adds a second)")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="leave the decode step eager")
    parser.add_argument("--rows", nargs="+", choices=ROWS, metavar="ROW", default=None,
                        help=f"the rows to run (default all, but '+ bf16_decoder' on a CPU without native bfloat16: "
                             f"{', '.join(repr(name) for name in ROWS)})")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    from arvid.training.precision import cpu_has_native_bf16

    native_bf16 = cpu_has_native_bf16()
    chosen = args.rows or [name for name in ROWS if native_bf16 or name != BF16_ROW]
    rows = {name: ROWS[name] | ({} if native_bf16 or not name.startswith("all on") else {"bf16_decoder": False})
            for name in chosen}
    if not native_bf16:
        print("this CPU has no native bfloat16: the all-on rows leave the bf16 decoder off")

    lm, tokenizer, config, window = load_for_streaming(args.model, threads=args.threads, compile=args.compile)
    print(f"model: {args.model or 'shipped'}; {device_name('cpu')}; {args.threads} thread(s); compiled decode: "
          f"{args.compile}; sampling: {config}")
    cold = {}
    for name, levers in rows.items():  # warm-up: compiles every shape a row uses
        started = time.perf_counter()
        timed_stream(lm, tokenizer, args.prompt, config, window + 4, window, levers, args.fps)
        cold[name] = time.perf_counter() - started
    runs: dict[str, list[dict]] = {name: [] for name in rows}
    for round_index in range(args.rounds):
        for name, levers in rows.items():
            runs[name].append(timed_stream(lm, tokenizer, args.prompt, config, args.latent_frames, window, levers,
                                                 args.fps))
        print(f"round {round_index + 1} of {args.rounds} done", flush=True)
    print(f"\n{'row':<28} {'TTFF s':>7} {'ms/latent':>10} {'RTF':>6} {'RTF whole':>10} {'RSS MiB':>8} {'warm-up s':>9}")
    table = {}
    for name in rows:
        row = {key: statistics.median(run[key] for run in runs[name]) for key in runs[name][0]}
        # From the median time, not the median of the rounds' factors: with two rounds that is their
        # mean, which a fast round pulls above the factor the median time gives.
        row["real_time_factor"] = 1000 * tokenizer.config.temporal_factor / args.fps / row["ms_per_latent_frame"]
        row["whole_run_real_time_factor"] = row["video_s"] / row["run_s"]
        row["ms_per_latent_frame_by_round"] = [run["ms_per_latent_frame"] for run in runs[name]]
        row["warm_up_s"] = cold[name]
        table[name] = row
        print(f"{name:<28} {row['ttff_s']:>7.2f} {row['ms_per_latent_frame']:>10.1f} {row['real_time_factor']:>6.2f} "
              f"{row['whole_run_real_time_factor']:>10.2f} {row['rss_mib']:>8.0f} {row['warm_up_s']:>9.1f}"
              f"  (ms/latent by round: {', '.join(f'{ms:.1f}' for ms in row['ms_per_latent_frame_by_round'])})")
    psnr = decoder_psnr(tokenizer) if native_bf16 or BF16_ROW in rows else None
    if psnr is not None:
        print(f"\nstreaming decoder PSNR on 8 held-out shapes clips: float32 {psnr['fp32']:.2f} dB, "
              f"bf16 autocast {psnr['bf16']:.2f} dB")
    write_json(args.json, {"model": args.model or "shipped", "device": device_name("cpu"), "threads": args.threads,
                           "latent_frames": args.latent_frames, "rounds": args.rounds, "rows": table,
                           "decoder_psnr": psnr})


if __name__ == "__main__":
    main()
