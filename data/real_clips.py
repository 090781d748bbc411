"""Training clips from real footage and photographs, read from the JSON-lines manifests that
`scripts/fetch_real_data.py` writes (docs/training.md, "Real footage (data preparation)").

A manifest holds one JSON object a line; `path` is relative to the manifest's folder.

    videos: {"path", "start", "end", "width", "height", ...}: frames [start, end) of one shot of a file
    images: {"path", "width", "height", ...}: one photograph

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
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from arvid.data.clips import ClipSource
from arvid.data.decoded import DecodedVideos, working_size


# --- manifests ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Shot:
    """Frames [start, end) of the video at `path`, one shot (no hard cut inside); `height` and
    `width` are the file's frame size. `fps` is the rate the frames are counted at (None: the
    file's own, not known), `file_frames` the file's length at that rate (0: not known)."""

    path: Path
    start: int
    end: int
    height: int
    width: int
    fps: float | None = None
    file_frames: int = 0


@dataclass(frozen=True, kw_only=True)
class Photo:
    """One still image at `path`, `height` x `width` pixels."""

    path: Path
    height: int
    width: int


def read_manifest(manifest: str | Path, required: Sequence[str]) -> list[dict]:
    """The records of a JSON-lines manifest, each with its `path` made absolute (relative paths are
    relative to the manifest's folder). Blank lines are skipped.

    Raises:
        FileNotFoundError: the manifest, or a file it lists, does not exist (names the line).
        ValueError: a line that is not a JSON object with the `required` keys, or an empty manifest.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(f"manifest {str(manifest)!r} does not exist (make it with scripts/fetch_real_data.py)")
    records = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{manifest}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
        missing = [key for key in ("path", *required) if key not in record]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        record["path"] = manifest.parent / record["path"]
        if not record["path"].is_file():
            raise FileNotFoundError(f"{where}: lists missing file {str(record['path'])!r}")
        records.append(record)
    if not records:
        raise ValueError(f"manifest {str(manifest)!r} lists nothing")
    return records


def _positive_int(record: dict, key: str, where: str, minimum: int = 1) -> int:
    value = record[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{where}: {key} must be an int >= {minimum}, got {value!r}")
    return value


def read_shots(manifest: str | Path) -> list[Shot]:
    """The shots a video manifest lists, in the frames of each file's own rate. Raises as
    `read_manifest`, and ValueError for a bad range."""
    shots = []
    for record in read_manifest(manifest, ("start", "end", "width", "height")):
        where = f"{manifest}: {record['path'].name}"
        start = _positive_int(record, "start", where, minimum=0)
        end = _positive_int(record, "end", where)
        if end <= start:
            raise ValueError(f"{where}: end ({end}) must be > start ({start})")
        rate = record.get("fps")  # optional: the file's own rate
        rate = float(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0 else None
        shots.append(Shot(path=record["path"], start=start, end=end, fps=rate,
                          height=_positive_int(record, "height", where), width=_positive_int(record, "width", where)))
    return shots


def shots_at_rate(shots: Sequence[Shot], fps: float) -> list[Shot]:
    """`shots`, their frames counted at their files' own rates, as frames at `fps`. Frame k at `fps`
    shows the source frame nearest to time k / fps (`arvid.data.video.read_video`), so the frames
    k with start <= k * rate / fps <= end - 1 all show frames of the shot. A shot's rate is its
    `fps`, or its file's header's where it has none; shots left with no frame are dropped.

    Raises:
        arvid.data.video.VideoReadError: a shot without `fps` whose file's header gives no rate.
    """
    from arvid.data.video import VideoReadError, probe_video

    header_rates: dict[Path, float] = {}
    mapped = []
    for shot in shots:
        rate = shot.fps
        if rate is None:
            if shot.path not in header_rates:
                header_rates[shot.path] = probe_video(shot.path).fps
            rate = header_rates[shot.path]
            if not rate > 0:
                raise VideoReadError(f"{shot.path}: the header gives no frame rate, so its shots cannot be resampled")
        factor = fps / rate
        start, end = math.ceil(shot.start * factor), math.floor((shot.end - 1) * factor) + 1
        if end > start:
            mapped.append(dataclasses.replace(shot, start=start, end=end, fps=fps))
    return mapped


def read_photos(manifest: str | Path) -> list[Photo]:
    """The photographs an image manifest lists. Raises as `read_manifest`."""
    photos = []
    for record in read_manifest(manifest, ("width", "height")):
        where = f"{manifest}: {record['path'].name}"
        photos.append(Photo(path=record["path"], height=_positive_int(record, "height", where),
                            width=_positive_int(record, "width", where)))
    return photos


def name_hash(name: str, *, seed: int = 0) -> int:
    """A seeded 64-bit hash of `name`, the same on every machine and Python run."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big")


def split_by_name(records: Sequence[dict], *, fraction: float, seed: int = 0, key: str = "name",
                  stratum: str | None = None) -> tuple[list[dict], list[dict]]:
    """-> (train, heldout), order kept: within each stratum (the records with one `record[stratum]`;
    all records when None), the `round(fraction * names)` distinct names with the smallest
    `name_hash` are held out, so every stratum gives its share. Records that share a name
    (variants of one picture) land on the same side.

    Raises:
        ValueError: `fraction` outside [0, 1].
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    strata: dict[object, set[str]] = {}
    for record in records:
        strata.setdefault(record[stratum] if stratum else None, set()).add(record[key])
    heldout_names = set()
    for names in strata.values():
        ranked = sorted(names, key=lambda name: (name_hash(name, seed=seed), name))
        heldout_names.update(ranked[: round(fraction * len(ranked))])
    train = [record for record in records if record[key] not in heldout_names]
    heldout = [record for record in records if record[key] in heldout_names]
    return train, heldout


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


@dataclass(frozen=True, kw_only=True)
class CameraMotion:
    """How `CameraMotionClips` moves its camera over a photograph. The view is a square of side
    `crop` x the image's short side (log-uniform in `crop`). Each of pan, zoom and rotation is on
    with its probability (pan is on whenever zoom is off); speeds are uniform from `MIN_SPEED` of
    their maximum up to it, so clips range from a crawl to a fast move. Half the paths move at
    constant speed, half ease in and out.

    Args:
        crop: (low, high) fractions of the image's short side, 0 < low <= high <= 1.
        pan_speed: the most the view's centre moves a frame, as a fraction of the view's side.
        zoom_speed: the most the view's side changes a frame, as a log factor (0.02: 2%).
        spin_speed: the most the view turns a frame, in degrees.
        tilt: the most the view is turned at the first frame, in degrees.
    """

    crop: tuple[float, float] = (0.3, 1.0)
    pan_probability: float = 0.8
    zoom_probability: float = 0.5
    rotate_probability: float = 0.3
    pan_speed: float = 0.04
    zoom_speed: float = 0.02
    spin_speed: float = 0.3
    tilt: float = 3.0

    def __post_init__(self) -> None:
        if not 0 < self.crop[0] <= self.crop[1] <= 1:
            raise ValueError(f"crop must be (low, high) with 0 < low <= high <= 1, got {self.crop!r}")


MIN_SPEED = 0.15  # of each `CameraMotion` maximum speed
DEFAULT_MOTION = CameraMotion()  # frozen: one shared default is safe


def _half_extent(side: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Half the width (= half the height) of the bounding box of a square of `side` turned by `angle`."""
    return side / 2 * (np.abs(np.cos(angle)) + np.abs(np.sin(angle)))


def camera_path(rng: np.random.Generator, *, frames: int, height: int, width: int,
                motion: CameraMotion = DEFAULT_MOTION) -> np.ndarray:
    """A smooth camera path over a `height` x `width` image -> float64 (frames, 4): per frame the
    view's centre x, centre y, side and angle (radians; the picture shows turned counter-clockwise), in pixel
    coordinates where pixel (i, j) covers [j, j+1) x [i, i+1). Every view lies inside the image.
    With `frames == 1`: one unturned view, a plain random crop."""
    short = min(height, width)
    side0 = short * math.exp(rng.uniform(math.log(motion.crop[0]), math.log(motion.crop[1])))
    if frames == 1:
        angle0 = spin = zoom = 0.0
        pan = np.zeros(2)
    else:
        pan_on, zoom_on, rotate_on = rng.random(3) < (motion.pan_probability, motion.zoom_probability,
                                                      motion.rotate_probability)
        pan_on = pan_on or not zoom_on  # a turn alone can be too slow to see
        # Speeds from MIN_SPEED of the maximum up, either way: a crawl still moves.
        speeds = rng.uniform(MIN_SPEED, 1.0, 3) * rng.choice([-1.0, 1.0], 3) * (frames - 1)
        direction = rng.uniform(0, 2 * math.pi)
        heading = np.array([math.cos(direction), math.sin(direction)])
        pan = speeds[0] * motion.pan_speed * side0 * heading if pan_on else np.zeros(2)
        zoom = speeds[1] * motion.zoom_speed if zoom_on else 0.0
        angle0 = math.radians(rng.uniform(-motion.tilt, motion.tilt)) if rotate_on else 0.0
        spin = math.radians(speeds[2] * motion.spin_speed) if rotate_on else 0.0
    progress = np.linspace(0.0, 1.0, frames)
    if frames > 1 and rng.random() < 0.5:
        progress = progress * progress * (3 - 2 * progress)  # smoothstep: ease in and out
    sides = side0 * np.exp(zoom * progress)
    angles = angle0 + spin * progress
    # Shrink the whole path until every view's bounding box fits, then place the pan inside the room left.
    extent = _half_extent(sides, angles).max()
    fit = min(1.0, short / (2 * extent))
    sides, extent = sides * fit, extent * fit
    room = np.array([width, height]) - 2 * extent  # how far the centre may travel, per axis
    pan = np.clip(pan, -room, room)
    low = extent + np.maximum(0.0, -pan)
    high = np.array([width, height]) - extent - np.maximum(0.0, pan)
    start = low + rng.random(2) * np.maximum(high - low, 0.0)
    centres = start + progress[:, None] * pan
    return np.column_stack([centres, sides, angles])


def render_path(image: Image.Image, path: np.ndarray, size: int) -> np.ndarray:
    """The views of `path` (as `camera_path` returns) of an RGB `image` -> uint8 (frames, size, size, 3).

    The image is first shrunk (antialiased) so the smallest view is about `size` pixels across,
    then each frame is one bicubic affine warp: no aliasing from large crops drawn small."""
    shrink = min(1.0, size / float(path[:, 2].min()))
    scale_x = scale_y = 1.0
    if shrink < 1.0:
        width, height = max(1, round(image.width * shrink)), max(1, round(image.height * shrink))
        # The path follows the exact per-axis factors that the rounding made.
        scale_x, scale_y = width / image.width, height / image.height
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    frames = []
    half = size / 2
    for centre_x, centre_y, side, angle in path:
        centre_x, centre_y, side = centre_x * scale_x, centre_y * scale_y, side * (scale_x + scale_y) / 2
        step = side / size
        cos, sin = step * math.cos(angle), step * math.sin(angle)
        # PIL maps output point (u, v) (pixel centres at +0.5) to input (a u + b v + c, d u + e v + f).
        coefficients = (cos, -sin, centre_x - half * (cos - sin), sin, cos, centre_y - half * (sin + cos))
        frames.append(np.asarray(image.transform((size, size), Image.Transform.AFFINE, coefficients,
                                                 resample=Image.Resampling.BICUBIC)))
    return np.stack(frames)


def load_rgb(path: Path) -> Image.Image:
    """An image file as an RGB PIL image (grey and palette images converted)."""
    with Image.open(path) as image:
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


def _manifest_parts(name: str) -> list[tuple[str, str]]:
    """`"A_videos.jsonl+B_images.jsonl@0.5"` -> [("A_videos.jsonl", ""), ("B_images.jsonl", "0.5")]."""
    return [(part.rpartition("@")[0], part.rpartition("@")[2]) if "@" in part else (part, "") for part in name.split("+")]


def is_manifest_name(name: str) -> bool:
    """Whether `name` names manifests (`open_manifests`): every `+`-joined part a path ending in
    `_videos.jsonl` or `_images.jsonl`, optionally followed by `@WEIGHT`."""
    return all(path.endswith((VIDEO_MANIFEST_SUFFIX, IMAGE_MANIFEST_SUFFIX)) for path, _ in _manifest_parts(name))


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
    for path, weight_text in _manifest_parts(name):
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
