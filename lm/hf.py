"""Conversion to and from `transformers`' `LlamaForCausalLM`.

arvid's module names are Llama's, so the weights move as they are (under `model.` for the
backbone). The layout fields that Llama has no name for travel in the Hugging Face config under
`arvid`, and the text tokenizer file is copied beside the weights, so `from_hf` rebuilds the same
`VideoLM` weights and config. Not its sampling defaults nor content words: the folder's
`generation_config.json` is Hugging Face's (token ids), not arvid's sampling settings, so copy the
LM's own beside an arvid model folder rebuilt from it. Per-digit code terms (`code_levels`) are
folded into the plain embedding on export (`Transformer.input_embedding`): the exported Llama
computes the same logits without them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from arvid.configs import ConfigError, load_config, to_dict
from arvid.training.checkpoint import atomic_folder, write_json
from arvid.lm.checkpoint import TRAINING_DATA, VideoLM, read_training_data
from arvid.lm.config import LMConfig
from arvid.lm.model import Transformer
from arvid.lm.text import FILE_NAME, TextTokenizer

_LLAMA_FIELDS = ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "norm_eps", "rope_theta")


def llama_config(config: LMConfig):
    """The `transformers.LlamaConfig` of the same architecture (and arvid's layout under `arvid`)."""
    from transformers import LlamaConfig

    # code_levels: folded into the plain embedding by `to_hf`, so the Llama has none.
    layout = {k: v for k, v in to_dict(config).items() if k not in _LLAMA_FIELDS and k != "code_levels"}
    return LlamaConfig(
        vocab_size=config.vocab_size, hidden_size=config.dim, intermediate_size=config.ffn_dim,
        num_hidden_layers=config.n_layers, num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_kv_heads, head_dim=config.head_dim, rms_norm_eps=config.norm_eps,
        rope_theta=config.rope_theta, max_position_embeddings=config.max_seq_len, attention_bias=False,
        mlp_bias=False, tie_word_embeddings=False, arvid=layout)


def to_hf(model: Transformer):
    """A `LlamaForCausalLM` with `model`'s weights (float32, CPU).

    Raises:
        ValueError: the model has `grid_positions` or a text encoder's projection, which Llama has no
            place for, or reads its text prefix in both directions, which Llama does not (its logits
            would differ from the model's).
    """
    if model.config.text_encoder is not None:
        raise ValueError(f"this model reads its text with the encoder {model.config.text_encoder!r} through a "
                         f"projection that transformers' Llama has no module for; it cannot be exported")
    if model.config.grid_positions:
        raise ValueError("this model adds grid-position embeddings (grid_positions: true), which "
                         "transformers' Llama has no module for; it cannot be exported")
    if model.config.bidirectional_prefix:
        raise ValueError("this model attends over its text prefix in both directions (bidirectional_prefix: "
                         "true); transformers' Llama attends causally, so its logits would differ: it cannot "
                         "be exported (train with model.bidirectional_prefix=false model.grid_positions=false)")
    from transformers import LlamaForCausalLM

    hf_model = LlamaForCausalLM(llama_config(model.config))
    weights = dict(model.state_dict(), **{"embed_tokens.weight": model.input_embedding()})
    state = {(k if k.startswith("lm_head.") else f"model.{k}"): v.detach().float().cpu()
             for k, v in weights.items() if not k.startswith("code_digits.")}
    hf_model.load_state_dict(state, strict=True)
    return hf_model.eval()


def export_hf(lm: VideoLM, path: str | Path) -> Path:
    """Write a folder that `LlamaForCausalLM.from_pretrained` loads, plus the text tokenizer (and
    the LM's training_data.json, its videos' frame rate and tokenizer, when it has one). The folder
    is written next to its destination and moved into place at the end.

    Raises:
        ValueError: a model Llama cannot compute (`to_hf`).
        FileExistsError: `path` holds anything but an export (never replaced).
    """
    with atomic_folder(path, replaces=is_hf_export) as staging:
        to_hf(lm.model).save_pretrained(staging)
        lm.text.save(staging)
        if lm.training_data is not None:
            write_json(staging / TRAINING_DATA, lm.training_data)
    return Path(path)


def is_hf_export(path: str | Path) -> bool:
    """Whether `path` is a folder `export_hf` wrote and nothing else (what it may replace): a Llama
    config (with its `model_type`, which arvid's own checkpoints lack), its weights, the text tokenizer."""
    path = Path(path)
    names = {entry.name for entry in path.iterdir()} if path.is_dir() else set()
    allowed = {"config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json", FILE_NAME,
               TRAINING_DATA}
    if "config.json" not in names or not all(name in allowed or name.startswith("model-") for name in names):
        return False
    try:
        return "model_type" in json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False


def from_hf(path: str | Path) -> VideoLM:
    """Read a folder written by `export_hf` (or any Llama checkpoint with arvid's layout fields).

    Raises:
        FileNotFoundError: no such folder or no text tokenizer in it.
        ValueError: the Llama config has no `arvid` layout, one a Llama cannot compute (grid-position
            embeddings, a bidirectional prefix), a vocabulary size that disagrees with it, or Llama
            settings arvid's LM does not compute (rotary scaling, an activation other than SiLU, biases).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no Hugging Face checkpoint at {str(path)!r} (expected config.json)")
    hf_config = LlamaConfig.from_pretrained(path)
    layout = getattr(hf_config, "arvid", None)
    if not isinstance(layout, dict):
        raise ValueError(f"{str(path)!r} is a Llama checkpoint without arvid's layout fields (config key 'arvid')")
    unlike = _unlike_arvid(hf_config)
    if unlike:
        raise ValueError(f"{str(path)!r}: the Llama config asks for {unlike}, which arvid's LM does not compute "
                         f"(its logits would not be the checkpoint's)")
    if layout.get("bidirectional_prefix", False):
        raise ValueError(f"{str(path)!r}: the layout asks for a bidirectional text prefix, but a Llama checkpoint "
                         f"attends causally (its logits would not be the model's)")
    # A layout without the field is read as what a Llama computes: causal attention throughout.
    fields = dict(layout, bidirectional_prefix=False, dim=hf_config.hidden_size, n_layers=hf_config.num_hidden_layers,
                  n_heads=hf_config.num_attention_heads, n_kv_heads=hf_config.num_key_value_heads,
                  ffn_dim=hf_config.intermediate_size, norm_eps=hf_config.rms_norm_eps,
                  rope_theta=_rope_theta(hf_config))
    try:  # the strict loader names an unknown or mistyped layout field
        config = load_config(LMConfig, overrides=[f"{k}={json.dumps(v)}" for k, v in fields.items()])
    except ConfigError as err:
        raise ValueError(f"{str(path)!r}: arvid layout fields do not describe an LM: {err}") from err
    if config.grid_positions:
        raise ValueError(f"{str(path)!r}: the layout asks for grid-position embeddings, which a Llama checkpoint "
                         f"cannot hold")
    if config.vocab_size != hf_config.vocab_size:
        raise ValueError(f"vocabulary sizes disagree: {hf_config.vocab_size} in the Llama config, "
                         f"{config.vocab_size} from arvid's layout")
    # safetensors only: a folder holding pytorch_model.bin would otherwise be read with torch.load (a pickle).
    hf_model = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32, use_safetensors=True)
    model = Transformer(config)
    state = {k.removeprefix("model."): v for k, v in hf_model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    return VideoLM(model.eval(), TextTokenizer.load(path), training_data=read_training_data(path))


def _unlike_arvid(hf_config) -> str:
    """What in a Llama config arvid's `Transformer` would silently compute otherwise ('' if nothing):
    a rotary scaling (linear, dynamic, llama3, ...), another activation, biased projections."""
    parameters = getattr(hf_config, "rope_parameters", None) or getattr(hf_config, "rope_scaling", None) or {}
    found = []
    if parameters.get("rope_type", parameters.get("type", "default")) != "default":
        found.append(f"rotary scaling {parameters.get('rope_type', parameters.get('type'))!r}")
    if getattr(hf_config, "hidden_act", "silu") != "silu":
        found.append(f"activation {hf_config.hidden_act!r}")
    for field in ("attention_bias", "mlp_bias"):
        if getattr(hf_config, field, False):
            found.append(field)
    return ", ".join(found)


def _rope_theta(hf_config) -> float:
    # transformers 5 moved rope_theta into `rope_parameters`; older versions keep the attribute.
    parameters = getattr(hf_config, "rope_parameters", None) or {}
    return float(parameters.get("rope_theta", getattr(hf_config, "rope_theta", 10000.0)))
