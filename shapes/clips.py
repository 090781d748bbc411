"""Clip sources of the shapes world, for the trainers and for building token shards.

`ShapesClips` is an `arvid.data.clips.ClipSource` (`sample(rng)`); `shapes_videos`
yields `(frames, VideoRecord)` as `arvid.data.captioned.manifest_videos` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from arvid.data.shards import CaptionSwitch, VideoRecord

if TYPE_CHECKING:
    from arvid.shapes.world import ShapeAttributes


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
                  paraphrases: int = 0, switches: float = 0.0, switch_after: int = 1, temporal_factor: int = 4,
                  anywhere: float = 0.0) -> Iterator[tuple[np.ndarray, VideoRecord]]:
    """`count` shapes videos of `frames` frames; each record holds all template phrasings of its
    caption, then `paraphrases` paraphrases in the training pool's words (`arvid.shapes.paraphrase`),
    and its attributes. A share `switches` of the videos change direction or speed at a latent frame
    drawn from those after the first `switch_after` after the anchor, to the last (`render_switched`),
    their record's `switch` captioning the new motion: the data that teaches an LM to follow a prompt
    that changes while it streams. The new motion stays in `split` (a training video never moves as a
    held-out combination). Latent frames
    are those of a causal tokenizer of `temporal_factor` (the first frame alone, then groups of it).
    An LM's `window_frames` as `switch_after` keeps every first window free of a switch, so that its
    caption always names the motion it shows (docs/results/lm.md).

    A share `anywhere` of the videos that do not switch start anywhere in the room
    (`render(anywhere=True)`: a wall may turn the object within its first frames) and are
    image-to-video examples (their record's `task`): what an LM needs to go on from a first frame it
    did not draw, a user's image or the frame on screen at a switch (`stream(switch_from="frame")`),
    while its text-to-video first windows keep starts that show their caption's direction.

    The videos and captions before any switch are the same whatever `paraphrases` and `switches`
    are (paraphrases and switches draw from generators of their own), and the same videos start
    anywhere whatever `switches` is.

    Raises:
        ValueError: `switches` or `anywhere` outside [0, 1], `switch_after` < 1, or `switches` > 0 with
            videos too short for a latent frame after `switch_after` and the anchor.
    """
    from arvid.shapes.world import draw_clip, render, render_switched

    latent_frames = (frames - 1) // temporal_factor + 1
    for name, share in (("switches", switches), ("anywhere", anywhere)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name}={share} must be a share in [0, 1]")
    if switch_after < 1:
        raise ValueError(f"switch_after={switch_after} must be >= 1 (a latent frame before the switch)")
    if switches > 0 and latent_frames < switch_after + 2:
        raise ValueError(f"a switch after {switch_after} latent frames needs {switch_after + 2} or more (anchor, "
                         f"{switch_after} before, one after); {frames} frames make {latent_frames}")
    rng = np.random.default_rng(seed)
    words = np.random.default_rng([seed, 1])
    switch_rng = np.random.default_rng([seed, 2])
    start_rng = np.random.default_rng([seed, 3])
    for _ in range(count):
        attrs, clip_seed = draw_clip(rng, split)  # as `random_clip`: the same videos without switches
        starts_anywhere = start_rng.random() < anywhere
        if switch_rng.random() >= switches:
            clip = render(attrs, frames=frames, seed=clip_seed, size=size, anywhere=starts_anywhere)
            yield clip.video, VideoRecord(_captions(attrs, paraphrases, words), dataclasses.asdict(attrs),
                                          task="image-to-video" if starts_anywhere else None)
            continue
        after = switched_motion(attrs, switch_rng, split)
        latent = int(switch_rng.integers(switch_after + 1, latent_frames))
        # Latent frame k holds video frames f(k-1)+1 to fk: every one of them moves the new way.
        first = temporal_factor * (latent - 1) + 1
        clip = render_switched(attrs, after, switch_frame=first, frames=frames, seed=clip_seed, size=size)
        switch = CaptionSwitch(latent, _captions(after, paraphrases, switch_rng), dataclasses.asdict(after))
        yield clip.video, VideoRecord(_captions(attrs, paraphrases, words), dataclasses.asdict(attrs), switch)


def switched_motion(attrs: ShapeAttributes, rng: np.random.Generator, split: str = "train") -> ShapeAttributes:
    """`attrs` with another direction, speed or both, drawn with `rng`, in `split`'s combinations
    ("all": any)."""
    from arvid.shapes.world import DIRECTIONS, SPEEDS, is_held_out

    while True:
        after = dataclasses.replace(attrs, direction=DIRECTIONS[int(rng.integers(len(DIRECTIONS)))],
                                    speed=SPEEDS[int(rng.integers(len(SPEEDS)))])
        if after != attrs and (split == "all" or is_held_out(after) == (split == "heldout")):
            return after


def _captions(attrs: ShapeAttributes, paraphrases: int, words: np.random.Generator) -> tuple[str, ...]:
    from arvid.shapes.paraphrase import paraphrase
    from arvid.shapes.world import all_phrasings

    return tuple(all_phrasings(attrs) + [paraphrase(attrs, words, "train") for _ in range(paraphrases)])
