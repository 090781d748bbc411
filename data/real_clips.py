"""Training clips from real footage and photographs, from the JSON-lines manifests that
`scripts/fetch_real_data.py` writes (`arvid.data.manifests`; docs/training.md, "Real footage (data
preparation)").

    ManifestClips("runs/real-data/train_videos.jsonl", frames=17, size=64, fps=8)  # clips inside one shot
    CameraMotionClips("runs/real-data/train_images.jsonl", frames=17, size=64)     # a photograph, moving camera
    MixedClips([(videos, 3.0), (photos, 1.0)])                                      # a source per clip, by weight

`ShotClips` and `PhotoClips` draw from lists of shots and photographs, wherever they come from (the
manifests here, or a folder: `arvid.data.folder_clips.FileClips`). Every `sample(rng)` returns uint8
(frames, size, size, 3) (t h w c) and draws only from `rng`, so a trainer that seeds the generator
by step resumes on the same batches.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from arvid.data.camera_motion import DEFAULT_MOTION, CameraMotion, camera_path, render_path
from arvid.data.clips import ClipSource
from arvid.data.decoded import DecodedVideos, working_size
from arvid.data.manifests import Photo, Shot, read_photos, read_shots, shots_at_rate


# --- video shots --------------------------------------------------------------------------------


DEFAULT_ZOOM = (1.0, 1.5)  # crops from the whole short side down to two thirds of it


def decode_short_side(size: int, zoom: tuple[float, float]) -> int:
    """The short side a file is decoded at so that a crop at the largest zoom is `size` pixels of it."""
    return math.ceil(size * zoom[1])


class ShotClips:
    """Random clips of `frames` frames from `shots`, never across a shot's ends. Each clip is a
    square view of the frames, its side the short side divided by a zoom drawn log-uniformly from
    `zoom` (1: the whole short side in view), at a random place, resized to `size` x `size`: random
    crops at several scales.

    Every clip window of every shot is equally likely: a shot with more frames gives more clips.
    Shots shorter than `frames` are skipped; if none is long enough, the constructor says so.
    Files are decoded at `fps` (None: their own rate; the shots' frames must be counted at it) with
    their short side `decode_short_side(size, zoom)`, whole and kept in `cache` when they fit there
    (`arvid.data.decoded.DecodedVideos`: a clip is the same either way).

    Raises:
        ValueError: no usable shot (the message names `origin`), or a bad `zoom`.
    """

    def __init__(self, shots: Sequence[Shot], *, frames: int, size: int, fps: float | None = None,
                 zoom: tuple[float, float] = DEFAULT_ZOOM, cache: DecodedVideos | None = None,
                 origin: str = "the shots") -> None:
        if not 1 <= zoom[0] <= zoom[1]:
            raise ValueError(f"zoom must be (low, high) with 1 <= low <= high, got {zoom!r}")
        self.frames, self.size, self.fps, self.zoom = frames, size, fps, zoom
        self.short_side = decode_short_side(size, zoom)
        self.cache = DecodedVideos() if cache is None else cache
        self.shots = [shot for shot in shots if shot.end - shot.start >= frames]
        if not self.shots:
            longest = max((shot.end - shot.start for shot in shots), default=0)
            rate = f" at {fps:g} fps" if fps is not None else ""
            raise ValueError(f"no shot in {origin} has {frames} frames{rate} (longest: {longest})")
        windows = np.array([shot.end - shot.start - frames + 1 for shot in self.shots], dtype=np.float64)
        self.weights = windows / windows.sum()

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """-> uint8 (frames, size, size, 3).

        Raises:
            ValueError: the file holds fewer frames than its shot says.
            arvid.data.video.VideoReadError: the file cannot be decoded.
        """
        shot = self.shots[int(rng.choice(len(self.shots), p=self.weights))]
        start = shot.start + int(rng.integers(shot.end - shot.start - self.frames + 1))
        zoom = math.exp(rng.uniform(math.log(self.zoom[0]), math.log(self.zoom[1])))
        height, width = working_size(shot.height, shot.width, self.short_side)
        side = self.short_side / zoom  # of the view, in decoded pixels: >= size
        # Whole-pixel places: at the largest zoom the view is then an exact crop, not a resampling.
        top, left = int(rng.integers(math.floor(height - side) + 1)), int(rng.integers(math.floor(width - side) + 1))
        video = self.cache.window(shot.path, fps=self.fps, size=(height, width), start=start, count=self.frames,
                                  frames=shot.file_frames)
        if len(video) < self.frames:
            raise ValueError(f"{str(shot.path)!r} yields {len(video)} frames from {start}, fewer than "
                             f"{self.frames} (its shot ends at frame {shot.end})")
        box = (left, top, left + side, top + side)
        return np.stack([np.asarray(Image.fromarray(frame).resize((self.size, self.size), Image.Resampling.BICUBIC,
                                                                  box=box)) for frame in video])


class ManifestClips(ShotClips):
    """`ShotClips` from the shots of a video manifest (`read_shots`). With `fps`, each shot's range
    is carried to that rate (`shots_at_rate`) from its file's rate: the manifest line's `fps`, or the
    file's header where the line has none.

    Raises:
        FileNotFoundError, ValueError: as `read_shots`; ValueError for no usable shot or a bad `zoom`.
        arvid.data.video.VideoReadError: with `fps`, a file whose header gives no rate.
    """

    def __init__(self, manifest: str | Path, *, frames: int, size: int, fps: float | None = None,
                 zoom: tuple[float, float] = DEFAULT_ZOOM, cache: DecodedVideos | None = None) -> None:
        shots = read_shots(manifest)
        if fps is not None:
            shots = shots_at_rate(shots, fps)
        # Each file's length: where its last shot ends (what the manifest knows of it).
        lengths: dict[Path, int] = {}
        for shot in shots:
            lengths[shot.path] = max(lengths.get(shot.path, 0), shot.end)
        shots = [dataclasses.replace(shot, file_frames=lengths[shot.path]) for shot in shots]
        super().__init__(shots, frames=frames, size=size, fps=fps, zoom=zoom, cache=cache, origin=repr(str(manifest)))


# --- photographs under a moving camera ----------------------------------------------------------

def load_rgb(path: Path) -> Image.Image:
    """An image file as an RGB PIL image, upright (its EXIF orientation applied, as `read_video`
    applies a video's display rotation; a phone stores portrait photographs sideways); grey and
    palette images converted; 16-bit and float grey scaled to 8 bits, which PIL's own conversion
    would clip: a mid-grey 16-bit photograph turned white."""
    with Image.open(path) as stored:
        image = ImageOps.exif_transpose(stored)
        if image.mode.startswith("I;16") or image.mode in ("I", "F"):
            values = np.nan_to_num(np.asarray(image, dtype=np.float32))
            if image.mode.startswith("I;16"):
                top = 65535.0
            else:  # 32-bit or float: its own range, unless it fits 8 bits (or [0, 1] for floats)
                top = max(float(values.max()), 1.0 if image.mode == "F" else 255.0)
            grey = np.clip(np.round(values / top * 255), 0, 255).astype(np.uint8)
            return Image.fromarray(grey).convert("RGB")
        return image.convert("RGB")


class PhotoClips:
    """Videos made from `photos` by a synthetic camera: pans, zooms and small rotations at varied
    speeds over random crops at several scales (`CameraMotion`, `camera_path`). With `frames == 1`,
    random crops: images as one-frame videos, as in MAGVIT-v2's joint image-video training.

    Raises:
        ValueError: no photograph.
    """

    def __init__(self, photos: Sequence[Photo], *, frames: int, size: int, motion: CameraMotion = DEFAULT_MOTION) -> None:
        if not photos:
            raise ValueError("PhotoClips needs at least one photograph")
        self.frames, self.size, self.motion = frames, size, motion
        self.photos = list(photos)

    def sample_path(self, rng: np.random.Generator) -> tuple[Photo, np.ndarray]:
        """-> (the photograph, its camera path (frames, 4)): what `sample` renders, drawn the same way."""
        photo = self.photos[int(rng.integers(len(self.photos)))]
        return photo, camera_path(rng, frames=self.frames, height=photo.height, width=photo.width, motion=self.motion)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """-> uint8 (frames, size, size, 3).

        Raises:
            ValueError: the file's size is not the one its manifest line gives.
        """
        photo, path = self.sample_path(rng)
        image = load_rgb(photo.path)
        if (image.height, image.width) != (photo.height, photo.width):
            raise ValueError(f"{str(photo.path)!r} is {image.height}x{image.width}, its manifest line says "
                             f"{photo.height}x{photo.width}")
        return render_path(image, path, self.size)


class CameraMotionClips(PhotoClips):
    """`PhotoClips` from the photographs of an image manifest (`read_photos`).

    Raises:
        FileNotFoundError, ValueError: as `read_photos`.
    """

    def __init__(self, manifest: str | Path, *, frames: int, size: int, motion: CameraMotion = DEFAULT_MOTION) -> None:
        super().__init__(read_photos(manifest), frames=frames, size=size, motion=motion)


# --- mixtures -----------------------------------------------------------------------------------


class MixedClips:
    """Each clip from one of `sources`, picked with probability proportional to its weight.

    Raises:
        ValueError: no source, a weight that is not > 0 and finite, or sources whose clips differ
            in `frames` or `size`.
    """

    def __init__(self, sources: Sequence[tuple[ClipSource, float]]) -> None:
        if not sources:
            raise ValueError("MixedClips needs at least one (source, weight)")
        weights = np.array([weight for _, weight in sources], dtype=np.float64)
        if not np.all(np.isfinite(weights) & (weights > 0)):
            raise ValueError(f"weights must be > 0 and finite, got {weights.tolist()}")
        shapes = {(source.frames, source.size) for source, _ in sources}
        if len(shapes) > 1:
            raise ValueError(f"sources make clips of different (frames, size): {sorted(shapes)}")
        self.sources = [source for source, _ in sources]
        self.frames, self.size = next(iter(shapes))
        self.weights = weights / weights.sum()

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """-> uint8 (frames, size, size, 3) from the source drawn."""
        return self.sources[int(rng.choice(len(self.sources), p=self.weights))].sample(rng)


# --- names in configs ---------------------------------------------------------------------------

VIDEO_MANIFEST_SUFFIX, IMAGE_MANIFEST_SUFFIX = "_videos.jsonl", "_images.jsonl"


def manifest_parts(name: str) -> list[tuple[str, str]]:
    """`"A_videos.jsonl+B_images.jsonl@0.5"` -> [("A_videos.jsonl", ""), ("B_images.jsonl", "0.5")]
    (`join_manifest_parts` puts them back)."""
    return [(part.rpartition("@")[0], part.rpartition("@")[2]) if "@" in part else (part, "") for part in name.split("+")]


def join_manifest_parts(parts: list[tuple[str, str]]) -> str:
    """[(path, weight text), ...] -> the name `manifest_parts` read them from."""
    return "+".join(path + (f"@{weight}" if weight else "") for path, weight in parts)


def is_manifest_name(name: str) -> bool:
    """Whether `name` names manifests (`open_manifests`): every `+`-joined part a path ending in
    `_videos.jsonl` or `_images.jsonl`, optionally followed by `@WEIGHT`."""
    return all(path.endswith((VIDEO_MANIFEST_SUFFIX, IMAGE_MANIFEST_SUFFIX)) for path, _ in manifest_parts(name))


def open_manifests(name: str, *, frames: int, size: int, fps: float | None = None,
                   cache: DecodedVideos | None = None) -> ManifestClips | CameraMotionClips | MixedClips:
    """The clip source that `name` names: a video manifest (`..._videos.jsonl`: `ManifestClips`, read
    at `fps`, None: each file's own rate), an image manifest (`..._images.jsonl`: `CameraMotionClips`),
    or several joined by `+`, each optionally weighted `PATH@WEIGHT` (default 1), mixed by weight
    (`MixedClips`). The video manifests share `cache` (None: one of the default size).

        open_manifests("runs/real-data/train_videos.jsonl+runs/real-data/train_images.jsonl@0.5", frames=17, size=64)

    Raises:
        ValueError: a part that is not such a manifest, or a weight that is not a positive number;
            else as the sources' constructors.
        FileNotFoundError: a manifest, or a file it lists, is missing.
    """
    sources: list[tuple[ClipSource, float]] = []
    cache = DecodedVideos() if cache is None else cache
    for path, weight_text in manifest_parts(name):
        try:  # the weight first: a bad one fails before a slow source is built
            weight = float(weight_text) if weight_text else 1.0
        except ValueError:
            raise ValueError(f"weight {weight_text!r} of {path!r} in {name!r} is not a number") from None
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"weight {weight_text!r} of {path!r} in {name!r} must be a positive number")
        if path.endswith(VIDEO_MANIFEST_SUFFIX):
            source: ClipSource = ManifestClips(path, frames=frames, size=size, fps=fps, cache=cache)
        elif path.endswith(IMAGE_MANIFEST_SUFFIX):
            source = CameraMotionClips(path, frames=frames, size=size)
        else:
            raise ValueError(f"{path!r} in {name!r} is not a manifest ending in "
                             f"{VIDEO_MANIFEST_SUFFIX} or {IMAGE_MANIFEST_SUFFIX}")
        sources.append((source, weight))
    return sources[0][0] if len(sources) == 1 else MixedClips(sources)
