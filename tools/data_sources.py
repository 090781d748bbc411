"""Clip sources named in configs, for the commands that train: the one place where a name such as
"shapes:heldout" becomes the shapes world (the general packages never import it).

    clip_source("shapes", frames=17, size=64)           # the shapes world's training combinations
    clip_source("shapes:heldout", frames=17, size=64)   # its held-out combinations
    clip_source("videos/", frames=17, size=64, fps=8)   # a folder (or text manifest) of videos and images
    clip_source("runs/real-data/train_videos.jsonl+runs/real-data/train_images.jsonl", frames=17, size=64, fps=8)
                                                        # real footage and photographs (arvid.data.real_clips)
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from arvid.data.decoded import DecodedVideos
from arvid.data.folder_clips import FileClips
from arvid.data.real_clips import CameraMotionClips, ManifestClips, MixedClips, is_manifest_name, open_manifests
from arvid.shapes.clips import ShapesClips
from arvid.shapes.world import Split
from arvid.tools.options import SHAPES_SOURCE


def clip_source(name: str, *, frames: int, size: int, fps: float | None = None, cache: DecodedVideos | None = None,
                workers: int = 0, index: str | Path | None = None
                ) -> FileClips | ShapesClips | ManifestClips | CameraMotionClips | MixedClips:
    """The clip source `name` names, its clips `frames` long and `size` pixels square: "shapes"
    (the training split of the shapes world), "shapes:SPLIT" (SPLIT one of train, heldout, all), or
    JSON-lines manifests of shots and photographs, `..._videos.jsonl` and `..._images.jsonl`, alone or
    joined by `+` with optional `@WEIGHT`s (`arvid.data.real_clips.open_manifests`), or a folder or
    text manifest of videos and images (`arvid.data.folder_clips.FileClips`, which reads its files in
    `workers` processes, and keeps what it found in `index`). Video files are read at `fps` (None:
    each at its own rate) and kept decoded in `cache`; the shapes world renders at its own 8 fps.
    The signature of `FileClips`, so it can stand for it as `train_tokenizer`'s `open_clips`.

    Raises:
        ValueError: a shapes split that does not exist; a source with no readable file (`FileClips`).
        FileNotFoundError: a path that is neither a folder nor a manifest.
    """
    if is_manifest_name(name):
        return open_manifests(name, frames=frames, size=size, fps=fps, cache=cache)
    world, _, split = name.partition(":")
    if world != SHAPES_SOURCE:
        return FileClips(name, frames=frames, size=size, fps=fps, cache=cache, workers=workers, index=index)
    split = split or "train"
    if split not in get_args(Split):
        raise ValueError(f"unknown shapes split {split!r} in {name!r}; expected one of {', '.join(get_args(Split))}")
    return ShapesClips(frames=frames, size=size, split=split)
