"""Loading models for subcommands: `--ckpt DIR` / `--model DIR`, or the shipped default."""

from __future__ import annotations

from pathlib import Path

from arvid.lm.checkpoint import VideoLM
from arvid.tokenizer import VideoTokenizer
from arvid.tools.errors import UsageError
from arvid.weights import default_model_dir


def load_tokenizer(ckpt: str | None, device: str = "cpu") -> VideoTokenizer:
    """The tokenizer in `ckpt`, or the shipped one when `ckpt` is None.

    Raises:
        UsageError: missing or mismatched checkpoint folder.
    """
    try:
        return VideoTokenizer.from_pretrained(ckpt if ckpt else default_model_dir("tokenizer"), device=device)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from err


def load_models(model_dir: str | None, device: str = "cpu") -> tuple[VideoLM, VideoTokenizer]:
    """The LM and tokenizer of a model folder (`DIR/lm` and `DIR/tokenizer`), or the shipped ones.

    Raises:
        UsageError: a missing folder, or an LM and tokenizer that do not fit together.
    """
    from arvid.sampling import check_compatible

    try:
        lm_dir = Path(model_dir) / "lm" if model_dir else default_model_dir("lm")
        tokenizer_dir = Path(model_dir) / "tokenizer" if model_dir else default_model_dir("tokenizer")
        if model_dir and not Path(model_dir).is_dir():
            raise FileNotFoundError(f"model folder {model_dir!r} does not exist")
        lm = VideoLM.from_pretrained(lm_dir, device=device)
        tokenizer = VideoTokenizer.from_pretrained(tokenizer_dir, device=device)
        check_compatible(lm, tokenizer)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(f"{err} (a model folder holds lm/ and tokenizer/)") from err
    return lm, tokenizer
