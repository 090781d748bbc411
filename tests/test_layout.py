"""The package arrows of docs/design.md, read from the source: every `import arvid.X` (at the top of
a module or inside a function) must point along an allowed arrow, so the layout cannot drift."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> the arvid packages it may import (besides itself). Nothing general imports `shapes`
# (the evaluation wing) or `tools` (the command line); `kernels` knows nothing of models.
ALLOWED = {
    "configs": set(),
    "weights": set(),
    "training": {"configs"},
    "data": {"configs", "training"},
    "kernels": set(),
    "metrics": {"data"},
    "tokenizer": {"configs", "weights", "training", "data", "metrics"},
    "lm": {"configs", "training", "data", "kernels"},
    "sampling": {"lm", "tokenizer", "kernels"},
    "shapes": {"data", "metrics"},
    "tools": {"configs", "weights", "training", "data", "kernels", "metrics", "tokenizer", "lm", "sampling", "shapes"},
}


def arvid_imports(path: Path) -> set[str]:
    """The arvid packages a module imports (`arvid.lm.model` -> "lm"), wherever the import stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "arvid" and len(parts) > 1 and parts[1] in ALLOWED:
                found.add(parts[1])
    return found


def package_modules() -> list[tuple[str, Path]]:
    return [(package, path) for package in ALLOWED for path in sorted((ROOT / package).rglob("*.py"))]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_arrows(package):
    wrong = []
    for owner, path in package_modules():
        if owner != package:
            continue
        for target in arvid_imports(path) - ALLOWED[package] - {package}:
            wrong.append(f"{path.relative_to(ROOT)} imports arvid.{target}")
    assert not wrong, "arrows that point the wrong way (see docs/design.md):\n" + "\n".join(wrong)


def test_every_package_folder_is_in_the_table():
    """A new package folder must be placed in the arrows before it can be used."""
    mapped = {line.split('"')[1].removeprefix("arvid.") for line in
              (ROOT / "pyproject.toml").read_text().split("package-dir = {")[1].split("}")[0].split(",")}
    assert mapped - {"arvid"} == set(ALLOWED)


def test_the_check_finds_a_wrong_arrow(tmp_path):
    """The reader sees imports inside functions too (the test above would pass vacuously otherwise)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from arvid.shapes.world import render\n    import arvid.tools.cli\n")
    assert arvid_imports(module) == {"shapes", "tools"}
