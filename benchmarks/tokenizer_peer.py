"""Reconstruction quality after equal CPU time: arvid's natural-footage tokenizer against `magvit2-pytorch`'s,
both trained from scratch side by side on the same clips, then scored on the same held-out clips.

    python benchmarks/tokenizer_peer.py                        # 30 minutes each, then the table
    python benchmarks/tokenizer_peer.py --minutes 0.5 --out runs/tokenizer-peer-smoke
    python benchmarks/tokenizer_peer.py --skip-train           # score the runs already in --out

What runs: arvid's side is the natural-footage recipe (docs/results/tokenizer.md), run as the command

    arvid train-tokenizer --config natural train.out_dir=OUT/arvid "train.data=$D/train_videos.jsonl+$D/train_images.jsonl@0.5" \\
        train.val_data=$D/heldout_videos.jsonl train.max_minutes=MINUTES train.threads=1     # D=runs/real-data

and the peer's is this script in `--peer-worker` mode: `magvit2_pytorch.VideoTokenizer` 0.5.1, built
as in `tokenizer_throughput.py` (17x64x64 clips -> a 5x8x8 grid of codes, `use_gan=False`, no
perceptual loss) but with a 16-bit LFQ codebook and `init_dim` 34, trained on its own loss
(`model(video, return_loss=True)`: mean squared error plus LFQ's entropy and commitment terms at
the package's default weights). It writes `OUT/peer/model.safetensors` (a state dict, for this
benchmark only) and `OUT/peer/log.json`. Both are then scored on the clips of `--val-data`
(each shot's first 33 frames, short side scaled to 64 and centre-cropped: the same frames for
both) with arvid's PSNR and SSIM (`arvid.metrics`, through `arvid.tokenizer.evaluate.reconstruct`
for arvid). Prints one table (parameters, code bits, steps, minutes, PSNR per clip, mean PSNR and
SSIM) and arvid's lead in dB, and writes `OUT/results.json` and one PNG per clip (original,
arvid, peer).

Why it is fair:
- Same data and the same batches: the peer draws from the same `train.data` source
  (`arvid.tools.data_sources.clip_source`), batch size 4 of 17 frames, step `s`'s clips drawn as
  arvid's trainer draws them (`arvid.data.step_batches.draw_batch`), so step for step both see the
  same clips. (Since 2026-12-06 each clip from a generator of its own; the run recorded in
  docs/results/tokenizer.md drew a step's clips in turn from `np.random.default_rng([seed, s])`, as
  arvid's trainer then did.)
- Same optimizer settings: Adam (arvid's AdamW with its weight decay 0) at the preset's learning
  rate, betas, warm-up and cosine schedule (`arvid.training.schedule.warmup_cosine`, over the preset's
  steps), gradient clipping and autocast (`arvid.training.precision.mixed_precision`), all read
  from the same loaded config.
- Same CPU time: both train at once, one process each with one thread, for the same `--minutes`,
  so load from anything else on the machine falls on both alike; each stops at its first step past
  the budget (or at the preset's step count). Whatever a recipe spends inside that time (arvid's
  periodic held-out evaluation and checkpoints, the peer's entropy loss over 65,536 codes) is its own.
- About the same size: parameters within a few percent (5.49M against 5.64M, both printed; the
  peer's `init_dim` 33 would give 5.31M), and about the same code bits per cell of the 5x8x8 grid:
  log2(64,000) = 15.97 for arvid's FSQ levels 8,8,8,5,5,5, 16 for the peer's LFQ.

Installing the peer without torchvision or a CUDA torch (see `tokenizer_throughput.py`, whose
import and construction of the peer this script reuses):

    pip install --no-deps magvit2-pytorch==0.5.1
    pip install accelerate beartype "ema-pytorch>=0.2.4" pytorch-warmup "gateloop-transformer>=0.2.2" \\
        kornia "pytorch-custom-utils>=0.0.9" "taylor-series-linear-attention>=0.1.5" x-transformers \\
        opencv-python-headless
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from arvid.configs import load_config, resolve_preset
from arvid.data.decoded import DecodedVideos
from arvid.data.images import frame_strip, save_png
from arvid.data.manifests import read_shots
from arvid.data.step_batches import draw_batch
from arvid.data.video import read_video
from arvid.metrics import psnr, ssim
from arvid.tokenizer import VideoTokenizer
from arvid.tokenizer.evaluate import reconstruct
from arvid.tokenizer.model import usable_frames
from arvid.tokenizer.model import frames_to_video, video_to_frames
from arvid.tokenizer.train import TokenizerRunConfig
from arvid.tools.data_sources import clip_source
from arvid.training.checkpoint import load_tensors, save_tensors
from arvid.training.precision import mixed_precision
from arvid.training.schedule import warmup_cosine

# benchmarks/tokenizer_throughput.py, beside this script: the peer's import (with torchvision
# placeholders) and construction.
from tokenizer_throughput import PEER_LAYERS, PEER_NAME, PEER_TEMPORAL_FACTOR, build_peer, import_peer

ARVID_PRESET = "natural"  # the tiny architecture, FSQ levels 8,8,8,5,5,5, plain L2, clips at their own rate
PEER_CODEBOOK_SIZE = 2**16  # 16 bits, against FSQ's 64,000 codes
# 5.64M parameters with that codebook, against arvid's 5.49M (33: 5.31M, 32: 5.00M).
PEER_INIT_DIM = 34
EVAL_FRAMES = 33
REAL_DATA = "runs/real-data"
DEFAULT_DATA = f"{REAL_DATA}/train_videos.jsonl+{REAL_DATA}/train_images.jsonl@0.5"
DEFAULT_VAL_DATA = f"{REAL_DATA}/heldout_videos.jsonl"
LOG_EVERY_S = 30.0


def arvid_overrides(*, out_dir: Path, data: str, val_data: str, minutes: float) -> list[str]:
    """The natural preset's run, on `data`, for `minutes`, with one thread."""
    return [f"train.out_dir={out_dir}", f"train.data={data}", f"train.val_data={val_data}",
            f"train.max_minutes={minutes}", "train.threads=1"]


def arvid_run_config(overrides: list[str]) -> TokenizerRunConfig:
    """The config `arvid train-tokenizer --config natural OVERRIDES` trains with; the peer reads its
    data, batch, schedule and precision from it."""
    return load_config(TokenizerRunConfig, resolve_preset(ARVID_PRESET, "tokenizer"), overrides)


def parameter_count(model: nn.Module) -> int:
    # The peer's own `parameters()` lists exactly its encoder, decoder and quantizer.
    return sum(parameter.numel() for parameter in model.parameters())


def build_peer_model(peer_cls: type[nn.Module], *, image_size: int) -> nn.Module:
    return build_peer(peer_cls, image_size=image_size, codebook_size=PEER_CODEBOOK_SIZE, init_dim=PEER_INIT_DIM).model


# --- the peer's trainer (`--peer-worker`) ----------------------------------------------------------


def train_peer(config: TokenizerRunConfig, out_dir: Path) -> None:
    """Train the peer on `config.train`'s data, batches, schedule and precision until its time
    budget or step count; write `out_dir/model.safetensors` and `out_dir/log.json`.

    Raises:
        RuntimeError: a non-finite loss (the message names the step).
    """
    cfg = config.train
    torch.set_num_threads(cfg.threads or 1)
    torch.manual_seed(cfg.seed)
    # As arvid's trainer opens it: the same rate, and decoded videos kept in memory.
    clips = clip_source(cfg.data, frames=cfg.clip_frames, size=config.model.image_size, fps=cfg.fps,
                        cache=DecodedVideos(cfg.cache_mb))
    model = build_peer_model(import_peer(), image_size=config.model.image_size)
    model.train()
    params = list(model.parameters())
    # Adam = arvid's AdamW at its weight decay 0, so the two optimizers differ in nothing.
    optimizer = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    autocast = mixed_precision(torch.device("cpu"), cfg.precision)
    with autocast:
        bf16 = torch.is_autocast_enabled("cpu")
    print(f"{PEER_NAME}: {parameter_count(model) / 1e6:.2f}M parameters, init_dim={PEER_INIT_DIM}, "
          f"codebook_size={PEER_CODEBOOK_SIZE}; {torch.get_num_threads()} thread(s), "
          f"{'bf16 autocast' if bf16 else 'float32'}", flush=True)

    history: list[dict[str, float]] = []
    step, started, last_log = 0, time.monotonic(), time.monotonic()
    while step < cfg.steps and time.monotonic() - started <= 60 * cfg.max_minutes:
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(step, lr=cfg.lr, warmup_steps=cfg.warmup_steps, total_steps=cfg.steps,
                                        min_lr_ratio=cfg.min_lr_ratio)
        # Step `step`'s clips as arvid's trainer draws them (`arvid.data.step_batches`).
        batch = torch.cat([frames_to_video(clip) for clip in draw_batch(clips, cfg.seed, step, range(cfg.batch_size))])
        with autocast:
            loss, breakdown = model(batch, return_loss=True)
        if not torch.isfinite(loss):
            raise RuntimeError(f"non-finite loss {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        step += 1
        if time.monotonic() - last_log >= LOG_EVERY_S or step == 1:
            last_log = time.monotonic()
            elapsed = last_log - started
            history.append({"step": step, "loss": loss.item(), "recon_loss": breakdown.recon_loss.item(),
                            "minutes": elapsed / 60})
            print(f"step {step}: loss {loss.item():.4f}, recon {breakdown.recon_loss.item():.4f}, "
                  f"{elapsed / step:.2f} s/step", flush=True)
    minutes = (time.monotonic() - started) / 60
    out_dir.mkdir(parents=True, exist_ok=True)
    save_tensors(out_dir / "model.safetensors", model.state_dict())
    log = {"package": PEER_NAME, "init_dim": PEER_INIT_DIM, "codebook_size": PEER_CODEBOOK_SIZE,
           "layers": list(PEER_LAYERS), "params": parameter_count(model), "steps": step,
           "train_minutes": minutes, "history": history}
    (out_dir / "log.json").write_text(json.dumps(log, indent=2) + "\n")
    print(f"{step} steps in {minutes:.2f} min; wrote {out_dir / 'model.safetensors'}", flush=True)


# --- the side-by-side run --------------------------------------------------------------------------


def run_both(args: argparse.Namespace, overrides: list[str]) -> dict[str, dict]:
    """Start arvid's trainer and the peer's at once, one thread each, and wait for both.
    Returns per side its command, exit code and wall-clock minutes (also in `OUT/train.json`)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    commands = {
        "arvid": [sys.executable, "-m", "arvid.tools.cli", "train-tokenizer", "--config", ARVID_PRESET, *overrides],
        PEER_NAME: [sys.executable, str(Path(__file__).resolve()), "--peer-worker", "--out", str(args.out),
                    "--minutes", str(args.minutes), "--data", args.data, "--val-data", args.val_data],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict] = {}
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands.items():
            log_path = args.out / f"{'arvid' if name == 'arvid' else 'peer'}.log"
            with open(log_path, "w") as log:  # the child writes through its own copy of the file
                processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            runs[name] = {"command": command, "log": str(log_path), "started": time.monotonic()}
        print(f"training both for {args.minutes} min, one thread each; logs: "
              f"{', '.join(run['log'] for run in runs.values())}", flush=True)
        while any(process.poll() is None for process in processes.values()):
            time.sleep(1.0)
            for name, process in processes.items():
                if process.returncode is not None and "minutes" not in runs[name]:
                    runs[name]["minutes"] = (time.monotonic() - runs[name]["started"]) / 60
            if any(process.returncode not in (None, 0) for process in processes.values()):
                break  # one failed: the other's result would be compared with nothing
    finally:
        for process in processes.values():  # on a failure or Ctrl-C: stop the trainers this run started
            if process.poll() is None:
                process.terminate()
                process.wait()
    for name, process in processes.items():
        runs[name]["minutes"] = runs[name].get("minutes", (time.monotonic() - runs[name]["started"]) / 60)
        runs[name]["returncode"] = process.returncode
        del runs[name]["started"]
    (args.out / "train.json").write_text(json.dumps({"minutes": args.minutes, "runs": runs}, indent=2) + "\n")
    failed = [name for name, run in runs.items() if run["returncode"] != 0]
    if failed:
        for name in failed:
            tail = Path(runs[name]["log"]).read_text(errors="replace")[-3000:]
            print(f"--- {name} exited with {runs[name]['returncode']}; the end of {runs[name]['log']}:\n{tail}",
                  file=sys.stderr)
        sys.exit(1)
    return runs


# --- evaluation ------------------------------------------------------------------------------------


def heldout_clips(val_data: str, *, size: int, frames: int) -> dict[str, np.ndarray]:
    """The first `frames` frames of each shot `val_data` (a `..._videos.jsonl` manifest) lists,
    short side scaled to `size` and centre-cropped -> name -> uint8 (t h w c), t cut to 1 + 4k."""
    clips = {}
    for shot in read_shots(val_data):
        name = shot.path.stem if shot.start == 0 else f"{shot.path.stem}@{shot.start}"
        clip = read_video(shot.path, size=size, start_frame=shot.start, max_frames=min(frames, shot.end - shot.start))
        clips[name] = clip[: usable_frames(len(clip), PEER_TEMPORAL_FACTOR)]
    return clips


@torch.no_grad()
def reconstruct_peer(model: nn.Module, clip: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Encode a uint8 clip (t h w c, t = 1 + 4k) to the peer's integer codes and decode them ->
    (uint8 frames, PSNR, SSIM), as `arvid.tokenizer.evaluate.reconstruct` does for arvid."""
    video = frames_to_video(clip)
    codes = model.tokenize(video)  # (1 t' h' w') LFQ indices; `tokenize` switches to eval mode
    recon = model.decode_from_code_indices(codes)
    return video_to_frames(recon).numpy(), psnr(recon, video).item(), ssim(recon, video).item()


def evaluate_both(args: argparse.Namespace, config: TokenizerRunConfig) -> dict:
    """Load both trained models from `--out`, score them on the held-out clips, write PNG strips."""
    arvid = VideoTokenizer.from_pretrained(args.out / "arvid" / "checkpoint").eval()
    arvid_state = json.loads((args.out / "arvid" / "checkpoint" / "trainer_state.json").read_text())
    peer_log = json.loads((args.out / "peer" / "log.json").read_text())
    if (peer_log["init_dim"], peer_log["codebook_size"]) != (PEER_INIT_DIM, PEER_CODEBOOK_SIZE):
        sys.exit(f"{args.out / 'peer'} holds a peer with init_dim {peer_log['init_dim']} and codebook "
                 f"{peer_log['codebook_size']}; this script builds {PEER_INIT_DIM} and {PEER_CODEBOOK_SIZE}")
    peer = build_peer_model(import_peer(), image_size=config.model.image_size)
    peer.load_state_dict(load_tensors(args.out / "peer" / "model.safetensors"))
    peer.eval()
    train_json = args.out / "train.json"
    wall = json.loads(train_json.read_text())["runs"] if train_json.is_file() else {}

    clips = heldout_clips(args.val_data, size=config.model.image_size, frames=EVAL_FRAMES)
    rows = {
        "arvid": {"params": parameter_count(arvid), "code_bits": math.log2(arvid.codebook_size),
                  "steps": int(arvid_state["step"]), "minutes": wall.get("arvid", {}).get("minutes"), "clips": {}},
        PEER_NAME: {"params": parameter_count(peer), "code_bits": math.log2(PEER_CODEBOOK_SIZE),
                    "steps": peer_log["steps"], "minutes": wall.get(PEER_NAME, {}).get("minutes"),
                    "train_minutes": peer_log["train_minutes"], "clips": {}},
    }
    for name, clip in clips.items():
        ours = reconstruct(arvid, clip)
        peer_frames, peer_psnr, peer_ssim = reconstruct_peer(peer, clip)
        if len(ours.frames) != len(peer_frames):
            raise RuntimeError(f"{name}: arvid decoded {len(ours.frames)} frames, the peer {len(peer_frames)}")
        rows["arvid"]["clips"][name] = {"psnr": ours.psnr, "ssim": ours.ssim}
        rows[PEER_NAME]["clips"][name] = {"psnr": peer_psnr, "ssim": peer_ssim}
        save_png(args.out / f"{name}.png", frame_strip([clip, ours.frames, peer_frames]))
    for row in rows.values():
        row["psnr"] = float(np.mean([scores["psnr"] for scores in row["clips"].values()]))
        row["ssim"] = float(np.mean([scores["ssim"] for scores in row["clips"].values()]))
    return {"frames": {name: len(clip) for name, clip in clips.items()}, "models": rows,
            "arvid_minus_peer_db": rows["arvid"]["psnr"] - rows[PEER_NAME]["psnr"]}


def print_table(results: dict) -> None:
    names = list(results["frames"])
    print(f"| model | parameters | code bits | steps | minutes | {' | '.join(f'{n} PSNR' for n in names)} "
          "| mean PSNR | mean SSIM |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(names) + "---:|---:|")
    for model, row in results["models"].items():
        minutes = "-" if row["minutes"] is None else f"{row['minutes']:.1f}"
        clips = " | ".join(f"{row['clips'][n]['psnr']:.2f}" for n in names)
        print(f"| {model} | {row['params'] / 1e6:.2f}M | {row['code_bits']:.2f} | {row['steps']} | {minutes} | {clips} "
              f"| {row['psnr']:.2f} | {row['ssim']:.3f} |")
    print(f"\narvid - {PEER_NAME}: {results['arvid_minus_peer_db']:+.2f} dB mean PSNR "
          f"(held-out clips, {', '.join(f'{n} {t} frames' for n, t in results['frames'].items())}; "
          "PSNR in dB; minutes: wall-clock of each training process)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="training time of each model (default 30)")
    parser.add_argument("--out", type=Path, default=Path("runs/tokenizer-peer"),
                        help="run folder: arvid/, peer/, logs, results.json (default runs/tokenizer-peer)")
    parser.add_argument("--data", default=DEFAULT_DATA, help=f"training clips, as train.data (default {DEFAULT_DATA})")
    parser.add_argument("--val-data", default=DEFAULT_VAL_DATA,
                        help=f"held-out shots, a ..._videos.jsonl manifest (default {DEFAULT_VAL_DATA})")
    parser.add_argument("--skip-train", action="store_true", help="only evaluate the runs already in --out")
    parser.add_argument("--peer-worker", action="store_true",
                        help="train the peer in this process (the side-by-side run starts it so)")
    args = parser.parse_args(argv)
    if not args.minutes > 0:
        parser.error("--minutes must be > 0")
    if not args.val_data.endswith("_videos.jsonl"):
        parser.error("--val-data must be one video manifest (..._videos.jsonl)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    overrides = arvid_overrides(out_dir=args.out / "arvid", data=args.data, val_data=args.val_data, minutes=args.minutes)
    config = arvid_run_config(overrides)
    if args.peer_worker:
        train_peer(config, args.out / "peer")
        return
    import_peer()  # exits with the install lines if the peer is missing, before anything starts
    if not args.skip_train:
        existing = [path for path in (args.out / "arvid" / "checkpoint", args.out / "peer" / "model.safetensors")
                    if path.exists()]
        if existing:
            sys.exit(f"{', '.join(map(str, existing))} already exist: score them with --skip-train, "
                     "or choose another --out")
        run_both(args, overrides)
    results = evaluate_both(args, config)
    print()
    print_table(results)
    report = {"torch": torch.__version__, "minutes": args.minutes, "data": args.data, "val_data": args.val_data,
              "arvid": {"preset": ARVID_PRESET, "overrides": overrides},
              "peer": {"package": PEER_NAME, "init_dim": PEER_INIT_DIM, "codebook_size": PEER_CODEBOOK_SIZE,
                       "layers": list(PEER_LAYERS), "use_gan": False, "perceptual_loss_weight": 0},
              **results}
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'results.json'} and a PNG per clip (rows: original, arvid, {PEER_NAME})")


if __name__ == "__main__":
    main()
