"""The shipped default model: small weights trained on this project's CPU, inside the package.

`default_model_dir()` finds them after `pip install .` and `pip install -e .` alike.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def default_model_dir(component: str = "tokenizer") -> Path:
    """Folder of the shipped `component` ("tokenizer"), holding `config.json` and `*.safetensors`.

    Raises:
        FileNotFoundError: this installation carries no such weights (the message says how to
            train them or where to point `--ckpt`).
    """
    folder = _HERE / component
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"no shipped {component} weights at {folder}; train them (see the README, 'Training') "
            f"and pass the checkpoint folder with --ckpt"
        )
    return folder
