"""The README runs as written, so it cannot rot: its Python snippets (and those of docs/) execute, every `arvid ...` command
of its bash blocks parses with the real argument parser (a renamed flag fails here), the scripts it
runs exist, and its links lead to files that exist, every page of docs/ among them."""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text()
# The Python blocks of the README and of docs/ (whose pages are checked the same way).
SNIPPETS = [(f"{path.relative_to(ROOT)} snippet {index}", code)
            for path in (README, *sorted((ROOT / "docs").rglob("*.md")))
            for index, code in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S))]
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", TEXT, flags=re.S)
SEPARATORS = {"|", "||", "&&", ";"}


def shell_commands(block: str) -> list[list[str]]:
    """The simple commands of a bash block: continuation lines joined, comments dropped, each line cut
    at pipes and `&&`, `||`, `;` (the README writes them between spaces)."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words: list[str] = []
        for word in shlex.split(line, comments=True) + [";"]:
            if word in SEPARATORS:
                if words:
                    commands.append(words)
                words = []
            else:
                words.append(word)
    return commands


def arvid_arguments(words: list[str]) -> list[str] | None:
    """The arguments the `arvid` parser gets from one command (`arvid ...`, or `torchrun ... -m
    arvid.tools.cli ...`), or None when the command does not run arvid's command line."""
    if words[0] == "arvid":
        return words[1:]
    if "-m" in words and words.index("-m") + 1 < len(words) and words[words.index("-m") + 1] == "arvid.tools.cli":
        return words[words.index("-m") + 2:]
    return None


COMMANDS = [words for block in BASH_BLOCKS for words in shell_commands(block)]
ARVID_COMMANDS = [shlex.join(words) for words in COMMANDS if arvid_arguments(words) is not None]
SCRIPTS = sorted({word for words in COMMANDS if words[0] in ("bash", "python", "python3")
                  for word in words[1:2] if word.endswith((".py", ".sh"))})
LINKS = sorted(set(re.findall(r"\]\(([^)#\s]+)\)", TEXT)) - {link for link in re.findall(r"\]\(([^)\s]+)\)", TEXT)
                                                          if "://" in link})
DOCS = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").rglob("*.md"))


@functools.cache
def parser():
    from arvid.tools.cli import build_parser

    return build_parser()


def test_readme_has_snippets_and_commands():
    assert len(SNIPPETS) >= 2
    assert len(ARVID_COMMANDS) >= 10


@pytest.mark.parametrize("name, code", SNIPPETS, ids=[name for name, _ in SNIPPETS])
def test_snippet_runs(name, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, name, "exec"), {})


@pytest.mark.parametrize("command", ARVID_COMMANDS)
def test_command_parses(command, capsys):
    arguments = arvid_arguments(shlex.split(command))
    try:
        parser().parse_args(arguments)
    except SystemExit as exit:
        pytest.fail(f"README command does not parse (exit {exit.code}): {command}\n{capsys.readouterr().err}")


def test_the_command_check_sees_every_form():
    """Pipes, `&&`, comments, continuation lines and torchrun's arvid part are all found."""
    block = ('bash scripts/setup.sh && arvid generate "a b" -o x.mp4   # note\n'
             "arvid generate x --tokens-out - | arvid decode - -o y.mp4\n"
             "torchrun --nproc_per_node 8 -m arvid.tools.cli train-lm \\\n  --config base\n")
    found = [arvid_arguments(words) for words in shell_commands(block)]
    assert found == [None, ["generate", "a b", "-o", "x.mp4"], ["generate", "x", "--tokens-out", "-"],
                     ["decode", "-", "-o", "y.mp4"], ["train-lm", "--config", "base"]]
    with pytest.raises(SystemExit):
        parser().parse_args(["generate", "a b", "--no-such-flag", "1"])


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_exists(script):
    assert (ROOT / script).is_file(), f"README runs {script}, which does not exist"


@pytest.mark.parametrize("link", LINKS)
def test_link_leads_to_a_file(link):
    assert (ROOT / link).exists(), f"README links to {link}, which does not exist"


def test_every_docs_page_is_linked_from_the_readme():
    assert set(DOCS) <= set(LINKS), f"docs pages the README does not link: {sorted(set(DOCS) - set(LINKS))}"
