"""Options shared by subcommands, so that one thing has one name on every command:

    --model DIR       a model folder (lm/ and tokenizer/); default: the shipped model
    --tokenizer DIR   a tokenizer folder, or a model folder holding tokenizer/; default: the shipped one
    --device NAME     auto (CUDA when available, else the CPU), cpu, cuda or cuda:N
    sampling flags    each overrides one field of the model's lm/generation_config.json

Cheap to import (no torch): every subcommand's parser is built from it, and `arvid --help` must be quick.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from arvid.tools.errors import UsageError, first_process

if TYPE_CHECKING:
    from arvid.sampling import SamplerConfig

# Frames a second for codes and models that record no rate: the shapes world's, the shipped LM's.
DEFAULT_FPS = 8.0

# flag, SamplerConfig field, type, help (the default is added from the shipped generation config)
SAMPLER_FLAGS = (
    ("--cfg", "cfg_scale", float, "classifier-free guidance scale; 1 = off (each token then costs one forward "
                                  "pass, not two); 0 draws from the unconditional model alone, the prompt ignored"),
    ("--temperature", "temperature", float, "divides the logits after the first window (--first-window-temperature "
                                            "sets the first window's); 0 = greedy"),
    ("--first-window-temperature", "first_window_temperature", float,
     "the temperature of the latent frames drawn before the context first slides, where the motion comes from "
     "the text alone"),
    ("--switch-temperature", "switch_temperature", float,
     "the temperature of the latent frames drawn in the window after a prompt switch (arvid generate's "
     "--prompt-schedule, --interactive), where the new motion comes from the text; none = --temperature"),
    ("--top-k", "top_k", int, "keep the k most likely codes; 0 keeps all"),
    ("--top-p", "top_p", float, "keep the codes within this probability mass; 1 keeps all"),
    ("--first-window-candidates", "first_window_candidates", int,
     "draw this many first windows and keep the one --first-window-selector picks; 1 = the first draw; each "
     "one more costs a first window's time before the first frame"),
    ("--first-window-selector", "first_window_selector", str,
     "how a first window is picked among the candidates (motion-medoid: the one whose motion agrees most with "
     "the others', tuned on the shapes world)"),
    ("--first-window-choice-frames", "first_window_choice_frames", int,
     "keep a candidate after this many latent frames of the first window (anchor included, at least 2) and draw "
     "the rest of it for the kept one alone: an earlier first frame; 0 = the whole first window"),
    ("--window", "window_frames", int, "latent frames in the context after the anchor; none = as trained"),
)
# Sampler flags whose 0 is the config's None, and what that 0 means (said in their range errors).
ZERO_MEANS_NONE = {"top_k": "0 to keep all", "first_window_choice_frames": "0: the whole first window"}

# flag, `stream` keyword, help: the speed levers, each off by default (the exact, one-thread path).
SPEED_FLAGS = (
    ("--pipelined", "pipelined", "decode pixels on a second thread while the LM draws the next latent frame "
                                 "(the same frames; batched first-window candidates to float rounding; two cores)"),
    ("--rolling-cache", "rolling_cache", "shift the LM's cache when its window moves instead of prefilling it "
                                         "afresh: faster, approximate (its cost: docs/results/streaming_and_speed.md)"),
    ("--batched-candidates", "batched_candidates", "draw and decode the first-window candidates as one batch "
                                                   "(other random draws of the same distributions)"),
    ("--bf16-decoder", "bf16_decoder", "decode pixels under bfloat16 autocast (faster on CPUs with native "
                                       "bfloat16; PSNR cost in docs/results/streaming_and_speed.md)"),
)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps a description's line breaks and ends an option's help with "(default: X)" unless the
    help already says its default; an option whose default is None or False says it in words."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.required or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


def check_fps(fps: float | None, flag: str = "--fps") -> None:
    """Raise UsageError unless `fps` (a frame-rate option's value) is None or a rate a video can be
    written at (`arvid.data.video_writer.MIN_FPS` to `MAX_FPS`)."""
    from arvid.data.video_writer import MAX_FPS, MIN_FPS

    if fps is not None and not MIN_FPS <= fps <= MAX_FPS:
        raise UsageError(f"{flag} must be a number from {MIN_FPS:g} to {MAX_FPS:g}, got {fps:g}")


def check_output_folder(path: str | Path, flag: str) -> Path:
    """`path` as a Path if an output folder can be made there (or is there): before any work, so
    that a run does not end in a permission error. Makes the folders above it, not `path` itself.

    Raises:
        UsageError: a file in the way, or a place this user cannot write.
    """
    import shutil
    import tempfile

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {str(path)!r} is a file; expected a folder (or nothing) there")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A folder made and removed, not os.access: that says yes to root in /proc, where nothing can be made.
        shutil.rmtree(tempfile.mkdtemp(prefix=".arvid-check.", dir=path if path.is_dir() else path.parent))
    except OSError as err:
        raise UsageError(f"{flag} {str(path)!r}: cannot write there ({err.strerror})") from None
    return path


def check_replaceable_folder(path: str | Path, flag: str, *, holds: str, is_ours: Callable[[Path], bool],
                             overwrite: bool) -> Path:
    """`check_output_folder` for a command that writes its whole output folder at once, replacing
    what is there: nothing or an empty folder is fine; a folder of the command's own output and
    nothing else (`is_ours`) is replaced only with --overwrite; any other folder is refused, as
    writing there would delete its files.

    Raises:
        UsageError: as `check_output_folder`, or a folder that may not be replaced.
    """
    path = check_output_folder(path, flag)
    if path.is_dir() and any(path.iterdir()):
        if not is_ours(path):
            raise UsageError(f"{flag} {str(path)!r} holds other files, which writing {holds} there would delete: "
                             f"give a new or empty folder")
        if not overwrite:
            raise UsageError(f"{flag} {str(path)!r} holds {holds} already: give --overwrite to replace them, or "
                             f"another folder")
    return path


def run_overrides(args: argparse.Namespace) -> list[str]:
    """A trainer's `key=value` overrides, with `train.overwrite=true` for `--overwrite`.

    Raises:
        UsageError: both --resume and --overwrite.
    """
    if args.resume and args.overwrite:
        raise UsageError("give --resume (continue the checkpoint) or --overwrite (replace it), not both")
    return [*args.overrides, *(["train.overwrite=true"] if args.overwrite else [])]


def load_run_config(cls: type, preset: Path, args: argparse.Namespace):
    """A trainer's config: `preset` with the command's overrides; on --resume, the config the run in
    `train.out_dir` recorded when it started (`run_config.json`) with the overrides on top, so that
    a resumed run goes on as it began without its overrides given again. Relative paths that exist
    are made absolute, so that the run records (and a resume from any folder reads) the same files.

    Raises:
        UsageError: both --resume and --overwrite.
        arvid.configs.ConfigError: a bad preset, override or recorded config.
    """
    from arvid.configs import load_config

    overrides = run_overrides(args)
    config = load_config(cls, preset, overrides)
    recorded = Path(config.train.out_dir) / "run_config.json"
    if not (args.resume and recorded.is_file()):
        # Recorded absolute (run_config.json): a resume from any folder reads the same files.
        return _paths_anchored(config, lambda key: Path.cwd())
    if first_process():  # once for a torchrun launch, not once a process
        print(f"resuming with the run's own config, {recorded}, and the overrides given", file=sys.stderr)
    # The folder it was found in, wherever the run began (it may have been moved). Its init_from stays
    # recorded (where a fine-tune began); the trainers do not read it on a resume.
    config = load_config(cls, recorded, [*overrides, f"train.out_dir={recorded.parent}"])
    # Paths given now are read from here; relative ones a run recorded (before paths were recorded
    # absolute) from the folder it began in, even where this folder has a file of the same name.
    given = {override.partition("=")[0] for override in overrides}
    began_in = _folder_run_began_in(load_config(cls, recorded).train.out_dir, recorded.parent)
    return _paths_anchored(config, lambda key: Path.cwd() if key in given else began_in)


# Fields that name files or folders. Not `model.text_encoder`: the model records it (its config.json),
# and a resume checks that record against the run's.
RUN_PATH_FIELDS = ("train.data", "train.val_data", "train.unseen_data", "train.text_tokenizer",
                   "train.perceptual_weights", "train.init_from")
SHAPES_SOURCE = "shapes"  # the trainers' name for the shapes world ("shapes", "shapes:heldout"), never a path


def _folder_run_began_in(recorded_out_dir: str, found_in: Path) -> Path | None:
    """The working folder a run started in, read off its recorded `out_dir` (say "runs/lm") and the
    folder its run_config.json was found in (say /home/me/project/runs/lm): /home/me/project. None
    where that cannot be told (an absolute or `..` out_dir, or a folder since renamed)."""
    out_dir = Path(recorded_out_dir)
    found = found_in.resolve()
    if out_dir.is_absolute() or ".." in out_dir.parts or not out_dir.parts:
        return None
    if found.parts[-len(out_dir.parts):] != out_dir.parts:
        return None
    return Path(*found.parts[:-len(out_dir.parts)])


def _paths_anchored(config, base: Callable[[str], Path | None]):
    """`config` with each relative path of `RUN_PATH_FIELDS` that exists under `base(field)` made
    absolute there (a field whose base is None, or a path not there, stays as it is)."""
    from arvid.data.real_clips import is_manifest_name, join_manifest_parts, manifest_parts

    def anchored(value, folder: Path):
        if isinstance(value, (tuple, list)):
            return type(value)(anchored(item, folder) for item in value)
        if not isinstance(value, str) or value.partition(":")[0] == SHAPES_SOURCE:
            return value
        parts = manifest_parts(value) if is_manifest_name(value) else []
        if parts and not (folder / value).exists() and [path for path, _ in parts] != [value]:  # "a_v.jsonl+b_i.jsonl@0.5"
            return join_manifest_parts([(anchored(path, folder), weight) for path, weight in parts])
        if Path(value).is_absolute() or not (folder / value).exists():
            return value
        return str((folder / value).absolute())

    sections: dict[str, dict] = {}
    for key in RUN_PATH_FIELDS:
        section, name = key.split(".")
        folder = base(key)
        if folder is None or not hasattr(getattr(config, section), name):
            continue
        value = getattr(getattr(config, section), name)
        if (absolute := anchored(value, folder)) != value:
            sections.setdefault(section, {})[name] = absolute
    changed = {section: dataclasses.replace(getattr(config, section), **fields) for section, fields in sections.items()}
    return dataclasses.replace(config, **changed) if changed else config


def check_run_start(train, *, resume: bool) -> None:
    """Before a trainer builds anything: its `train.out_dir` can be written, and holds a checkpoint
    exactly when `resume` needs one (or `train.overwrite` allows one).

    Raises:
        UsageError: an out_dir that cannot be written.
        FileNotFoundError: `resume` without a checkpoint.
        arvid.training.loop.CheckpointExists: a fresh start over a checkpoint without --overwrite.
    """
    from arvid.training.loop import check_start

    check_output_folder(train.out_dir, "train.out_dir")
    check_start(train, resume=resume)


def finish_run(folder: Path) -> None:
    """After a trainer returned: leave the process group once every process got here (a no-op in a
    world of one; only after success, as a process that failed would leave the others waiting at the
    barrier) and print the checkpoint folder, once for the run (the first process under torchrun)."""
    from arvid.training.distributed import finish_distributed

    finish_distributed()
    if first_process():
        print(f"checkpoint: {folder}")


def add_model_argument(parser: argparse.ArgumentParser, *,
                       what: str = "lm/ and tokenizer/, or a trained LM's run folder (its tokenizer the one its "
                                   "token shards name)") -> None:
    """`--model DIR`: a model folder holding `what`."""
    parser.add_argument("--model", metavar="DIR", help=f"model folder with {what} (default: the shipped model)")


def add_tokenizer_argument(parser: argparse.ArgumentParser, default: str = "shapes, the shipped model's") -> None:
    """`--tokenizer DIR`: a tokenizer folder, a model folder holding tokenizer/, or a shipped
    tokenizer's name ("natural", "shapes"); `default` says in the help what is used without it."""
    parser.add_argument("--tokenizer", metavar="DIR",
                        help="tokenizer folder, a model folder holding tokenizer/, or a shipped tokenizer: natural "
                             f"(real footage) or shapes (default: {default})")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """`--device NAME`, checked when a model loads (`arvid.tools.checkpoints.resolve_device`)."""
    parser.add_argument("--device", default="auto", metavar="NAME",
                        help="where the models run: auto (CUDA when available, else the CPU), cpu, cuda or cuda:N")


def shipped_generation_config() -> dict:
    """The shipped model's lm/generation_config.json as a plain dict ({} when none is shipped), for help texts."""
    from arvid.weights import default_model_dir

    try:
        return json.loads((default_model_dir("lm") / "generation_config.json").read_text())
    except (OSError, ValueError):  # FileNotFoundError is an OSError
        return {}


def add_sampler_arguments(parser: argparse.ArgumentParser) -> None:
    """The sampling flags (`SAMPLER_FLAGS`), in their own help group; each defaults to None: the model's value."""
    shipped = shipped_generation_config()
    group = parser.add_argument_group(
        "sampling", "Each flag overrides one field of the model's lm/generation_config.json, its sampling\n"
                    "defaults; the values shown are the shipped model's.")
    for flag, field, kind, text in SAMPLER_FLAGS:
        value = shipped.get(field)
        shown = "none" if value is None else f"{value:g}" if isinstance(value, float) else value
        group.add_argument(flag, dest=field, type=kind, metavar="NAME" if kind is str else kind.__name__.upper(),
                           help=f"{text} (default: the model's generation config; shipped: {shown})")


def add_speed_arguments(parser: argparse.ArgumentParser) -> None:
    """The speed levers (`SPEED_FLAGS`, --jacobi, --fused), in their own help group."""
    group = parser.add_argument_group("speed", "Options that make streaming faster; each is off by default.")
    for flag, keyword, text in SPEED_FLAGS:
        group.add_argument(flag, dest=keyword, action="store_true", help=text)
    group.add_argument("--jacobi", dest="jacobi_block", type=int, default=0, metavar="N",
                       help="draw each token from its own uniform number, up to N tokens per forward pass by Jacobi "
                            "decoding (the tokens of N = 1, one per pass, to float rounding); 0: the usual draws")
    group.add_argument("--fused", dest="fused_steps", type=int, default=0, metavar="N",
                       help="draw each token from its own uniform number (the tokens of --jacobi 1), N tokens per "
                            "call, each run of N one compiled graph with --compile; 0: the usual draws")
    group.add_argument("--compile", action="store_true",
                       help="compile the LM's decode step with torch.compile: tens of seconds once (less when "
                            "torch's compile cache is warm), then about 2.5x faster per token")
    group.add_argument("--threads", type=int, metavar="N",
                       help="torch threads for the LM (default: torch's choice; 1 is fastest for the shipped LM's "
                            "decode, and leaves the second core to --pipelined)")
    group.add_argument("--bf16-lm", dest="bf16_lm", action="store_true",
                       help="the LM's weights and KV cache in bfloat16 (for GPUs: half the memory and bytes a token "
                            "reads; on a CPU no faster, and greedy tokens differ from float32's in a few percent: "
                            "docs/results/streaming_and_speed.md)")


def check_runtime_options(args: argparse.Namespace) -> None:
    """Raise UsageError on a --threads below 1 (before any model loads)."""
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}")


def apply_runtime_options(args: argparse.Namespace, lm) -> None:
    """--threads, --bf16-lm and --compile on a loaded `arvid.lm.checkpoint.VideoLM` (`lm`): the thread
    count for this process, the LM in bfloat16, and the decode step compiled (its first calls then
    compile)."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.bf16_lm:  # before compiling: the graphs are made for the weights' dtype
        lm.model.to(torch.bfloat16)
    if args.compile:
        lm.model.compile_decode()


def check_window(config: SamplerConfig, lm) -> None:
    """The window a run streams (--window, else the generation config's, else the LM's) checked as
    `stream` checks it (`arvid.sampling.window.check_window`), once the LM is loaded, and said as the flag.

    Raises:
        UsageError: a window outside [2, the LM's].
    """
    from arvid.sampling.window import check_window as check

    try:
        check(config.window_for(lm.config.window_frames), lm.config.window_frames)
    except ValueError as err:
        raise UsageError(f"--window (or the generation config's window_frames): {err}") from None


def speed_levers(args: argparse.Namespace) -> dict[str, bool | int]:
    """The speed levers given, as `stream`'s keyword arguments.

    Raises:
        UsageError: a negative --jacobi or --fused, or both given.
    """
    for flag, value in (("--jacobi", args.jacobi_block), ("--fused", args.fused_steps)):
        if value < 0:
            raise UsageError(f"{flag} must be >= 0, got {value}")
    if args.jacobi_block and args.fused_steps:
        raise UsageError("--jacobi and --fused are two ways of drawing: give one")
    return ({keyword: getattr(args, keyword) for _, keyword, _ in SPEED_FLAGS}
            | {"jacobi_block": args.jacobi_block, "fused_steps": args.fused_steps})


def sampler_config(args: argparse.Namespace, model_dir: Path, *, seed: int) -> SamplerConfig:
    """The generation config of `model_dir` (a model or LM folder) with the sampling flags given on top.

    Raises:
        UsageError: a bad generation_config.json, or a flag's value out of range.
    """
    from arvid.sampling import SamplerConfig

    overrides = {field: getattr(args, field) for _, field, _, _ in SAMPLER_FLAGS if getattr(args, field) is not None}
    for field in ZERO_MEANS_NONE:  # the flag's 0 is the config's None
        if overrides.get(field) == 0:
            overrides[field] = None
    try:
        config = SamplerConfig.from_pretrained(model_dir)  # its own fields named as the file names them
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from err
    try:
        return dataclasses.replace(config, seed=seed, **overrides)
    except ValueError as err:  # a flag's value: the message names the flag, not the config field
        message = str(err)
        for flag, field, _, _ in SAMPLER_FLAGS:
            if field in overrides and message.startswith(field):
                message = flag + message[len(field):]
                if field in ZERO_MEANS_NONE:
                    message = re.sub(r"must be >= (\d+)", rf"must be >= \1 (or {ZERO_MEANS_NONE[field]})", message)
                break
        raise UsageError(message) from err


def batch_levers(args: argparse.Namespace, flag: str) -> dict[str, bool]:
    """The speed levers given, as `stream_batch`'s keyword arguments (its candidates are always batched).

    Raises:
        UsageError: --jacobi, which draws one stream at a time (`flag` names the batching option).
    """
    levers = speed_levers(args)
    if levers.pop("jacobi_block"):
        raise UsageError(f"--jacobi draws one video at a time: leave it out with {flag}")
    levers.pop("batched_candidates")
    return levers


def note_default_sampling(model_dir: Path) -> None:
    """Say so when a model folder's LM has no generation_config.json: its sampling is then the
    library's defaults (no guidance, one first window), which a trained model rarely wants."""
    from arvid.lm.checkpoint import GENERATION_CONFIG

    lm_dir = model_dir / "lm" if (model_dir / "lm").is_dir() else model_dir
    if not (lm_dir / GENERATION_CONFIG).is_file():
        print(f"note: {lm_dir} has no {GENERATION_CONFIG}: sampling with the library's defaults (no guidance, one "
              f"first window); copy the shipped model's or write one (docs/training.md)", file=sys.stderr)
