"""Clip sources over manifests of real footage and photographs (`arvid.data.real_clips`), on clips and
pictures made here: no network, no downloaded data."""

from __future__ import annotations

import codecs
import json
import math

import numpy as np
import pytest
from PIL import Image

from arvid.data.camera_motion import CameraMotion, camera_path, render_path
from arvid.data.manifests import split_by_name
from arvid.data.real_clips import CameraMotionClips, ManifestClips, MixedClips, load_rgb, open_manifests
from arvid.data.video_writer import write_video

SHOT_FRAMES = 12  # each shot of the two-shot clip


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory):
    """A 48x64 clip of two shots with a hard cut at frame 12: red frames, then blue ones; within a shot
    the green channel climbs 16 a frame, so a clip's frames show their order. -> the video manifest."""
    folder = tmp_path_factory.mktemp("videos")
    frames = np.zeros((2 * SHOT_FRAMES, 48, 64, 3), np.uint8)
    for index in range(2 * SHOT_FRAMES):
        shot, within = divmod(index, SHOT_FRAMES)
        frames[index, ..., 0 if shot == 0 else 2] = 200
        frames[index, ..., 1] = 16 * within + 20
    write_video(folder / "cut.mp4", frames, fps=10)
    shots = [{"path": "cut.mp4", "start": start, "end": start + SHOT_FRAMES, "width": 64, "height": 48, "fps": 10}
             for start in (0, SHOT_FRAMES)]
    return write_jsonl(folder / "train_videos.jsonl", shots)


def textured_image(height=120, width=160):
    """Smooth colour gradients under soft ripples: every view of it is different, and bicubic
    resampling of it is close to exact."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    red = 128 + 100 * np.sin(x / 9.0) * np.cos(y / 13.0)
    green = 255 * x / width
    blue = 255 * y / height
    return np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(textured_image()).save(folder / "ripples.png")
    return write_jsonl(folder / "train_images.jsonl", [{"path": "ripples.png", "width": 160, "height": 120}])


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255**2 / max(mse, 1e-12))


# --- ManifestClips ------------------------------------------------------------------------------


def test_manifest_clips_shape_dtype_and_determinism(two_shots):
    source = ManifestClips(two_shots, frames=8, size=32)
    clip = source.sample(np.random.default_rng(3))
    assert clip.shape == (8, 32, 32, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip, source.sample(np.random.default_rng(3)))


def test_no_clip_crosses_a_cut(two_shots):
    """Every clip is all red or all blue (one shot), its frames consecutive and in order."""
    source = ManifestClips(two_shots, frames=8, size=32)
    seen_shots, starts = set(), set()
    for seed in range(30):
        clip = source.sample(np.random.default_rng(seed)).astype(np.float64)
        red, green, blue = (clip[..., channel].mean(axis=(1, 2)) for channel in range(3))
        in_red = red > blue
        assert in_red.all() or (~in_red).all(), f"seed {seed}: a clip spans the cut ({in_red})"
        steps = np.diff(green)
        assert np.all(np.abs(steps - 16) < 4), f"seed {seed}: frames not consecutive (green steps {steps})"
        seen_shots.add(bool(in_red[0]))
        starts.add(round((green[0] - 20) / 16))
    assert seen_shots == {True, False}  # both shots are drawn
    assert starts == set(range(SHOT_FRAMES - 8 + 1))  # and every start within a shot


def test_shots_shorter_than_a_clip_are_skipped(tmp_path, two_shots):
    folder = two_shots.parent
    manifest = write_jsonl(folder / "short_videos.jsonl", [
        {"path": "cut.mp4", "start": 0, "end": 5, "width": 64, "height": 48},
        {"path": "cut.mp4", "start": SHOT_FRAMES, "end": 2 * SHOT_FRAMES, "width": 64, "height": 48}])
    source = ManifestClips(manifest, frames=8, size=32)
    assert [(shot.start, shot.end) for shot in source.shots] == [(SHOT_FRAMES, 2 * SHOT_FRAMES)]
    with pytest.raises(ValueError, match="no shot .* has 13 frames"):
        ManifestClips(manifest, frames=13, size=32)


@pytest.mark.parametrize("line, error, message", [
    ("not json", ValueError, r":1: not JSON"),
    ('{"path": "cut.mp4", "start": 0, "width": 64, "height": 48}', ValueError, r":1: missing end"),
    # A list of your own captioned files that happens to be named ..._videos.jsonl: the name is why.
    ('{"path": "cut.mp4", "caption": "a cut"}', ValueError, r":1: missing start, end, width, height \(a file named "
                                                            r"\.\.\._videos\.jsonl .* is read as a prepared manifest"),
    ('{"path": "cut.mp4", "start": 5, "end": 5, "width": 64, "height": 48}', ValueError, r"end \(5\) must be > start"),
    ('{"path": "gone.mp4", "start": 0, "end": 5, "width": 64, "height": 48}', FileNotFoundError, r":1: lists missing file"),
])
def test_bad_manifest_lines_are_named(two_shots, line, error, message):
    manifest = two_shots.parent / "bad_videos.jsonl"
    manifest.write_text(line + "\n")
    with pytest.raises(error, match=message):
        ManifestClips(manifest, frames=2, size=16)


def test_every_bad_manifest_line_is_named_in_one_error(two_shots):
    good = {"path": "cut.mp4", "start": 0, "end": 5, "width": 64, "height": 48}
    lines = [json.dumps(good), "not json", json.dumps({**good, "path": "gone.mp4"}), json.dumps(good),
             json.dumps({**good, "end": 0}), json.dumps({**good, "path": "also_gone.mp4"}), "[1, 2]"]
    manifest = two_shots.parent / "bad_videos.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as caught:
        ManifestClips(manifest, frames=2, size=16)
    message = str(caught.value)
    assert message.startswith("5 of 7 lines cannot be used: ") and message.endswith("(and 2 more)")
    assert ":2: not JSON" in message and ":3: lists missing file" in message
    assert ":5: end must be an int >= 1, got 0" in message and ":1:" not in message and ":4:" not in message
    # Only missing files: said as that, all of them.
    manifest.write_text("\n".join([lines[2], lines[0], lines[5]]) + "\n")
    with pytest.raises(FileNotFoundError, match=r"^2 of 3 lines cannot be used: .*:1: lists missing file .*gone.mp4.*; "
                                                r".*:3: lists missing file .*also_gone.mp4'$"):
        ManifestClips(manifest, frames=2, size=16)


def test_a_manifest_with_a_byte_order_mark_reads_and_a_json_array_is_named(two_shots):
    good = {"path": "cut.mp4", "start": 0, "end": 5, "width": 64, "height": 48}
    manifest = two_shots.parent / "marked_videos.jsonl"
    manifest.write_bytes(codecs.BOM_UTF8 + (json.dumps(good) + "\n").encode())  # as Windows editors save UTF-8
    assert len(ManifestClips(manifest, frames=2, size=16).shots) == 1
    manifest.write_text(json.dumps([good, good], indent=1))  # a JSON array over several lines
    with pytest.raises(ValueError, match=r":1: not JSON .*\(a manifest is JSON lines: one object a line, not a JSON array\)"):
        ManifestClips(manifest, frames=2, size=16)
    manifest.write_text(json.dumps([good, good]))  # on one line
    with pytest.raises(ValueError, match=r":1: expected a JSON object .*not a JSON array\)$"):
        ManifestClips(manifest, frames=2, size=16)


# --- CameraMotionClips --------------------------------------------------------------------------


def test_camera_clips_shape_dtype_determinism_and_motion(photos):
    source = CameraMotionClips(photos, frames=9, size=32)
    for seed in range(6):
        clip = source.sample(np.random.default_rng(seed))
        assert clip.shape == (9, 32, 32, 3) and clip.dtype == np.uint8
        np.testing.assert_array_equal(clip, source.sample(np.random.default_rng(seed)))
        moved = [np.any(clip[t] != clip[t + 1]) for t in range(8)]
        assert all(moved), f"seed {seed}: some consecutive frames are identical ({moved})"
        assert np.abs(clip[0].astype(int) - clip[-1].astype(int)).mean() > 1, f"seed {seed}: the camera hardly moved"


def test_first_frame_is_a_crop_of_the_photograph(photos):
    """Without rotation, frame 0 is the first view's square of the picture, resized (PIL, independently)."""
    image = load_rgb(photos.parent / "ripples.png")
    source = CameraMotionClips(photos, frames=5, size=32, motion=CameraMotion(rotate_probability=0.0))
    for seed in range(4):
        _, path = source.sample_path(np.random.default_rng(seed))
        clip = source.sample(np.random.default_rng(seed))
        centre_x, centre_y, side, angle = path[0]
        assert angle == 0
        box = (centre_x - side / 2, centre_y - side / 2, centre_x + side / 2, centre_y + side / 2)
        expected = np.asarray(image.resize((32, 32), Image.Resampling.BICUBIC, box=box))
        assert psnr(clip[0], expected) > 30, f"seed {seed}: {psnr(clip[0], expected):.1f} dB"


def test_an_aligned_view_is_an_exact_crop():
    image = textured_image()
    path = np.array([[40 + 8, 30 + 8, 16, 0.0]])  # centre x, centre y, side, angle: pixels [30:46, 40:56]
    np.testing.assert_array_equal(render_path(Image.fromarray(image), path, 16)[0], image[30:46, 40:56])


def test_a_turned_view_turns_the_picture():
    """A quarter turn of a view is the unturned view rotated (np.rot90: counter-clockwise on screen)."""
    image = Image.fromarray(textured_image())
    straight = render_path(image, np.array([[80.0, 60.0, 32.0, 0.0]]), 32)[0]
    turned = render_path(image, np.array([[80.0, 60.0, 32.0, math.pi / 2]]), 32)[0]
    np.testing.assert_array_equal(turned, np.rot90(straight, k=1))


def test_camera_paths_stay_inside_the_picture():
    motion = CameraMotion(rotate_probability=1.0, tilt=10.0, spin_speed=2.0, pan_speed=0.2, zoom_speed=0.05)
    rng = np.random.default_rng(0)
    for _ in range(300):
        height, width = int(rng.integers(40, 400)), int(rng.integers(40, 400))
        path = camera_path(rng, frames=int(rng.integers(1, 30)), height=height, width=width, motion=motion)
        for centre_x, centre_y, side, angle in path:
            corners = np.array([[dx, dy] for dx in (-1, 1) for dy in (-1, 1)]) * side / 2
            rotated = corners @ np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
            xs, ys = rotated[:, 0] + centre_x, rotated[:, 1] + centre_y
            assert xs.min() > -1e-6 and xs.max() < width + 1e-6 and ys.min() > -1e-6 and ys.max() < height + 1e-6


def test_images_as_one_frame_videos(photos):
    source = CameraMotionClips(photos, frames=1, size=24)
    clip = source.sample(np.random.default_rng(0))
    assert clip.shape == (1, 24, 24, 3) and clip.dtype == np.uint8
    assert source.sample_path(np.random.default_rng(0))[1][0, 3] == 0  # no rotation


# --- MixedClips and manifest names --------------------------------------------------------------


class Constant:
    def __init__(self, value, frames=2, size=4):
        self.value, self.frames, self.size = value, frames, size

    def sample(self, rng):
        return np.full((self.frames, self.size, self.size, 3), self.value, np.uint8)


def test_mixed_clips_follow_the_weights():
    mixed = MixedClips([(Constant(0), 3.0), (Constant(255), 1.0)])
    rng = np.random.default_rng(0)
    picks = [mixed.sample(rng)[0, 0, 0, 0] for _ in range(2000)]
    assert abs(np.mean(np.array(picks) == 0) - 0.75) < 0.04
    again = np.random.default_rng(0)
    assert picks[:50] == [mixed.sample(again)[0, 0, 0, 0] for _ in range(50)]


@pytest.mark.parametrize("sources, message", [
    ([], "at least one"),
    ([(Constant(0), 1.0), (Constant(1), 0.0)], "weights must be > 0"),
    ([(Constant(0), 1.0), (Constant(1, frames=3), 1.0)], "different"),
])
def test_mixed_clips_refuse_bad_mixtures(sources, message):
    with pytest.raises(ValueError, match=message):
        MixedClips(sources)


def test_manifest_names_open_sources(two_shots, photos):
    from arvid.tools.data_sources import clip_source

    mixed = clip_source(f"{two_shots}+{photos}@0.5", frames=4, size=16)
    assert isinstance(mixed, MixedClips) and mixed.weights.tolist() == pytest.approx([2 / 3, 1 / 3])
    assert isinstance(open_manifests(str(photos), frames=4, size=16), CameraMotionClips)
    assert mixed.sample(np.random.default_rng(0)).shape == (4, 16, 16, 3)
    with pytest.raises(ValueError, match="weight 'x'"):
        open_manifests(f"{two_shots}@x", frames=4, size=16)


# --- the held-out split -------------------------------------------------------------------------


def records(package, count):
    return [{"name": f"{package}/picture{i}", "package": package} for i in range(count)]


def test_heldout_pictures_are_never_in_training():
    pictures = records("a", 20) + records("b", 11) + [{"name": "b/picture3", "package": "b"}]  # a variant
    train, heldout = split_by_name(pictures, fraction=0.15, seed=0, stratum="package")
    train_names, heldout_names = {r["name"] for r in train}, {r["name"] for r in heldout}
    assert not train_names & heldout_names
    assert train_names | heldout_names == {r["name"] for r in pictures} and len(train) + len(heldout) == len(pictures)
    # Each package gives its share: round(0.15 * 20) = 3, round(0.15 * 11) = 2.
    assert sorted(name.split("/")[0] for name in heldout_names) == ["a"] * 3 + ["b"] * 2
    # Fixed: the same split on every run, in any order, and whatever another package holds.
    assert split_by_name(pictures[::-1], fraction=0.15, seed=0, stratum="package")[1] == heldout[::-1]
    more = split_by_name(records("a", 20) + records("b", 11) + records("c", 7), fraction=0.15, seed=0, stratum="package")[1]
    assert {r["name"] for r in more if not r["name"].startswith("c/")} == heldout_names
    # The seed picks which.
    assert {r["name"] for r in split_by_name(pictures, fraction=0.15, seed=1, stratum="package")[1]} != heldout_names


def test_the_fetch_script_cuts_clips_into_shots(tmp_path):
    """`scripts/fetch_real_data.py`'s shot finder, on a clip made here: a black first frame (a fade
    from black, left out), then a hard cut between two moving shots."""
    import importlib.util
    from pathlib import Path

    pytest.importorskip("scenedetect")
    script = Path(__file__).resolve().parent.parent / "scripts" / "fetch_real_data.py"
    spec = importlib.util.spec_from_file_location("fetch_real_data", script)
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)

    image = textured_image(200, 240)
    frames = [np.zeros((96, 128, 3), np.uint8)]
    frames += [image[index : index + 96, 2 * index : 2 * index + 128] for index in range(20)]  # a pan
    frames += [image[::-1][index : index + 96, 100 - index : 228 - index][..., ::-1] for index in range(20)]  # another
    write_video(tmp_path / "cut.mp4", np.stack(frames), fps=10)
    found = fetch.find_shots(tmp_path / "cut.mp4")
    assert found["frames"] == 41 and found["cuts"] == [21]
    assert found["shots"] == [[1, 21], [21, 41]]


@pytest.mark.parametrize("weight", ["-1", "0", "nan", "inf", "x"])
def test_a_bad_manifest_weight_is_refused_even_for_one_source(weight, tmp_path):
    """The weight is checked before the source is built (here it never could be: no such file)."""
    with pytest.raises(ValueError, match="weight"):
        open_manifests(f"{tmp_path}/missing_videos.jsonl@{weight}", frames=1, size=8)
