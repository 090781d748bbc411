"""`VideoLM`: what an LM checkpoint folder holds, loaded together.

A folder has `config.json` (the `LMConfig`), `model.safetensors` and `text_tokenizer.model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from arvid.configs import ConfigError, load_config, to_dict
from arvid.training.checkpoint import atomic_folder, load_module_weights, resolve_checkpoint, save_tensors, write_json
from arvid.lm.config import LMConfig
from arvid.lm.layout import prefix_tokens
from arvid.lm.model import Transformer
from arvid.lm.text import TextTokenizer
from arvid.lm.vocabulary import Vocabulary


@dataclass
class VideoLM:
    """The transformer with its text tokenizer and vocabulary."""

    model: Transformer
    text: TextTokenizer

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
        """Write the folder atomically: config.json, model.safetensors, text_tokenizer.model."""
        with atomic_folder(path) as staging:
            self.write_files(staging)

    def write_files(self, folder: Path, *, model_state: dict[str, Tensor] | None = None) -> None:
        """Write this checkpoint's files into an existing folder (trainers add their own).
        `model_state` replaces the model's own state dict (a trainer's gathered full state under FSDP2)."""
        write_json(folder / "config.json", to_dict(self.config))
        save_tensors(folder / "model.safetensors", self.model.state_dict() if model_state is None else model_state)
        self.text.save(folder)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str | torch.device = "cpu") -> VideoLM:
        """Load a checkpoint folder, in eval mode.

        Raises:
            FileNotFoundError: no checkpoint folder, or no text tokenizer in it.
            ValueError: the folder does not describe an arvid LM, or the weights do not fit its config.
        """
        folder = resolve_checkpoint(path)
        try:
            config = load_config(LMConfig, folder / "config.json")
        except ConfigError as err:
            raise ValueError(f"{str(folder)!r} does not hold an LM config: {err}") from err
        model = Transformer(config).to(device)
        load_module_weights(model, folder, config)
        return cls(model.eval(), TextTokenizer.load(folder))
