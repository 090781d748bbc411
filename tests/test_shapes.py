"""The shapes world (arvid.shapes.world) and its detector (arvid.shapes.detector)."""

from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import pytest

from arvid.shapes import detector, world as shapes
from arvid.shapes.world import ShapeAttributes

# Vocabulary order of the four attributes HELD_OUT is written in.
_COMBINATION_VOCABULARIES = (shapes.SHAPES, shapes.COLOURS, shapes.SIZES, shapes.DIRECTIONS)


def _random_attrs(count: int, seed: int, split: shapes.Split = "all") -> list[ShapeAttributes]:
    rng = np.random.default_rng(seed)
    return [shapes.sample_attributes(rng, split) for _ in range(count)]


def _object_coverage(clip: shapes.ShapesClip) -> np.ndarray:
    """Per-frame object area read back from the pixels: (t,) px."""
    background = np.asarray(shapes.BACKGROUND_RGB[clip.attrs.background], dtype=np.float64)
    colour = np.asarray(shapes.COLOUR_RGB[clip.attrs.colour], dtype=np.float64)
    contrast = colour - background
    alpha = (clip.video.astype(np.float64) - background) @ contrast / (contrast @ contrast)
    return alpha.sum(axis=(1, 2))


# --- the world --------------------------------------------------------------------------------


def test_render_is_deterministic_given_the_seed():
    attrs = ShapeAttributes("triangle", "orange", "large", "up-left", "fast", "navy")
    first = shapes.render(attrs, frames=40, seed=123)
    again = shapes.render(attrs, frames=40, seed=123)
    other = shapes.render(attrs, frames=40, seed=124)
    assert first.video.shape == (40, 64, 64, 3) and first.video.dtype == np.uint8
    assert np.array_equal(first.video, again.video)
    assert np.array_equal(first.positions, again.positions)
    assert np.array_equal(first.velocities, again.velocities)
    assert not np.array_equal(first.positions[0], other.positions[0])


def test_no_bounce_in_the_first_frames():
    for index, attrs in enumerate(_random_attrs(300, seed=1)):
        clip = shapes.render(attrs, frames=shapes.NO_BOUNCE_FRAMES + 1, seed=index)
        speed = shapes.speed_px(attrs.speed, 64)
        expected_velocity = speed * np.asarray(shapes.DIRECTION_VECTORS[attrs.direction])
        steps = np.arange(shapes.NO_BOUNCE_FRAMES + 1)[:, None]
        np.testing.assert_allclose(clip.positions, clip.positions[0] + steps * expected_velocity, atol=1e-4)
        np.testing.assert_allclose(clip.velocities, np.tile(expected_velocity, (len(steps), 1)), atol=1e-6)


def test_diagonals_move_at_the_same_speed():
    for direction, (unit_x, unit_y) in shapes.DIRECTION_VECTORS.items():
        assert np.hypot(unit_x, unit_y) == pytest.approx(1.0), direction


@pytest.mark.parametrize("shape", shapes.SHAPES)
@pytest.mark.parametrize("size", shapes.SIZES)
def test_bouncing_keeps_the_whole_object_inside_the_frame(shape, size):
    attrs = ShapeAttributes(shape, "cyan", size, "down-left" if size == "small" else "up-right", "fast", "black")
    clip = shapes.render(attrs, frames=2000, seed=7)
    radius = shapes.object_radius(size, 64)
    assert clip.radius == radius
    assert clip.positions.min() >= radius - 1e-4 and clip.positions.max() <= 64 - radius + 1e-4
    speeds = np.linalg.norm(clip.velocities, axis=1)
    np.testing.assert_allclose(speeds, shapes.speed_px("fast", 64), rtol=1e-5)
    # Both velocity components change sign: the object does bounce, off more than one wall.
    for axis in range(2):
        assert len(np.unique(np.sign(clip.velocities[:, axis]))) == 2
    # No frame clips the object: the area read back from the pixels is the same in every frame,
    # that of the full shape (up to uint8 rounding of the anti-aliased edge).
    coverage = _object_coverage(clip)
    full = shapes.SHAPE_FILL[shape] * (2 * radius) ** 2
    np.testing.assert_allclose(coverage, full, atol=1.5)


def test_training_starts_are_where_render_starts_its_clips():
    """Every clip `render` starts is a training start of its attributes; a start anywhere often is
    not; an object against the right wall is one for moving left, not right."""
    rng = np.random.default_rng(0)
    anywhere = []
    for seed in range(60):
        attrs = shapes.sample_attributes(rng, "train")
        start = shapes.render(attrs, frames=1, seed=seed).positions[0]
        assert shapes.is_training_start(attrs, start)
        anywhere.append(shapes.is_training_start(attrs, shapes.render(attrs, frames=1, seed=seed, anywhere=True).positions[0]))
    assert 0 < sum(anywhere) < len(anywhere)
    right = ShapeAttributes("circle", "red", "small", "right", "slow", "black")
    against_the_right_wall = np.array([64 - shapes.object_radius("small", 64), 32.0])
    assert not shapes.is_training_start(right, against_the_right_wall)
    assert shapes.is_training_start(dataclasses.replace(right, direction="left"), against_the_right_wall)


def test_render_rejects_bad_arguments():
    attrs = ShapeAttributes("circle", "red", "large", "right", "fast", "black")
    with pytest.raises(ValueError, match="frames"):
        shapes.render(attrs, frames=0, seed=0)
    with pytest.raises(ValueError, match="size=8"):
        shapes.render(attrs, frames=4, seed=0, size=8)
    with pytest.raises(ValueError, match="colour='purple'"):
        ShapeAttributes("circle", "purple", "large", "right", "fast", "black")
    with pytest.raises(ValueError, match="too close"):
        ShapeAttributes("circle", "white", "large", "right", "fast", "white")


def test_no_object_colour_is_near_its_background():
    combos = list(shapes.attribute_combinations("all"))
    assert min(shapes.colour_distance(a.colour, a.background) for a in combos) >= shapes.MIN_CONTRAST
    # Every colour still has at least three backgrounds, and every background at least 7 colours.
    for colour in shapes.COLOURS:
        assert len(shapes.allowed_backgrounds(colour)) >= 3, colour
    for background in shapes.BACKGROUNDS:
        assert sum(background in shapes.allowed_backgrounds(c) for c in shapes.COLOURS) >= 7, background


# --- splits -----------------------------------------------------------------------------------


def test_held_out_combinations_are_new_combinations_of_seen_values():
    total = np.prod([len(vocabulary) for vocabulary in _COMBINATION_VOCABULARIES])
    assert 0.03 <= len(shapes.HELD_OUT) / total <= 0.08
    for combination in shapes.HELD_OUT:
        for value, vocabulary in zip(combination, _COMBINATION_VOCABULARIES, strict=True):
            assert value in vocabulary, combination
    train = {attrs.combination for attrs in shapes.attribute_combinations("train")}
    heldout = {attrs.combination for attrs in shapes.attribute_combinations("heldout")}
    everything = {attrs.combination for attrs in shapes.attribute_combinations("all")}
    assert heldout == set(shapes.HELD_OUT)
    assert not train & heldout and train | heldout == everything
    # Every value, and every pair of values of two attributes, still occurs in training.
    for first, second in itertools.combinations(range(4), 2):
        seen_pairs = {(combination[first], combination[second]) for combination in train}
        wanted = set(itertools.product(_COMBINATION_VOCABULARIES[first], _COMBINATION_VOCABULARIES[second]))
        assert seen_pairs == wanted, (first, second, wanted - seen_pairs)
    # Each value is also tested: it occurs in at least one held-out combination.
    for position, vocabulary in enumerate(_COMBINATION_VOCABULARIES):
        assert {combination[position] for combination in shapes.HELD_OUT} == set(vocabulary)


def test_sampling_respects_the_split():
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert not shapes.is_held_out(shapes.sample_attributes(rng, "train"))
        assert shapes.is_held_out(shapes.sample_attributes(rng, "heldout"))
    with pytest.raises(ValueError, match="split"):
        shapes.sample_attributes(rng, "test")


# --- captions ---------------------------------------------------------------------------------


def _mentions(caption: str, words: str) -> bool:
    return re.search(rf"\b{re.escape(words)}\b", caption) is not None


def test_captions_mention_every_attribute():
    speed_words = {"slow": ("slow", "slowly"), "fast": ("fast", "quickly")}
    for attrs in shapes.attribute_combinations("all"):
        captions = shapes.all_phrasings(attrs)
        assert len(captions) == shapes.N_PHRASINGS >= 4
        assert len(set(captions)) == len(captions)
        for caption in captions:
            for words in (attrs.shape, attrs.colour, attrs.size, attrs.background + " background"):
                assert _mentions(caption, words), (caption, words)
            assert _mentions(caption, shapes.direction_words(attrs.direction)), caption
        with_speed = [c for c in captions if any(_mentions(c, w) for w in speed_words[attrs.speed])]
        assert len(with_speed) >= 3, captions
    attrs = ShapeAttributes("circle", "red", "small", "right", "slow", "black")
    assert shapes.caption(attrs, 0) == "a small red circle moving right on a black background"
    assert shapes.caption(ShapeAttributes("square", "orange", "large", "up", "fast", "gray"), 1).startswith("an orange")
    with pytest.raises(ValueError, match="phrasing"):
        shapes.caption(attrs, shapes.N_PHRASINGS)


def test_stream_is_seeded_and_yields_captioned_clips():
    def take(stream: shapes.ShapesStream, count: int) -> list[shapes.ShapesSample]:
        return list(itertools.islice(iter(stream), count))

    stream = shapes.ShapesStream(split="heldout", frames=17, seed=3)
    first, again = take(stream, 6), take(stream, 6)
    for sample, repeat in zip(first, again, strict=True):
        video, caption, attrs = sample
        assert video.shape == (17, 64, 64, 3) and video.dtype == np.uint8
        assert caption in shapes.all_phrasings(attrs)
        assert shapes.is_held_out(attrs)
        assert np.array_equal(video, repeat.video) and caption == repeat.caption
    other = take(shapes.ShapesStream(split="heldout", frames=17, seed=4), 6)
    assert any(not np.array_equal(a.video, b.video) for a, b in zip(first, other, strict=True))
    clip = shapes.random_clip(np.random.default_rng(0), "train", 5, size=32)
    assert clip.video.shape == (5, 32, 32, 3) and clip.positions.shape == clip.velocities.shape == (5, 2)


# --- detector ---------------------------------------------------------------------------------


def _pooled_agreement(videos_and_attrs) -> tuple[float, dict[str, float]]:
    """Fraction of correct summary readings over all clips and ATTRIBUTE_NAMES, and per attribute."""
    totals = dict.fromkeys(shapes.ATTRIBUTE_NAMES, 0.0)
    count = 0
    for video, attrs in videos_and_attrs:
        scores = detector.compare(detector.detect(video), attrs)
        for name in shapes.ATTRIBUTE_NAMES:
            totals[name] += scores[name]
        count += 1
    per_attribute = {name: total / count for name, total in totals.items()}
    return sum(per_attribute.values()) / len(per_attribute), per_attribute


def _clips(count: int, seed: int):
    """`count` clips of 16 frames, two thirds from the training split, one third held out."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        yield shapes.random_clip(rng, "heldout" if index % 3 == 2 else "train", 16)


def test_detector_agrees_with_ground_truth():
    pooled, per_attribute = _pooled_agreement((clip.video, clip.attrs) for clip in _clips(300, seed=10))
    assert pooled >= 0.99, per_attribute


def test_detector_reads_blurred_noisy_videos():
    rng = np.random.default_rng(11)
    degraded = (
        (detector.degrade(clip.video, rng=rng, blur=3, noise_sd=8.0), clip.attrs) for clip in _clips(300, seed=12)
    )
    pooled, per_attribute = _pooled_agreement(degraded)
    assert pooled >= 0.95, per_attribute


def test_detector_follows_a_long_bouncing_video():
    # 600 frames: many bounces, frames with the object against a wall or in a corner.
    attrs = ShapeAttributes("square", "magenta", "small", "up-left", "fast", "gray")
    clip = shapes.render(attrs, frames=600, seed=5)
    detection = detector.detect(clip.video)
    scores = detector.compare(detection, attrs)
    assert all(scores[name] == 1.0 for name in scores), scores
    assert detector.centroid_error(detection, clip) < 0.1


def test_detector_scales_with_the_frame_size():
    rng = np.random.default_rng(13)
    for _ in range(6):
        clip = shapes.random_clip(rng, "all", 16, size=128)
        scores = detector.agreement(clip)
        assert all(scores[name] == 1.0 for name in shapes.ATTRIBUTE_NAMES), (clip.attrs, scores)


def test_detector_ignores_a_smaller_distractor():
    attrs = ShapeAttributes("circle", "green", "large", "down", "slow", "white")
    clip = shapes.render(attrs, frames=16, seed=2)
    video = clip.video.copy()
    video[:, 1:4, 1:4] = shapes.COLOUR_RGB["red"]  # a 9-px red speck in a corner of every frame
    detection = detector.detect(video)
    assert detection.attributes() == {name: getattr(attrs, name) for name in shapes.ATTRIBUTE_NAMES}


def test_detector_reports_nothing_without_an_object():
    rng = np.random.default_rng(14)
    empty = np.zeros((8, 64, 64, 3), dtype=np.uint8)
    empty[...] = shapes.BACKGROUND_RGB["navy"]
    for video in (empty, detector.degrade(empty, rng=rng, blur=1, noise_sd=8.0)):
        detection = detector.detect(video)
        assert not detection.present.any()
        assert np.isnan(detection.centroids).all()
        assert detection.background == "navy"
        for name in ("shape", "colour", "size", "direction", "speed"):
            assert getattr(detection, name) is None
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(empty.astype(np.float32))


def test_largest_component_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(15)
    # Awkward sizes and a density near the percolation threshold: long, winding components.
    mask = rng.random((6, 13, 29)) < 0.45
    largest = detector._largest_component(mask)
    for frame, kept in zip(mask, largest, strict=True):
        labels, _ = ndimage.label(frame, structure=np.ones((3, 3)))
        sizes = np.bincount(labels.ravel())[1:]
        assert kept.sum() == sizes.max()
        assert len(np.unique(labels[kept])) == 1  # one whole component, nothing else


def test_parse_caption_reads_back_every_phrasing():
    # Phrasings 0 and 4 leave the speed out; the others name it.
    names_speed = [False, True, True, True, False, True]
    for attrs in shapes.attribute_combinations("all"):
        for phrasing, text in enumerate(shapes.all_phrasings(attrs)):
            expected = {name: getattr(attrs, name) for name in shapes.ATTRIBUTE_NAMES}
            if not names_speed[phrasing]:
                del expected["speed"]
            assert shapes.parse_caption(text) == expected, text


def test_parse_caption_of_free_text():
    assert shapes.parse_caption("A white circle on a black background") == {
        "shape": "circle", "colour": "white", "background": "black"}
    assert shapes.parse_caption("A small red circle moving Right.") == {
        "shape": "circle", "colour": "red", "size": "small", "direction": "right"}
    assert shapes.parse_caption("a square going up-right, on a navy background!") == {
        "shape": "square", "direction": "up-right", "background": "navy"}
    assert shapes.parse_caption("a cat playing piano") == {}
