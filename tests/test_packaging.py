"""A non-editable install (`pip install .`, as the README offers) carries the presets and the shipped
weights inside the package, so `arvid generate` works from the wheel alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_the_presets_and_every_shipped_weight_file(tmp_path):
    # Built from a copy, so setuptools' build/ folder lands in tmp_path, not in the checkout.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "runs", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "wheel"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("arvid-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"arvid/weights/{path.relative_to(ROOT / 'weights').as_posix()}"
               for path in (ROOT / "weights").rglob("*") if path.is_file() and path.suffix in {".json", ".safetensors"}}
    presets = {f"arvid/configs/{path.relative_to(ROOT / 'configs').as_posix()}" for path in (ROOT / "configs").rglob("*.yaml")}
    assert {"arvid/weights/lm/model.safetensors", "arvid/weights/tokenizer/model.safetensors",
            "arvid/weights/natural_tokenizer/model.safetensors"} <= shipped
    assert presets and shipped <= names and presets <= names, sorted((shipped | presets) - names)
