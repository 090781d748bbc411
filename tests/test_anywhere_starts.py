"""Image-to-video training data: shapes videos that start anywhere in the room (a wall may turn the
object at once, as in a first frame a user gives or a switch takes from the screen), recorded as
image-to-video examples, while text-to-video examples keep their task tokens apart."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from lm_fixtures import CODEBOOK, GRID, shapes_text_tokenizer, tiny_config

from arvid.data.shards import TokenShards, VideoRecord, write_shards
from arvid.lm.examples import WindowExamples
from arvid.lm.train import LMTrainConfig
from arvid.shapes.clips import shapes_videos
from arvid.shapes.world import NO_BOUNCE_FRAMES, ShapeAttributes, render

FAST_RIGHT = ShapeAttributes("circle", "red", "large", "right", "fast", "black")


def _turns_within_first_frames(clip) -> bool:
    """Whether a wall turns the object within its first NO_BOUNCE_FRAMES steps."""
    signs = np.sign(clip.velocities[:NO_BOUNCE_FRAMES + 1])
    return bool((signs != signs[0]).any())


def test_a_clip_that_starts_anywhere_may_turn_at_once_and_a_plain_one_never_does():
    plain = [render(FAST_RIGHT, frames=NO_BOUNCE_FRAMES + 1, seed=seed) for seed in range(200)]
    anywhere = [render(FAST_RIGHT, frames=NO_BOUNCE_FRAMES + 1, seed=seed, anywhere=True) for seed in range(200)]
    assert not any(_turns_within_first_frames(clip) for clip in plain)
    turned = np.mean([_turns_within_first_frames(clip) for clip in anywhere])
    assert 0.2 < turned < 0.9  # a fast object crosses much of the room in 16 frames
    # Plain starts leave the object room to move right; anywhere starts reach the far wall's side too.
    assert max(clip.positions[0, 0] for clip in anywhere) > max(clip.positions[0, 0] for clip in plain) + 5


def test_a_share_of_shapes_videos_start_anywhere_as_image_to_video_examples():
    plain = list(shapes_videos(60, frames=17, seed=5, size=32))
    mixed = list(shapes_videos(60, frames=17, seed=5, size=32, anywhere=0.5))
    moved = 0
    for (video, record), (old_video, old_record) in zip(mixed, plain, strict=True):
        assert record.attrs == old_record.attrs and record.captions == old_record.captions
        if record.task is None:
            assert np.array_equal(video, old_video)
        else:
            assert record.task == "image-to-video"
            moved += not np.array_equal(video, old_video)
    assert 15 <= moved <= 45
    # Switching videos draw from generators of their own: the same videos start anywhere.
    with_switches = list(shapes_videos(60, frames=17, seed=5, size=32, anywhere=0.5, switches=0.3))
    assert [record.task for _, record in with_switches if record.switch is None] == \
        [record.task for (_, record), (_, other) in zip(mixed, with_switches) if other.switch is None]
    with pytest.raises(ValueError, match="anywhere"):
        next(shapes_videos(1, frames=17, anywhere=1.5))


def test_a_records_task_fixes_its_examples_task_token_and_the_others_draw_from_tasks(tmp_path):
    codes = np.zeros(GRID, dtype=np.int64)
    anywhere = VideoRecord(("a red circle moving right",), task="image-to-video")
    plain = VideoRecord(("a blue square moving up",))
    write_shards(tmp_path / "shards", [(codes, anywhere), (codes, plain)], count=2, grid=GRID, codebook_size=CODEBOOK,
                 tokenizer_config={}, ends=False)
    shards = TokenShards(tmp_path / "shards")
    assert shards.records == [anywhere, plain]  # the task survives the round trip
    examples = WindowExamples(shards, shapes_text_tokenizer(), tiny_config(), caption_dropout=0.0,
                              tasks=("text-to-video", "continuation"))
    vocab = examples.vocab
    by_caption = {record.captions[0]: vocab.text_ids(shapes_text_tokenizer().encode(record.captions[0]))
                  for record in (anywhere, plain)}
    seen = {caption: set() for caption in by_caption}
    for seed in range(80):
        tokens = examples.example(np.random.default_rng(seed)).tokens
        caption = next(c for c, ids in by_caption.items() if (tokens[3:3 + len(ids)] == ids).all())
        task = next(name for name in ("text-to-video", "image-to-video", "continuation")
                    if int(vocab.task_id(name)) in tokens[:3].tolist())
        seen[caption].add(task)
    assert seen == {"a red circle moving right": {"image-to-video"},
                    "a blue square moving up": {"text-to-video", "continuation"}}


def test_unknown_tasks_are_refused(tmp_path):
    with pytest.raises(ValueError, match="tasks must be some of"):
        LMTrainConfig(tasks=("text-to-video", "painting"))
    with pytest.raises(ValueError, match="tasks must be some of"):
        LMTrainConfig(tasks=())
    record = dataclasses.replace(VideoRecord(("a red circle",)), task="painting")
    write_shards(tmp_path / "bad", [(np.zeros(GRID, dtype=np.int64), record)], count=1, grid=GRID,
                 codebook_size=CODEBOOK, tokenizer_config={}, ends=False)
    with pytest.raises(ValueError, match="records name the tasks"):
        WindowExamples(TokenShards(tmp_path / "bad"), shapes_text_tokenizer(), tiny_config())


def test_a_given_anchor_is_a_target_only_under_text_to_video_when_asked(tmp_path):
    codes = np.zeros(GRID, dtype=np.int64)
    write_shards(tmp_path / "shards", [(codes, VideoRecord(("a red circle moving right",)))], count=1, grid=GRID,
                 codebook_size=CODEBOOK, tokenizer_config={}, ends=False)
    shards, config = TokenShards(tmp_path / "shards"), tiny_config()
    anchor = slice(config.prefix_len, config.prefix_len + config.tokens_per_frame)
    for given_anchor_targets in (True, False):
        examples = WindowExamples(shards, shapes_text_tokenizer(), config, caption_dropout=0.0,
                                  given_anchor_targets=given_anchor_targets)
        by_task = {}
        for seed in range(60):
            sequence = examples.example(np.random.default_rng(seed))
            task = next(name for name in ("text-to-video", "image-to-video", "continuation")
                        if int(examples.vocab.task_id(name)) == int(sequence.tokens[1]))
            by_task.setdefault(task, []).append(sequence.loss_mask)
        assert set(by_task) == {"text-to-video", "image-to-video", "continuation"}
        for task, masks in by_task.items():
            targets = given_anchor_targets or task == "text-to-video"
            assert all(bool(mask[anchor].all()) == targets and bool(mask[anchor].any()) == targets for mask in masks)
            # The window's last frame is a target either way.
            assert all(mask[-config.tokens_per_frame:].all() for mask in masks)
