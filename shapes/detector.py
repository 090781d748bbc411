"""An analytic detector that reads shapes-world attributes back from any video.

It needs no trained weights, so a generated video can be scored against its prompt at any length.
Per frame: the background is the median colour of the border pixels; object pixels are those far
(in RGB) from it; the largest 8-connected blob of them is the object. Its colour is the nearest
palette colour (allowing a mix with the background) to the median of its purest pixels. Each
pixel's coverage (alpha, how much of the pixel the object covers) is its colour projected on the
background-to-object segment, which undoes anti-aliasing and blur: the area and centroid come from
alpha, not from a hard mask. The shape is the one whose ideal outline, drawn with the measured area
at the measured centroid and blurred by the best of a few amounts, fits the alpha map best; the
size follows from that area and shape. Over the video: majority votes,
and direction and speed from a straight-line fit to the centroid track over the first frames.

Layout at this I/O edge: video `t h w c` uint8 RGB, any t, h, w.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from arvid.data.frames import check_frames
from arvid.shapes.world import (
    ATTRIBUTE_NAMES,
    BACKGROUND_RGB,
    BACKGROUNDS,
    COLOUR_RGB,
    COLOURS,
    DIRECTIONS,
    SHAPE_FILL,
    SHAPES,
    SIZES,
    SPEEDS,
    ShapeAttributes,
    ShapesClip,
    object_radius,
    shape_coverage,
    speed_px,
)


@dataclass(frozen=True, kw_only=True)
class DetectorConfig:
    """Thresholds of the detector; distances in RGB units, lengths at a 64-px frame (scaled).

    Args:
        object_threshold: RGB distance from the background above which a pixel may be object.
            The closest object/background pair in the palette is 157 apart, Gaussian noise of sd 8
            moves a background pixel past 60 with probability below 1e-9, and a pixel half covered
            by the object is still ~78 away.
        min_area: least blob area, as a fraction of the frame, to count the object as present
            (0.005 = 20 px at 64 x 64; the smallest object, a small triangle, covers 72).
        colour_quantile: the object colour is the median of the blob pixels farthest from the
            background, those above this quantile of distance: edge pixels mixed with the
            background by anti-aliasing or blur are always nearer to it than pure ones.
        direction_frames: direction and speed are fitted on the centroid track of the first this
            many frames (the shapes world guarantees no bounce over the first 16 steps).
        min_speed: below this speed (px/frame at 64 px) the object is taken as still, and the
            direction and speed are unknown; the slow speed is 1.0.
        min_core_coverage: the purest pixels of a small, blurred object may still be part
            background; a palette colour matches them when mixed with at least this share of it.
        blur_sigmas: Gaussian blurs (px at 64 px) tried on each candidate outline before comparing
            it with the alpha map; each shape keeps its best fit. Generated frames are blurred by an
            unknown amount, and a blurred square next to a sharp circle of the same area looks more
            like the circle (on blurred, noisy clips these lift the shape agreement to 100%:
            docs/results/evaluation.md).
    """

    object_threshold: float = 60.0
    min_area: float = 0.005
    colour_quantile: float = 0.75
    direction_frames: int = 16
    min_speed: float = 0.25
    min_core_coverage: float = 0.5
    blur_sigmas: tuple[float, ...] = (0.0, 0.6, 1.0, 1.5, 2.0)


@dataclass(frozen=True)
class VideoDetection:
    """What the detector read from a video of t frames.

    Per frame: present (t,) bool; centroids (t, 2) float32 (x, y) px, NaN where absent; areas (t,)
    float32 coverage area in px, 0 where absent; frame_shapes, frame_colours, frame_sizes: tuples of
    t names, None where absent; frame_backgrounds: t names. Summary: shape, colour, size, background
    by majority vote over the frames where the object is present (background over all frames);
    direction and speed from the centroid track; velocity the fitted (vx, vy) px/frame. A summary is
    None where it cannot be read (no object, too few frames, no motion).
    """

    present: np.ndarray
    centroids: np.ndarray
    areas: np.ndarray
    frame_shapes: tuple[str | None, ...]
    frame_colours: tuple[str | None, ...]
    frame_sizes: tuple[str | None, ...]
    frame_backgrounds: tuple[str, ...]
    shape: str | None
    colour: str | None
    size: str | None
    background: str | None
    direction: str | None
    speed: str | None
    velocity: tuple[float, float] | None

    def attributes(self) -> dict[str, str | None]:
        """The summary readings keyed by ATTRIBUTE_NAMES."""
        return {name: getattr(self, name) for name in ATTRIBUTE_NAMES}


def _check_video(video: np.ndarray) -> None:
    check_frames(video, 4, "video")
    if min(video.shape[1:3]) < 8:
        raise ValueError(f"video of shape {video.shape} is too small to read")


def _nearest(rgb: np.ndarray, names: tuple[str, ...], palette: dict[str, tuple[int, int, int]]) -> np.ndarray:
    """Index into `names` of the palette colour nearest each row of `rgb` (n, 3)."""
    table = np.asarray([palette[name] for name in names], dtype=np.float32)
    return np.argmin(np.linalg.norm(rgb[:, None, :] - table[None], axis=-1), axis=1)


def _nearest_mixed(object_rgb: np.ndarray, background_rgb: np.ndarray, min_coverage: float) -> np.ndarray:
    """Index into COLOURS of the colour that best explains each observed object colour.

    A palette colour explains an observed one by its distance from the segment of mixes
    `background + a * (palette - background)` with a in [min_coverage, 1]: when blur leaves no pixel
    of a small object wholly covered, its purest pixels are such a mix, a darker yellow on black
    that plain nearest-colour would call orange. object_rgb, background_rgb: (n, 3) -> (n,).
    """
    palette = np.asarray([COLOUR_RGB[name] for name in COLOURS], dtype=np.float32)  # (k, 3)
    towards = palette[None] - background_rgb[:, None, :]  # (n, k, 3)
    observed = (object_rgb - background_rgb)[:, None, :]  # (n, 1, 3)
    coverage = (observed * towards).sum(axis=-1) / np.maximum((towards * towards).sum(axis=-1), 1.0)
    coverage = np.clip(coverage, min_coverage, 1.0)[..., None]
    return np.argmin(np.linalg.norm(coverage * towards - observed, axis=-1), axis=1)


def _border_median(pixels: np.ndarray) -> np.ndarray:
    """Median colour of each frame's one-pixel border: (t, h, w, 3) -> (t, 3).

    The object never covers more than 45 of the 252 border pixels of a 64-px frame, so the median
    is the background even when the object touches a wall.
    """
    border = np.concatenate(
        [pixels[:, 0], pixels[:, -1], pixels[:, 1:-1, 0], pixels[:, 1:-1, -1]], axis=1
    )  # (t, 2w + 2h - 4, 3)
    return np.median(border, axis=1)


def _neighbourhood(mask_or_labels: np.ndarray, fill, reduce) -> np.ndarray:
    """Reduce each pixel's 3 x 3 neighbourhood (itself included) with `reduce`: (t, h, w) -> (t, h, w)."""
    _, height, width = mask_or_labels.shape
    padded = np.pad(mask_or_labels, ((0, 0), (1, 1), (1, 1)), constant_values=fill)
    out = mask_or_labels
    for dy in range(3):
        for dx in range(3):
            out = reduce(out, padded[:, dy : dy + height, dx : dx + width])
    return out


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep each frame's largest 8-connected component: (t, h, w) bool -> (t, h, w) bool.

    Every mask pixel starts labelled with its own flat index; labels fall to the smallest in the
    3 x 3 neighbourhood, and pointer jumping (a label's label) shortcuts long chains, so a blob
    settles in a few passes instead of its diameter. The label of a pixel is always the index of a
    pixel of the same component whose own label is no larger, which makes the jump valid.
    Ties between equal blobs go to the one with the smaller first pixel.
    """
    frames, height, width = mask.shape
    outside = mask.size  # the label of non-mask pixels; a valid index into `lookup` below
    labels = np.where(mask, np.arange(mask.size).reshape(mask.shape), outside)
    while True:
        smallest = np.where(mask, _neighbourhood(labels, outside, np.minimum), outside)
        lookup = np.append(smallest.ravel(), outside)
        jumped = lookup[lookup[smallest]]
        if np.array_equal(jumped, labels):
            break
        labels = jumped
    roots, counts = np.unique(labels[mask], return_counts=True)
    root_frames = roots // (height * width)
    order = np.lexsort((-counts, root_frames))  # by frame, then largest first
    sorted_frames = root_frames[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_frames[1:] != sorted_frames[:-1]
    best = np.full(frames, -1, dtype=labels.dtype)
    best[sorted_frames[first]] = roots[order][first]
    return labels == best[:, None, None]


def _gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of (n, h, w) images, zero outside."""
    if sigma <= 0:
        return images
    half = max(1, math.ceil(2.5 * sigma))
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    _, height, width = images.shape
    padded = np.pad(images, ((0, 0), (half, half), (0, 0)))
    out = sum(tap * padded[:, k : k + height] for k, tap in enumerate(taps))
    padded = np.pad(out, ((0, 0), (0, 0), (half, half)))
    return sum(tap * padded[:, :, k : k + width] for k, tap in enumerate(taps))


def _masked_median(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Median over axis 1 of `values` (n, m, c) where `keep` (n, m) is True; each row keeps >= 1."""
    ordered = np.sort(np.where(keep[..., None], values, np.inf), axis=1)
    count = keep.sum(axis=1)
    rows = np.arange(len(values))
    low, high = ordered[rows, (count - 1) // 2], ordered[rows, count // 2]
    return 0.5 * (low + high)


def _majority(readings: list[str | None]) -> str | None:
    """Most common non-None reading (first seen wins a tie), or None if there is none."""
    counts = Counter(reading for reading in readings if reading is not None)
    return counts.most_common(1)[0][0] if counts else None


DEFAULT_CONFIG = DetectorConfig()  # frozen, so one shared default is safe


def detect(video: np.ndarray, *, config: DetectorConfig = DEFAULT_CONFIG) -> VideoDetection:
    """Read shape, colour, size, background, direction and speed from a video.

    Args:
        video: (t, h, w, 3) uint8 RGB, any length and frame size; frames may be blurred or noisy.
        config: thresholds.

    Returns:
        VideoDetection with per-frame readings and summary attributes (None where unreadable).

    Raises:
        ValueError: `video` is not uint8 (t, h, w, 3) or is smaller than 8 x 8.
    """
    _check_video(video)
    frames, height, width, _ = video.shape
    frame_size = min(height, width)
    pixels = video.astype(np.float32)
    background_rgb = _border_median(pixels)  # (t, 3)
    background_index = _nearest(background_rgb, BACKGROUNDS, BACKGROUND_RGB)
    distance = np.linalg.norm(pixels - background_rgb[:, None, None, :], axis=-1)  # (t, h, w)
    blob = _largest_component(distance > config.object_threshold)
    present = blob.sum(axis=(1, 2)) >= config.min_area * height * width

    centroids = np.full((frames, 2), np.nan, dtype=np.float32)
    areas = np.zeros(frames, dtype=np.float32)
    frame_shapes: list[str | None] = [None] * frames
    frame_colours: list[str | None] = [None] * frames
    frame_sizes: list[str | None] = [None] * frames
    seen = np.flatnonzero(present)
    if len(seen):
        readings = _read_objects(pixels[seen], distance[seen], blob[seen], background_rgb[seen], frame_size, config)
        centroids[seen], areas[seen] = readings.centroids, readings.areas
        for index, shape, colour, size in zip(seen, readings.shapes, readings.colours, readings.sizes, strict=True):
            frame_shapes[index], frame_colours[index], frame_sizes[index] = shape, colour, size

    direction, speed, velocity = _read_motion(present, centroids, frame_size, config)
    frame_backgrounds = tuple(BACKGROUNDS[index] for index in background_index)
    return VideoDetection(
        present=present,
        centroids=centroids,
        areas=areas,
        frame_shapes=tuple(frame_shapes),
        frame_colours=tuple(frame_colours),
        frame_sizes=tuple(frame_sizes),
        frame_backgrounds=frame_backgrounds,
        shape=_majority(frame_shapes),
        colour=_majority(frame_colours),
        size=_majority(frame_sizes),
        background=_majority(list(frame_backgrounds)),
        direction=direction,
        speed=speed,
        velocity=velocity,
    )


@dataclass(frozen=True)
class _ObjectReadings:
    centroids: np.ndarray  # (n, 2)
    areas: np.ndarray  # (n,)
    shapes: list[str]
    colours: list[str]
    sizes: list[str]


def _read_objects(
    pixels: np.ndarray,
    distance: np.ndarray,
    blob: np.ndarray,
    background_rgb: np.ndarray,
    frame_size: int,
    config: DetectorConfig,
) -> _ObjectReadings:
    """Colour, coverage area, centroid, shape and size of the blob in each of n frames.

    pixels (n, h, w, 3) float32, distance (n, h, w) from the background, blob (n, h, w) bool with
    at least one pixel per frame, background_rgb (n, 3).
    """
    count, height, width = blob.shape
    # One square window per frame around the blob's bounding box, the same side for all frames so
    # the rest is vectorised; the margin leaves room for blurred edges below the threshold.
    margin = 3
    rows_any, cols_any = blob.any(axis=2), blob.any(axis=1)
    top, bottom = rows_any.argmax(axis=1), height - 1 - rows_any[:, ::-1].argmax(axis=1)
    left, right = cols_any.argmax(axis=1), width - 1 - cols_any[:, ::-1].argmax(axis=1)
    extent = int(max((bottom - top).max(), (right - left).max())) + 1
    window = min(height, width, extent + 2 * margin)
    origin_y = np.clip((top + bottom + 1) // 2 - window // 2, 0, height - window)
    origin_x = np.clip((left + right + 1) // 2 - window // 2, 0, width - window)
    frame_index = np.arange(count)[:, None, None]
    rows = (origin_y[:, None] + np.arange(window))[:, :, None]
    cols = (origin_x[:, None] + np.arange(window))[:, None, :]
    pixels = pixels[frame_index, rows, cols]  # (n, window, window, 3)
    distance, blob = distance[frame_index, rows, cols], blob[frame_index, rows, cols]

    # Colour: median of the blob's farthest-from-background pixels.
    flat_distance = np.where(blob, distance, -np.inf).reshape(count, -1)
    blob_size = blob.reshape(count, -1).sum(axis=1)
    rank = np.floor((1.0 - config.colour_quantile) * (blob_size - 1)).astype(np.int64)
    cut = -np.sort(-flat_distance, axis=1)[np.arange(count), rank]  # (n,)
    core = blob & (distance >= cut[:, None, None])
    object_rgb = _masked_median(pixels.reshape(count, -1, 3), core.reshape(count, -1))  # (n, 3)
    colours = [COLOURS[index] for index in _nearest_mixed(object_rgb, background_rgb, config.min_core_coverage)]

    # Coverage: project each pixel on the background -> object colour segment. Restricted to the
    # blob grown by two pixels, so a stray blob elsewhere in the window does not add area.
    contrast = object_rgb - background_rgb  # (n, 3)
    along = np.einsum("nyxc,nc->nyx", pixels - background_rgb[:, None, None, :], contrast)
    alpha = np.clip(along / np.maximum((contrast * contrast).sum(axis=1), 1.0)[:, None, None], 0.0, 1.0)
    grown = _neighbourhood(_neighbourhood(blob, False, np.logical_or), False, np.logical_or)
    alpha = np.where(grown, alpha, 0.0).astype(np.float32)
    # (n,) > 0 in practice, as the blob's purest pixels have alpha near 1; the floor guards the divisions.
    areas = np.maximum(alpha.sum(axis=(1, 2)), 1e-6)
    centre_offsets = np.arange(window, dtype=np.float32) + 0.5
    centroid_x = origin_x + (alpha.sum(axis=1) * centre_offsets).sum(axis=1) / areas
    centroid_y = origin_y + (alpha.sum(axis=2) * centre_offsets).sum(axis=1) / areas
    centroids = np.stack([centroid_x, centroid_y], axis=1)

    # Shape: the ideal outline with the same area and centroid that differs least (L1) from the
    # alpha map, each candidate blurred by its best-fitting sigma. Equal area makes the test about
    # the outline alone, and fitting the blur lets a soft square beat a sharp circle.
    origins = np.stack([origin_x, origin_y], axis=1)
    errors, radii = [], []
    for shape in SHAPES:
        radius = np.sqrt(areas / SHAPE_FILL[shape]) / 2.0
        # The triangle's area centroid is radius / 3 below its bounding-box centre.
        centre = centroids.copy()
        if shape == "triangle":
            centre[:, 1] -= radius / 3.0
        template = shape_coverage(shape, centres=centre, radii=radius, origins=origins, window=window)
        errors.append(
            np.min(
                [
                    np.abs(alpha - _gaussian_blur(template, sigma * frame_size / 64.0)).sum(axis=(1, 2))
                    for sigma in config.blur_sigmas
                ],
                axis=0,
            )
        )
        radii.append(radius)
    best = np.argmin(np.stack(errors), axis=0)  # (n,)
    radius = np.stack(radii)[best, np.arange(count)]
    shapes = [SHAPES[index] for index in best]
    # Sizes split at the geometric mean of the two radii: equal margins in ratio on either side.
    boundary = math.sqrt(object_radius("small", frame_size) * object_radius("large", frame_size))
    sizes = [SIZES[int(value >= boundary)] for value in radius]
    return _ObjectReadings(centroids.astype(np.float32), areas.astype(np.float32), shapes, colours, sizes)


def _read_motion(
    present: np.ndarray, centroids: np.ndarray, frame_size: int, config: DetectorConfig
) -> tuple[str | None, str | None, tuple[float, float] | None]:
    """Direction, speed and fitted velocity from the centroid track of the first frames."""
    steps = np.flatnonzero(present[: config.direction_frames])
    if len(steps) < 2:
        return None, None, None
    track = centroids[steps].astype(np.float64)
    # Least-squares slope of x and y against the frame index: tolerant of missing frames and of
    # centroid jitter on blurred or generated frames.
    centred_steps = steps - steps.mean()
    velocity = (centred_steps[:, None] * (track - track.mean(axis=0))).sum(axis=0) / (centred_steps**2).sum()
    velocity_x, velocity_y = float(velocity[0]), float(velocity[1])
    speed = math.hypot(velocity_x, velocity_y)
    if speed < config.min_speed * frame_size / 64.0:
        return None, None, (velocity_x, velocity_y)
    # DIRECTIONS runs counter-clockwise from "right" in 45-degree steps; image y points down.
    angle = math.degrees(math.atan2(-velocity_y, velocity_x))
    direction = DIRECTIONS[round(angle / 45.0) % len(DIRECTIONS)]
    boundary = math.sqrt(speed_px("slow", frame_size) * speed_px("fast", frame_size))
    return direction, SPEEDS[int(speed >= boundary)], (velocity_x, velocity_y)


def compare(detection: VideoDetection, attrs: ShapeAttributes) -> dict[str, float]:
    """Score a detection against the attributes a video should have (its prompt or ground truth).

    Returns:
        For each of ATTRIBUTE_NAMES, 1.0 if the summary reading equals `attrs` else 0.0; and for
        shape, colour, size and background, "frames_<name>": the fraction of frames whose reading
        agrees (a frame without the object counts as wrong), which shows drift over a long video.
    """
    scores = {name: float(getattr(detection, name) == getattr(attrs, name)) for name in ATTRIBUTE_NAMES}
    for name, readings in (
        ("shape", detection.frame_shapes),
        ("colour", detection.frame_colours),
        ("size", detection.frame_sizes),
        ("background", detection.frame_backgrounds),
    ):
        expected = getattr(attrs, name)
        scores[f"frames_{name}"] = sum(reading == expected for reading in readings) / len(readings)
    return scores


def agreement(clip: ShapesClip, *, config: DetectorConfig = DEFAULT_CONFIG) -> dict[str, float]:
    """`compare(detect(clip.video), clip.attrs)`: how well the detector reads a ground-truth clip."""
    return compare(detect(clip.video, config=config), clip.attrs)


def centroid_error(detection: VideoDetection, clip: ShapesClip) -> float:
    """Mean distance in px between detected and true area centroids over frames with a detection.

    Returns NaN when no frame has one. The true centroid is the bounding-box centre, moved radius/3
    down for the triangle.
    """
    truth = clip.positions.astype(np.float64).copy()
    if clip.attrs.shape == "triangle":
        truth[:, 1] += clip.radius / 3.0
    seen = detection.present
    if not seen.any():
        return math.nan
    return float(np.linalg.norm(detection.centroids[seen] - truth[seen], axis=1).mean())


def degrade(video: np.ndarray, *, rng: np.random.Generator, blur: int = 3, noise_sd: float = 8.0) -> np.ndarray:
    """Blur each frame with a `blur` x `blur` box filter, then add Gaussian noise of sd `noise_sd`.

    A stand-in for a generated video's soft edges and grain, to check the detector on frames that
    are not crisp. Edges are padded by replication, so the background stays flat.

    Args:
        video: (t, h, w, 3) uint8.
        rng: draws the noise.
        blur: odd box side in pixels (1 = no blur).
        noise_sd: noise standard deviation in 0..255 units.

    Returns:
        (t, h, w, 3) uint8.

    Raises:
        ValueError: `blur` is not a positive odd integer.
    """
    if blur < 1 or blur % 2 == 0:
        raise ValueError(f"blur={blur} must be a positive odd integer")
    _, height, width, _ = video.shape
    half = blur // 2
    padded = np.pad(video.astype(np.float32), ((0, 0), (half, half), (half, half), (0, 0)), mode="edge")
    blurred = np.zeros(video.shape, dtype=np.float32)
    for dy in range(blur):
        for dx in range(blur):
            blurred += padded[:, dy : dy + height, dx : dx + width]
    blurred /= blur * blur
    noisy = blurred + rng.normal(0.0, noise_sd, size=video.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
