"""Score videos: prompt match over time, scene cuts, optical-flow motion and warp error, flicker.

    arvid eval-video a.mp4 b.mp4 --prompts prompts.txt -o runs/eval       # score files
    arvid eval-video --prompt-set all --frames 16 -o runs/eval-16           # generate, then score
    arvid eval-video --prompt-set all --frames 1000 --limit 40 -o runs/eval-1000
    arvid eval-video --prompts prompts.txt --frames 64 -o runs/eval         # generate from a list

A prompts file has one prompt per line (for files: line i belongs to video i). `--prompt-set`
builds prompts from every (shape, colour, size, direction) combination of the shapes world;
held-out combinations are summarised apart. Writes scores.json (every video, and a summary per
group), over_time.png (attribute accuracy per 16-frame window, motion per frame step) and
contact_sheet.png. FVD, LPIPS and CLIP score run only with local weights (--i3d, --lpips,
--clip); without them they are skipped with a message saying what is missing.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from arvid.data.video import VideoWriter, read_video
from arvid.tools.errors import UsageError, fail
from arvid.tools.paths import check_writable

_SHEET_VIDEOS = 12  # rows of the contact sheet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("videos", nargs="*", help="video files to score (none: generate from --prompts/--prompt-set)")
    parser.add_argument("--prompts", help="text file, one prompt per line")
    parser.add_argument("--prompt-set", choices=("all", "train", "heldout"),
                        help="generate from every attribute combination of this split")
    parser.add_argument("--per-combination", type=int, default=1, help="prompts per combination (default 1)")
    parser.add_argument("--limit", type=int, help="score only the first N prompts of a seeded shuffle")
    parser.add_argument("--frames", type=int, default=16, help="frames to generate per prompt (default 16)")
    parser.add_argument("-o", "--out", default="runs/eval-video", help="output folder (default runs/eval-video)")
    parser.add_argument("--save-videos", action="store_true", help="also write each generated video as mp4")
    parser.add_argument("--model", help="model folder with lm/ and tokenizer/ (default: the shipped model)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the prompt set and each video (seed + index)")
    parser.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale (1 = off)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=50, help="as in arvid generate (default 50)")
    parser.add_argument("--i3d", help="local TorchScript I3D for FVD (StyleGAN-V's i3d_torchscript.pt)")
    parser.add_argument("--lpips", help="local TorchScript LPIPS network")
    parser.add_argument("--clip", help="local folder of a transformers CLIP model")


def _read_prompts(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise UsageError(f"cannot read prompts file {path!r}: {err.strerror}") from err
    prompts = [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise UsageError(f"prompts file {path!r} has no prompts")
    return prompts


def _check_args(args: argparse.Namespace) -> None:
    if args.videos and args.prompt_set:
        raise UsageError("give videos to score or --prompt-set to generate, not both")
    if not args.videos and not args.prompts and not args.prompt_set:
        raise UsageError("nothing to score: give video files, --prompts FILE or --prompt-set SPLIT")
    if args.prompts and args.prompt_set:
        raise UsageError("give --prompts or --prompt-set, not both")
    if args.frames < 2:
        raise UsageError(f"--frames must be >= 2, got {args.frames}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1, got {args.limit}")
    if args.per_combination < 1:
        raise UsageError(f"--per-combination must be >= 1, got {args.per_combination}")
    try:  # the output folder is made (or found unwritable) before any video is generated
        Path(args.out).mkdir(parents=True, exist_ok=True)
        if args.save_videos:
            (Path(args.out) / "videos").mkdir(exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output folder {args.out!r}: {err.strerror}") from err
    check_writable(Path(args.out) / "scores.json")


def _jobs(args: argparse.Namespace) -> list[dict]:
    """What to score: [{"name", "prompt", "group", "path" (files only), "attrs" (prompt sets only)}]."""
    from arvid.metrics.prompt_match import evaluation_prompts

    if args.videos:
        prompts = _read_prompts(args.prompts) if args.prompts else [None] * len(args.videos)
        if len(prompts) != len(args.videos):
            raise UsageError(f"{len(args.videos)} videos but {len(prompts)} prompts in {args.prompts!r}")
        for path in args.videos:
            if not Path(path).is_file():
                raise UsageError(f"video file not found: {path!r}")
        return [{"name": Path(p).name, "prompt": q, "group": "all", "path": p} for p, q in zip(args.videos, prompts)]
    if args.prompt_set:
        prompts = evaluation_prompts(args.prompt_set, per_combination=args.per_combination, seed=args.seed)
        jobs = [{"prompt": p.prompt, "attrs": p.attrs, "group": "heldout" if p.held_out else "train"} for p in prompts]
    else:
        jobs = [{"prompt": prompt, "group": "all"} for prompt in _read_prompts(args.prompts)]
    if args.limit:
        # A seeded shuffle first, so that a limited run is a spread sample, not one corner.
        jobs = [jobs[k] for k in np.random.default_rng(args.seed).permutation(len(jobs))][: args.limit]
    return [job | {"name": f"{i:04d}"} for i, job in enumerate(jobs)]


def _generator(args: argparse.Namespace):
    """A function (prompt, index) -> uint8 (args.frames h w 3) video, sampled with seed + index."""
    from arvid.sampling import SamplerConfig, stream
    from arvid.tools.checkpoints import load_models

    lm, tokenizer = load_models(args.model)

    def make(prompt: str, index: int) -> np.ndarray:
        try:
            config = SamplerConfig(temperature=args.temperature, top_k=args.top_k or None, cfg_scale=args.cfg,
                                   seed=args.seed + index)
        except ValueError as err:
            raise UsageError(str(err)) from err
        frames, count = [], 0
        for latent in stream(lm, tokenizer, prompt, config):
            frames.append(latent.frames)
            count += len(latent.frames)
            if count >= args.frames:
                break
        return np.concatenate(frames)[: args.frames]

    return make


def run(args: argparse.Namespace) -> int:
    from arvid.metrics.plots import contact_sheet, plot_over_time
    from arvid.metrics.pretrained import pretrained_metric_status
    from arvid.metrics.video_report import summarize, video_report

    try:
        _check_args(args)
        jobs = _jobs(args)
        skipped = pretrained_metric_status(i3d_path=args.i3d, lpips_path=args.lpips, clip_dir=args.clip)
        make = None if args.videos else _generator(args)
    except (UsageError, ValueError, FileNotFoundError) as err:
        return fail(str(err))
    for reason in skipped.values():
        if reason:
            print(reason, file=sys.stderr)

    out = Path(args.out)
    reports, sheet, generated = [], [], {}
    started = time.monotonic()
    for index, job in enumerate(tqdm(jobs, desc="videos", unit="video", dynamic_ncols=True)):
        try:
            tick = time.monotonic()
            video = read_video(job["path"]) if make is None else make(job["prompt"], index)
            seconds = time.monotonic() - tick
            report = video_report(video, job["prompt"])
        except (UsageError, ValueError) as err:  # VideoReadError is a ValueError
            return fail(f"{job['name']}: {err}")
        report |= {"name": job["name"], "group": job["group"]}
        if make is not None:
            report["generation_seconds"] = round(seconds, 3)
            if any(reason is None for reason in skipped.values()):  # kept only for the pretrained metrics
                generated[job["name"]] = video
            if args.save_videos:
                with VideoWriter(out / "videos" / f"{job['name']}.mp4", fps=8.0) as writer:
                    writer.write_many(video)
        reports.append(report)
        if len(sheet) < _SHEET_VIDEOS:
            sheet.append(video)

    summary = {group: summarize([r for r in reports if r["group"] == group])
               for group in sorted({r["group"] for r in reports})}
    if len(summary) > 1:
        summary["all"] = summarize(reports)
    extra = _pretrained_metrics(args, skipped, reports, generated, jobs)
    result = {
        "command": " ".join(sys.argv),
        "summary": summary,
        "pretrained": extra,
        "seconds": round(time.monotonic() - started, 1),
        # ru_maxrss is in KiB on Linux: the peak resident memory of this process, generation included.
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "videos": reports,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.json").write_text(json.dumps(result, indent=1) + "\n")
    plot_over_time(reports, out / "over_time.png")
    if len({v.shape[1:] for v in sheet}) == 1:
        contact_sheet(sheet, out / "contact_sheet.png")
    _print_summary(summary)
    print(f"wrote {out / 'scores.json'}, {out / 'over_time.png'}, {out / 'contact_sheet.png'}", file=sys.stderr)
    return 0


def _pretrained_metrics(args, skipped: dict, reports: list[dict], videos: dict, jobs: list[dict]) -> dict:
    """The metrics whose local weights were given: CLIP score against the prompts, LPIPS between
    consecutive frames (a perceptual measure of change per frame), and FVD against shapes videos
    rendered from the prompts' own attributes (prompt sets only: they are the real distribution)."""
    from arvid.data.shapes import render
    from arvid.metrics import pretrained

    results: dict = {name: None for name, reason in skipped.items() if reason}
    if not any(reason is None for reason in skipped.values()):
        return results
    if not videos:
        videos = {job["name"]: read_video(job["path"]) for job in jobs}
    if skipped["clip_score"] is None:
        clip = pretrained.load_clip(args.clip)  # once: loading dominates the cost of a short video
        scores = [pretrained.clip_frame_scores(videos[r["name"]], r["prompt"], clip).mean()
                  for r in reports if r["prompt"]]
        results["clip_score"] = float(np.mean(scores)) if scores else None
    if skipped["lpips"] is None:
        network = pretrained.load_lpips(args.lpips)
        changes = [pretrained.lpips_per_frame(v[:-1], v[1:], network).mean() for v in videos.values()]
        results["lpips_consecutive"] = float(np.mean(changes))
    if skipped["fvd"] is None:
        if all("attrs" in job for job in jobs) and len(jobs) >= 2:
            real = [render(job["attrs"], frames=args.frames, seed=args.seed + i).video for i, job in enumerate(jobs)]
            results["fvd"] = pretrained.fvd(real, [videos[job["name"]] for job in jobs], args.i3d)
        else:
            print("skipped fvd: it needs a reference set; run with --prompt-set (at least 2 prompts)", file=sys.stderr)
    return results


def _print_summary(summary: dict) -> None:
    names = ("videos", "first_window_match", "last_window_match", "no_scene_cuts", "mean_motion",
             "mean_warp_error", "mean_motion_aware_warp_error", "mean_flicker")
    groups = list(summary)
    print(f"{'metric':<30}" + "".join(f"{g:>12}" for g in groups))
    for name in names:
        cells = []
        for group in groups:
            value = summary[group][name]
            cells.append(f"{'-' if value is None else round(value, 4):>12}")
        print(f"{name:<30}" + "".join(cells))

