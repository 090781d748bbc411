"""The shared training loop on its own, with a toy task: linear regression on step-seeded batches."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from arvid.training.checkpoint import load_tensors, save_tensors
from arvid.training.loop import Evaluation, LoopConfig, StepResult, TrainingDiverged, start_run, train_loop
from arvid.training.schedule import warmup_cosine

TRUE_WEIGHT = torch.tensor([[2.0, -1.0, 0.5]])


def loop_settings(*, out_dir: str, **overrides) -> LoopConfig:
    """12 steps, 3 of warm-up, evaluation every 5, a checkpoint every 4."""
    defaults = dict(steps=12, lr=0.1, warmup_steps=3, eval_every=5, checkpoint_every=4, device="cpu", precision="fp32")
    return LoopConfig(out_dir=out_dir, **(defaults | overrides))


class Regression:
    """y = x @ TRUE_WEIGHT.T fitted by SGD with momentum (state the checkpoint must carry)."""

    def __init__(self, settings: LoopConfig, *, diverge_at: int | None = None, interrupt_at: int | None = None,
                 step_seconds: float = 0.0, fail_at: tuple[int, str] | None = None) -> None:
        start_run(settings)
        self.model = torch.nn.Linear(3, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=settings.lr, momentum=0.5)
        self.diverge_at, self.interrupt_at, self.step_seconds = diverge_at, interrupt_at, step_seconds
        self.fail_at = fail_at  # (step, "batch", "after update" or "evaluate"): where that step raises an OSError
        self.lrs: list[float] = []  # the learning rate of every step this task ran
        self.saved_after: list[int] = []  # how many steps it had run at each checkpoint

    def step(self, step, rng, autocast):
        if step == self.interrupt_at:
            raise KeyboardInterrupt
        if self.fail_at == (step, "batch"):
            raise FileNotFoundError("clip.mp4: no such file")
        time.sleep(self.step_seconds)
        self.lrs.append(self.optimizer.param_groups[0]["lr"])
        inputs = torch.from_numpy(rng.standard_normal((8, 3)).astype(np.float32))
        with autocast:
            loss = torch.nn.functional.mse_loss(self.model(inputs), inputs @ TRUE_WEIGHT.T)
        if step == self.diverge_at:
            loss = loss * float("nan")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if self.fail_at == (step, "after update"):
            raise OSError("lost after the update")
        return StepResult(loss.item(), len(inputs), {})

    def evaluate(self, step, autocast):
        if self.fail_at == (step, "evaluate"):
            raise OSError("the held-out clips are gone")
        return Evaluation({"error": (self.model.weight - TRUE_WEIGHT).abs().max().item()}, f"step {step}")

    def checkpoint(self):
        def write(folder: Path):
            self.saved_after.append(len(self.lrs))
            (folder / "config.json").write_text('{"features": 3}')
            save_tensors(folder / "model.safetensors", self.model.state_dict())
            save_tensors(folder / "momentum.safetensors", {str(i): s["momentum_buffer"]
                                                           for i, s in self.optimizer.state_dict()["state"].items()})
            return {"param_groups": self.optimizer.state_dict()["param_groups"]}
        return write

    def load(self, folder: Path, state):
        self.model.load_state_dict(load_tensors(folder / "model.safetensors"))
        momentum = load_tensors(folder / "momentum.safetensors")
        self.optimizer.load_state_dict({"state": {int(i): {"momentum_buffer": m} for i, m in momentum.items()},
                                        "param_groups": state["param_groups"]})


def run(settings: LoopConfig, *, resume: bool = False, **task_options) -> tuple[Regression, object]:
    task = Regression(settings, **task_options)
    result = train_loop(task, settings, device=torch.device("cpu"), run_config=settings, name="toy", unit="rows",
                        resume=resume)
    return task, result


def saved_step(out: Path) -> int:
    return json.loads((out / "checkpoint" / "trainer_state.json").read_text())["step"]


def test_runs_the_schedule_logs_and_learns(tmp_path):
    settings = loop_settings(out_dir=str(tmp_path))
    task, result = run(settings)
    assert result.step == 12 and result.checkpoint == tmp_path / "checkpoint" and np.isfinite(result.loss)
    expected = [warmup_cosine(step, lr=0.1, warmup_steps=3, total_steps=12, min_lr_ratio=0.1) for step in range(12)]
    assert task.lrs == pytest.approx(expected)
    log = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == [5, 10, 12]  # every eval_every steps, and the last
    assert log[-1]["error"] < log[0]["error"]
    assert json.loads((tmp_path / "run_config.json").read_text())["steps"] == 12


def test_checkpoints_every_n_steps_and_at_the_end(tmp_path):
    task, _ = run(loop_settings(out_dir=str(tmp_path), steps=10, checkpoint_every=4))
    assert task.saved_after == [4, 8, 10] and saved_step(tmp_path) == 10


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    straight, _ = run(loop_settings(out_dir=str(tmp_path / "straight")))
    # A crash at step 7 leaves step 4's checkpoint; a time budget stops between checkpoints and saves.
    with pytest.raises(KeyboardInterrupt):
        run(loop_settings(out_dir=str(tmp_path / "crashed")), interrupt_at=7)
    run(loop_settings(out_dir=str(tmp_path / "budget"), max_minutes=0.0035), step_seconds=0.03)
    for out in (tmp_path / "crashed", tmp_path / "budget"):
        stopped = saved_step(out)
        assert 0 < stopped < 12
        resumed, result = run(loop_settings(out_dir=str(out)), resume=True)
        assert result.step == 12 and resumed.lrs == straight.lrs[stopped:]
        for name, tensor in straight.model.state_dict().items():
            assert torch.equal(resumed.model.state_dict()[name], tensor), name


def test_budget_stops_between_steps_saves_and_evaluates_its_last_state(tmp_path):
    _, result = run(loop_settings(out_dir=str(tmp_path), steps=1000, max_minutes=0.002, eval_every=500),
                    step_seconds=0.02)
    assert 0 < result.step < 1000 and saved_step(tmp_path) == result.step
    log = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == [result.step]  # no eval_every reached: the stop's own


def test_the_budget_counts_the_minutes_before_a_resume(tmp_path):
    budget = loop_settings(out_dir=str(tmp_path), steps=1000, max_minutes=0.002)
    _, first = run(budget, step_seconds=0.02)
    minutes = json.loads((tmp_path / "checkpoint" / "trainer_state.json").read_text())["minutes"]
    assert minutes >= 0.002
    _, again = run(budget, resume=True, step_seconds=0.02)  # the whole budget is spent: no step more
    assert again.step == first.step
    _, longer = run(loop_settings(out_dir=str(tmp_path), steps=1000, max_minutes=0.004), resume=True, step_seconds=0.02)
    assert first.step < longer.step < 1000


def test_non_finite_loss_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"non-finite loss nan at step 6; last good checkpoint: .*checkpoint"):
        run(loop_settings(out_dir=str(tmp_path), checkpoint_every=4), diverge_at=6)
    assert saved_step(tmp_path) == 4
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run(loop_settings(out_dir=str(tmp_path / "none")), resume=True)


def test_an_error_before_a_steps_update_saves_the_last_completed_step(tmp_path, capsys):
    """A batch that cannot be read at step 7 (checkpoints every 4) saves step 7, and resuming from it
    gives an uninterrupted run's weights; an error after step 7's update keeps step 4's checkpoint."""
    straight, _ = run(loop_settings(out_dir=str(tmp_path / "straight")))
    with pytest.raises(FileNotFoundError):
        run(loop_settings(out_dir=str(tmp_path / "data")), fail_at=(7, "batch"))
    assert saved_step(tmp_path / "data") == 7
    assert f"stopped at step 7 by the error below: {tmp_path / 'data' / 'checkpoint'} holds step 7; once it is " \
        "mended, continue with --resume" in capsys.readouterr().err
    resumed, result = run(loop_settings(out_dir=str(tmp_path / "data")), resume=True)
    assert result.step == 12 and resumed.lrs == straight.lrs[7:]
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name
    with pytest.raises(OSError, match="after the update"):
        run(loop_settings(out_dir=str(tmp_path / "late")), fail_at=(7, "after update"))
    assert saved_step(tmp_path / "late") == 4
    assert "holds step 4" in capsys.readouterr().err


def test_a_resume_from_a_step_saved_when_its_evaluation_failed_evaluates_it_first(tmp_path):
    """Step 5's evaluation fails (eval_every 5): step 5 is saved, and the resumed run logs step 5's
    figures before it trains on, as the run that did not stop logged them."""
    with pytest.raises(OSError, match="held-out clips"):
        run(loop_settings(out_dir=str(tmp_path)), fail_at=(5, "evaluate"))
    assert saved_step(tmp_path) == 5 and not (tmp_path / "eval.jsonl").exists()
    run(loop_settings(out_dir=str(tmp_path)), resume=True)
    log = [json.loads(line)["step"] for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert log == [5, 10, 12]
    run(loop_settings(out_dir=str(tmp_path)), resume=True)  # the finished run's step 12 is logged: not again
    log = [json.loads(line)["step"] for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert log == [5, 10, 12]


def test_config_refuses_what_the_loop_cannot_run(tmp_path):
    with pytest.raises(ValueError, match="checkpoint_every must be positive, got 0"):
        loop_settings(out_dir=str(tmp_path), checkpoint_every=0)
    with pytest.raises(ValueError, match="precision must be one of"):
        loop_settings(out_dir=str(tmp_path), precision="fp8")
    for field, value, message in (("lr", -1.0, "expected lr >= 0"), ("max_minutes", 0, "max_minutes must be positive"),
                                  ("threads", 0, "threads must be >= 1")):
        with pytest.raises(ValueError, match=message):
            loop_settings(out_dir=str(tmp_path), **{field: value})


def test_a_stop_says_which_step_the_checkpoint_holds_and_short_runs_are_warned(tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):
        run(loop_settings(out_dir=str(tmp_path / "early")), interrupt_at=2)
    assert "stopped at step 2: no checkpoint was written yet" in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        run(loop_settings(out_dir=str(tmp_path / "later"), checkpoint_every=4), interrupt_at=7)
    assert f"stopped at step 7: {tmp_path / 'later' / 'checkpoint'} holds step 4; continue with --resume" in \
        capsys.readouterr().err
    run(loop_settings(out_dir=str(tmp_path / "exact"), steps=3, warmup_steps=3))  # its last step reaches lr
    assert "warmup_steps" not in capsys.readouterr().err
    run(loop_settings(out_dir=str(tmp_path / "short"), steps=3, warmup_steps=4))
    assert "warmup_steps (4) > steps (3): the learning rate never reaches lr" in capsys.readouterr().err


def test_progress_in_a_log_file_is_lines_not_carriage_returns():
    """tqdm's refreshes become separate lines, at most one per interval, and the last state is kept."""
    import io

    from tqdm import tqdm

    from arvid.training.progress import LineFile, progress_file

    log = io.StringIO()
    assert isinstance(progress_file(log), LineFile)  # a StringIO is not a terminal
    lines = LineFile(log, interval=3600.0)
    with tqdm(total=50, desc="toy", file=lines, mininterval=0) as bar:
        for _ in range(50):
            bar.update(1)
    lines.flush_pending()
    written = log.getvalue()
    assert "\r" not in written
    assert written.count("\n") == 2  # the first refresh, then the last one held back by the interval
    assert "50/50" in written.splitlines()[-1]
