"""Metrics with pretrained networks, tested without any weights.

The Fréchet distance is checked against closed forms. FVD, LPIPS and CLIP score run their full
pipelines with stand-ins: small TorchScript modules with the real networks' call signatures, and a
tiny randomly initialised CLIPModel saved to disk, so what is tested is resizing, scaling,
batching, loading and the arithmetic, not the networks.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from arvid.metrics.frechet import frechet_distance, frechet_distance_from_features, gaussian_statistics
from arvid.metrics.pretrained import (
    MissingWeights,
    clip_frame_scores,
    clip_score,
    fvd,
    i3d_features,
    load_clip,
    load_i3d,
    lpips_distance,
    pretrained_metric_status,
)


def random_covariance(rng: np.random.Generator, dim: int) -> np.ndarray:
    factor = rng.normal(size=(dim, dim))
    return factor @ factor.T + 0.1 * np.eye(dim)


# ------------------------------------------------------------------------------ Fréchet distance


def test_identical_feature_sets_are_at_distance_zero():
    features = np.random.default_rng(0).normal(size=(300, 6))
    assert frechet_distance_from_features(features, features) == pytest.approx(0.0, abs=1e-9)


def test_shifted_means_give_squared_shift():
    rng = np.random.default_rng(1)
    cov, mean, shift = random_covariance(rng, 5), rng.normal(size=5), rng.normal(size=5)
    assert frechet_distance(mean, cov, mean + shift, cov) == pytest.approx(shift @ shift, rel=1e-9)
    # Shifting samples leaves their covariance exactly as it was, so the sampled answer is exact too.
    features = rng.normal(size=(200, 5))
    assert frechet_distance_from_features(features, features + shift) == pytest.approx(shift @ shift, rel=1e-9)


MEAN1, VAR1 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 4.0, 0.25])
MEAN2, VAR2 = np.array([0.5, 1.0, 1.5]), np.array([2.25, 1.0, 0.25])
# For diagonal covariances sqrt(C1 C2) = diag(sqrt(a b)), so the trace term is sum((sqrt(a) - sqrt(b))^2).
DIAGONAL_ANSWER = np.sum((MEAN1 - MEAN2) ** 2) + np.sum((np.sqrt(VAR1) - np.sqrt(VAR2)) ** 2)  # 0.5 + 1.25


def test_diagonal_gaussians_match_closed_form():
    assert frechet_distance(MEAN1, np.diag(VAR1), MEAN2, np.diag(VAR2)) == pytest.approx(DIAGONAL_ANSWER, rel=1e-12)


def test_diagonal_gaussians_from_samples_match_closed_form():
    rng = np.random.default_rng(2)
    samples = 100_000
    features1 = MEAN1 + np.sqrt(VAR1) * rng.normal(size=(samples, 3))
    features2 = MEAN2 + np.sqrt(VAR2) * rng.normal(size=(samples, 3))
    # Sampling error at n = 1e5: the mean term moves by about 2 |mu1 - mu2| sqrt((a + b) / n) ~ 0.006, each
    # sqrt(variance) by sqrt(a / 2n) <= 0.005, moving its term by 2 |sqrt(a) - sqrt(b)| 0.005 <= 0.01, and
    # the spurious off-diagonal covariances (~ 1 / sqrt(n)) enter only to second order. Measured over 30
    # seeds: standard deviation 0.012, largest error 0.026. 0.05 is 4 standard deviations (and the seed is
    # fixed), yet any real formula error moves the answer by >= 0.25 here.
    assert frechet_distance_from_features(features1, features2) == pytest.approx(DIAGONAL_ANSWER, abs=0.05)


def test_full_covariances_match_eigenvalue_formula_and_are_symmetric():
    rng = np.random.default_rng(3)
    dim = 7
    mean1, mean2 = rng.normal(size=dim), rng.normal(size=dim)
    cov1, cov2 = random_covariance(rng, dim), random_covariance(rng, dim)
    # C1 C2 is similar to C1^1/2 C2 C1^1/2, which is PSD, so Tr sqrt(C1 C2) is the sum of the square
    # roots of its (real, non-negative) eigenvalues: an independent route to the same number.
    trace_sqrt = np.sqrt(np.linalg.eigvals(cov1 @ cov2).real.clip(min=0)).sum()
    expected = np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * trace_sqrt
    forward = frechet_distance(mean1, cov1, mean2, cov2)
    assert forward == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mean2, cov2, mean1, cov1) == pytest.approx(forward, rel=1e-9)
    features1, features2 = rng.normal(size=(50, dim)), 2.0 * rng.normal(size=(60, dim)) + 1.0
    assert frechet_distance_from_features(features1, features2) == pytest.approx(
        frechet_distance_from_features(features2, features1), rel=1e-9)


def test_fewer_samples_than_features_still_gives_a_finite_distance():
    # 10 samples of 40 features: rank-9 covariances, a singular product, as in an FVD on few videos.
    rng = np.random.default_rng(4)
    features, shift = rng.normal(size=(10, 40)), rng.normal(size=40)
    assert frechet_distance_from_features(features, features) == pytest.approx(0.0, abs=1e-4)
    assert frechet_distance_from_features(features, features + shift) == pytest.approx(shift @ shift, abs=1e-4)


def test_eps_fallback_when_square_root_is_not_finite(monkeypatch):
    # scipy 1.17's sqrtm returns finite values for singular products; older ones return inf/nan,
    # which the eps * I fallback must absorb. Simulate that with a first call that fails.
    rng = np.random.default_rng(5)
    mean, cov, shift = rng.normal(size=4), random_covariance(rng, 4), rng.normal(size=4)
    real_sqrtm, calls = scipy.linalg.sqrtm, []

    def failing_once(matrix):
        calls.append(matrix)
        return np.full_like(matrix, np.nan) if len(calls) == 1 else real_sqrtm(matrix)

    monkeypatch.setattr(scipy.linalg, "sqrtm", failing_once)
    assert frechet_distance(mean, cov, mean + shift, cov) == pytest.approx(shift @ shift, abs=1e-4)
    assert len(calls) == 2


def test_frechet_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        gaussian_statistics(np.zeros(5))
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="widths differ"):
        frechet_distance_from_features(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))


# ---------------------------------------------------------------------------------------- FVD


class StandInI3D(torch.nn.Module):
    """Called like StyleGAN-V's I3D; returns per-channel mean, std and mean |frame difference| (9 features)."""

    def forward(self, videos: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        if rescale or resize or not return_features:
            raise RuntimeError("expected rescale=False, resize=False, return_features=True")
        if videos.dim() != 5 or videos.shape[1] != 3 or videos.shape[3] != 224 or videos.shape[4] != 224:
            raise RuntimeError("expected (n, 3, t, 224, 224)")
        if videos.min() < -1.0 or videos.max() > 1.0:
            raise RuntimeError("expected values in [-1, 1]")
        motion = (videos[:, :, 1:] - videos[:, :, :-1]).abs().mean(dim=(2, 3, 4))
        return torch.cat([videos.mean(dim=(2, 3, 4)), videos.std(dim=(2, 3, 4)), motion], dim=1)


class StandInLPIPS(torch.nn.Module):
    """Called like a traced lpips.LPIPS; returns the mean squared difference as (n, 1, 1, 1) or (n,)."""

    def __init__(self, flat: bool):
        super().__init__()
        self.flat = flat

    def forward(self, frames_a: torch.Tensor, frames_b: torch.Tensor) -> torch.Tensor:
        if frames_a.dim() != 4 or frames_a.shape[1] != 3 or frames_a.shape != frames_b.shape:
            raise RuntimeError("expected two (n, 3, h, w)")
        if frames_a.min() < -1.0 or frames_a.max() > 1.0:
            raise RuntimeError("expected values in [-1, 1]")
        distance = (frames_a - frames_b).pow(2).mean(dim=(1, 2, 3), keepdim=True)
        return distance.flatten() if self.flat else distance


def save_torchscript(module: torch.nn.Module, path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated in recent torch
        torch.jit.script(module).save(str(path))
    return str(path)


@pytest.fixture
def i3d_path(tmp_path):
    return save_torchscript(StandInI3D(), tmp_path / "i3d_torchscript.pt")


def random_videos(seed: int, count: int, frames: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # Sizes differ from each other and from 224 on both sides, so every video is resized.
    return [rng.integers(0, 200, (frames, 20 + 3 * index, 30 - index, 3), dtype=np.uint8) for index in range(count)]


def test_fvd_is_zero_for_identical_sets_and_grows_with_brightness(i3d_path):
    videos = random_videos(0, 12)
    assert fvd(videos, videos, i3d_path, batch_size=5) == pytest.approx(0.0, abs=1e-6)
    brighter = [video + np.uint8(20) for video in videos]
    much_brighter = [video + np.uint8(50) for video in videos]  # values stay below 255: no clipping
    small, large = fvd(videos, brighter, i3d_path), fvd(videos, much_brighter, i3d_path)
    assert 0 < small < large


def test_i3d_features_scale_to_minus_one_one_and_ignore_batching(i3d_path):
    # Each frame one flat colour: resizing keeps it exactly, so the mean features are known in closed form.
    rng = np.random.default_rng(1)
    colours = rng.integers(0, 256, (5, 3, 1, 1, 3), dtype=np.uint8)  # (videos, frames, 1, 1, rgb)
    videos = np.broadcast_to(colours, (5, 3, 17, 23, 3)).copy()
    detector = load_i3d(i3d_path)
    features = i3d_features(videos, detector, batch_size=2)
    assert features.shape == (5, 9) and features.dtype == np.float64
    expected_means = colours.reshape(5, 3, 3).mean(axis=1) / 127.5 - 1.0
    np.testing.assert_allclose(features[:, :3], expected_means, atol=1e-6)
    np.testing.assert_allclose(i3d_features(list(videos), detector, batch_size=5), features, atol=1e-6)


def test_i3d_input_of_a_wide_video_is_its_centre_not_squashed(i3d_path):
    """As the FVD code of StyleGAN-V and common_metrics_on_video_quality: short side to 224, then the
    centre 224 x 224; a 32x64 video white over its middle 40 columns (the centre 32 and a margin the
    bilinear filter reaches) and black at both ends reads all white (squashed to 224 x 224 it read a
    third black). Tall videos alike."""
    wide = np.zeros((2, 32, 64, 3), np.uint8)
    wide[:, :, 12:52] = 255
    detector = load_i3d(i3d_path)
    for video in (wide, wide.transpose(0, 2, 1, 3).copy()):
        features = i3d_features([video], detector)
        np.testing.assert_allclose(features[0, :3], 1.0, atol=1e-6)  # the mean of every channel: white


def test_scorers_pool_only_clips_of_one_length_for_fvd(i3d_path):
    """FVD compares clips of one length: fed one video at a time, pairs shorter than 16 frames are
    kept apart, the FVD is over the length most pairs have (a short one first changes nothing), and
    the others are counted, not mixed into the sets."""
    from arvid.metrics.pretrained import PretrainedScorers

    scorers = PretrainedScorers(i3d_path=i3d_path)
    long, short = random_videos(0, 3, frames=20), random_videos(1, 1, frames=8)
    for video in (*short, *long):
        scorers.score(video, None, reference=video[::-1].copy())
    assert (scorers.fvd_frames, scorers.fvd_left_out) == (16, 1)
    expected = fvd([video[::-1][:16].copy() for video in long], [video[:16] for video in long], i3d_path)
    assert scorers.fvd() == pytest.approx(expected)


def test_fvd_rejects_bad_inputs(i3d_path):
    videos = random_videos(0, 3)
    with pytest.raises(ValueError, match="at least 2 videos"):
        fvd(videos[:1], videos, i3d_path)
    with pytest.raises(ValueError, match="empty"):
        fvd([], videos, i3d_path)
    with pytest.raises(ValueError, match=r"uint8 \(t, h, w, 3\)"):
        fvd([video.astype(np.float32) for video in videos], videos, i3d_path)
    with pytest.raises(ValueError, match=r"uint8 \(t, h, w, 3\)"):
        fvd([video[..., :2] for video in videos], videos, i3d_path)
    with pytest.raises(ValueError, match="frame counts"):
        fvd(videos + random_videos(1, 1, frames=5), videos, i3d_path)
    with pytest.raises(ValueError, match="frames"):
        fvd(videos, random_videos(1, 2, frames=5), i3d_path)


def test_weights_that_are_not_torchscript_are_rejected(tmp_path):
    path = tmp_path / "i3d.pt"
    path.write_bytes(b"not a TorchScript archive")
    with pytest.raises(ValueError, match="not a TorchScript file"):
        load_i3d(path)


# -------------------------------------------------------------------------------------- LPIPS


@pytest.mark.parametrize("flat", [False, True])
def test_lpips_runs_per_frame_on_minus_one_one(tmp_path, flat):
    lpips_path = save_torchscript(StandInLPIPS(flat), tmp_path / "lpips.pt")
    rng = np.random.default_rng(2)
    video_a = rng.integers(0, 256, (5, 18, 26, 3), dtype=np.uint8)
    video_b = rng.integers(0, 256, (5, 18, 26, 3), dtype=np.uint8)
    per_frame = lpips_distance(video_a, video_b, lpips_path, batch_size=2)  # 2 + 2 + 1: a short last batch
    scaled_a, scaled_b = video_a / 127.5 - 1.0, video_b / 127.5 - 1.0
    expected = ((scaled_a - scaled_b) ** 2).mean(axis=(1, 2, 3))
    assert per_frame.shape == (5,) and per_frame.dtype == np.float64
    np.testing.assert_allclose(per_frame, expected, rtol=1e-5)
    assert lpips_distance(video_a, video_a, lpips_path).mean() == 0.0


def test_lpips_rejects_mismatched_videos(tmp_path):
    lpips_path = save_torchscript(StandInLPIPS(False), tmp_path / "lpips.pt")
    video = np.zeros((3, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        lpips_distance(video, video[:2], lpips_path)
    with pytest.raises(ValueError, match="uint8"):
        lpips_distance(video.astype(np.int64), video, lpips_path)


# ---------------------------------------------------------------------------------- CLIP score


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """A tiny random CLIPModel with a CLIPProcessor: printable-ASCII byte vocabulary, no merges, 32 px images."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder = tmp_path_factory.mktemp("clip")
    characters = [chr(code) for code in range(33, 127)]
    vocab = ["<|startoftext|>", "<|endoftext|>"] + characters + [character + "</w>" for character in characters]
    (folder / "vocab.json").write_text(json.dumps({token: index for index, token in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer.from_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    tiny = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    config = CLIPConfig(
        text_config=dict(tiny, vocab_size=len(vocab), max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(tiny, image_size=32, patch_size=8),
        projection_dim=8,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def direct_clip_scores(clip_dir, video: np.ndarray, prompt: str) -> np.ndarray:
    """100 * max(cos, 0) per frame through the vision and text towers by hand, not CLIPModel.forward."""
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(clip_dir, local_files_only=True).eval()
    processor = CLIPProcessor.from_pretrained(clip_dir, local_files_only=True)
    text = processor.tokenizer([prompt], truncation=True, max_length=model.config.text_config.max_position_embeddings,
                               return_tensors="pt")
    pixels = processor.image_processor(images=list(video), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        image_embeds = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)
        text_embeds = model.text_projection(model.text_model(**text).pooler_output)
    cosine = F.cosine_similarity(image_embeds, text_embeds, dim=-1).double().numpy()
    return 100.0 * np.maximum(cosine, 0.0)


def test_clip_score_matches_direct_computation(clip_dir):
    rng = np.random.default_rng(3)
    video = rng.integers(0, 256, (6, 40, 52, 3), dtype=np.uint8)
    clip = load_clip(clip_dir)
    all_scores = []
    # The second prompt is 17 tokens, one more than the tiny model's 16 positions: it must be truncated.
    for prompt in ["a red ball", "two dogs on grass!"]:
        expected = direct_clip_scores(clip_dir, video, prompt)
        per_frame = clip_frame_scores(video, prompt, clip, batch_size=4)
        np.testing.assert_allclose(per_frame, expected, atol=1e-4)
        score = clip_score(video, prompt, clip_dir)
        assert score == pytest.approx(expected.mean(), abs=1e-4)
        assert 0.0 <= score <= 100.0
        all_scores.append(per_frame)
    # The clamp at 0 must not make the comparison vacuous: some frame of this seed scores above 0.
    assert np.concatenate(all_scores).max() > 0


def test_clip_score_rejects_bad_inputs(clip_dir):
    with pytest.raises(ValueError, match="prompt"):
        clip_score(np.zeros((2, 32, 32, 3), np.uint8), "  ", clip_dir)
    with pytest.raises(ValueError, match="uint8"):
        clip_score(np.zeros((32, 32, 3), np.uint8), "a ball", clip_dir)


# ------------------------------------------------------------------------- missing weights


def test_each_metric_raises_missing_weights_naming_metric_path_and_file(tmp_path):
    videos, absent = random_videos(0, 2), tmp_path / "absent"
    with pytest.raises(MissingWeights, match=r"fvd: no --i3d path given .*i3d_torchscript\.pt"):
        fvd(videos, videos, None)
    with pytest.raises(MissingWeights, match=r"fvd: nothing found at .*absent.*i3d_torchscript\.pt") as caught:
        fvd(videos, videos, absent)
    assert caught.value.metric == "fvd" and caught.value.path == absent
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(MissingWeights, match=r"lpips: nothing found at .*absent.*LPIPS"):
        lpips_distance(videos[0], videos[0], absent)
    with pytest.raises(MissingWeights, match=r"clip_score: no --clip path given .*save_pretrained"):
        clip_score(videos[0], "a ball", None)
    with pytest.raises(MissingWeights, match=r"clip_score: no config\.json in"):
        clip_score(videos[0], "a ball", tmp_path)


def test_status_says_what_will_be_skipped_and_why(tmp_path, i3d_path):
    status = pretrained_metric_status()
    assert status == {
        "fvd": "skipped fvd: no --i3d path given (a local TorchScript I3D, e.g. StyleGAN-V's i3d_torchscript.pt)",
        "lpips": status["lpips"],
        "clip_score": status["clip_score"],
    }
    assert status["lpips"].startswith("skipped lpips: no --lpips path given")
    assert status["clip_score"].startswith("skipped clip_score: no --clip path given")
    absent = tmp_path / "absent.pt"
    assert pretrained_metric_status(i3d_path, absent, tmp_path) == {
        "fvd": None,
        "lpips": f"skipped lpips: nothing found at {absent} (expected a TorchScript export of an LPIPS network, "
                 "see arvid.metrics.pretrained.lpips_distance)",
        "clip_score": f"skipped clip_score: no config.json in {tmp_path} (expected a local CLIP folder written by "
                      "save_pretrained, e.g. openai/clip-vit-base-patch32)",
    }


def test_status_is_clear_when_all_weights_are_in_place(tmp_path, i3d_path, clip_dir):
    lpips_path = save_torchscript(StandInLPIPS(False), tmp_path / "lpips.pt")
    assert pretrained_metric_status(i3d_path, lpips_path, clip_dir) == {"fvd": None, "lpips": None, "clip_score": None}
