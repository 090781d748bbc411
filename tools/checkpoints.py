"""Loading models for subcommands: `--model DIR` (a folder with lm/ and tokenizer/, or a trained LM
that names its tokenizer) or `--tokenizer DIR`, or the shipped ones, onto the `--device` given. Cheap
to import: torch and the models are imported when something is loaded."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from arvid.tools.errors import UsageError
from arvid.weights import SHIPPED_TOKENIZERS, shipped_model_dir, shipped_or_folder, shipped_tokenizer_dir

if TYPE_CHECKING:
    import torch

    from arvid.lm.checkpoint import VideoLM
    from arvid.tokenizer import VideoTokenizer


def resolve_device(name: str) -> torch.device:
    """The torch device for a `--device` name: auto (CUDA when available, else the CPU), cpu, cuda, cuda:N.

    Raises:
        UsageError: an unknown name, or a device this machine does not have.
    """
    from arvid.training.device import resolve_device as resolve

    try:
        return resolve(name)
    except ValueError as err:
        raise UsageError(str(err)) from err


def model_folder(model_dir: str | None) -> Path:
    """The model folder `--model` names, or the shipped one when it is None.

    Raises:
        UsageError: the folder does not exist, or no model is shipped.
    """
    try:
        folder = Path(model_dir) if model_dir else shipped_model_dir()
    except FileNotFoundError as err:
        raise UsageError(str(err)) from err
    if not folder.is_dir():
        raise UsageError(f"{_not_a_folder(folder)}; expected a model folder (lm/ and tokenizer/) or a trained LM's "
                         f"run folder")
    return folder


class ModelParts(NamedTuple):
    """What `--model` names: the LM's folder, and its tokenizer as `--tokenizer` takes it (a folder or
    a shipped tokenizer's name)."""

    lm: Path
    tokenizer: str


def model_parts(model_dir: str | None) -> ModelParts:
    """The LM and tokenizer `--model` names: a model folder (lm/ and tokenizer/; the shipped one for
    None), or a trained LM (an LM folder, or a training run's folder holding checkpoint/; alone, or
    as a model folder's lm/ without tokenizer/) whose training_data.json names the tokenizer of its
    token shards. A model folder's own tokenizer/ comes first.

    Raises:
        UsageError: the folder does not exist, no model is shipped, or an LM without a tokenizer/
            beside it that names none.
    """
    from arvid.lm.checkpoint import TRAINING_DATA, read_training_data

    from arvid.configs import ConfigError, load_config
    from arvid.lm.config import LMConfig

    folder, lm = model_folder(model_dir), lm_folder(model_dir)
    if (folder / "tokenizer").is_dir() or not (lm / "config.json").is_file():
        return ModelParts(lm, str(folder / "tokenizer"))  # loading says what is missing
    try:
        load_config(LMConfig, lm / "config.json")
    except ConfigError:
        raise UsageError(f"{str(folder)!r} holds no lm/ and tokenizer/, and is not a trained LM (its config.json is "
                         f"another model's)") from None
    try:
        tokenizer = (read_training_data(lm) or {}).get("tokenizer")
    except ValueError as err:
        raise UsageError(str(err)) from err
    if not isinstance(tokenizer, str) or not tokenizer:
        raise UsageError(f"{str(lm)!r} is an LM whose {TRAINING_DATA} names no tokenizer (token shards record one "
                         f"since 2026-12-06): give a model folder, the LM as lm/ beside the tokenizer its shards were "
                         f"encoded with as tokenizer/")
    if tokenizer in SHIPPED_TOKENIZERS:  # recorded by its short name: the shipped one, not a folder of that name here
        try:
            tokenizer = str(shipped_tokenizer_dir(tokenizer))
        except FileNotFoundError as err:
            raise UsageError(f"{str(lm)!r} names the shipped tokenizer {tokenizer!r}: {err}") from err
    elif not Path(tokenizer).exists():  # moved or removed since the shards were encoded with it
        raise UsageError(f"{str(lm)!r} was trained on token shards encoded with the tokenizer {tokenizer!r} (its "
                         f"{TRAINING_DATA}), which is not there now: make a model folder of the LM as lm/ beside "
                         f"that tokenizer as tokenizer/, and give it as --model")
    return ModelParts(lm, tokenizer)


def _lm_dir(folder: Path) -> Path:
    """`folder`, or its checkpoint/ where it is a training run's folder (no config.json of its own)."""
    if not (folder / "config.json").is_file() and (folder / "checkpoint" / "config.json").is_file():
        return folder / "checkpoint"
    return folder


def codes_origin(tokenizer, fps: float, *, bf16_decoder: bool = False):
    """The `StreamOrigin` a token stream records: its tokenizer (`VideoTokenizer.source`: a shipped
    name or its absolute folder), that tokenizer's number of codes, the video's frame rate `fps`, the
    tokenizer's `codes_fingerprint`, and whether the video's frames were decoded in bfloat16."""
    from arvid.data.token_stream import StreamOrigin

    return StreamOrigin(tokenizer.source, tokenizer.codebook_size, fps, tokenizer.codes_fingerprint(),
                        True if bf16_decoder else None)


def other_encoder_note(recorded: str | None, tokenizer) -> str | None:
    """Why `tokenizer` decodes codes recorded with the fingerprint `recorded` (a token stream's or a
    codes file's `tokenizer_codes`) into other pictures than their encoder meant, or None where it is
    the same encoder or none is recorded (`VideoTokenizer.encodes_otherwise`)."""
    if not tokenizer.encodes_otherwise(recorded):
        return None
    return ("the tokenizer encodes videos otherwise than the one that wrote these codes (other encoder or quantizer "
            "weights: trained further since, or another tokenizer of the same codebook): they decode to other pictures")


def _not_a_folder(path: Path) -> str:
    """What is at `path`, which is not a folder, in words naming it."""
    if path.is_symlink() and not path.exists():
        return f"{str(path)!r} is a broken symbolic link"
    if path.exists():
        return f"{str(path)!r} is a file"
    return f"{str(path)!r} does not exist"


def tokenizer_folder(folder: str | None) -> Path:
    """The folder `--tokenizer` names (a tokenizer folder, a model folder holding tokenizer/, or a
    shipped tokenizer's name), or the shipped model's tokenizer when it is None.

    Raises:
        UsageError: no model is shipped, `folder` is not a folder, or it names a shipped tokenizer
            this installation does not carry.
    """
    if folder:
        try:
            found = shipped_or_folder(folder)
        except FileNotFoundError as err:
            raise UsageError(str(err)) from None
        if folder in SHIPPED_TOKENIZERS and found == Path(folder):  # a folder of that name here wins: say so
            print(f"note: --tokenizer {folder} reads the folder {found.resolve()} here, not the shipped {folder} "
                  "tokenizer (give the shipped one's path, `python -c \"from arvid.weights import "
                  f"shipped_tokenizer_dir; print(shipped_tokenizer_dir('{folder}'))\"`, to use it)", file=sys.stderr)
        folder = str(found)
    return _component_folder(folder, "tokenizer")


def lm_folder(folder: str | None) -> Path:
    """The LM folder in what `--model` names for a command that needs only the LM (an LM folder,
    a training run's folder holding checkpoint/, or a model folder holding lm/), or the shipped
    LM's when it is None.

    Raises:
        UsageError: no model is shipped, or `folder` is not a folder.
    """
    return _lm_dir(_component_folder(folder, "lm"))


def _component_folder(folder: str | None, component: str) -> Path:
    if not folder:
        return model_folder(None) / component
    folder = Path(folder)
    if not folder.is_dir():
        what = {"lm": "an LM"}.get(component, f"a {component}")
        raise UsageError(f"no checkpoint: {_not_a_folder(folder)}; expected {what} folder, or a model folder holding "
                         f"{component}/")
    return folder / component if (folder / component).is_dir() else folder


def load_tokenizer(folder: str | None, device: str = "auto") -> VideoTokenizer:
    """The tokenizer in `tokenizer_folder(folder)`, in eval mode on `device` (a `--device` name).

    Raises:
        UsageError: a missing, mismatched, truncated or corrupt checkpoint, or a device this machine
            does not have; the message names the file.
    """
    from arvid.tokenizer import VideoTokenizer

    target = resolve_device(device)
    try:
        return VideoTokenizer.from_pretrained(tokenizer_folder(folder), device=target)
    except (OSError, ValueError) as err:  # FileNotFoundError is an OSError
        raise UsageError(str(err)) from err


def load_models(model_dir: str | ModelParts | None, device: str = "auto") -> tuple[VideoLM, VideoTokenizer]:
    """The LM and tokenizer `--model` names (`model_parts`: a model folder, `DIR/lm` and
    `DIR/tokenizer`, or a trained LM that names its tokenizer), or the shipped ones, in eval mode on
    `device` (a `--device` name); `model_dir` may be the `ModelParts` a command found already. The LM
    carries its generation config and training data record.

    Raises:
        UsageError: a missing folder; a missing, mismatched, truncated or corrupt checkpoint (the
            message names the file); a text encoder the LM names that is not installed (the message
            says how to install it); an LM and tokenizer that do not fit together; or a device this
            machine does not have.
    """
    from arvid.tools.interrupts import interrupts_deferred

    with interrupts_deferred():  # a Ctrl-C inside the libraries' imports can crash them: it waits for the end
        return _load_models(model_dir, device)


def _load_models(model_dir: str | ModelParts | None, device: str) -> tuple[VideoLM, VideoTokenizer]:
    from arvid.lm.checkpoint import VideoLM
    from arvid.lm.text_encoder import TextEncoderNotFound
    from arvid.sampling.stream import TokenizerMismatchWarning, check_compatible
    from arvid.tokenizer import VideoTokenizer

    parts = model_dir if isinstance(model_dir, ModelParts) else model_parts(model_dir)
    target = resolve_device(device)
    try:
        lm = VideoLM.from_pretrained(parts.lm, device=target)
        tokenizer = VideoTokenizer.from_pretrained(tokenizer_folder(parts.tokenizer), device=target)
    except TextEncoderNotFound as err:  # the folder is fine; this machine lacks the encoder it names
        raise UsageError(f"{parts.lm}: {err}") from err
    except (OSError, ValueError) as err:  # FileNotFoundError is an OSError
        raise UsageError(f"{err} (a model folder holds lm/ and tokenizer/, or is a trained LM that names its "
                         f"tokenizer)") from err
    try:
        with warnings.catch_warnings(record=True) as caught:  # said below as a line, as a command says things
            warnings.simplefilter("always", TokenizerMismatchWarning)
            check_compatible(lm, tokenizer)
    except ValueError as err:
        raise UsageError(f"the LM {str(parts.lm)!r} and the tokenizer {parts.tokenizer!r} do not fit together: "
                         f"{err}") from err
    for mismatch in (w for w in caught if issubclass(w.category, TokenizerMismatchWarning)):
        print(f"warning: {parts.tokenizer}: {mismatch.message}", file=sys.stderr)
    return lm, tokenizer
