"""Score videos: prompt match over time, scene cuts, optical-flow motion and warp error, flicker.

    arvid eval-video a.mp4 b.mp4 --prompts prompts.txt -o runs/eval       # score files
    arvid eval-video a.mp4 --prompt "a red circle moving left" -o runs/eval  # one file, one prompt
    arvid eval-video --prompt-set all --frames 16 -o runs/eval-16           # generate, then score
    arvid eval-video --prompt-set all --frames 1000 --limit 40 -o runs/eval-1000
    arvid eval-video --prompts prompts.txt --frames 64 -o runs/eval         # generate from a list

A prompts file has one prompt per line (for files: line i belongs to video i); `--prompt` gives
every video the same prompt (or, without videos, is the one prompt to generate from).
`--prompt-set` builds prompts from every (shape, colour, size, direction) combination of the
shapes world; held-out combinations are summarised apart. Generation samples as `arvid generate`
does: the model's generation config, with the sampling flags on top. Writes scores.json (every
video, and a summary per group), over_time.png (attribute accuracy per 16-frame window, motion per
frame step) and contact_sheet.png. FVD, LPIPS and CLIP score run only with local weights (--i3d, --lpips,
--clip); without them they are skipped with a message saying what is missing. Ctrl-C or SIGTERM
writes the scores of the videos done so far (exit code 130).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import importlib.util
import json
import resource
import sys
import time
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from arvid.tools.errors import UsageError, fail
from arvid.tools.prompt_rewriting import add_rewrite_argument, prompt_reader, rewrite_lexicon
from arvid.tools.options import (DEFAULT_FPS, add_device_argument, add_model_argument, add_sampler_arguments,
                                 add_speed_arguments, apply_runtime_options, batch_levers, check_runtime_options,
                                 note_default_sampling, sampler_config, speed_levers)

if TYPE_CHECKING:
    import numpy as np

_SHEET_VIDEOS = 12  # rows of the contact sheet
DEFAULT_OUT = "runs/eval-video"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`arvid eval-video`'s arguments."""
    parser.add_argument("videos", nargs="*", help="video files to score (none: generate from prompts)")
    parser.add_argument("--prompt", metavar="TEXT",
                        help="the prompt of every video given; without videos, the one prompt to generate from "
                             "(default: none)")
    parser.add_argument("--prompts", metavar="FILE", help="text file, one prompt per line (default: none)")
    parser.add_argument("--prompt-set", choices=("all", "train", "heldout", "paraphrase", "paraphrase-fresh"),
                        help="generate from every attribute combination of this split, or from the 240 held-out "
                             "paraphrases (words and sentence shapes no training caption uses; arvid.shapes.paraphrase), "
                             "or from 240 of its second held-out pool (paraphrase-fresh) (default: none)")
    parser.add_argument("--per-combination", type=int, default=1, help="prompts per combination")
    parser.add_argument("--source", choices=("model", "truth", "tokenizer"), default="model",
                        help="with --prompt-set: videos from the model, the rendered ground truth "
                             "(checks the suite), or the ground truth through the tokenizer (the ceiling it sets)")
    parser.add_argument("--limit", type=int, help="score only the first N prompts of a seeded shuffle (default: all)")
    parser.add_argument("--frames", type=int, default=16, help="frames to generate per prompt")
    parser.add_argument("-o", "--out", help=f"output folder (default: a new one, {DEFAULT_OUT}, or {DEFAULT_OUT}-2, "
                                            f"-3, ... when that exists; with --overwrite, {DEFAULT_OUT})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the evaluation the -o folder holds (its scores.json) instead of refusing")
    parser.add_argument("--save-videos", action="store_true", help="also write each generated video as mp4")
    add_model_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="seeds the prompt set and each video (seed + index)")
    parser.add_argument("--batch", type=int, default=1,
                        help="generate this many prompts at once, as the rows of one batch (arvid.sampling.stream_batch):"
                             " faster; the batch shares one random generator seeded with its first video's seed + index, "
                             "so the draws differ from one at a time")
    parser.add_argument("--i3d", metavar="FILE",
                        help="local TorchScript I3D for FVD, StyleGAN-V's i3d_torchscript.pt (default: none, no FVD)")
    parser.add_argument("--lpips", metavar="FILE", help="local TorchScript LPIPS network (default: none, no LPIPS)")
    parser.add_argument("--clip", metavar="DIR",
                        help="local folder of a transformers CLIP model (default: none, no CLIP score)")
    add_rewrite_argument(parser)
    add_sampler_arguments(parser)
    add_speed_arguments(parser)


def _read_prompts(path: str) -> list[str]:
    from arvid.tools.text_files import read_prompts

    return [prompt for _, prompt in read_prompts(path)]  # blank lines and # comments skipped, as generate's


def _check_args(args: argparse.Namespace) -> None:
    """Raise UsageError for arguments that do not go together, before any work; makes the output folder."""
    from arvid.tools.paths import check_writable, evaluation_folder

    if args.prompt is not None and (args.prompts or args.prompt_set):
        raise UsageError("give --prompt, --prompts or --prompt-set, not more than one")
    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("--prompt is empty")
    if args.source != "model" and not args.prompt_set:
        raise UsageError("--source truth|tokenizer needs --prompt-set (the ground truth comes from its attributes)")
    if args.videos and args.prompt_set:
        raise UsageError("give videos to score or --prompt-set to generate, not both")
    if args.rewrite_prompts and (args.videos or args.source != "model"):
        raise UsageError("--rewrite-prompts rewrites the prompts the model generates from: give no videos, and no "
                         "--source truth|tokenizer")
    if not args.videos and not args.prompts and not args.prompt_set and args.prompt is None:
        raise UsageError("nothing to score: give video files, --prompt TEXT, --prompts FILE or --prompt-set SPLIT")
    if args.prompts and args.prompt_set:
        raise UsageError("give --prompts or --prompt-set, not both")
    check_runtime_options(args)
    if args.frames < 2:
        raise UsageError(f"--frames must be >= 2, got {args.frames}")
    if args.batch < 1:
        raise UsageError(f"--batch must be >= 1, got {args.batch}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1, got {args.limit}")
    if args.limit is not None and args.videos:
        raise UsageError("--limit draws prompts to generate from: with video files, name the ones to score")
    if args.per_combination < 1:
        raise UsageError(f"--per-combination must be >= 1, got {args.per_combination}")
    if args.seed < 0:  # numpy's generators and the prompt shuffle take no negative seed
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    # The output folder is made (or found unwritable) before any video is generated.
    folder, created = evaluation_folder(args.out, DEFAULT_OUT, overwrite=args.overwrite, record="scores.json", flag="-o")
    args.out, args._made_out = str(folder), folder if created else None
    if args.save_videos:
        try:
            (folder / "videos").mkdir(exist_ok=True)
        except OSError as err:
            raise UsageError(f"cannot create output folder {str(folder / 'videos')!r}: {err.strerror}") from err
    check_writable(folder / "scores.json")


def _jobs(args: argparse.Namespace) -> list[dict]:
    """What to score: [{"name", "prompt", "group", "path" (files only), "attrs" (prompt sets only)}].

    Raises:
        UsageError: a video file that does not decode whole (every one is decoded once, here), a
            missing or unreadable prompts file, or as many prompts as videos not given.
    """
    import numpy as np

    from arvid.shapes.prompt_match import evaluation_prompts

    if args.videos:
        prompts = _read_prompts(args.prompts) if args.prompts else [args.prompt] * len(args.videos)
        if len(prompts) != len(args.videos):
            raise UsageError(f"{len(args.videos)} videos but {len(prompts)} prompts in {args.prompts!r}")
        from arvid.data.video import VideoReadError, count_frames

        for path in args.videos:  # every file decodes before any is scored: a bad one fails here, not midway
            try:
                count_frames(path)
            except VideoReadError as err:  # it names the file
                raise UsageError(str(err)) from None
        # Named by the path as given: two files called x.mp4 in different folders stay apart.
        return [{"name": p, "prompt": q, "group": "all", "path": p} for p, q in zip(args.videos, prompts, strict=True)]
    if args.prompt_set in ("paraphrase", "paraphrase-fresh"):
        from arvid.shapes.paraphrase import heldout_paraphrase_set
        from arvid.shapes.world import is_held_out

        pool = "fresh" if args.prompt_set == "paraphrase-fresh" else "heldout"
        jobs = [{"prompt": p.prompt, "attrs": p.attrs, "expected": p.expected(),
                 "group": "heldout" if is_held_out(p.attrs) else "train"}
                for p in heldout_paraphrase_set(seed=args.seed, pool=pool)]
    elif args.prompt_set:
        prompts = evaluation_prompts(args.prompt_set, per_combination=args.per_combination, seed=args.seed)
        jobs = [{"prompt": p.prompt, "attrs": p.attrs, "group": "heldout" if p.held_out else "train"} for p in prompts]
    elif args.prompt is not None:
        jobs = [{"prompt": args.prompt, "group": "all"}]
    else:
        jobs = [{"prompt": prompt, "group": "all"} for prompt in _read_prompts(args.prompts)]
    if args.limit:
        # A seeded shuffle first, so that a limited run is a spread sample, not one corner.
        jobs = [jobs[k] for k in np.random.default_rng(args.seed).permutation(len(jobs))][: args.limit]
    return [job | {"name": f"{i:04d}"} for i, job in enumerate(jobs)]


def _generator(args: argparse.Namespace, jobs: list[dict]):
    """(make, config, fps): make(job, index) -> uint8 (args.frames h w 3) video for job["prompt"],
    sampled with `config` at seed + index; config is the model's generation config with the flags on
    top; fps the rate of the LM's training videos (`learnt_fps`).
    With --batch N, the call for job i generates jobs i to i + N - 1 together (seed + i) and the
    next calls take their videos.

    Raises:
        UsageError: a bad model folder, generation config, flag or device; --rewrite-prompts without
            nltk or WordNet, or for an LM that records no caption words.
    """
    import numpy as np

    from arvid.sampling import generate, stream_batch
    from arvid.tools.checkpoints import load_models, model_parts
    from arvid.tools.generate import learnt_fps

    parts = model_parts(args.model)
    folder = parts.lm
    config = sampler_config(args, folder, seed=args.seed)  # checked once, before the models load
    levers = speed_levers(args) if args.batch == 1 else batch_levers(args, "--batch")
    lexicon = rewrite_lexicon(args)
    lm, tokenizer = load_models(parts, args.device)
    apply_runtime_options(args, lm)
    note_default_sampling(folder)
    read = prompt_reader(lm, lexicon, say=False)  # --rewrite-prompts; each report records what the LM read
    for job in jobs:
        read_as = read(job["prompt"])
        if read_as != job["prompt"]:
            job["read_as"] = read_as
    if args.rewrite_prompts:
        print(f"note: --rewrite-prompts rewrote {sum('read_as' in job for job in jobs)} of {len(jobs)} prompts "
              f"(each report's read_as)", file=sys.stderr)

    latent_frames = tokenizer.latent_frames_for(args.frames)

    def make(job: dict, index: int) -> np.ndarray:
        prompt = job.get("read_as", job["prompt"])
        latents = generate(lm, tokenizer, prompt, latent_frames, dataclasses.replace(config, seed=args.seed + index), **levers)
        return np.concatenate([latent.frames for latent in latents])[: args.frames]

    made: dict[int, np.ndarray] = {}  # videos of the batch in progress, by job index

    def make_batched(job: dict, index: int) -> np.ndarray:
        if index not in made:
            made.clear()
            chunk = [job.get("read_as", job["prompt"]) for job in jobs[index:index + args.batch]]
            steps = stream_batch(lm, tokenizer, chunk, dataclasses.replace(config, seed=args.seed + index), **levers)
            rows = zip(*[[latent.frames for latent in step] for step in islice(steps, latent_frames)])
            made.update({index + k: np.concatenate(frames)[: args.frames] for k, frames in enumerate(rows)})
        return made.pop(index)

    # --save-videos plays them at the pace the LM learnt.
    return (make if args.batch == 1 else make_batched), config, learnt_fps(lm)


def _ground_truth(args: argparse.Namespace):
    """A function make(job, index) -> the job's attributes rendered (seed + index) to args.frames
    frames, passed through the tokenizer (`--model`'s, or the shipped one) for --source tokenizer.

    Raises:
        UsageError: a bad model folder or device (--source tokenizer).
    """
    from arvid.shapes.world import render

    tokenizer = None
    if args.source == "tokenizer":
        from arvid.tokenizer.evaluate import reconstruct
        from arvid.tools.checkpoints import load_tokenizer, model_parts

        tokenizer = load_tokenizer(model_parts(args.model).tokenizer, args.device)
        # The tokenizer takes 1 + 4k frames: render enough, reconstruct, then cut to length.
        rendered = tokenizer.video_frames(tokenizer.latent_frames_for(args.frames))

    def make(job: dict, index: int) -> np.ndarray:
        if tokenizer is None:
            return render(job["attrs"], frames=args.frames, seed=args.seed + index).video
        video = render(job["attrs"], frames=rendered, seed=args.seed + index).video
        return reconstruct(tokenizer, video).frames[: args.frames]

    return make


def _outputs_of(scores: Path) -> list[Path]:
    """The files an earlier run wrote beside its `scores` (scores.json): its plots and the videos it
    saved (`videos/NAME.mp4`, for the names it lists); [] where it cannot be read."""
    try:
        names = [video["name"] for video in json.loads(scores.read_text())["videos"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    folder = scores.parent
    return [folder / "over_time.png", folder / "contact_sheet.png",
            *(folder / "videos" / f"{name}.mp4" for name in names if isinstance(name, str) and "/" not in name)]


def _check_weights(args: argparse.Namespace) -> None:
    """A metric's weights that were given must be there: skipping the metric is only for weights not given."""
    from arvid.metrics.pretrained import pretrained_metric_status

    status = pretrained_metric_status(i3d_path=args.i3d, lpips_path=args.lpips, clip_dir=args.clip)
    for given, flag, metric in ((args.i3d, "--i3d", "fvd"), (args.lpips, "--lpips", "lpips"),
                                (args.clip, "--clip", "clip_score")):
        if given is not None and status[metric] is not None:
            raise UsageError(f"{flag} {given!r}: {status[metric].removeprefix('skipped ')}")


def _check_extras() -> None:
    """The `eval` extra, checked before any work, so a missing package is a message, not a traceback."""
    missing = [name for name, module in (("opencv-python-headless", "cv2"), ("scenedetect", "scenedetect"),
                                         ("matplotlib", "matplotlib"), ("scipy", "scipy"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise UsageError(f"eval-video needs {', '.join(missing)}: pip install 'arvid[eval]'")


def run(args: argparse.Namespace) -> int:
    """Check everything, then make or read each video and score it; write the reports -> exit code
    (0 all scored, 1 some videos failed, 2 bad usage, 130 interrupted)."""
    try:
        _check_extras()
        _check_args(args)
        from arvid.metrics.pretrained import PretrainedScorers
        from arvid.tools.checkpoints import resolve_device

        _check_weights(args)  # before the videos are read (`_jobs`): they may take minutes
        device = resolve_device(args.device)
        jobs = _jobs(args)
        pretrained = PretrainedScorers(i3d_path=args.i3d, lpips_path=args.lpips, clip_dir=args.clip, device=device)
        make, sampler, fps = None, None, DEFAULT_FPS
        if not args.videos:
            make, sampler, fps = (_generator(args, jobs) if args.source == "model" else
                                  (_ground_truth(args), None, DEFAULT_FPS))
    except (UsageError, ValueError, FileNotFoundError) as err:  # MissingWeights is a FileNotFoundError
        from arvid.tools.paths import remove_unused_folder

        remove_unused_folder(getattr(args, "_made_out", None))
        return fail(str(err))
    for reason in pretrained.skipped.values():
        print(reason, file=sys.stderr)
    return _evaluate(args, jobs, make, pretrained, sampler, fps)


def _evaluate(args: argparse.Namespace, jobs: list[dict], make, pretrained, sampler, fps: float) -> int:
    """Score every job, stopping early on an interruption, and write scores.json and the plots (and with
    --save-videos the made videos, at `fps`) -> exit code."""
    from tqdm import tqdm

    from arvid.data.video_writer import VideoWriter
    from arvid.metrics.plots import contact_sheet, plot_over_time, sheet_frames
    from arvid.metrics.pretrained import FVD_FRAMES
    from arvid.shapes.report import summarize
    from arvid.tools.interrupts import INTERRUPTS, sigterm_raises
    from arvid.tools.progress import ProgressLine

    out = Path(args.out)
    for stale in _outputs_of(out / "scores.json") if args.overwrite else []:
        stale.unlink(missing_ok=True)  # the replaced run's, which this run's scores.json would not account for
    reports, sheet, interrupted = [], [], False
    started = time.monotonic()
    # tqdm's bar on a terminal; elsewhere (a log file) separate lines at most once a second, as
    # tqdm's carriage returns would make the whole log one line.
    terminal = sys.stderr.isatty()
    progress = None if terminal else ProgressLine()
    with sigterm_raises():
        try:
            for index, job in enumerate(tqdm(jobs, desc="videos", unit="video", dynamic_ncols=True, disable=not terminal)):
                report, video = _score(args, job, index, make, pretrained)
                reports.append(report)
                if progress is not None:
                    progress.update(f"videos {index + 1}/{len(jobs)} | {time.monotonic() - started:.0f} s")
                if video is None:
                    continue
                if make is not None and args.save_videos:
                    with VideoWriter(out / "videos" / f"{job['name']}.mp4", fps=fps) as writer:
                        writer.write_many(video)
                if len(sheet) < _SHEET_VIDEOS:  # only the frames the sheet shows, not the whole video
                    sheet.append(sheet_frames(video))
        except INTERRUPTS:
            interrupted = True
            print("\ninterrupted: writing the scores of the videos done so far", file=sys.stderr)
        if progress is not None:
            progress.end()

    scored = [r for r in reports if "error" not in r]
    summary = {group: summarize([r for r in scored if r["group"] == group])
               for group in sorted({r["group"] for r in scored})}
    if len(summary) > 1:
        summary["all"] = summarize(scored)
    result = {
        "arguments": {k: v for k, v in vars(args).items() if not k.startswith("_")},
        # The sampling settings in effect (the model's generation config with the flags on top); seed: the first video's.
        "sampler": None if sampler is None else dataclasses.asdict(sampler),
        "scenedetect_version": importlib.metadata.version("scenedetect"),
        "interrupted": interrupted,
        "failed": [r["name"] for r in reports if "error" in r],
        "summary": summary,
        "pretrained": {"fvd": pretrained.fvd(), "fvd_frames": pretrained.fvd_frames or FVD_FRAMES,
                       "fvd_left_out": pretrained.fvd_left_out, "skipped": pretrained.skipped},
        "seconds": round(time.monotonic() - started, 1),
        # ru_maxrss is in KiB on Linux: the peak resident memory of this process, generation included.
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "videos": reports,
    }
    written = [out / "scores.json"]  # the folder was made by _check_args
    written[0].write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    if scored:
        plot_over_time(scored, out / "over_time.png")
        written.append(out / "over_time.png")
    if sheet and len({frames.shape[1:] for frames in sheet}) == 1:
        contact_sheet(sheet, out / "contact_sheet.png")
        written.append(out / "contact_sheet.png")
    _print_summary(summary)
    unscored = sum(bool(r.get("prompt")) and "windows" not in r for r in scored)
    if unscored:
        from arvid.shapes.world import SHAPES

        print(f"note: {unscored} of {len(scored)} videos have a prompt that names none of the template words "
              f"for shapes ({', '.join(SHAPES)}): its prompt match is not scored (the detector reads the shapes "
              f"world's template captions; --prompt-set paraphrase scores paraphrases); motion, warp error, flicker "
              f"and cuts are", file=sys.stderr)
    if pretrained.fvd_left_out:
        print(f"note: FVD compares clips of one length, {pretrained.fvd_frames} frames (most videos'): "
              f"{pretrained.fvd_left_out} video(s) of another length are not in it", file=sys.stderr)
    print(f"wrote {', '.join(str(path) for path in written)}", file=sys.stderr)
    return 130 if interrupted else 1 if result["failed"] else 0


def _score(args: argparse.Namespace, job: dict, index: int, make, pretrained) -> tuple[dict, np.ndarray | None]:
    """Read or make job's video and score it -> (report, uint8 video (t h w 3)). One bad file or
    prompt costs its own report (with an "error" and no video), not the run's."""
    from arvid.data.video import read_video
    from arvid.shapes.report import video_report
    from arvid.shapes.world import render

    report = {"name": job["name"], "group": job["group"], "prompt": job["prompt"]}
    try:
        tick = time.monotonic()
        video = read_video(job["path"]) if make is None else make(job, index)
        report["generation_seconds"] = None if make is None else round(time.monotonic() - tick, 3)
        report |= video_report(video, job["prompt"], expected=job.get("expected"))
        if "read_as" in job:
            report["read_as"] = job["read_as"]
        reference = (render(job["attrs"], frames=len(video), seed=args.seed + index).video
                     if "attrs" in job and pretrained.i3d is not None else None)
        report |= pretrained.score(video, job["prompt"], reference)
    except (UsageError, ValueError) as err:  # VideoReadError is a ValueError
        # A read error names the file already; a file's job is named by its path.
        named = str(err) if "path" in job and str(err).startswith(str(Path(job["path"]))) else f"{job['name']}: {err}"
        print(f"\n{named}", file=sys.stderr)
        return report | {"error": str(err)}, None
    return report, video


def _print_summary(summary: dict) -> None:
    """One table: a row per metric (and per attribute of the first window), a column per group."""
    from arvid.shapes.world import ATTRIBUTE_NAMES

    names = ("videos", "first_window_match", "last_window_match", "moving_windows", "no_scene_cuts", "mean_motion",
             "mean_warp_error", "mean_motion_aware_warp_error", "mean_flicker")
    rows = [(name, [summary[group][name] for group in summary]) for name in names]
    rows += [(f"first window: {attribute}",
              [summary[group]["first_window_attribute_accuracy"][attribute] for group in summary])
             for attribute in ATTRIBUTE_NAMES]
    print(f"{'metric':<30}" + "".join(f"{group:>12}" for group in summary))
    for name, values in rows:
        print(f"{name:<30}" + "".join(f"{'-' if value is None else round(value, 4):>12}" for value in values))
