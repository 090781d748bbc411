"""The strict YAML loader: presets load, unknown keys and wrong types are errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from arvid.configs import ConfigError, load_config, preset_path, to_dict
from arvid.training.precision import cpu_has_native_bf16, mixed_precision
from arvid.tokenizer.train import TokenizerRunConfig


@pytest.mark.parametrize("name", ["tokenizer/tiny", "tokenizer/base"])
def test_presets_load(name):
    config = load_config(TokenizerRunConfig, preset_path(name))
    assert config.model.spatial_factor == 8 and config.model.temporal_factor == 4


def test_base_preset_is_the_papers_shape():
    model = load_config(TokenizerRunConfig, preset_path("tokenizer/base")).model
    assert (model.image_size, model.codebook_size, model.channel_multipliers) == (128, 2**18, (1, 2, 2, 4))


def test_overrides_apply_with_yaml_values():
    config = load_config(TokenizerRunConfig, preset_path("tokenizer/tiny"),
                         ["train.steps=7", "model.channel_multipliers=[1,2,2]", "train.lr=1e-3"])
    assert config.train.steps == 7 and config.model.channel_multipliers == (1, 2, 2) and config.train.lr == 1e-3


@pytest.mark.parametrize("override,message", [
    (["train.stepz=3"], "unknown key 'train.stepz'"),
    (["modle.channels=3"], "unknown key 'modle'"),
    (["train.steps=many"], "train.steps must be an integer"),
    (["train.steps=1.5"], "train.steps must be an integer"),
    (["model.quantizer=vq"], "model.quantizer must be one of"),
    (["model.channel_multipliers=3"], "must be a list"),
    (["steps"], "not of the form key=value"),
    (["model.image_size=60"], "spatial factor"),
    (["train.precision=fp8"], "precision must be one of"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(TokenizerRunConfig, preset_path("tokenizer/tiny"), override)


def test_unknown_key_in_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  chanels: 8\n")
    with pytest.raises(ConfigError, match="unknown key 'model.chanels'"):
        load_config(TokenizerRunConfig, path)


def test_missing_file_and_preset(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(TokenizerRunConfig, tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="shipped presets"):
        preset_path("tokenizer/huge")


def test_to_dict_round_trips(tmp_path):
    import yaml

    config = load_config(TokenizerRunConfig, preset_path("tokenizer/tiny"))
    path = tmp_path / "again.yaml"
    path.write_text(yaml.safe_dump(to_dict(config)))
    assert load_config(TokenizerRunConfig, path) == config


def test_precision_picks_the_autocast():
    cpu = torch.device("cpu")

    def output_dtype(precision: str) -> torch.dtype:
        with mixed_precision(cpu, precision):
            return (torch.ones(2, 2) @ torch.ones(2, 2)).dtype

    assert output_dtype("fp32") == torch.float32 and output_dtype("bf16") == torch.bfloat16
    assert output_dtype("auto") == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    with pytest.raises(ValueError, match="precision must be one of"):
        mixed_precision(cpu, "fp8")


@pytest.mark.parametrize("component", ["tokenizer", "lm"])
def test_the_shipped_model_is_the_tiny_preset(component):
    """`scripts/train_default.sh` trains the `tiny` presets and copies the results into `weights/`:
    the shipped architectures must be the presets' (with the overrides the script gives: the
    tokenizer's last decoder phase grows its decoder), or the script would not reproduce them."""
    from arvid.lm.config import LMConfig
    from arvid.lm.train import LMRunConfig
    from arvid.tokenizer import TokenizerConfig
    from arvid.weights import default_model_dir

    run_config, model_config = {"tokenizer": (TokenizerRunConfig, TokenizerConfig), "lm": (LMRunConfig, LMConfig)}[component]
    overrides = {"tokenizer": ["model.decoder_res_blocks=4"], "lm": ["model.text_encoder=all-minilm-l6-v2"]}[component]
    script = (Path(__file__).parents[1] / "scripts" / "train_default.sh").read_text()
    assert all(override in script for override in overrides)
    # The trainer reads the encoder's width into the config (arvid.lm.train.with_encoder_width).
    derived = {"tokenizer": [], "lm": ["model.text_encoder_dim=384"]}[component]
    shipped = load_config(model_config, default_model_dir(component) / "config.json")
    assert shipped == load_config(run_config, preset_path(f"{component}/tiny"), overrides + derived).model
