"""Clip sources of the shapes world, for the trainers and for building token shards.

`ShapesClips` is an `arvid.data.clips.ClipSource` (`sample(rng)`); `shapes_videos`
yields `(frames, VideoRecord)` as `arvid.data.captioned.manifest_videos` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from arvid.data.shards import VideoRecord


class ShapesClips:
    """Random clips of the shapes world (`split` of its attribute combinations)."""

    def __init__(self, *, frames: int, size: int = 64, split: str = "train") -> None:
        self.frames, self.size, self.split = frames, size, split

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """-> uint8 (frames, size, size, 3)."""
        from arvid.shapes.world import render, sample_attributes

        attrs = sample_attributes(rng, self.split)
        return render(attrs, frames=self.frames, seed=int(rng.integers(2**31)), size=self.size).video


def shapes_videos(count: int, *, frames: int, split: str = "train", seed: int = 0, size: int = 64,
                  paraphrases: int = 0) -> Iterator[tuple[np.ndarray, VideoRecord]]:
    """`count` shapes videos of `frames` frames; each record holds all template phrasings of its
    caption, then `paraphrases` paraphrases in the training pool's words (`arvid.shapes.paraphrase`),
    and its attributes. The videos are the same whatever `paraphrases` is (the paraphrases draw
    from a generator of their own)."""
    from arvid.shapes.paraphrase import paraphrase
    from arvid.shapes.world import all_phrasings, random_clip

    rng = np.random.default_rng(seed)
    words = np.random.default_rng([seed, 1])
    for _ in range(count):
        clip = random_clip(rng, split, frames, size=size)
        captions = all_phrasings(clip.attrs) + [paraphrase(clip.attrs, words, "train") for _ in range(paraphrases)]
        yield clip.video, VideoRecord(tuple(captions), dataclasses.asdict(clip.attrs))
