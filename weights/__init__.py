"""The shipped default model: small weights trained on this project's CPU, inside the package.

`tokenizer/` holds the video tokenizer and `lm/` the LM with its text tokenizer and its
`generation_config.json` (the sampling settings `arvid generate` uses by default); this folder is
itself a model folder for `--model`. `shipped_model_dir()` and `default_model_dir()` find them after
`pip install .` and `pip install -e .` alike.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def default_model_dir(component: str = "tokenizer") -> Path:
    """Folder of the shipped `component` ("tokenizer" or "lm"), holding `config.json` and `*.safetensors`.

    Raises:
        FileNotFoundError: this installation carries no such weights (the message says how to
            train them or where to point `--tokenizer` / `--model`).
    """
    folder = _HERE / component
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"no shipped {component} weights at {folder}; train them (see the README, 'Training') and "
            f"pass the folder with --tokenizer (tokenizer commands) or --model (a folder with lm/ and tokenizer/)"
        )
    return folder


def shipped_model_dir() -> Path:
    """The shipped model folder, holding `lm/` and `tokenizer/`.

    Raises:
        FileNotFoundError: as `default_model_dir`, for the first component that is missing.
    """
    for component in ("lm", "tokenizer"):
        default_model_dir(component)
    return _HERE
