"""The shipped default model: small weights trained on this project's CPU, inside the package.

`tokenizer/` holds the video tokenizer and `lm/` the LM with its text tokenizer; this folder
is itself a model folder for `--model`. `default_model_dir()` finds them after `pip install .`
and `pip install -e .` alike.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def default_model_dir(component: str = "tokenizer") -> Path:
    """Folder of the shipped `component` ("tokenizer" or "lm"), holding `config.json` and `*.safetensors`.

    Raises:
        FileNotFoundError: this installation carries no such weights (the message says how to
            train them or where to point `--ckpt` / `--model`).
    """
    folder = _HERE / component
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"no shipped {component} weights at {folder}; train them (see the README, 'Training') and "
            f"pass the folder with --ckpt (tokenizer commands) or --model (a folder with lm/ and tokenizer/)"
        )
    return folder
