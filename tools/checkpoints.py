"""Loading models for subcommands: `--ckpt DIR` or the shipped default."""

from __future__ import annotations

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
