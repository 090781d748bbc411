"""Properties of the causal tokenizer: shapes, causality, streaming equals full passes, exact
save/load, quantizer round trips and clear errors. Tiny random-weight models keep this fast."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from arvid.tokenizer import TokenizerConfig, VideoTokenizer, frames_to_video

# float32 error of a streamed pass against the whole-clip pass: the same ops in a different
# grouping of frames, so only summation order differs (seen: ~2e-6).
STREAM_ATOL = 1e-5


def small_config(**overrides) -> TokenizerConfig:
    base = dict(image_size=32, channels=8, channel_multipliers=(1, 2, 2), time_downsample=(True, True),
                res_blocks=1, decoder_res_blocks=1, patch_size=2, norm_groups=4, codebook_bits=6)
    return TokenizerConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def tokenizer() -> VideoTokenizer:
    torch.manual_seed(0)
    return VideoTokenizer(small_config()).eval()


def random_video(frames: int, size: int = 32, batch: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, frames, size, size, generator=generator) * 2 - 1


@pytest.mark.parametrize("frames,latent_frames", [(1, 1), (5, 2), (9, 3), (17, 5)])
def test_shapes_for_images_and_videos(tokenizer, frames, latent_frames):
    video = random_video(frames)
    codes = tokenizer.encode(video)
    assert codes.shape == (2, latent_frames, 4, 4) and codes.dtype == torch.int64
    assert tokenizer.latent_shape(frames, 32, 32) == (latent_frames, 4, 4)
    assert tokenizer.decode(codes).shape == video.shape


def test_non_square_video(tokenizer):
    video = torch.rand(1, 3, 5, 16, 40) * 2 - 1
    assert tokenizer.encode(video).shape == (1, 2, 2, 5)


def test_encoder_is_causal(tokenizer):
    video = random_video(17)
    changed = video.clone()
    changed[:, :, 9:] = torch.rand_like(changed[:, :, 9:])  # frames 9.. belong to latent frames 3..
    codes, changed_codes = tokenizer.encode(video), tokenizer.encode(changed)
    assert torch.equal(codes[:, :3], changed_codes[:, :3])
    assert not torch.equal(codes[:, 3:], changed_codes[:, 3:])


def test_decoder_is_causal(tokenizer):
    codes = tokenizer.encode(random_video(17))
    changed = codes.clone()
    changed[:, 3:] = (changed[:, 3:] + 1) % tokenizer.codebook_size
    video, changed_video = tokenizer.decode(codes), tokenizer.decode(changed)
    assert torch.equal(video[:, :, :9], changed_video[:, :, :9])  # latent frame k -> frames up to 4k
    assert not torch.equal(video[:, :, 9:], changed_video[:, :, 9:])


def test_streaming_encode_equals_full(tokenizer):
    video = random_video(17)
    stream = tokenizer.streaming_encoder()
    parts = [stream.push(video[:, :, :1])] + [stream.push(video[:, :, 1 + 4 * i: 5 + 4 * i]) for i in range(4)]
    assert torch.equal(torch.cat(parts, dim=1), tokenizer.encode(video))


def test_streaming_decode_equals_full(tokenizer):
    codes = tokenizer.encode(random_video(17))
    stream = tokenizer.streaming_decoder()
    parts = [stream.push(codes[:, i: i + 1]) for i in range(codes.shape[1])]
    assert [p.shape[2] for p in parts] == [1, 4, 4, 4, 4]
    torch.testing.assert_close(torch.cat(parts, dim=2), tokenizer.decode(codes), atol=STREAM_ATOL, rtol=0)


def test_push_frames_takes_one_latent_frame_and_says_so(tokenizer):
    codes = tokenizer.encode(random_video(5, batch=1))
    stream = tokenizer.streaming_decoder()
    assert stream.push_frames(codes[0, 0]).shape == (1, 32, 32, 3)
    with pytest.raises(ValueError, match=r"one latent frame's codes, a tensor \(h', w'\), got \(2, 4, 4\)"):
        stream.push_frames(codes[0, :2])


def test_streaming_decode_in_uneven_chunks(tokenizer):
    codes = tokenizer.encode(random_video(17, batch=1))
    stream = tokenizer.streaming_decoder()
    parts = [stream.push(codes[:, :2]), stream.push(codes[:, 2:3]), stream.push(codes[:, 3:])]
    torch.testing.assert_close(torch.cat(parts, dim=2), tokenizer.decode(codes), atol=STREAM_ATOL, rtol=0)


def test_rows_of_a_batched_streaming_decoder_go_on_alone(tokenizer):
    """Candidates decoded as one batch, then the kept one continued by itself (`rows`): the same frames
    as a decoder that only ever saw that row."""
    codes = tokenizer.encode(random_video(17, batch=3))
    batched = tokenizer.streaming_decoder()
    batched.push(codes[:, :3])
    kept = batched.rows([1])
    alone = tokenizer.streaming_decoder()
    alone.push(codes[1:2, :3])
    expected = alone.push(codes[1:2, 3:])
    torch.testing.assert_close(kept.push(codes[1:2, 3:]), expected, atol=STREAM_ATOL, rtol=0)
    assert not torch.allclose(batched.rows([0]).push(codes[1:2, 3:]), expected, atol=STREAM_ATOL)  # another past


def test_streaming_encoder_rejects_wrong_chunk(tokenizer):
    stream = tokenizer.streaming_encoder()
    with pytest.raises(ValueError, match="expects"):
        stream.push(random_video(4))


@pytest.mark.parametrize("kernel, stride", [((1, 3, 3), (1, 1, 1)), ((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (1, 1, 1)),
                                            ((3, 3, 3), (2, 2, 2)), ((3, 3, 3), (1, 2, 2))])
def test_a_causal_conv_is_the_3d_conv_it_stands_for(kernel, stride):
    """`CausalConv3d` runs a single video's kernel as one 2D convolution per time tap (`_as_2d_convs`),
    a batch's as `nn.Conv3d`: both give that conv's output over the input after `kernel - 1` zero frames."""
    from arvid.tokenizer.layers import CausalCache, CausalConv3d

    torch.manual_seed(0)
    conv = CausalConv3d(6, 10, kernel, stride=stride)
    x = torch.randn(2, 6, 9, 12, 10)
    padded = torch.cat([x.new_zeros(2, 6, kernel[0] - 1, 12, 10), x], dim=2)
    with torch.no_grad():
        expected = conv.conv(padded)
        batch = conv(x, CausalCache())
        alone = torch.cat([conv(x[row:row + 1], CausalCache()) for row in range(2)])
        by_taps = conv._as_2d_convs(padded, expected.shape[2])
    for got in (batch, alone, by_taps):
        assert got.shape == expected.shape and torch.allclose(got, expected, atol=STREAM_ATOL)


@pytest.mark.parametrize("quantizer", ["lfq", "fsq"])
def test_quantizer_index_round_trip(quantizer):
    torch.manual_seed(0)
    model = VideoTokenizer(small_config(quantizer=quantizer, fsq_levels=(5, 5, 4, 3))).eval()
    codes = torch.randint(0, model.codebook_size, (2, 3, 4, 4))
    latents = model.quantizer.indices_to_codes(codes)
    assert latents.shape == (2, model.config.latent_channels, 3, 4, 4)
    assert torch.equal(model.quantizer.codes_to_indices(latents), codes)
    # what the encoder's quantizer outputs decodes back to the indices it reports
    quantized = model.quantizer(torch.randn(2, model.config.latent_channels, 3, 4, 4))
    assert torch.equal(model.quantizer.codes_to_indices(quantized.codes), quantized.indices)


def test_a_loaded_tokenizer_knows_how_to_be_loaded_again(tokenizer, tmp_path):
    """What token shards record as the tokenizer's name: a shipped one's short name, else its folder."""
    assert tokenizer.source is None  # built in memory
    tokenizer.save_pretrained(tmp_path / "tok")
    assert VideoTokenizer.from_pretrained(tmp_path / "tok").source == str((tmp_path / "tok").resolve())
    assert VideoTokenizer.from_pretrained("shapes").source == "shapes"


def test_save_load_round_trip_is_exact(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "tok")
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == ["config.json", "model.safetensors"]
    loaded = VideoTokenizer.from_pretrained(tmp_path / "tok")
    for (name, a), (_, b) in zip(tokenizer.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    video = random_video(9)
    assert torch.equal(loaded.encode(video), tokenizer.encode(video))
    assert torch.equal(loaded.decode(tokenizer.encode(video)), tokenizer.decode(tokenizer.encode(video)))


@pytest.mark.parametrize("quantizer, unused", [("fsq", "codebook_bits"), ("lfq", "fsq_levels")])
def test_a_saved_config_leaves_out_the_setting_its_quantizer_does_not_read(quantizer, unused, tmp_path):
    """An FSQ tokenizer's config.json has no `codebook_bits` (it would misstate its code count), an LFQ
    one no `fsq_levels`; the folder loads again, also into a trainer whose config sets the unused one."""
    from arvid.training.checkpoint import load_module_weights

    config = small_config(quantizer=quantizer, fsq_levels=(4, 4, 3), codebook_bits=6)
    VideoTokenizer(config).save_pretrained(tmp_path / "tok")
    saved = json.loads((tmp_path / "tok" / "config.json").read_text())
    assert unused not in saved and {"codebook_bits", "fsq_levels"} - {unused} <= set(saved)
    assert VideoTokenizer.from_pretrained(tmp_path / "tok").codebook_size == (48 if quantizer == "fsq" else 64)
    other = small_config(quantizer=quantizer, fsq_levels=(4, 4, 3) if quantizer == "fsq" else (8, 5),
                         codebook_bits=6 if quantizer == "lfq" else 16)
    load_module_weights(VideoTokenizer(other), tmp_path / "tok", other)
    swapped = small_config(quantizer="lfq" if quantizer == "fsq" else "fsq", fsq_levels=(4, 4, 3), codebook_bits=6)
    with pytest.raises(ValueError, match=f"another architecture: quantizer is '{quantizer}' there"):
        load_module_weights(VideoTokenizer(swapped), tmp_path / "tok", swapped)


def test_the_codes_fingerprint_follows_the_encoder_and_quantizer_not_the_decoder():
    """Equal for tokenizers that encode alike, whatever their decoders; a changed encoder weight (in
    place, or loaded) changes it, also after it was read once (it is kept between calls)."""
    torch.manual_seed(0)
    first = VideoTokenizer(small_config())
    second = VideoTokenizer(small_config())
    second.encoder.load_state_dict(first.encoder.state_dict())
    assert first.codes_fingerprint() == second.codes_fingerprint()  # decoders differ
    before = first.codes_fingerprint()
    with torch.no_grad():
        next(first.encoder.parameters()).add_(1e-3)
    assert first.codes_fingerprint() != before
    first.load_state_dict(second.state_dict())
    assert first.codes_fingerprint() == before
    third = VideoTokenizer(small_config())
    assert third.codes_fingerprint() != before
    with torch.inference_mode():  # tensors without a version counter: hashed every time, not kept
        built = VideoTokenizer(small_config())
        built.load_state_dict(second.state_dict())
        assert built.codes_fingerprint() == before == built.codes_fingerprint()


def test_training_forward_has_gradients_and_losses():
    torch.manual_seed(0)
    model = VideoTokenizer(small_config()).train()
    out = model(random_video(5))
    assert out.reconstruction.shape == (2, 3, 5, 32, 32)
    assert out.quantized.per_sample_entropy > 0 and out.quantized.commitment > 0
    out.reconstruction.mean().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


@pytest.mark.parametrize("shape,message", [
    ((2, 3, 6, 32, 32), "1 \\+ 4k frames"),
    ((2, 3, 0, 32, 32), "1 \\+ 4k frames"),
    ((2, 1, 5, 32, 32), "\\(b, 3, t, h, w\\)"),
    ((3, 5, 32, 32), "\\(b, 3, t, h, w\\)"),
    ((0, 3, 5, 32, 32), "b >= 1"),
    ((2, 3, 5, 30, 32), "multiples of 8"),
])
def test_bad_videos_raise(tokenizer, shape, message):
    with pytest.raises(ValueError, match=message):
        tokenizer.encode(torch.zeros(shape))


def test_integer_video_raises(tokenizer):
    with pytest.raises(ValueError, match="float"):
        tokenizer.encode(torch.zeros(1, 3, 5, 32, 32, dtype=torch.uint8))


@pytest.mark.parametrize("video,message", [
    (torch.full((1, 3, 5, 32, 32), 255.0), "values in \\[-1, 1\\], got values in \\[255, 255\\]; uint8 frames"),
    (torch.rand(1, 3, 5, 32, 32) * 0.9 + 0.05 - 1.5, "expected values in \\[-1, 1\\]"),  # in [-1.45, -0.55]
    (torch.full((1, 3, 1, 32, 32), float("nan")), "NaN or infinite"),
    (torch.full((1, 3, 1, 32, 32), float("inf")), "NaN or infinite"),
])
def test_videos_out_of_range_or_not_finite_raise(tokenizer, video, message):
    with pytest.raises(ValueError, match=message):
        tokenizer.encode(video)
    with pytest.raises(ValueError, match=message):
        tokenizer.streaming_encoder().push(video[:, :, :1])


def test_a_resampled_videos_overshoot_is_accepted(tokenizer):
    """Bicubic resampling of a video in [-1, 1] overshoots by a few hundredths (3% measured on bikes.mp4)."""
    video = random_video(5).clamp(-1, 1) * 1.05
    assert tokenizer.encode(video).shape == (2, 2, 4, 4)
    with pytest.raises(ValueError, match=r"clamp\(-1, 1\)"):
        tokenizer.encode(video * 1.1)


def test_frames_whose_strides_run_backwards_are_taken():
    """OpenCV's frames turned from BGR to RGB as `frame[..., ::-1]`, or a clip reversed."""
    frames = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    assert torch.equal(frames_to_video(frames[..., ::-1]), frames_to_video(frames[..., ::-1].copy()))
    assert torch.equal(frames_to_video(frames[::-1]), frames_to_video(frames[::-1].copy()))


def test_a_video_in_0_1_is_accepted_only_as_far_as_the_range_allows(tokenizer):
    """[0, 1] lies inside [-1, 1], so it cannot be told from a bright video: encoded, not refused."""
    assert tokenizer.encode(torch.rand(1, 3, 1, 32, 32)).shape == (1, 1, 4, 4)


def test_arrays_are_refused_with_the_conversion_named(tokenizer):
    with pytest.raises(ValueError, match="torch.from_numpy"):
        tokenizer.encode(random_video(5).numpy())
    with pytest.raises(ValueError, match="torch.from_numpy"):
        tokenizer.decode(tokenizer.encode(random_video(5)).numpy())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_videos_are_encoded_as_the_model_reads_them(tokenizer, dtype):
    video = random_video(5).to(dtype)
    assert torch.equal(tokenizer.encode(video), tokenizer.encode(video.float()))


def test_a_bfloat16_model_encodes_and_decodes_float32_inputs():
    torch.manual_seed(0)
    model = VideoTokenizer(small_config()).eval().to(torch.bfloat16)
    codes = model.encode(random_video(5))
    assert model.decode(codes).dtype == torch.bfloat16
    assert model.streaming_decoder().push(codes[:, :1]).shape == (2, 3, 1, 32, 32)


@pytest.mark.parametrize("dtype", [torch.int16, torch.uint8, torch.uint16, torch.int32])
def test_narrow_integer_codes_are_range_checked_without_overflow(tokenizer, dtype):
    codes = tokenizer.encode(random_video(5))
    torch.testing.assert_close(tokenizer.decode(codes.to(dtype)), tokenizer.decode(codes))
    if dtype != torch.uint8:
        with pytest.raises(ValueError, match="\\[0, 64\\), got values in \\[0, 300\\]"):
            tokenizer.decode(torch.tensor([0, 300], dtype=dtype).reshape(1, 1, 1, 2))


def test_a_stream_refuses_another_size_or_batch_part_way(tokenizer):
    video = random_video(5)
    encoder = tokenizer.streaming_encoder()
    encoder.push(video[:, :, :1])
    with pytest.raises(ValueError, match="size 40x32 \\(h x w\\) cannot continue a stream begun at batch 2 and 32x32"):
        encoder.push(torch.zeros(2, 3, 4, 40, 32))
    with pytest.raises(ValueError, match="batch 1 and size 32x32"):
        encoder.push(video[:1, :, 1:])
    codes = tokenizer.encode(video)
    decoder = tokenizer.streaming_decoder()
    decoder.push(codes[:, :1])
    with pytest.raises(ValueError, match="codes of batch 2 and size 5x4"):
        decoder.push(torch.zeros(2, 1, 5, 4, dtype=torch.long))
    assert decoder.rows([1]).push(codes[1:, 1:]).shape == (1, 3, 4, 32, 32)


@pytest.mark.parametrize("codes,message", [
    (torch.full((1, 2, 4, 4), 64), "\\[0, 64\\)"),
    (torch.full((1, 2, 4, 4), -1), "\\[0, 64\\)"),
    (torch.zeros(2, 4, 4, dtype=torch.long), "\\(b, t', h', w'\\)"),
    (torch.zeros(1, 2, 4, 4), "integer"),
])
def test_bad_codes_raise(tokenizer, codes, message):
    with pytest.raises(ValueError, match=message):
        tokenizer.decode(codes)


def test_mismatched_checkpoint_raises(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "tok")
    other = VideoTokenizer(small_config(channels=16))
    with pytest.raises(ValueError, match="another architecture: channels"):
        other.load_weights(tmp_path / "tok")


def test_checkpoint_with_foreign_config_raises(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({"n_layer": 4}))
    with pytest.raises(ValueError, match="does not hold a tokenizer config"):
        VideoTokenizer.from_pretrained(tmp_path / "bad")


def test_missing_checkpoint_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        VideoTokenizer.from_pretrained(tmp_path / "nothing")


def test_a_training_runs_folder_points_to_its_checkpoint(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "run" / "checkpoint")
    with pytest.raises(FileNotFoundError, match="a training run's folder\\? its checkpoint is '.*run/checkpoint'"):
        VideoTokenizer.from_pretrained(tmp_path / "run")


def test_config_rejects_inconsistent_fields():
    with pytest.raises(ValueError, match="time_downsample"):
        TokenizerConfig(channel_multipliers=(1, 2), time_downsample=(True, True))
    with pytest.raises(ValueError, match="spatial factor"):
        TokenizerConfig(image_size=60)


def test_latent_frames_for_covers_a_frame_count(tokenizer):
    # The fewest latent frames whose decoded length reaches n: 1 -> 1, 2..5 -> 2, 6..9 -> 3, 16 -> 5.
    assert [tokenizer.latent_frames_for(n) for n in (1, 2, 5, 6, 9, 16, 17)] == [1, 2, 2, 3, 3, 5, 5]
    for n in range(1, 30):
        latent = tokenizer.latent_frames_for(n)
        assert tokenizer.video_frames(latent) >= n
        assert latent == 1 or tokenizer.video_frames(latent - 1) < n


def test_video_to_frames_refuses_frames_first_and_numpy_clips():
    # A (t, 3, h, w) clip was read as (c, t, h, w): 8 frames of 3 channels became 3 "frames" of 8.
    from arvid.tokenizer.model import video_to_frames

    with pytest.raises(ValueError, match=r"expected a video \(3, t, h, w\) or \(1, 3, t, h, w\), got \(5, 3, 8, 8\)"):
        video_to_frames(torch.zeros(5, 3, 8, 8))
    with pytest.raises(ValueError, match="got ndarray"):
        video_to_frames(np.zeros((3, 5, 8, 8), np.float32))
    assert video_to_frames(torch.zeros(1, 3, 5, 8, 8)).shape == (5, 8, 8, 3)


def test_from_pretrained_names_a_device_it_cannot_use(tmp_path, tokenizer):
    tokenizer.save_pretrained(tmp_path / "tok")
    with pytest.raises(ValueError, match="device 'gpu': Expected one of cpu, cuda"):
        VideoTokenizer.from_pretrained(tmp_path / "tok", device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' asked for, but no CUDA device is visible"):
            VideoTokenizer.from_pretrained(tmp_path / "tok", device="cuda")


def test_a_bf16_decoder_on_a_cpu_without_native_bf16_is_said_once(tokenizer, monkeypatch):
    """Emulated bfloat16 made the streaming decoder 35 times slower on an AVX2 CPU: one warning a
    process, whatever the number of decoders (every stream and candidate makes one); none in float32."""
    import warnings

    import arvid.tokenizer.model as model

    monkeypatch.setattr(model, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(model, "_software_bf16_said", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tokenizer.streaming_decoder()
        assert not caught
        tokenizer.streaming_decoder(bf16=True)
        tokenizer.streaming_decoder(bf16=True).rows([0])
    assert [w.category for w in caught] == [model.SoftwareBF16Warning]
    assert "no native bfloat16" in str(caught[0].message)
