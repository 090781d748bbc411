"""Metrics that need pretrained networks: FVD (I3D), LPIPS and CLIP score, from local weights only.

Nothing here downloads: each metric takes a path to weights the user already has, and a missing
path raises `MissingWeights` (or, through `pretrained_metric_status`, becomes a reason to skip the
metric) instead of fetching anything.

Videos are uint8 numpy `(t, h, w, 3)` RGB, the I/O layout; each metric converts to the float
layout its network was trained on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from arvid.data.frames import check_frames
from arvid.metrics.frechet import frechet_distance_from_features

# I3D input size: the TF-Hub I3D behind FVD was trained on 224 x 224 crops (Carreira & Zisserman 2017).
I3D_SIZE = 224


class MissingWeights(FileNotFoundError):
    """The weights a metric needs are not where the caller said (or no path was given).

    `metric` names the metric ("fvd", "lpips", "clip_score") and `path` the path looked at, or None.
    """

    def __init__(self, message: str, *, metric: str, path: Path | None):
        super().__init__(message)
        self.metric = metric
        self.path = path


@dataclass(frozen=True)
class _Weights:
    metric: str  # name the metric is reported under
    option: str  # command-line option that points to the weights
    is_directory: bool  # a save_pretrained folder rather than one file
    description: str  # what the user should provide


_I3D = _Weights("fvd", "--i3d", False, "a local TorchScript I3D, e.g. StyleGAN-V's i3d_torchscript.pt")
_LPIPS = _Weights(
    "lpips", "--lpips", False, "a TorchScript export of an LPIPS network, see arvid.metrics.pretrained.lpips_distance"
)
_CLIP = _Weights(
    "clip_score", "--clip", True, "a local CLIP folder written by save_pretrained, e.g. openai/clip-vit-base-patch32"
)


def _missing_reason(weights: _Weights, path: str | Path | None) -> str | None:
    """Why `path` cannot hold `weights`, or None when it looks usable (it is not loaded here)."""
    if path is None:
        return f"{weights.metric}: no {weights.option} path given ({weights.description})"
    path = Path(path)
    if not path.exists():
        return f"{weights.metric}: nothing found at {path} (expected {weights.description})"
    if weights.is_directory and not (path / "config.json").is_file():
        return f"{weights.metric}: no config.json in {path} (expected {weights.description})"
    if not weights.is_directory and not path.is_file():
        return f"{weights.metric}: {path} is not a file (expected {weights.description})"
    return None


def _require(weights: _Weights, path: str | Path | None) -> Path:
    reason = _missing_reason(weights, path)
    if reason is not None:
        raise MissingWeights(reason, metric=weights.metric, path=None if path is None else Path(path))
    return Path(path)


def pretrained_metric_status(
    i3d_path: str | Path | None = None, lpips_path: str | Path | None = None, clip_dir: str | Path | None = None
) -> dict[str, str | None]:
    """For "fvd", "lpips" and "clip_score": None when its weights are in place, else why it is skipped.

    Only the paths are checked (a file, or a folder with config.json), nothing is loaded, so this is
    cheap enough to call before a long evaluation. Example reason:
    "skipped fvd: no --i3d path given (a local TorchScript I3D, e.g. StyleGAN-V's i3d_torchscript.pt)".
    """
    status = {}
    for weights, path in ((_I3D, i3d_path), (_LPIPS, lpips_path), (_CLIP, clip_dir)):
        reason = _missing_reason(weights, path)
        status[weights.metric] = None if reason is None else f"skipped {reason}"
    return status


def _check_video_set(videos: Sequence[np.ndarray] | np.ndarray, name: str) -> list[np.ndarray]:
    """A list of uint8 (t, h, w, 3) videos sharing t, or a uint8 (n, t, h, w, 3) array, as a list."""
    if isinstance(videos, np.ndarray) and videos.ndim != 5:
        raise ValueError(f"{name} as one array must be uint8 (n, t, h, w, 3), got {videos.dtype} {videos.shape}")
    checked = [check_frames(video, 4, f"{name}[{index}]") for index, video in enumerate(videos)]
    if not checked:
        raise ValueError(f"{name} is empty; expected uint8 (t, h, w, 3) videos")
    frame_counts = sorted({len(video) for video in checked})
    if len(frame_counts) > 1:
        raise ValueError(f"{name} mixes frame counts {frame_counts}; I3D features are comparable only at one length")
    return checked


def _load_torchscript(weights: _Weights, path: str | Path | None, device: str | torch.device) -> torch.jit.ScriptModule:
    path = _require(weights, path)
    # Recent torch (2.13 here) warns that TorchScript is deprecated, but the reference I3D exists only as TorchScript.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=DeprecationWarning)
        try:
            network = torch.jit.load(str(path), map_location=device)
        except RuntimeError as error:
            raise ValueError(f"{weights.metric}: {path} is not a TorchScript file (expected {weights.description})") from error
    return network.eval()


# ----------------------------------------------------------------------------------------- FVD


def load_i3d(i3d_path: str | Path | None, *, device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """Load the TorchScript I3D used for FVD; raises MissingWeights when `i3d_path` is None or absent.

    The reference file is StyleGAN-V's `i3d_torchscript.pt` (Skorokhodov et al. 2022), a port of the
    TF-Hub I3D that the original FVD code (Unterthiner et al. 2018) uses.
    """
    return _load_torchscript(_I3D, i3d_path, device)


def _i3d_input(video: np.ndarray, device: str | torch.device) -> Tensor:
    """uint8 (t, h, w, 3) -> float32 (3, t, 224, 224) in [-1, 1], the input StyleGAN-V's I3D expects:
    the short side scaled to 224 (the long side to the ceiling of its share), then the centre 224 x
    224, as the StyleGAN-V / common_metrics_on_video_quality FVD code prepares a video."""
    frames = rearrange(torch.from_numpy(video).to(device), "t h w c -> t c h w").float()
    height, width = frames.shape[-2:]
    scale = I3D_SIZE / min(height, width)
    size = (I3D_SIZE, math.ceil(width * scale)) if height < width else (math.ceil(height * scale), I3D_SIZE)
    # Plain bilinear without antialiasing, as that code resizes; matching it matters more than the
    # aliasing it leaves on downscaled frames.
    frames = F.interpolate(frames, size=size, mode="bilinear", align_corners=False)
    top, left = (size[0] - I3D_SIZE) // 2, (size[1] - I3D_SIZE) // 2
    frames = frames[..., top:top + I3D_SIZE, left:left + I3D_SIZE]
    # Bilinear weights are convex, but float32 rounding can land a 255 pixel just above 1.0.
    return rearrange((frames / 127.5 - 1.0).clamp(-1.0, 1.0), "t c h w -> c t h w")


def i3d_features(
    videos: Sequence[np.ndarray] | np.ndarray,
    detector: torch.jit.ScriptModule,
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """I3D logits-layer features of each video: uint8 (t, h, w, 3) videos -> float64 (n, d), d = 400.

    Frames are scaled to cover 224 x 224, centre-cropped to it and scaled to [-1, 1]; the detector is called on
    (batch, 3, t, 224, 224) as `detector(x, rescale=False, resize=False, return_features=True)`, the
    call StyleGAN-V's FVD makes. All videos must share their frame count t (16 is the usual FVD setting).

    Raises ValueError on an empty set, a non-uint8 or non-(t, h, w, 3) video, mixed frame counts,
    or when the detector does not return one feature row per video.
    """
    videos = _check_video_set(videos, "videos")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    features = []
    with torch.inference_mode():
        for start in range(0, len(videos), batch_size):
            batch = torch.stack([_i3d_input(video, device) for video in videos[start : start + batch_size]])
            batch_features = detector(batch, rescale=False, resize=False, return_features=True)
            if batch_features.ndim != 2 or batch_features.shape[0] != batch.shape[0]:
                raise ValueError(
                    f"detector returned {tuple(batch_features.shape)} for {batch.shape[0]} videos; expected (n, d) features"
                )
            features.append(batch_features.double().cpu().numpy())
    return np.concatenate(features)


def fvd(
    real_videos: Sequence[np.ndarray] | np.ndarray,
    fake_videos: Sequence[np.ndarray] | np.ndarray,
    i3d_path: str | Path | None,
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
) -> float:
    """Fréchet video distance (Unterthiner et al. 2018) between two sets of uint8 (t, h, w, 3) videos.

    Lists of videos or uint8 (n, t, h, w, 3) arrays; every video in both sets has the same t, while
    h and w may differ (frames are scaled to cover 224 x 224 and centre-cropped). The score depends on the number of videos
    (fewer than the 400 feature dimensions give a singular covariance and an upward bias), so compare
    only FVDs computed from the same counts; published numbers use 2048 videos of 16 frames.

    Raises MissingWeights when `i3d_path` is None or absent, and ValueError on fewer than 2 videos
    per side, bad video dtype or shape, or frame counts that differ.
    """
    real_videos = _check_video_set(real_videos, "real_videos")
    fake_videos = _check_video_set(fake_videos, "fake_videos")
    for name, videos in (("real_videos", real_videos), ("fake_videos", fake_videos)):
        if len(videos) < 2:
            raise ValueError(f"FVD needs at least 2 videos per side for a covariance, {name} has {len(videos)}")
    if len(real_videos[0]) != len(fake_videos[0]):
        raise ValueError(f"real videos have {len(real_videos[0])} frames, fake videos {len(fake_videos[0])}")
    detector = load_i3d(i3d_path, device=device)
    real_features = i3d_features(real_videos, detector, batch_size=batch_size, device=device)
    fake_features = i3d_features(fake_videos, detector, batch_size=batch_size, device=device)
    return frechet_distance_from_features(real_features, fake_features)


# --------------------------------------------------------------------------------------- LPIPS


def load_lpips(lpips_path: str | Path | None, *, device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """Load a TorchScript LPIPS network; raises MissingWeights when `lpips_path` is None or absent.

    See `lpips_distance` for how to make the file.
    """
    return _load_torchscript(_LPIPS, lpips_path, device)


def lpips_per_frame(
    video_a: np.ndarray,
    video_b: np.ndarray,
    network: torch.jit.ScriptModule,
    *,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """LPIPS of each frame pair of two uint8 (t, h, w, 3) videos with a loaded network -> float64 (t,).

    The network is called on two float32 (batch, 3, h, w) tensors in [-1, 1] and may return
    (batch, 1, 1, 1) or (batch,) distances.

    Raises ValueError when a video is not uint8 (t, h, w, 3), the shapes differ, or the network
    returns something other than one distance per frame.
    """
    video_a, video_b = check_frames(video_a, 4, "video_a"), check_frames(video_b, 4, "video_b")
    if video_a.shape != video_b.shape:
        raise ValueError(f"videos differ in shape: {video_a.shape} vs {video_b.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    distances = []
    with torch.inference_mode():
        for start in range(0, len(video_a), batch_size):
            frames_a, frames_b = (
                rearrange(torch.from_numpy(video[start : start + batch_size]).to(device), "n h w c -> n c h w").float()
                / 127.5
                - 1.0
                for video in (video_a, video_b)
            )
            batch_distances = network(frames_a, frames_b)
            if batch_distances.numel() != frames_a.shape[0]:
                raise ValueError(
                    f"LPIPS network returned {tuple(batch_distances.shape)} for {frames_a.shape[0]} frame pairs; "
                    "expected (n, 1, 1, 1) or (n,)"
                )
            distances.append(batch_distances.reshape(-1).double().cpu().numpy())
    return np.concatenate(distances)


def lpips_distance(
    video_a: np.ndarray,
    video_b: np.ndarray,
    lpips_path: str | Path | None,
    *,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """LPIPS (Zhang et al. 2018) between matching frames of two uint8 (t, h, w, 3) videos -> float64 (t,).

    Lower is more similar; `.mean()` of the result is the video's LPIPS.

    `lpips_path` is a TorchScript export of an LPIPS network taking two (n, 3, h, w) tensors in
    [-1, 1]. Make it once on a machine with the `lpips` package (pip install lpips), e.g.:

        import lpips, torch
        network = lpips.LPIPS(net="alex").eval()  # AlexNet variant, the paper's default
        example = torch.zeros(1, 3, 64, 64)
        torch.jit.trace(network, (example, example)).save("lpips_alex.pt")

    LPIPS is convolutional with a spatial average at the end, so the trace should serve other frame
    sizes; tracing at the size you evaluate avoids relying on that (not checked here: no lpips package).

    Raises MissingWeights when `lpips_path` is None or absent, and ValueError as `lpips_per_frame`.
    """
    video_a, video_b = check_frames(video_a, 4, "video_a"), check_frames(video_b, 4, "video_b")  # before loading
    network = load_lpips(lpips_path, device=device)
    return lpips_per_frame(video_a, video_b, network, batch_size=batch_size, device=device)


# ----------------------------------------------------------------------------------- CLIP score


class LoadedCLIP(NamedTuple):
    """A CLIP model with its processor (tokenizer plus image processor), loaded from a local folder."""

    model: torch.nn.Module
    processor: object


def load_clip(clip_dir: str | Path | None, *, device: str | torch.device = "cpu") -> LoadedCLIP:
    """Load `transformers` CLIPModel and CLIPProcessor from a local save_pretrained folder, offline.

    Raises MissingWeights when `clip_dir` is None, absent or has no config.json.
    """
    from transformers import CLIPModel, CLIPProcessor  # transformers takes seconds to import; only CLIP needs it

    clip_dir = _require(_CLIP, clip_dir)
    model = CLIPModel.from_pretrained(clip_dir, local_files_only=True).to(device).eval()
    processor = CLIPProcessor.from_pretrained(clip_dir, local_files_only=True)
    return LoadedCLIP(model, processor)


def _check_prompt(prompt: str) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
    return prompt


def clip_frame_scores(
    video: np.ndarray, prompt: str, clip: LoadedCLIP, *, batch_size: int = 32, device: str | torch.device = "cpu"
) -> np.ndarray:
    """CLIP score of each frame of a uint8 (t, h, w, 3) video against `prompt` -> float64 (t,) in [0, 100].

    Per frame 100 * max(cos(image_embedding, text_embedding), 0), see `clip_score`. Frames go through
    the processor's own resize, crop and normalisation; the prompt is truncated to the text model's
    context (77 tokens for OpenAI CLIP), where a longer one would overrun the position table.

    Raises ValueError when the video is not uint8 (t, h, w, 3) or the prompt is empty.
    """
    video, prompt = check_frames(video, 4, "video"), _check_prompt(prompt)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model, processor = clip
    text = processor.tokenizer(
        [prompt], padding=True, truncation=True, max_length=model.config.text_config.max_position_embeddings, return_tensors="pt"
    ).to(device)
    scores = []
    with torch.inference_mode():
        for start in range(0, len(video), batch_size):
            pixels = processor.image_processor(images=list(video[start : start + batch_size]), return_tensors="pt")
            # The full forward returns unit-norm embeddings in every transformers version, unlike
            # get_image_features, whose return type changed in transformers 5.
            output = model(
                input_ids=text["input_ids"], attention_mask=text["attention_mask"], pixel_values=pixels["pixel_values"].to(device)
            )
            cosine = (output.image_embeds @ output.text_embeds.T)[:, 0]  # (frames,)
            scores.append((100.0 * cosine.clamp(min=0)).double().cpu().numpy())
    return np.concatenate(scores)


def clip_score(
    video: np.ndarray, prompt: str, clip_dir: str | Path | None, *, batch_size: int = 32, device: str | torch.device = "cpu"
) -> float:
    """Mean over frames of 100 * max(cos(image_embedding, text_embedding), 0): video-text agreement in [0, 100].

    CLIPScore is Hessel et al. 2021 (EMNLP), who scale by 2.5; the factor 100 follows torchmetrics'
    CLIPScore, the convention text-to-video papers report. `video` is uint8 (t, h, w, 3); `clip_dir` a
    local folder with a CLIPModel and CLIPProcessor saved by save_pretrained (e.g. a download of
    openai/clip-vit-base-patch32 or openai/clip-vit-large-patch14); nothing is fetched.

    Loads the model on every call; to score many videos use `load_clip` once and `clip_frame_scores`.

    Raises MissingWeights when `clip_dir` is None, absent or has no config.json, and ValueError
    as `clip_frame_scores`.
    """
    video, prompt = check_frames(video, 4, "video"), _check_prompt(prompt)  # before the slow model load
    clip = load_clip(clip_dir, device=device)
    return float(clip_frame_scores(video, prompt, clip, batch_size=batch_size, device=device).mean())


# ------------------------------------------------------------------------- during an evaluation

FVD_FRAMES = 16
"""Frames per video that FVD is computed on (the usual FVD setting; I3D cost grows with t)."""


class PretrainedScorers:
    """The weight-needing metrics an evaluation has local weights for, loaded once before any
    video is made (so a bad file fails first) and fed one video at a time (so no video is kept).

    Per video: "clip_score" (CLIP score against the prompt, mean over frames) and
    "lpips_consecutive" (LPIPS between consecutive frames: a perceptual amount of change per
    frame). Over the set: FVD between the first FVD_FRAMES frames of the videos and of their
    references (what the real distribution looks like for the same prompt). FVD compares clips of
    one length: pairs shorter than FVD_FRAMES are kept apart by length, and the FVD is over the
    length most pairs have (the longest of a tie: `fvd_frames`), the others counted in `fvd_left_out`.

    Raises (at construction): MissingWeights or ValueError for a given path that is absent or not
    a loadable network.
    """

    def __init__(self, *, i3d_path: str | Path | None = None, lpips_path: str | Path | None = None,
                 clip_dir: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        status = pretrained_metric_status(i3d_path=i3d_path, lpips_path=lpips_path, clip_dir=clip_dir)
        self.skipped = {name: reason for name, reason in status.items() if reason}
        self.device = device
        self.clip = load_clip(clip_dir, device=device) if status["clip_score"] is None else None
        self.lpips = load_lpips(lpips_path, device=device) if status["lpips"] is None else None
        self.i3d = load_i3d(i3d_path, device=device) if status["fvd"] is None else None
        self._features: dict[int, dict[str, list[np.ndarray]]] = {}  # clip length -> "real"/"fake" features

    @property
    def active(self) -> bool:
        """Whether any metric has its weights."""
        return any(network is not None for network in (self.clip, self.lpips, self.i3d))

    def score(self, video: np.ndarray, prompt: str | None, reference: np.ndarray | None = None) -> dict[str, float]:
        """Per-video scores of uint8 (t h w 3) `video`; `reference` (t' h w 3), when given, joins the FVD sets."""
        scores = {}
        if self.clip is not None and prompt:
            scores["clip_score"] = float(clip_frame_scores(video, prompt, self.clip, device=self.device).mean())
        if self.lpips is not None and len(video) > 1:
            changes = lpips_per_frame(video[:-1], video[1:], self.lpips, device=self.device)
            scores["lpips_consecutive"] = float(changes.mean())
        if self.i3d is not None and reference is not None:
            frames = min(FVD_FRAMES, len(video), len(reference))
            sets = self._features.setdefault(frames, {"real": [], "fake": []})
            sets["fake"].append(i3d_features([video[:frames]], self.i3d, device=self.device))
            sets["real"].append(i3d_features([reference[:frames]], self.i3d, device=self.device))
        return scores

    @property
    def fvd_frames(self) -> int | None:
        """The clip length the FVD is over: the one most pairs have, the longest of a tie; None before any."""
        if not self._features:
            return None
        return max(self._features, key=lambda frames: (len(self._features[frames]["fake"]), frames))

    @property
    def fvd_left_out(self) -> int:
        """Pairs of another length than `fvd_frames`, not in the FVD."""
        return sum(len(sets["fake"]) for frames, sets in self._features.items() if frames != self.fvd_frames)

    def fvd(self) -> float | None:
        """FVD over the videos scored with a reference, at `fvd_frames`; None with fewer than 2 or no I3D."""
        if self.i3d is None or self.fvd_frames is None or len(self._features[self.fvd_frames]["fake"]) < 2:
            return None
        sets = self._features[self.fvd_frames]
        return frechet_distance_from_features(np.concatenate(sets["real"]), np.concatenate(sets["fake"]))
