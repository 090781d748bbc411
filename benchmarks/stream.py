"""Streaming benchmark: time per latent frame and resident memory over a long stream.

    python benchmarks/stream.py [--model DIR] [--frames 2000] [--compile]
    python benchmarks/stream.py --device cuda --frames 500 --json stream.json

Streams `--frames` video frames (text-to-video, default sampler) through the LM's sliding window
and the tokenizer's streaming decoder, so every figure includes decoding to pixels. Without
`--model` it uses the shipped model, or, if none is shipped, randomly initialised models of the
`tiny` presets (speed and memory do not depend on the weights' values). Prints, at frames 100,
500, 1000 and 2000: the median time per latent frame over the preceding 25 latent frames, the
process CPU time per latent frame (less sensitive than wall time to other load on a shared
machine), the resident memory, and the real-time factor (seconds of video per second of wall time at 8 fps).
Then it takes latent frames in turn from that stream and from a fresh one that has run 100
frames, and prints the ratio of their median times: the drift-free answer to "is frame 2000 as
cheap as frame 100". A benchmark, not a test.

`--device cuda` runs both models on the GPU (the time per latent frame then includes waiting for it:
each latent frame's codes come back to the CPU) and adds the GPU's peak allocated memory.
`--marks` changes the frames reported at, `--paired-rounds 0` skips the paired comparison.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from device_info import device_name, write_json  # benchmarks/device_info.py, beside this script

CHECKPOINTS = (100, 500, 1000, 2000)


def resident_mib() -> float:
    """Current resident set size of this process (Linux /proc), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def preset_models():
    from arvid.configs import load_config, preset_path
    from arvid.lm.checkpoint import VideoLM
    from arvid.lm.model import Transformer
    from arvid.lm.text import train_text_tokenizer
    from arvid.lm.train import LMRunConfig
    from arvid.tokenizer import VideoTokenizer
    from arvid.tokenizer.train import TokenizerRunConfig

    torch.manual_seed(0)
    tokenizer = VideoTokenizer(load_config(TokenizerRunConfig, preset_path("tokenizer/tiny")).model).eval()
    from arvid.shapes.world import all_phrasings, attribute_combinations

    text = train_text_tokenizer([c for a in attribute_combinations("train") for c in all_phrasings(a)])
    lm = VideoLM(Transformer(load_config(LMRunConfig, preset_path("lm/tiny")).model).eval(), text)
    return lm, tokenizer


def sampling(args: argparse.Namespace, lm, *, seed: int):
    """The sampler config of the run: the model's generation config, or guidance --cfg alone."""
    import dataclasses

    from arvid.sampling import SamplerConfig

    if args.default_sampling:
        return dataclasses.replace(SamplerConfig.from_model(lm), seed=seed)
    return SamplerConfig(cfg_scale=args.cfg, seed=seed)


def levers(args: argparse.Namespace) -> dict[str, bool]:
    """The speed levers given, as `stream`'s keyword arguments."""
    return {name: getattr(args, name) for name in ("pipelined", "rolling_cache", "batched_candidates", "bf16_decoder")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder with lm/ and tokenizer/ (default: shipped, else tiny presets)")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--prompt", default="a small red circle moving right on a black background")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: fastest for tiny models)")
    parser.add_argument("--compile", action="store_true", help="compile the LM's decode step first")
    parser.add_argument("--pipelined", action="store_true",
                        help="decode each latent frame on a second thread while the LM draws the next (stream(pipelined=True))")
    parser.add_argument("--cfg", type=float, default=1.0)
    parser.add_argument("--default-sampling", action="store_true",
                        help="the model's generation config (guidance, first-window candidates...) instead of --cfg")
    for lever in ("rolling-cache", "batched-candidates", "bf16-decoder"):
        parser.add_argument(f"--{lever}", action="store_true", help=f"stream({lever.replace('-', '_')}=True)")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--marks", default=",".join(map(str, CHECKPOINTS)),
                        help="frames to report at (default 100,500,1000,2000)")
    parser.add_argument("--paired-rounds", type=int, default=30,
                        help="latent frames each in the paired comparison (0: skip it; it runs from 200 frames on)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    from arvid.sampling import stream
    from arvid.tools.checkpoints import load_models
    from arvid.tools.errors import UsageError

    torch.set_num_threads(args.threads)
    try:
        lm, tokenizer = load_models(args.model, args.device)
        source = args.model or "shipped model"
    except UsageError as err:
        if args.model:
            raise SystemExit(f"error: {err}") from None
        print(f"the shipped model does not load here ({err}): timing the tiny presets with random weights")
        lm, tokenizer = preset_models()
        lm.model.to(args.device)
        tokenizer.to(args.device)
        source = "tiny presets, random weights (the shipped model did not load)"
    if args.compile:
        lm.model.compile_decode()
    cuda = torch.device(args.device).type == "cuda"
    print(f"model: {source}; {device_name(args.device)}; {args.threads} thread(s); {sampling(args, lm, seed=0)}; "
          f"levers {levers(args)}; compiled decode: {args.compile}")
    print(f"{'frames':>7} {'latent':>6} {'ms/latent frame':>16} {'CPU ms/latent':>14} {'RSS MiB':>8} {'real-time x':>11}"
          + (f" {'GPU peak MiB':>12}" if cuda else ""))
    results = {"model": source, "device": device_name(args.device), "cfg": args.cfg, "compiled": args.compile,
               "threads": args.threads, "fps": args.fps, "marks": [], "paired": None}
    frames_done, times, cpu_times = 0, [], []
    marks = [m for m in (int(m) for m in args.marks.split(",") if m) if m <= args.frames]
    last, last_cpu = time.perf_counter(), time.process_time()
    latent_stream = stream(lm, tokenizer, args.prompt, sampling(args, lm, seed=0), **levers(args))
    for latent in latent_stream:
        now = time.perf_counter()
        now_cpu = time.process_time()
        times.append(now - last)
        cpu_times.append(now_cpu - last_cpu)
        last, last_cpu = now, now_cpu
        frames_done += len(latent.frames)
        if marks and frames_done >= marks[0]:
            per_frame = statistics.median(times[-25:])  # the median shrugs off other processes' hiccups
            video_seconds = len(latent.frames) / args.fps
            cpu_per_frame = statistics.median(cpu_times[-25:])
            gpu_mib = torch.cuda.max_memory_allocated(args.device) / 2**20 if cuda else None
            print(f"{frames_done:>7} {latent.index + 1:>6} {1000 * per_frame:>16.1f} {1000 * cpu_per_frame:>14.1f} "
                  f"{resident_mib():>8.1f} "
                  f"{video_seconds / per_frame:>11.2f}" + (f" {gpu_mib:>12.1f}" if cuda else ""), flush=True)
            results["marks"].append({"frames": frames_done, "latent_frames": latent.index + 1,
                                     "ms_per_latent_frame": 1000 * per_frame, "cpu_ms_per_latent_frame": 1000 * cpu_per_frame,
                                     "rss_mib": resident_mib(), "real_time_factor": video_seconds / per_frame,
                                     "gpu_peak_mib": gpu_mib})
            marks.pop(0)
        if frames_done >= args.frames:
            break
    write_json(args.json, results)  # now, so that the figures survive a failure of the comparison below
    if args.frames >= 200 and args.paired_rounds > 0:
        results["paired"] = paired_comparison(latent_stream, lm, tokenizer, args, rounds=args.paired_rounds)
        write_json(args.json, results)


def paired_comparison(old_stream, lm, tokenizer, args: argparse.Namespace, rounds: int = 30) -> dict[str, float]:
    """Time the stream that has run `--frames` frames against a fresh one that has run 100, taking
    latent frames from each in turn, so that load from other processes falls on both alike (on a
    shared machine wall time drifts by tens of percent over minutes)."""
    import copy

    from arvid.sampling import stream

    fresh_lm = copy.deepcopy(lm)  # its own KV cache
    # A compiled decode step is a function bound to the model it was made from: deepcopy keeps it
    # pointing at the original's cache. The copy gets its own.
    fresh_lm.model.__dict__.pop("_decode_step", None)
    if args.compile:
        fresh_lm.model.compile_decode()
    young_stream = stream(fresh_lm, tokenizer, args.prompt, sampling(args, lm, seed=1), **levers(args))
    frames = 0
    while frames < 100:
        frames += len(next(young_stream).frames)
    old, young = [], []
    for _ in range(rounds):
        for source, times in ((old_stream, old), (young_stream, young)):
            start = time.perf_counter()
            next(source)
            times.append(time.perf_counter() - start)
    old_ms, young_ms = 1000 * statistics.median(old), 1000 * statistics.median(young)
    print(f"paired, {rounds} latent frames each, taken in turn: at frame {args.frames} {old_ms:.1f} ms per latent "
          f"frame, at frame 100 {young_ms:.1f} ms; ratio {old_ms / young_ms:.3f}")
    return {"rounds": rounds, "old_frames": args.frames, "old_ms": old_ms, "young_ms": young_ms,
            "ratio": old_ms / young_ms}


if __name__ == "__main__":
    main()
