"""Streaming benchmark: time per latent frame and resident memory over a long stream.

    python -m arvid.tools.bench_stream [--model DIR] [--frames 2000] [--compile]

Streams `--frames` video frames (text-to-video, default sampler) through the LM's sliding window
and the tokenizer's streaming decoder, so every figure includes decoding to pixels. Without
`--model` it uses the shipped model, or, if none is shipped, randomly initialised models of the
`tiny` presets (speed and memory do not depend on the weights' values). Prints, at frames 100,
500, 1000 and 2000: the mean time per latent frame over the preceding 10 latent frames, the
resident memory, and the real-time factor (seconds of video per second of wall time at 8 fps).
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

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
    from arvid.data.shapes import all_phrasings, attribute_combinations

    text = train_text_tokenizer([c for a in attribute_combinations("train") for c in all_phrasings(a)])
    lm = VideoLM(Transformer(load_config(LMRunConfig, preset_path("lm/tiny")).model).eval(), text)
    return lm, tokenizer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder with lm/ and tokenizer/ (default: shipped, else tiny presets)")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--prompt", default="a small red circle moving right on a black background")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: fastest for tiny models)")
    parser.add_argument("--compile", action="store_true", help="compile the LM's decode step first")
    parser.add_argument("--cfg", type=float, default=1.0)
    parser.add_argument("--fps", type=float, default=8.0)
    args = parser.parse_args(argv)

    from arvid.sampling import SamplerConfig, stream
    from arvid.tools.checkpoints import load_models
    from arvid.tools.errors import UsageError

    torch.set_num_threads(args.threads)
    try:
        lm, tokenizer = load_models(args.model)
        source = args.model or "shipped model"
    except UsageError:
        if args.model:
            raise
        lm, tokenizer = preset_models()
        source = "tiny presets, random weights (no shipped model)"
    if args.compile:
        lm.model.compile_decode()
    print(f"model: {source}; {args.threads} thread(s); cfg {args.cfg}; compiled decode: {args.compile}")
    print(f"{'frames':>7} {'latent':>6} {'ms/latent frame':>16} {'RSS MiB':>8} {'real-time x':>11}")
    frames_done, times = 0, []
    marks = [m for m in CHECKPOINTS if m <= args.frames]
    last = time.perf_counter()
    for latent in stream(lm, tokenizer, args.prompt, SamplerConfig(cfg_scale=args.cfg, seed=0)):
        now = time.perf_counter()
        times.append(now - last)
        last = now
        frames_done += len(latent.frames)
        if marks and frames_done >= marks[0]:
            recent = times[-10:]
            per_frame = sum(recent) / len(recent)
            video_seconds = len(latent.frames) / args.fps
            print(f"{frames_done:>7} {latent.index + 1:>6} {1000 * per_frame:>16.1f} {resident_mib():>8.1f} "
                  f"{video_seconds / per_frame:>11.2f}", flush=True)
            marks.pop(0)
        if frames_done >= args.frames:
            break


if __name__ == "__main__":
    main()
