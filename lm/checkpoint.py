"""`VideoLM`: what an LM checkpoint folder holds, loaded together.

A folder has `config.json` (the `LMConfig`), `model.safetensors` and `text_tokenizer.model` (an LM
with a text encoder has none: its config names the encoder, loaded from this machine, and its
weights hold only the projection of the encoder's states), and may have `generation_config.json`:
the sampling settings the model is meant to be used with. It is read here as a plain dict;
`arvid.sampling.SamplerConfig` gives it meaning (this package does not know the sampler). A trained
LM also has `training_data.json`, what its videos were: `fps`, the frame rate they were read at (the
pace of motion it learnt), `tokenizer`, the tokenizer that encoded them (a shipped tokenizer's
name or a folder), and `tokenizer_codes`, that tokenizer's `codes_fingerprint`, each where its token
shards recorded it; and `caption_words`, the content words of its training captions
(`arvid.data.caption_words`). A folder may also have `content_words.json`, the words and phrases its
captions named by category (the shipped shapes-world LM's shape, colour and direction words). Either
lets `VideoLM.names_nothing_known` tell a prompt that names nothing the LM learnt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from arvid.configs import ConfigError, load_config, to_dict
from arvid.training.checkpoint import (atomic_folder, holds_only, load_module_weights, resolve_checkpoint,
                                      save_tensors, write_json)
from arvid.data import caption_words
from arvid.data.caption_words import CONTENT_FILE
from arvid.data.manifests import frame_rate_or_none
from arvid.lm.config import LMConfig
from arvid.lm.layout import Prefixes, encoder_prefixes, prefix_tokens
from arvid.lm.model import Transformer
from arvid.lm.text import FILE_NAME, TextTokenizer
from arvid.lm.text_encoder import TextEncoder
from arvid.lm.vocabulary import Vocabulary

GENERATION_CONFIG = "generation_config.json"
TRAINING_DATA = "training_data.json"
# What an LM folder is written with: a save replaces a folder of these alone (never one holding a
# file of its own beside them). An LM without content words saved over one with them drops the file
# with the weights it described.
LM_FILES = ("config.json", "model.safetensors", FILE_NAME, GENERATION_CONFIG, TRAINING_DATA, CONTENT_FILE)


def read_generation_config(folder: str | Path) -> dict[str, Any] | None:
    """The `generation_config.json` of an LM folder as a plain dict, or None when it has none.

    Raises:
        ValueError: the file is not JSON, or not a JSON object (the message names the file).
    """
    return _read_object(Path(folder) / GENERATION_CONFIG, "sampling settings")


def read_training_data(folder: str | Path) -> dict[str, Any] | None:
    """The `training_data.json` of an LM folder as a plain dict, or None when it has none.

    Raises:
        ValueError: the file is not JSON, not a JSON object, its `fps` is not a number > 0 or its
            `caption_words` not a list of words (the message names the file).
    """
    path = Path(folder) / TRAINING_DATA
    values = _read_object(path, "what the LM was trained on")
    fps = (values or {}).get("fps")
    if fps is not None and frame_rate_or_none(fps) is None:
        raise ValueError(f"{path}: fps must be a number > 0, got {fps!r}")
    words = (values or {}).get("caption_words")
    if words is not None and not (isinstance(words, list) and all(isinstance(word, str) for word in words)):
        raise ValueError(f"{path}: caption_words must be a list of words")
    return values


def read_content_words(folder: str | Path) -> dict[str, list[str]] | None:
    """The `content_words.json` of an LM folder (category -> the words and phrases its captions
    named), or None when it has none.

    Raises:
        ValueError: the file is not a JSON object of word lists (the message names the file).
    """
    path = Path(folder) / CONTENT_FILE
    values = _read_object(path, "word lists (category -> words)")
    if values is not None and not all(isinstance(words, list) and all(isinstance(word, str) for word in words)
                                      for words in values.values()):
        raise ValueError(f"{path}: not a JSON object of word lists (category -> words)")
    return values


def _read_object(path: Path, what: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a JSON object of {what}, got {type(values).__name__}")
    return values


@dataclass
class VideoLM:
    """The transformer with its text tokenizer (sentencepiece) or its frozen text `encoder` (when
    `config.text_encoder` is set; then `text` is None), and its vocabulary.

    `generation_config` is the folder's `generation_config.json` as read (None when there is none
    or the LM was built in memory), `training_data` its `training_data.json` (see the module's
    docstring), `content_words` its `content_words.json` (category -> words and phrases; the shipped
    shapes-world LM's); `folder` is where it was loaded from, for messages.

    Raises:
        ValueError: a text tokenizer with more pieces than the model has room for, or the wrong
            kind of text reader for the config, or an encoder of another width than the config's.
    """

    model: Transformer
    text: TextTokenizer | None
    generation_config: dict[str, Any] | None = None
    folder: Path | None = None
    encoder: TextEncoder | None = None
    training_data: dict[str, Any] | None = None
    content_words: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        config = self.model.config
        if config.text_encoder is None:
            if self.text is None or self.encoder is not None:
                raise ValueError("an LM without text_encoder reads its text with a sentencepiece text tokenizer, "
                                 "and only with it")
            if self.text.size > config.text_vocab_size:
                raise ValueError(f"the text tokenizer has {self.text.size} pieces; the model has room for "
                                 f"{config.text_vocab_size} (set text_vocab_size)")
        else:
            if self.encoder is None or self.text is not None:
                raise ValueError(f"an LM with text_encoder {config.text_encoder!r} reads its text with that "
                                 f"encoder, and only with it")
            if self.encoder.dim != config.text_encoder_dim:
                raise ValueError(f"the text encoder {config.text_encoder!r} is {self.encoder.dim} wide; the model "
                                 f"projects text_encoder_dim={config.text_encoder_dim}")
        self.vocab = Vocabulary(text_size=config.text_vocab_size, video_size=config.video_vocab_size)

    @property
    def config(self) -> LMConfig:
        """The transformer's config."""
        return self.model.config

    def names_nothing_known(self, prompt: str) -> bool:
        """Whether `prompt` names something, and none of what this LM's training captions named: none
        of the words and phrases of its `content_words`, or where it has none, none of its training
        record's `caption_words`. False for a prompt without content words (blank: unconditional; or
        function words alone, "the a": it asks for nothing) and for an LM that records neither
        (nothing to check)."""
        if not caption_words.content_words(prompt):
            return False
        if self.content_words is not None:
            return caption_words.names_no_phrase(prompt, (word for words in self.content_words.values() for word in words))
        words = (self.training_data or {}).get("caption_words")
        return bool(words) and caption_words.names_nothing_known(prompt, words)

    def caption_vocabulary(self) -> set[str]:
        """The words of this LM's training captions it records: its training record's
        `caption_words` and the words of its `content_words` phrases (empty when it records neither);
        what `arvid.data.synonyms.rewrite_prompt` rewrites prompts into."""
        words = set((self.training_data or {}).get("caption_words") or ())
        for phrases in (self.content_words or {}).values():
            for phrase in phrases:
                words |= caption_words.content_words(phrase)
        return words

    def prompt_tokens(self, prompt: str, *, task: str = "text-to-video") -> Tensor:
        """`[BOS][TASK][BOT] text [EOT][BOV]` for `prompt` (prefix_len,); "" is unconditional.
        Sentencepiece LMs only (an encoder's prompt is more than tokens: see `prefixes`).

        Raises:
            ValueError: the prompt is longer than the model's `text_tokens` pieces, or the LM has a
                text encoder.
        """
        if self.text is None:
            raise ValueError("an LM with a text encoder has no text pieces: use VideoLM.prefixes")
        return prefix_tokens(self.vocab, self.text.encode(prompt), task=task, text_tokens=self.config.text_tokens)

    def prefixes(self, prompts: list[str], *, task: str = "text-to-video") -> Prefixes:
        """The prefixes of `prompts` as one batch (all of one length); "" is unconditional. With a
        text encoder each prompt is encoded once (the encoder caches it), and the text slots are
        as many as the longest prompt's encoder tokens, or `text_tokens` if that is more.

        Raises:
            TypeError: `prompts` that is a string (each of its characters would be a prompt), not a list.
            ValueError: a prompt that is not a string, or over the model's text length: `text_tokens`
                pieces, or the text encoder's limit (the message names it).
        """
        if isinstance(prompts, (str, bytes)):
            raise TypeError(f"prompts must be a list of prompts, got the string {prompts!r}: pass [prompt] for one")
        for prompt in prompts:
            if not isinstance(prompt, str):
                raise ValueError(f'a prompt must be a string ("" for unconditional), got {type(prompt).__name__}')
        if self.encoder is None:
            return Prefixes(torch.stack([self.prompt_tokens(prompt, task=task) for prompt in prompts]))
        return encoder_prefixes(self.vocab, self.encoder.encode(prompts), task=task,
                                text_tokens=self.config.text_tokens)

    def save_pretrained(self, path: str | Path) -> None:
        """Write the folder atomically: config.json, model.safetensors, text_tokenizer.model (and
        generation_config.json and training_data.json when the LM carries them).

        Raises:
            FileExistsError: `path` holds files other than an LM folder's (they are never replaced).
        """
        with atomic_folder(path, replaces=holds_only(LM_FILES)) as staging:
            self.write_files(staging)

    def write_files(self, folder: Path, *, model_state: dict[str, Tensor] | None = None) -> None:
        """Write this checkpoint's files into an existing folder (trainers add their own).
        `model_state` replaces the model's own state dict (a trainer's gathered full state under FSDP2)."""
        write_json(folder / "config.json", to_dict(self.config))
        save_tensors(folder / "model.safetensors", self.model.state_dict() if model_state is None else model_state)
        if self.text is not None:
            self.text.save(folder)
        if self.generation_config is not None:
            (folder / GENERATION_CONFIG).write_text(json.dumps(self.generation_config, indent=2) + "\n")
        if self.training_data is not None:
            write_json(folder / TRAINING_DATA, self.training_data)
        if self.content_words is not None:
            write_json(folder / CONTENT_FILE, self.content_words)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str | torch.device = "cpu") -> VideoLM:
        """Load a checkpoint folder, in eval mode, with its generation config (if any) as a dict.

        An LM with a text encoder loads its encoder (`TextEncoder.load`) onto the same device.

        Raises:
            FileNotFoundError: no checkpoint folder, or no weights or text tokenizer in it.
            TextEncoderNotFound (a FileNotFoundError): the config names a text encoder this machine
                does not have (the message says how to install it).
            ValueError: the folder does not describe an arvid LM, the weights do not fit its config
                or are truncated or corrupt, the text tokenizer or encoder is corrupt or of another
                width, or its generation_config.json is not a JSON object (each message names the file).
        """
        folder = resolve_checkpoint(path)
        try:
            config = load_config(LMConfig, folder / "config.json")
        except ConfigError as err:
            raise ValueError(f"{str(folder)!r} does not hold an LM config: {err}") from err
        model = Transformer(config).to(device)
        load_module_weights(model, folder, config)
        read = dict(generation_config=read_generation_config(folder), training_data=read_training_data(folder),
                    content_words=read_content_words(folder), folder=folder)
        if config.text_encoder is not None:
            return cls(model.eval(), None, encoder=TextEncoder.load(config.text_encoder, device=device), **read)
        text = TextTokenizer.load(folder)  # names the file when it is missing or corrupt
        return cls(model.eval(), text, **read)
