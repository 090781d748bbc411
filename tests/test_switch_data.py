"""Training data for prompts that change mid-stream: shapes videos whose motion switches, shards that
keep both captions, LM examples that read the new caption once their window reaches the switch, and
a fine-tuning run that starts from an LM's weights."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from lm_fixtures import CODEBOOK, GRID, shapes_text_tokenizer, tiny_config, write_caption_shards

from arvid.data.shards import CaptionSwitch, TokenShards, VideoRecord, write_shards
from arvid.lm.examples import WindowExamples
from arvid.lm.train import LMRunConfig, LMTrainConfig, train_lm
from arvid.shapes.clips import shapes_videos, switched_motion
from arvid.shapes.world import DIRECTION_VECTORS, ShapeAttributes, is_held_out, render, render_switched, speed_px

RED_RIGHT = ShapeAttributes("circle", "red", "large", "right", "slow", "black")


def test_a_switched_clip_is_the_plain_clip_until_the_switch_then_moves_the_new_way():
    after = dataclasses.replace(RED_RIGHT, direction="up", speed="fast")
    plain = render(RED_RIGHT, frames=24, seed=5)
    switched = render_switched(RED_RIGHT, after, switch_frame=9, frames=24, seed=5)
    assert np.array_equal(switched.video[:9], plain.video[:9])
    assert not np.array_equal(switched.video[9:], plain.video[9:])
    # Frame 9 is one step of the new motion on from frame 8 (no wall within reach going up).
    step = np.asarray(DIRECTION_VECTORS["up"]) * speed_px("fast", 64)
    assert np.allclose(switched.positions[9] - switched.positions[8], step, atol=1e-4)
    assert np.allclose(switched.velocities[8:10], step, atol=1e-4)


def test_a_switch_keeps_the_look_and_happens_inside_the_clip():
    with pytest.raises(ValueError, match="colour differ"):
        render_switched(RED_RIGHT, dataclasses.replace(RED_RIGHT, colour="green"), switch_frame=4, frames=9, seed=0)
    for frame in (0, 9):
        with pytest.raises(ValueError, match="switch_frame"):
            render_switched(RED_RIGHT, dataclasses.replace(RED_RIGHT, speed="fast"), switch_frame=frame, frames=9,
                            seed=0)


def test_switched_motion_changes_only_direction_or_speed_and_stays_in_its_split():
    rng = np.random.default_rng(0)
    for _ in range(200):
        after = switched_motion(RED_RIGHT, rng, "train")
        assert after != RED_RIGHT and not is_held_out(after)
        assert all(getattr(after, name) == getattr(RED_RIGHT, name) for name in ("shape", "colour", "size",
                                                                                   "background"))


def test_a_share_of_shapes_videos_switch_and_the_others_are_unchanged():
    plain = list(shapes_videos(40, frames=33, seed=3, paraphrases=1))
    mixed = list(shapes_videos(40, frames=33, seed=3, paraphrases=1, switches=0.5))
    switched = [record for _, record in mixed if record.switch is not None]
    assert 10 <= len(switched) <= 30
    for (video, record), (old_video, old_record) in zip(mixed, plain, strict=True):
        assert record.attrs == old_record.attrs and record.captions == old_record.captions
        if record.switch is None:
            assert np.array_equal(video, old_video)
            continue
        assert 2 <= record.switch.latent_frame <= 8
        assert len(record.switch.captions) == 7  # 6 templates + 1 paraphrase of the new motion
        new = record.switch.attrs
        assert (new["direction"], new["speed"]) != (record.attrs["direction"], record.attrs["speed"])
        assert new["direction"].replace("-", " ") in record.switch.captions[0].replace(" and to the ", " ")
        # Nothing changes before the first frame of the switch's latent frame (after it, the new
        # motion may be the one a wall bounce gives anyway).
        first = 4 * record.switch.latent_frame - 3
        assert np.array_equal(video[:first], old_video[:first])
    late = [record.switch.latent_frame for _, record in shapes_videos(40, frames=33, seed=3, switches=0.5,
                                                                       switch_after=4) if record.switch]
    assert late and min(late) >= 5  # after 4 latent frames past the anchor: none in a first window of 4
    with pytest.raises(ValueError, match="needs 3 or more"):
        next(shapes_videos(1, frames=5, switches=0.5))
    with pytest.raises(ValueError, match="switch_after"):
        next(shapes_videos(1, frames=33, switches=0.5, switch_after=0))


def test_shards_keep_a_switch_and_refuse_one_outside_the_video(tmp_path):
    switch = CaptionSwitch(2, ("a red circle moving up",), {"direction": "up"})
    record = VideoRecord(("a red circle moving right",), {"direction": "right"}, switch)
    codes = np.zeros(GRID, dtype=np.int64)
    write_shards(tmp_path / "ok", [(codes, record)], count=1, grid=GRID, codebook_size=CODEBOOK, tokenizer_config={},
                 ends=False)
    assert TokenShards(tmp_path / "ok").records == [record]
    late = dataclasses.replace(record, switch=dataclasses.replace(switch, latent_frame=GRID[0]))
    with pytest.raises(ValueError, match="switch at 1 to 5"):
        write_shards(tmp_path / "bad", [(codes, late)], count=1, grid=GRID, codebook_size=CODEBOOK,
                     tokenizer_config={}, ends=False)


def test_a_window_that_reaches_the_switch_reads_the_new_caption(tmp_path):
    before, after = "a small red circle moving left on a black background", "a small red circle moving up on a black background"
    switch_at = 4  # windows start at 1 to 3 (6 latent frames, window 3): the first misses it
    # Latent frame t holds code t everywhere, so an example's first window frame tells its start.
    codes = np.broadcast_to(np.arange(GRID[0])[:, None, None], GRID)
    record = VideoRecord((before,), None, CaptionSwitch(switch_at, (after,)))
    write_shards(tmp_path / "shards", [(codes, record)], count=1, grid=GRID, codebook_size=CODEBOOK,
                 tokenizer_config={}, ends=False)
    config, text = tiny_config(), shapes_text_tokenizer()
    examples = WindowExamples(TokenShards(tmp_path / "shards"), text, config, caption_dropout=0.0)
    pieces = {caption: examples.vocab.text_ids(text.encode(caption)) for caption in (before, after)}
    window, prefix, frame = config.window_frames, config.prefix_len, config.tokens_per_frame
    seen = set()
    for seed in range(60):
        tokens, loss_mask = examples.example(np.random.default_rng(seed))
        start = int(examples.vocab.video_codes(tokens[prefix + frame:prefix + frame + 1]))
        read = [caption for caption, ids in pieces.items() if torch.equal(tokens[3:3 + len(ids)], ids)]
        switched = start + window - 1 >= switch_at
        assert read == [after if switched else before], (start, read)
        seen.add(read[0])
        # Under the new caption the anchor and the frames before the switch are context, never targets
        # (the sampler never draws them under it); from the switch on they are (but a first window
        # frame after a gap, as always).
        context = 1 + max(0, switch_at - start) if switched else 0
        for slot in range(1 + window):
            target = slot >= context and not (slot == 1 and start > 1)
            span = loss_mask[prefix + slot * frame:prefix + (slot + 1) * frame]
            assert bool(span.all()) == bool(span.any()) == target, (start, slot)
    assert seen == {before, after}


def test_a_fine_tuning_run_starts_from_the_weights_it_is_given(tmp_path):
    write_caption_shards(tmp_path / "train", videos=8)
    shapes_text_tokenizer().save(tmp_path)

    def config(out, **train):
        values = dict(precision="fp32", data=str(tmp_path / "train"), text_tokenizer=str(tmp_path), out_dir=str(out),
                      batch_size=4, steps=3, warmup_steps=1, lr=3e-3, eval_every=1000, checkpoint_every=1000,
                      threads=1)
        return LMRunConfig(model=tiny_config(), train=LMTrainConfig(**(values | train)))

    first = train_lm(config(tmp_path / "first"))
    # A learning rate of zero leaves the starting weights as they are (weight decay scales with it).
    tuned = train_lm(config(tmp_path / "tuned", init_from=str(first.checkpoint), lr=0.0, steps=1,
                            val_data=str(tmp_path / "train")))
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tuned.model.state_dict()[name], tensor), name
    # The weights it starts from are scored first (step 0, no training loss yet), then after its step.
    scored = [json.loads(line) for line in (tmp_path / "tuned" / "eval.jsonl").read_text().splitlines()]
    assert [line["step"] for line in scored] == [0, 1] and "train_loss" not in scored[0] and "train_loss" in scored[1]
    assert scored[0]["val_loss"] == pytest.approx(scored[1]["val_loss"], rel=1e-5)  # learning rate 0: the same weights
    other = dataclasses.replace(config(tmp_path / "other", init_from=str(first.checkpoint)),
                                model=tiny_config(dim=32))
    with pytest.raises(ValueError, match="another architecture: dim"):
        train_lm(other)
    with pytest.raises(FileNotFoundError, match="none"):
        train_lm(config(tmp_path / "missing", init_from=str(tmp_path / "none")))
