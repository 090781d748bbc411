"""The shipped weights: small models trained on this project's CPU, inside the package.

`tokenizer/` holds the shapes world's video tokenizer and `lm/` the LM with its text tokenizer and
its `generation_config.json` (the sampling settings `arvid generate` uses by default); this folder
is itself a model folder for `--model`. `natural_tokenizer/` holds the tokenizer trained on natural
footage, for reuse on real video (docs/model_card.md). `shipped_model_dir()`,
`default_model_dir()` and `shipped_tokenizer_dir()` find them after `pip install .` and
`pip install -e .` alike.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent

# The short names `VideoTokenizer.from_pretrained` and `--tokenizer` take, and their folders here.
SHIPPED_TOKENIZERS = {"shapes": "tokenizer", "natural": "natural_tokenizer"}


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


def shipped_tokenizer_dir(name: str) -> Path:
    """Folder of the shipped tokenizer called `name` (a key of `SHIPPED_TOKENIZERS`).

    Raises:
        ValueError: `name` is no shipped tokenizer's name (the message lists them).
        FileNotFoundError: this installation does not carry that tokenizer's weights.
    """
    if name not in SHIPPED_TOKENIZERS:
        raise ValueError(f"no shipped tokenizer is called {name!r}; the shipped ones are "
                         f"{', '.join(map(repr, SHIPPED_TOKENIZERS))}")
    folder = _HERE / SHIPPED_TOKENIZERS[name]
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"the {name!r} tokenizer is not in this installation ({folder} is missing); "
                                f"docs/model_card.md says how to train it")
    return folder


def tokenizer_name(folder: str | Path) -> str:
    """How a file of codes names the tokenizer loaded from `folder`: a shipped tokenizer's short name
    ("natural", "shapes") when it is that one's folder, else the absolute folder (the codes may be
    decoded from elsewhere)."""
    found = Path(folder).resolve()
    for name, relative in SHIPPED_TOKENIZERS.items():
        if (_HERE / relative).resolve() == found and (found / "config.json").is_file():
            return name
    return str(found)


def shipped_or_folder(path: str | Path) -> Path:
    """`path` as a folder, or the shipped tokenizer it names ("natural", "shapes"; a Path too, and
    `Path("./natural")` reads as the name) when no checkpoint folder of that name is here (a folder
    without config.json, like the source tree's `shapes/`, does not count).

    Raises:
        FileNotFoundError: `path` names a shipped tokenizer this installation does not carry.
    """
    if str(path) in SHIPPED_TOKENIZERS and not (Path(path) / "config.json").is_file():  # Path("natural") too
        return shipped_tokenizer_dir(str(path))
    return Path(path)
