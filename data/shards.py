"""Token shards: a tokenized video dataset on disk, so LM training never runs the tokenizer.

A shard folder holds
- `codes.npy`: uint16 (videos, t', h', w') codes, read as a numpy memmap;
- `videos.jsonl`: one line per video: its `captions` (one or more phrasings), for the shapes
  world its `attrs`, and for a video whose prompt changes part way its `switch` (`CaptionSwitch`);
- `meta.json`: the code grid, the codebook size, the tokenizer's config, `ends`: whether the
  videos really end at their last latent frame (files do; shapes clips are cuts of endless videos),
  `fps`, the rate the videos were read at, `tokenizer_name`, how to load that tokenizer again (a
  shipped tokenizer's name or a folder), and `tokenizer_codes`, its `codes_fingerprint` (shards
  written before these were recorded have none of them).

`write_shards` writes into a staging folder and moves it into place only when complete.
`open_shards` reads one folder, or several as one dataset (`JoinedShards`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arvid.training.checkpoint import atomic_folder, write_json


@dataclass(frozen=True)
class CaptionSwitch:
    """Captions that describe a video from latent frame `latent_frame` (>= 1) on: its prompt changed
    there (what LM training reads to learn prompts that change while streaming)."""

    latent_frame: int
    captions: tuple[str, ...]
    attrs: dict[str, str] | None = None


@dataclass(frozen=True)
class VideoRecord:
    """What a shard stores beside a video's codes: `captions` describe it from the start, or up to
    `switch.latent_frame` when it has a `switch`; `task` fixes its examples' task token; `source`,
    for a file's clip, where it came from ({"path", "start", "end"}: the file and the manifest's
    range in its own frames, so that a bad example can be traced to its file)."""

    captions: tuple[str, ...]
    attrs: dict[str, str] | None = None
    switch: CaptionSwitch | None = None
    # The task token its LM examples always carry ("image-to-video" for a video whose first frame
    # may be anywhere, as a given image's is); None: drawn among the trainer's `tasks`.
    task: str | None = None
    source: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as a `videos.jsonl` line's object (`switch` only when there is one)."""
        line: dict[str, Any] = {"captions": list(self.captions), "attrs": self.attrs}
        if self.switch is not None:
            line["switch"] = {"latent_frame": self.switch.latent_frame, "captions": list(self.switch.captions),
                              "attrs": self.switch.attrs}
        if self.task is not None:
            line["task"] = self.task
        if self.source is not None:
            line["source"] = self.source
        return line

    @classmethod
    def from_json(cls, line: dict[str, Any]) -> VideoRecord:
        """The record of a `videos.jsonl` line's object."""
        switch = line.get("switch")
        if switch is not None:
            switch = CaptionSwitch(int(switch["latent_frame"]), tuple(switch["captions"]), switch.get("attrs"))
        return cls(tuple(line["captions"]), line.get("attrs"), switch, line.get("task"), line.get("source"))


SHARD_FILES = ("codes.npy", "videos.jsonl", "meta.json")  # what makes a folder a shard folder


def is_shard_folder(path: str | Path) -> bool:
    """Whether `path` is a folder of token shards and nothing else (what `write_shards` may replace)."""
    path = Path(path)
    return path.is_dir() and sorted(entry.name for entry in path.iterdir()) == sorted(SHARD_FILES)


def write_shards(path: str | Path, videos: Iterable[tuple[np.ndarray, VideoRecord]], *, count: int,
                 grid: tuple[int, int, int], codebook_size: int, tokenizer_config: dict[str, Any], ends: bool,
                 fps: float | None = None, tokenizer_name: str | None = None,
                 tokenizer_codes: str | None = None) -> Path:
    """Write `count` videos, each (codes (t', h', w'), record), as a shard folder at `path` (`fps`:
    the rate the videos were read at; `tokenizer_name`: how to load the tokenizer; `tokenizer_codes`:
    its `VideoTokenizer.codes_fingerprint`; each recorded when known).
    The folder appears only once every video is written; an error or Ctrl-C leaves no partial folder.

    Raises:
        ValueError: a codebook too large for uint16, codes of another shape, or fewer than `count` videos.
        FileExistsError: `path` holds anything but token shards (never replaced).
    """
    if codebook_size > 2**16:
        raise ValueError(f"codebook size {codebook_size} does not fit the shards' uint16 codes")
    records = []
    with atomic_folder(path, replaces=is_shard_folder) as staging:
        codes_file = np.lib.format.open_memmap(staging / "codes.npy", mode="w+", dtype=np.uint16,
                                               shape=(count, *grid))
        for codes, record in videos:
            if tuple(codes.shape) != tuple(grid):
                raise ValueError(f"expected codes of shape {tuple(grid)}, got {tuple(codes.shape)}")
            if record.switch is not None and not 1 <= record.switch.latent_frame < grid[0]:
                raise ValueError(f"a caption switch at latent frame {record.switch.latent_frame}; videos of "
                                 f"{grid[0]} latent frames switch at 1 to {grid[0] - 1}")
            if len(records) == count:
                raise ValueError(f"more than the {count} videos announced")
            codes_file[len(records)] = codes
            records.append(record)
        if len(records) != count:
            raise ValueError(f"only {len(records)} of {count} videos were written")
        codes_file.flush()
        del codes_file
        with open(staging / "videos.jsonl", "w") as out:
            for record in records:
                out.write(json.dumps(record.to_json()) + "\n")
        write_json(staging / "meta.json", {"videos": count, "grid": list(grid), "codebook_size": codebook_size,
                                           "tokenizer": tokenizer_config, "ends": ends,
                                           **({} if fps is None else {"fps": fps}),
                                           **({} if tokenizer_name is None else {"tokenizer_name": tokenizer_name}),
                                           **({} if tokenizer_codes is None else {"tokenizer_codes": tokenizer_codes})})
    return Path(path)


class TokenShards(Sequence):
    """Read a shard folder: `shards[i]` is video i's codes (t', h', w') uint16; `records[i]` its record.

    Raises:
        FileNotFoundError: the folder or one of its files is missing.
        ValueError: the files disagree with each other, or one is truncated or corrupt (named).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{str(self.path)!r} does not exist: expected a token shard folder (write "
                                    "one with `arvid tokenize-dataset`)")
        for name in SHARD_FILES:
            if not (self.path / name).is_file():
                raise FileNotFoundError(f"{str(self.path)!r} is not a token shard folder: {name} is missing "
                                        "(write one with `arvid tokenize-dataset`)")
        name = "meta.json"
        try:  # numpy and json name no file in their errors (a truncated codes.npy: "mmap length is greater...")
            self.meta = json.loads((self.path / name).read_text())
            name = "codes.npy"
            self.codes = np.load(self.path / name, mmap_mode="r")
            name = "videos.jsonl"
            lines = (self.path / name).read_text().splitlines()
            self.records = [VideoRecord.from_json(line) for line in map(json.loads, lines)]
        except (ValueError, KeyError, TypeError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ValueError(f"{str(self.path / name)!r} is truncated or corrupt ({err}): write the shards again with "
                             f"`arvid tokenize-dataset`") from None
        if len(self.records) != len(self.codes) or list(self.codes.shape[1:]) != self.meta["grid"]:
            raise ValueError(f"{str(self.path)!r}: codes {self.codes.shape}, {len(self.records)} records and "
                             f"grid {self.meta['grid']} disagree")

    @property
    def codebook_size(self) -> int:
        """Codes are in [0, codebook_size)."""
        return int(self.meta["codebook_size"])

    @property
    def grid(self) -> tuple[int, int, int]:
        """(latent frames, height, width) of every video's codes."""
        return tuple(self.meta["grid"])

    @property
    def ends(self) -> bool:
        """Whether the videos really end at their last latent frame (files do, shapes clips do not)."""
        return bool(self.meta["ends"])

    @property
    def fps(self) -> float | None:
        """The frame rate the videos were read at; None where unrecorded (or each file's own, mixed)."""
        return self.meta.get("fps")

    @property
    def tokenizer_name(self) -> str | None:
        """How to load the tokenizer that wrote the codes (a shipped name or a folder); None where unrecorded."""
        return self.meta.get("tokenizer_name")

    @property
    def tokenizer_codes(self) -> str | None:
        """The `codes_fingerprint` of the tokenizer that wrote the codes; None where unrecorded."""
        return self.meta.get("tokenizer_codes")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.codes[index]


def same_rate(first: float | None, second: float | None) -> bool:
    """Whether two recorded frame rates can be one dataset's: equal to a millionth, or either unknown."""
    return first is None or second is None or abs(first - second) <= 1e-6 * max(first, second)


def same_videos(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether two records of videos ({"fps", "tokenizer_codes"}, each optional: an LM's
    training_data.json, `videos_record`) can be one dataset's: the same rate and encoder where both
    record them."""
    codes = (first.get("tokenizer_codes"), second.get("tokenizer_codes"))
    return same_rate(first.get("fps"), second.get("fps")) and (None in codes or codes[0] == codes[1])


def videos_record(shards: TokenShards | JoinedShards) -> dict[str, Any]:
    """What `shards` record of their videos -> {"fps", "tokenizer", "tokenizer_codes"} (each where known)."""
    return {key: value for key, value in (("fps", shards.fps), ("tokenizer", shards.tokenizer_name),
                                          ("tokenizer_codes", shards.tokenizer_codes)) if value is not None}


def _same_record(first: Any, second: Any) -> bool:
    """Whether two folders' values of one meta key agree; two dicts (the tokenizer records) over the
    fields both hold: a config leaves out the field its choices make unused, and older folders hold it."""
    if isinstance(first, dict) and isinstance(second, dict):
        return all(first[field] == second[field] for field in first.keys() & second.keys())
    return first == second


class JoinedShards(Sequence):
    """Several shard folders read as one dataset: video indices run through `parts` in order.

    Lets a dataset grow by another folder (new videos of the same kind, encoded by the same
    tokenizer) without rewriting the folders already there.

    Raises:
        ValueError: no parts, or parts whose grids, codebooks, `ends` or tokenizers differ, or whose
            videos were read at different frame rates (where both record one).
    """

    def __init__(self, parts: Sequence[TokenShards]) -> None:
        if not parts:
            raise ValueError("JoinedShards needs at least one shard folder")
        first = parts[0]
        for part in parts[1:]:
            for key in ("grid", "codebook_size", "ends", "tokenizer"):
                if not _same_record(part.meta.get(key), first.meta.get(key)):
                    raise ValueError(f"shard folders {str(first.path)!r} and {str(part.path)!r} differ in {key!r}: "
                                     f"{first.meta.get(key)!r} against {part.meta.get(key)!r}")
        if len({part.tokenizer_codes for part in parts} - {None}) > 1:
            raise ValueError(f"shard folders {' and '.join(str(part.path) for part in parts)} were encoded by "
                             f"tokenizers of the same design but other encoder weights: their codes mean different things")
        rates = sorted({part.fps for part in parts} - {None})
        if not all(same_rate(rate, rates[0]) for rate in rates):  # one LM learns one pace of motion
            raise ValueError(f"shard folders {' and '.join(str(part.path) for part in parts)} were read at different "
                             f"frame rates ({', '.join(f'{rate:g}' for rate in rates)} fps)")
        self.parts = tuple(parts)
        self.path = " + ".join(str(part.path) for part in parts)  # names the dataset in error messages
        self.records = [record for part in parts for record in part.records]
        self._starts = np.cumsum([0] + [len(part) for part in parts])
        self.meta = {**first.meta, "videos": len(self.records)}  # the parts agree on every other key read

    # The same properties as one folder's: they read only `meta`.
    grid = TokenShards.grid
    codebook_size = TokenShards.codebook_size
    ends = TokenShards.ends
    tokenizer_name = TokenShards.tokenizer_name

    @property
    def fps(self) -> float | None:
        """The parts' frame rate (they agree where recorded); None where none records one."""
        return next((part.fps for part in self.parts if part.fps is not None), None)

    @property
    def tokenizer_codes(self) -> str | None:
        """The parts' tokenizer fingerprint (they agree where recorded); None where none records one."""
        return next((part.tokenizer_codes for part in self.parts if part.tokenizer_codes is not None), None)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(f"video {index} of {len(self)}")
        index %= len(self)
        part = int(np.searchsorted(self._starts, index, side="right")) - 1
        return self.parts[part][index - int(self._starts[part])]


def open_shards(paths: str | Path | Sequence[str | Path]) -> TokenShards | JoinedShards:
    """One shard folder, or several read as one (`JoinedShards`), from a path or a list of paths.

    Raises:
        FileNotFoundError: a folder that is not a shard folder.
        ValueError: folders that do not fit together.
    """
    if isinstance(paths, (str, Path)):
        return TokenShards(paths)
    parts = [TokenShards(path) for path in paths]
    return parts[0] if len(parts) == 1 else JoinedShards(parts)
