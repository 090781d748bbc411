"""The training loop both trainers share: `train_loop(task, config, ...)`.

The loop owns what every run does alike: the time budget, step-seeded batches, the warm-up and
cosine learning rate, autocast, the progress bar, the stop on a non-finite loss, evaluation and
checkpoint cadence, atomic checkpoint folders, exact resume and a final checkpoint. A
`TrainingTask` does what differs: it holds the model(s), draws a batch for the step and trains on
it, evaluates, and says what a checkpoint holds.

The loop hands each step the generator `np.random.default_rng([seed, step])`; a task draws its batch
from it or from generators of its own seeded by the step alike (the tokenizer's, a generator a
clip, `arvid.data.step_batches`), so a resumed run trains on exactly the batches the interrupted one
would have drawn, and the processes of a multi-process run draw their shares of one global batch.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from arvid.configs import to_dict
from arvid.training.checkpoint import atomic_folder, remove_stale_staging, resolve_checkpoint, write_json
from arvid.training.device import resolve_device
from arvid.training.distributed import DistInfo, any_rank_each, failing_together
from arvid.training.precision import check_precision, mixed_precision
from arvid.training.progress import LineFile, progress_file
from arvid.training.schedule import warmup_cosine
from arvid.training.stopping import stop_between_steps


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


# Files that make a folder a checkpoint (a damaged one may lack one of them): never the user's own.
_CHECKPOINT_FILES = ("config.json", "trainer_state.json")


class CheckpointExists(FileExistsError):
    """A run would start afresh where a checkpoint is (its first save would replace it)."""


@dataclass(kw_only=True)
class LoopConfig:
    """What the loop reads from a trainer's config. `TokenizerTrainConfig` and `LMTrainConfig`
    extend it (and give some of these fields their own defaults)."""

    out_dir: str = "runs/train"
    steps: int = 1000
    # Minutes of training before the run stops where it is (with a checkpoint), counted over all
    # resumes (the checkpoint records them); None: no limit.
    max_minutes: float | None = None
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    eval_every: int = 250
    checkpoint_every: int = 250
    seed: int = 0
    device: str = "auto"
    # "auto": bf16 autocast on CUDA and on CPUs with native bf16, float32 elsewhere.
    precision: str = "auto"
    threads: int | None = None
    # Rows of the batch in one forward and backward pass; their gradients add up before the one
    # optimiser step, so a `batch_size` larger than a GPU's memory holds still trains as itself (the
    # same update, to float rounding; an LFQ tokenizer's batch-entropy term excepted, which reads
    # each pass). None: the whole batch (a rank's share of it) at once.
    micro_batch_size: int | None = None
    # Compile the training step with torch.compile (each trainer says which part of it); the first
    # step waits while it compiles.
    compile: bool = False
    # Start afresh even where `out_dir` holds a checkpoint (the first new checkpoint replaces it).
    # Off, such a run is refused: continue it with `resume`, or choose another `out_dir`.
    overwrite: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.lr >= 0 or self.warmup_steps < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"expected lr >= 0, warmup_steps >= 0 and min_lr_ratio in [0, 1], got {self.lr}, "
                             f"{self.warmup_steps} and {self.min_lr_ratio}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be positive (or null: no limit), got {self.max_minutes}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 (or null: torch's default), got {self.threads}")
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise ValueError(f"micro_batch_size must be >= 1 (or null: the whole batch at once), got {self.micro_batch_size}")
        check_precision(self.precision)


class StepResult(NamedTuple):
    """What one training step reports: its loss (on every rank the same value, so that every rank
    stops together), how many `unit`s it trained on (clips, tokens), and more progress-bar fields."""

    loss: float
    items: int
    postfix: dict[str, str]


class Evaluation(NamedTuple):
    """One evaluation: `record` becomes a line of `eval.jsonl` (after `"step"`), `message` is printed."""

    record: dict[str, Any]
    message: str


class TrainingTask(Protocol):
    """What a trainer gives the loop. Every rank calls every method; only rank 0 writes."""

    # The optimizer whose learning rate follows the schedule.
    optimizer: torch.optim.Optimizer

    def step(self, step: int, rng: np.random.Generator, autocast: contextlib.AbstractContextManager) -> StepResult:
        """Draw step `step`'s batch (from `rng`, the step's generator, or from generators seeded by
        the step alike) and train on it, forward passes under `autocast`. A non-finite loss may be
        returned before any update: the loop stops on it."""

    def evaluate(self, step: int, autocast: contextlib.AbstractContextManager) -> Evaluation | None:
        """Evaluate after `step` steps; None when there is nothing to evaluate on."""

    def checkpoint(self) -> Callable[[Path], dict[str, Any]]:
        """Gather the state to save (on every rank: under FSDP2 gathering is collective) and return
        what writes its files into a folder (`config.json` among them: `resolve_checkpoint` looks for
        it) and returns JSON-ready state for `trainer_state.json`."""

    def load(self, folder: Path, state: dict[str, Any]) -> None:
        """Restore what `checkpoint` wrote into `folder`; `state` is its `trainer_state.json`.

        Raises:
            ValueError: a checkpoint of another architecture.
        """


class LoopResult(NamedTuple):
    """The checkpoint folder, the step the run stopped at and that step's loss (NaN if no step ran)."""

    checkpoint: Path
    step: int
    loss: float


def start_run(config: LoopConfig) -> torch.device:
    """Before the model is built: set the thread count, seed torch (the weights' initialisation)
    and resolve the device.

    Raises:
        ValueError: a device this machine does not have (`arvid.training.device.resolve_device`).
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    return resolve_device(config.device)


def check_start(config: LoopConfig, *, resume: bool) -> None:
    """Whether a run may start in `config.out_dir`: `resume` needs its checkpoint; a fresh start
    needs none there, unless `config.overwrite`. Cheap: trainers' commands call it before any work,
    and `train_loop` calls it again.

    Raises:
        FileNotFoundError: `resume` without a checkpoint (the message says what is there).
        CheckpointExists: a fresh start over a checkpoint, without `config.overwrite`; or over a
            `checkpoint` folder of other files, with it too.
    """
    folder = Path(config.out_dir) / "checkpoint"
    if resume:
        try:
            resolve_checkpoint(folder)
        except FileNotFoundError as err:
            if folder.exists() or folder.with_name(folder.name + ".old").exists():
                raise  # a damaged checkpoint: the message says what is there (never a hint to start over)
            # A run stopped before its first checkpoint has nothing to go on from.
            raise FileNotFoundError(f"{err}: nothing to resume in train.out_dir={config.out_dir}; start the run "
                                    "without --resume") from None
        return
    held = [] if not folder.is_dir() else sorted(entry.name for entry in folder.iterdir())
    if held and not any(name in held for name in _CHECKPOINT_FILES):
        # Not a checkpoint: a save would have to replace the user's files (`atomic_folder` refuses).
        raise CheckpointExists(f"{str(folder)!r} holds other files than a checkpoint ({held[0]!r}"
                               f"{', ...' if len(held) > 1 else ''}), which the run's checkpoints would replace: "
                               f"choose another train.out_dir, or empty that folder")
    if config.overwrite:
        return
    try:
        found = resolve_checkpoint(folder)
    except FileNotFoundError:
        return
    try:
        step = f" at step {int(json.loads((found / 'trainer_state.json').read_text())['step'])}"
    except (OSError, ValueError, KeyError, TypeError):
        step = ""
    raise CheckpointExists(f"{str(found)!r} holds a checkpoint{step}: continue it with --resume, or start over "
                           f"and replace it with --overwrite (train.overwrite=true)")


def train_loop(task: TrainingTask, config: LoopConfig, *, device: torch.device, run_config: Any, name: str,
               unit: str, resume: bool = False, is_main: bool = True, evaluate_first: bool = False) -> LoopResult:
    """Train `task` for `config.steps` steps (or until `config.max_minutes`), writing
    `run_config.json` (`run_config`, a config dataclass), `eval.jsonl` and the checkpoint folder
    `checkpoint/` under `config.out_dir`. `resume` continues from that checkpoint. `name` labels
    the progress bar, `unit` its throughput; `is_main` is rank 0, the only one that writes.
    `evaluate_first` scores the starting weights before the first step (step 0 in eval.jsonl: a
    fine-tune's baseline).

    A fresh start where a checkpoint is, is refused unless `config.overwrite` (`check_start`), and then
    removes that checkpoint and its `eval.jsonl`; a resume drops the log's lines after its step (and
    evaluates its step first where one was due and not logged). Staging
    folders that a process killed mid-save left (`arvid.training.checkpoint.remove_stale_staging`)
    are removed first.

    Raises:
        FileNotFoundError: `resume` without a checkpoint.
        CheckpointExists: a fresh start where a checkpoint is, without `config.overwrite`.
        ValueError: `resume` from a checkpoint of another architecture, or one whose files are
            truncated or corrupt (the message names the file).
        TrainingDiverged: a non-finite loss (the message names the step; the last checkpoint stays).
    Any other error between the optimiser's updates (reading a batch, a forward pass, an evaluation)
    first saves the last completed step when one process trains and it is not saved yet.
    """
    out_dir = Path(config.out_dir)
    folder = out_dir / "checkpoint"
    check_start(config, resume=resume)
    # Files are the first process's to write: a write that fails there (a full disk) stops the others
    # too (`failing_together`), rather than leave them waiting in the next collective call.
    world = _world(device)
    with failing_together(world):
        if is_main:
            remove_stale_staging(folder)
            if not resume:
                _discard_replaced_run(out_dir, folder, overwrite=config.overwrite)
    step, minutes_before = _load(task, folder) if resume else (0, 0.0)
    evaluate_at_start = False  # a step due an evaluation that its run saved but did not log (a rescue save)
    with failing_together(world):
        if is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "run_config.json").write_text(json.dumps(to_dict(run_config), indent=2) + "\n")
            if resume:
                logged = _keep_evaluations_to(out_dir / "eval.jsonl", step)
                due = step > 0 and (step % config.eval_every == 0 or step == config.steps)
                evaluate_at_start = due and not logged and world.world == 1  # several processes evaluate together
                print(f"resumed from {folder} at step {step}")

    autocast = mixed_precision(device, config.precision)
    # The time budget is the run's whole: a resumed run counts the minutes its checkpoint recorded
    # (the minutes between that checkpoint and a crash are lost to the count), so a recipe that is
    # stopped and resumed trains no longer in all than one that ran through.
    started, loss, saved_step, evaluated_step = time.monotonic() - 60 * minutes_before, float("nan"), step, step
    progress = progress_file()  # separate lines, at most one a second, when stderr is a log file
    if is_main and config.compile and step < config.steps:
        print("compiling the training step: the first step waits for it (train.compile=false skips it)",
              file=sys.stderr)
    if is_main and config.warmup_steps > config.steps > step:
        print(f"warning: warmup_steps ({config.warmup_steps}) > steps ({config.steps}): the learning rate never "
              f"reaches lr ({config.lr})", file=sys.stderr)

    def evaluate(bar) -> None:
        with failing_together(world):
            evaluation = task.evaluate(step, autocast)
            if evaluation is not None and is_main:
                with open(out_dir / "eval.jsonl", "a") as log:
                    log.write(json.dumps({"step": step, **evaluation.record}) + "\n")
                bar.write(evaluation.message)

    # Optimiser updates so far: a step that fails before its update (a video gone from the data folder,
    # a killed data worker, memory running out in the forward pass) leaves the weights of the last
    # completed step, which a single-process run then saves rather than lose the steps since a checkpoint.
    updates = [0]
    counting = task.optimizer.register_step_pre_hook(lambda *_: updates.__setitem__(0, updates[0] + 1))
    updates_at_step = 0  # the count when the weights last were those of the completed step `step`
    try:
        with stop_between_steps(name, say=is_main) as stop, tqdm(total=config.steps, initial=step, desc=name,
                                                                 dynamic_ncols=True, disable=not is_main,
                                                                 file=progress) as bar:
            if (evaluate_first and step == 0) or evaluate_at_start:
                evaluate(bar)
            while step < config.steps:
                # Every rank stops at the same step: at a first Ctrl-C or SIGTERM on any rank (here,
                # between steps, with a checkpoint), or when any rank's clock passes the budget.
                spent = config.max_minutes is not None and time.monotonic() - started > 60 * config.max_minutes
                stop_asked, spent = any_rank_each((stop.asked, spent), device)
                if stop_asked:
                    if step != saved_step:
                        with failing_together(world):
                            _save(task, folder, step, is_main, started)
                        saved_step = step
                    raise KeyboardInterrupt
                if spent:
                    if is_main:
                        bar.write(f"time budget of {config.max_minutes} min (max_minutes, counted over every "
                                  f"resume) reached at step {step}; to train on, resume with a larger max_minutes")
                    if step != evaluated_step:  # the run's last state gets its held-out figures too
                        evaluate(bar)
                    break
                tick = time.monotonic()
                for group in task.optimizer.param_groups:
                    group["lr"] = warmup_cosine(step, lr=config.lr, warmup_steps=config.warmup_steps,
                                                total_steps=config.steps, min_lr_ratio=config.min_lr_ratio)
                result = task.step(step, np.random.default_rng([config.seed, step]), autocast)
                if not math.isfinite(result.loss):
                    raise TrainingDiverged(f"non-finite loss {result.loss} at step {step}; last good checkpoint: {folder}")
                step, loss, updates_at_step = step + 1, result.loss, updates[0]
                rate = result.items / (time.monotonic() - tick)
                # Before the count moves, so that the line a log file gets for this step shows its loss.
                bar.set_postfix(loss=f"{loss:.4f}", **result.postfix, **{f"{unit}_s": f"{rate:.1f}"}, refresh=False)
                bar.update(1)

                if step % config.eval_every == 0 or step == config.steps:
                    evaluate(bar)
                    evaluated_step = step
                if step % config.checkpoint_every == 0 or step == config.steps:
                    with failing_together(world):
                        _save(task, folder, step, is_main, started)
                    saved_step = step
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM where the command turns it into one
        if is_main:
            kept = f"{folder} holds step {saved_step}" if saved_step else "no checkpoint was written yet"
            print(f"stopped at step {step}: {kept}{'; continue with --resume' if saved_step else ''}", file=sys.stderr)
        raise
    except TrainingDiverged:
        raise  # the weights may hold the non-finite values already: the last checkpoint stays as it is
    except Exception:
        if world.world == 1 and step != saved_step and updates[0] == updates_at_step:
            try:
                _save(task, folder, step, is_main, started)
                saved_step = step
            except Exception as save_error:  # noqa: BLE001 - the step's own error is the one to raise
                print(f"could not save step {step} after the error below: {save_error}", file=sys.stderr)
        if is_main:
            kept = f"{folder} holds step {saved_step}" if saved_step else "no checkpoint was written yet"
            print(f"stopped at step {step} by the error below: {kept}"
                  f"{'; once it is mended, continue with --resume' if saved_step else ''}", file=sys.stderr)
        raise
    finally:  # the bar's last state reaches a log file on a stop by an error or Ctrl-C too
        counting.remove()
        if isinstance(progress, LineFile):
            progress.flush_pending()
    if saved_step != step:  # stopped by the time budget between checkpoints
        with failing_together(world):
            _save(task, folder, step, is_main, started)
    return LoopResult(folder, step, loss)


def _discard_replaced_run(out_dir: Path, folder: Path, *, overwrite: bool) -> None:
    """A fresh start begins its own `eval.jsonl`. With `overwrite` (`check_start` allows a fresh start
    over a checkpoint only then) it also removes what the run it replaces left: its checkpoint (and
    `.old`), which `run_config.json` (rewritten now) no longer describes and which a resume after an
    early stop would otherwise continue, and the sample strips its evaluations wrote
    (`samples/step_NNNNNN.png`: a new run's would sit among the old). Only folders that hold a
    checkpoint go (a link to one: the link); any other folder there is left, for the save to refuse."""
    (out_dir / "eval.jsonl").unlink(missing_ok=True)
    if not overwrite:
        return
    for replaced in (folder, folder.with_name(folder.name + ".old")):
        if not any((replaced / name).is_file() for name in _CHECKPOINT_FILES):
            continue
        if replaced.is_symlink():
            replaced.unlink()
        else:
            shutil.rmtree(replaced)
        print(f"overwrite: removed {replaced}, the replaced run's checkpoint", file=sys.stderr)
    for strip in (out_dir / "samples").glob("step_*.png"):
        strip.unlink()


def _keep_evaluations_to(log: Path, step: int) -> bool:
    """Drop the lines of `log` (eval.jsonl) after `step`, the step a resumed run goes on from: it
    evaluates those steps again, and each step keeps one line (a line cut short by a kill goes too).
    Returns whether a line for `step` itself is there."""
    if not log.is_file():
        return False
    kept, has_step = [], False
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            logged = int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
        if logged <= step:
            kept.append(line + "\n")
            has_step = has_step or logged == step
    staging = log.with_name(f".{log.name}.resume")
    staging.write_text("".join(kept), encoding="utf-8")
    staging.replace(log)
    return has_step


def _world(device: torch.device) -> DistInfo:
    """This process's place in the run's process group (a world of one without one)."""
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), device)
    return DistInfo(0, 1, device)


def _save(task: TrainingTask, folder: Path, step: int, is_main: bool, started: float) -> None:
    write = task.checkpoint()
    if is_main:
        minutes = (time.monotonic() - started) / 60
        # A checkpoint (`check_start` decided whether a fresh run may replace one), never other files.
        with atomic_folder(folder, replaces=lambda found: (found / "trainer_state.json").is_file()) as staging:
            write_json(staging / "trainer_state.json", {"step": step, "minutes": minutes, **write(staging)})


def _load(task: TrainingTask, folder: Path) -> tuple[int, float]:
    """Load the checkpoint in `folder` into `task` -> (its step, the minutes trained to reach it;
    0 for checkpoints written before the minutes were recorded)."""
    folder = resolve_checkpoint(folder)
    path = folder / "trainer_state.json"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is missing: the checkpoint cannot be resumed")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        step, minutes = int(state["step"]), float(state.get("minutes", 0.0))
    except (ValueError, KeyError, TypeError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{str(path)!r} is not a trainer state (truncated or corrupt: {err})") from None
    task.load(folder, state)
    return step, minutes
