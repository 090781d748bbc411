"""`codes.meta.json`: what `arvid tokenize` knew about the codes it saved in `codes.npy` (the
tokenizer, the frame rate, the frame size, the source), so that `arvid detokenize` decodes them
with the same tokenizer and at the clip's rate without being told. A file of that name that arvid
did not write is never overwritten."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

# Marks a meta file as arvid's own, so that one a user keeps under the same name is left alone.
KIND = "arvid codes"


@dataclasses.dataclass(frozen=True)
class CodesMeta:
    """What a codes file was made from. `tokenizer`: the `VideoTokenizer.source` of what `--tokenizer`
    named (a shipped name or an absolute folder; None in older files: the default); `fps`: the rate of the frames encoded
    (None: unknown, a still image); `tokenizer_codes`: that tokenizer's `codes_fingerprint`; `codebook`: its number
    of codes (both None in older files)."""

    tokenizer: str | None
    fps: float | None
    frames: int
    height: int
    width: int
    source: str
    tokenizer_codes: str | None = None
    codebook: int | None = None


def meta_path(codes_path: str | Path) -> Path:
    """`codes.npy` -> `codes.meta.json` beside it."""
    codes_path = Path(codes_path)
    return codes_path.with_name(f"{codes_path.stem}.meta.json")


def write_codes_meta(codes_path: str | Path, meta: CodesMeta) -> Path | None:
    """Write `meta` beside the codes file -> its path, or None (with a warning on stderr) where a
    file of that name exists that arvid did not write, or it cannot be written."""
    path = meta_path(codes_path)
    if path.exists() and read_codes_meta(codes_path) is None:
        print(f"warning: {path} exists and is not arvid's; the codes' tokenizer and frame rate were not recorded",
              file=sys.stderr)
        return None
    record = {"kind": KIND, **dataclasses.asdict(meta)}
    try:
        path.write_text(json.dumps(record, indent=1) + "\n")
    except OSError as err:
        path.unlink(missing_ok=True)  # no record of earlier codes may stay beside these (it is arvid's, above)
        print(f"warning: cannot write {path}: {err.strerror}; the codes' tokenizer and frame rate were not recorded",
              file=sys.stderr)
        return None
    return path


def read_codes_meta(codes_path: str | Path) -> CodesMeta | None:
    """The meta file beside a codes file, or None where there is none, or it is not arvid's or unreadable."""
    try:
        record = json.loads(meta_path(codes_path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("kind") != KIND:
        return None
    try:  # a field with a default may be missing (written before it existed)
        return CodesMeta(**{field.name: record[field.name] if field.default is dataclasses.MISSING
                            else record.get(field.name, field.default) for field in dataclasses.fields(CodesMeta)})
    except (KeyError, TypeError):
        return None
