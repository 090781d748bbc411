"""`VideoLM`: what an LM checkpoint folder holds, loaded together.

A folder has `config.json` (the `LMConfig`), `model.safetensors` and `text_tokenizer.model`, and
may have `generation_config.json`: the sampling settings the model is meant to be used with. It is
read here as a plain dict; `arvid.sampling.SamplerConfig` gives it meaning (this package does not
know the sampler).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from arvid.configs import ConfigError, load_config, to_dict
from arvid.training.checkpoint import atomic_folder, load_module_weights, resolve_checkpoint, save_tensors, write_json
from arvid.lm.config import LMConfig
from arvid.lm.layout import prefix_tokens
from arvid.lm.model import Transformer
from arvid.lm.text import TextTokenizer
from arvid.lm.vocabulary import Vocabulary

GENERATION_CONFIG = "generation_config.json"


def read_generation_config(folder: str | Path) -> dict[str, Any] | None:
    """The `generation_config.json` of an LM folder as a plain dict, or None when it has none.

    Raises:
        ValueError: the file is not JSON, or not a JSON object (the message names the file).
    """
    path = Path(folder) / GENERATION_CONFIG
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a JSON object of sampling settings, got {type(values).__name__}")
    return values


@dataclass
class VideoLM:
    """The transformer with its text tokenizer and vocabulary.

    `generation_config` is the folder's `generation_config.json` as read (None when there is none
    or the LM was built in memory); `folder` is where it was loaded from, for messages."""

    model: Transformer
    text: TextTokenizer
    generation_config: dict[str, Any] | None = None
    folder: Path | None = None

    def __post_init__(self) -> None:
        config = self.model.config
        if self.text.size > config.text_vocab_size:
            raise ValueError(f"the text tokenizer has {self.text.size} pieces; the model has room for "
                             f"{config.text_vocab_size} (set text_vocab_size)")
        self.vocab = Vocabulary(text_size=config.text_vocab_size, video_size=config.video_vocab_size)

    @property
    def config(self) -> LMConfig:
        """The transformer's config."""
        return self.model.config

    def prompt_tokens(self, prompt: str, *, task: str = "text-to-video") -> Tensor:
        """`[BOS][TASK][BOT] text [EOT][BOV]` for `prompt` (prefix_len,); "" is unconditional.

        Raises:
            ValueError: the prompt is longer than the model's `text_tokens` pieces.
        """
        return prefix_tokens(self.vocab, self.text.encode(prompt), task=task, text_tokens=self.config.text_tokens)

    def save_pretrained(self, path: str | Path) -> None:
        """Write the folder atomically: config.json, model.safetensors, text_tokenizer.model (and
        generation_config.json when the LM carries one)."""
        with atomic_folder(path) as staging:
            self.write_files(staging)

    def write_files(self, folder: Path, *, model_state: dict[str, Tensor] | None = None) -> None:
        """Write this checkpoint's files into an existing folder (trainers add their own).
        `model_state` replaces the model's own state dict (a trainer's gathered full state under FSDP2)."""
        write_json(folder / "config.json", to_dict(self.config))
        save_tensors(folder / "model.safetensors", self.model.state_dict() if model_state is None else model_state)
        self.text.save(folder)
        if self.generation_config is not None:
            (folder / GENERATION_CONFIG).write_text(json.dumps(self.generation_config, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str | torch.device = "cpu") -> VideoLM:
        """Load a checkpoint folder, in eval mode, with its generation config (if any) as a dict.

        Raises:
            FileNotFoundError: no checkpoint folder, or no weights or text tokenizer in it.
            ValueError: the folder does not describe an arvid LM, the weights do not fit its config
                or are truncated or corrupt, the text tokenizer is corrupt, or its
                generation_config.json is not a JSON object (each message names the file).
        """
        folder = resolve_checkpoint(path)
        try:
            config = load_config(LMConfig, folder / "config.json")
        except ConfigError as err:
            raise ValueError(f"{str(folder)!r} does not hold an LM config: {err}") from err
        model = Transformer(config).to(device)
        load_module_weights(model, folder, config)
        text = TextTokenizer.load(folder)  # names the file when it is missing or corrupt
        return cls(model.eval(), text, generation_config=read_generation_config(folder), folder=folder)
