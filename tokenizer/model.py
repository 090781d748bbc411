"""`VideoTokenizer`: MAGVIT-v2-style causal 3D conv encoder, quantizer and decoder.

Einops legend: b batch, c channels (3 for RGB), t frames, h height, w width; primed names
(t', h', w') are latent sizes. Videos inside the model are float `b c t h w` in [-1, 1].
Codes are int64 `b t' h' w'`; `t = 1 + temporal_factor * (t' - 1)`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import numbers
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from arvid.configs import ConfigError, load_config, to_dict
from arvid.training.checkpoint import (atomic_folder, holds_only, load_module_weights, resolve_checkpoint,
                                      save_tensors, write_json)
from arvid.tokenizer.config import TokenizerConfig
from arvid.training.device import resolve_device
from arvid.training.precision import cpu_has_native_bf16
from arvid.weights import SHIPPED_TOKENIZERS, shipped_or_folder, tokenizer_name
from arvid.tokenizer.layers import CausalCache, CausalConv3d, Downsample, FrameGroupNorm, ResBlock, Upsample
from arvid.tokenizer.quantizer import Quantizer, QuantizerOutput


class TokenizerOutput(NamedTuple):
    """What a training forward returns: `reconstruction` (b c t h w) and the quantizer's output."""

    reconstruction: Tensor
    quantized: QuantizerOutput


class Encoder(nn.Module):
    """Video (b 3 t h w) -> latents (b d t' h' w'), causal in time."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.patch = config.patch_size
        widths = [config.channels * m for m in config.channel_multipliers]
        self.conv_in = CausalConv3d(3 * self.patch**2, widths[0])
        self.blocks = nn.ModuleList()
        for level, width in enumerate(widths):
            for _ in range(config.res_blocks):
                self.blocks.append(ResBlock(width, width, config.norm_groups, config.level_time_kernel))
            if level + 1 < len(widths):
                self.blocks.append(Downsample(width, widths[level + 1], config.time_downsample[level]))
        self.blocks.append(ResBlock(widths[-1], widths[-1], config.norm_groups))
        self.norm_out = FrameGroupNorm(config.norm_groups, widths[-1])
        self.conv_out = CausalConv3d(widths[-1], config.latent_channels)

    def forward(self, video: Tensor, cache: CausalCache) -> Tensor:
        # Space-to-depth first: full-resolution 3D convs would cost most of the compute on
        # details a patch-wise linear map can carry (as Cosmos-Tokenizer's input wavelets do).
        x = rearrange(video, "b c t (h p1) (w p2) -> b (c p1 p2) t h w", p1=self.patch, p2=self.patch)
        x = self.conv_in(x, cache)
        for block in self.blocks:
            x = block(x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)


class Decoder(nn.Module):
    """Codes (b d t' h' w') -> video (b 3 t h w), causal in time."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.patch = config.patch_size
        widths = [config.channels * m for m in config.channel_multipliers]
        self.conv_in = CausalConv3d(config.latent_channels, widths[-1])
        self.blocks = nn.ModuleList([ResBlock(widths[-1], widths[-1], config.norm_groups)])
        for level in reversed(range(len(widths))):
            for _ in range(config.decoder_res_blocks):
                self.blocks.append(ResBlock(widths[level], widths[level], config.norm_groups, config.level_time_kernel))
            if level > 0:
                self.blocks.append(Upsample(widths[level], widths[level - 1], config.time_downsample[level - 1]))
        self.norm_out = FrameGroupNorm(config.norm_groups, widths[0])
        self.conv_out = CausalConv3d(widths[0], 3 * self.patch**2)

    def forward(self, codes: Tensor, cache: CausalCache) -> Tensor:
        x = self.conv_in(codes, cache)
        for block in self.blocks:
            x = block(x, cache)
        x = self.conv_out(F.silu(self.norm_out(x)), cache)
        return rearrange(x, "b (c p1 p2) t h w -> b c t (h p1) (w p2)", p1=self.patch, p2=self.patch)


class VideoTokenizer(nn.Module):
    """Causal 3D VQ tokenizer: videos to discrete codes and back.

    `forward` is the training entry; `encode` / `decode` are the inference API (no gradients);
    `streaming_encoder()` / `streaming_decoder()` work one latent frame at a time and give the
    same result as whole clips. Images are one-frame videos. `source` is how to load it again (a
    shipped name or its absolute folder, `arvid.weights.tokenizer_name`) once `from_pretrained`
    loaded it; None for one built in memory.
    """

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        self.source: str | None = None
        self._fingerprint: tuple | None = None  # (the weights' identity, their hash): `codes_fingerprint`
        self.encoder = Encoder(config)
        self.quantizer = Quantizer(config)
        self.decoder = Decoder(config)

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(t', h', w') of the codes for a `frames x height x width` video.

        Raises:
            ValueError: `frames` is not `1 + temporal_factor * k`, or a side is not a multiple of
                the spatial factor.
        """
        tf, sf = self.config.temporal_factor, self.config.spatial_factor
        self.config.check_frame_count(frames)
        if height < sf or width < sf or height % sf or width % sf:
            raise ValueError(f"expected height and width that are multiples of {sf}, got {height}x{width}")
        return 1 + (frames - 1) // tf, height // sf, width // sf

    def video_frames(self, latent_frames: int) -> int:
        """Number of video frames decoded from `latent_frames` latent frames."""
        return 1 + self.config.temporal_factor * (latent_frames - 1)

    def latent_frames_for(self, frames: int) -> int:
        """The fewest latent frames that decode to at least `frames` video frames (frames >= 1)."""
        return 1 + -(-(frames - 1) // self.config.temporal_factor)

    def forward(self, video: Tensor, *, frozen_encoder: bool = False) -> TokenizerOutput:
        """Training pass: video (b 3 t h w) in [-1, 1] -> reconstruction (b 3 t h w) and quantizer terms.

        `frozen_encoder`: no graph is kept through the encoder and quantizer (a decoder-only
        training step then skips their backward)."""
        self._check_video(video)
        with torch.no_grad() if frozen_encoder else contextlib.nullcontext():
            quantized = self.quantizer(self.encoder(video, CausalCache()))
        return TokenizerOutput(self.decoder(quantized.codes, CausalCache()), quantized)

    @torch.no_grad()
    def encode(self, video: Tensor) -> Tensor:
        """Video (b 3 t h w) float in [-1, 1] -> codes (b t' h' w') int64. A float video of another
        precision or device than the model's is converted to the model's.

        Raises:
            ValueError: not a tensor; wrong rank, channels, frame count or spatial size; values
                outside [-1, 1] (uint8 frames not yet mapped by `frames_to_video`) or not finite.
        """
        self._check_video(video, values=True)
        video = video.to(self._device(), self._dtype())
        return self.quantizer(self.encoder(video, CausalCache())).indices

    @torch.no_grad()
    def decode(self, codes: Tensor) -> Tensor:
        """Codes (b t' h' w') -> video (b 3 t h w) float in [-1, 1], t = 1 + temporal_factor (t' - 1), in
        the weights' dtype or autocast's (bfloat16 frames stay half the memory); the streaming
        decoder's frames are float32 (compare the two after `.float()`).

        Raises:
            ValueError: not a tensor, not 4-D, an empty axis, not integer, or a code outside [0, codebook_size).
        """
        self._check_codes(codes)
        latents = self.quantizer.indices_to_codes(codes.to(self._device(), torch.long)).to(self._dtype())
        return self.decoder(latents, CausalCache()).clamp(-1, 1)

    def encode_file(self, path: str | Path, *, size: int | tuple[int, int] | str | None = None, max_frames: int | None = None,
                    fps: float | None = None, progress: Callable[[int, int], None] | None = None) -> Tensor:
        """Read a video file (or an image: one frame) at `size`, keep the longest `1 + 4k` prefix
        (at most `max_frames`) and encode it: -> codes (1 t' h' w'), (h', w') = the frame size /
        `spatial_factor`.

        The frames go through `streaming_encoder` a latent frame at a time (the codes `encode`
        gives on the whole clip), so memory holds the decoded frames and one step's activations,
        not a whole clip's: a long clip at its own size fits. `progress(frames_done, frames)` is
        called after each step.

        `size`: None for the trained `image_size` (square); an int or (height, width), reached by
        scaling to cover and a center crop; or "native", the file's own frames center-cropped
        down to a multiple of `spatial_factor` (see `arvid.tokenizer.sizes`).

        Raises:
            arvid.data.video.VideoReadError: the file cannot be read as a video (a subclass of ValueError).
            ValueError: a `size` whose sides are not multiples of `spatial_factor`.
        """
        from arvid.tokenizer.sizes import NATIVE, read_frames

        if size is None:
            size = self.config.image_size
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):  # numpy's integers too
            size = (size, size)
        if isinstance(size, (tuple, list)) and len(size) == 2 and all(
                isinstance(side, numbers.Integral) and not isinstance(side, bool) for side in size):
            size = (int(size[0]), int(size[1]))
        elif size != NATIVE:
            raise ValueError(f"size must be None, an int, a (height, width) pair or {NATIVE!r}, got {size!r}")
        frames = read_frames(path, size, spatial_factor=self.config.spatial_factor, max_frames=max_frames, fps=fps)
        return self.encode_frames(frames, progress=progress)

    def usable_frames(self, frames: int) -> int:
        """How many of `frames` (>= 1) a clip keeps: the longest `1 + temporal_factor * k` prefix."""
        return usable_frames(frames, self.config.temporal_factor)

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray, *, progress: Callable[[int, int], None] | None = None) -> Tensor:
        """Encode uint8 RGB frames (t h w 3), t >= 1, as `encode_file` does: their longest
        `1 + temporal_factor * k` prefix (`usable_frames`), a latent frame at a time -> codes (1 t' h' w').

        Raises:
            ValueError: frames of the wrong shape or dtype, or sides not multiples of `spatial_factor`.
        """
        if np.ndim(frames) != 4 or np.shape(frames)[-1] != 3 or len(frames) < 1:
            raise ValueError(f"expected uint8 frames (t, h, w, 3) with t >= 1, got shape {tuple(np.shape(frames))}")
        usable = self.usable_frames(len(frames))
        encoder, codes, done = self.streaming_encoder(), [], 0
        while done < usable:
            step = 1 if done == 0 else self.config.temporal_factor
            codes.append(encoder.push(frames_to_video(frames[done:done + step])))
            done += step
            if progress is not None:
                progress(done, usable)
        return torch.cat(codes, dim=1)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str | torch.device = "cpu") -> VideoTokenizer:
        """Rebuild a tokenizer, in eval mode, from a folder with `config.json` and
        `model.safetensors`, or from a shipped tokenizer's short name: "natural" (trained on real
        footage, for your own videos) or "shapes" (the shapes world's, under the shipped LM). A
        checkpoint folder of that name in the working directory wins over the shipped one.

        `device` takes what `--device` takes: "auto" is the first GPU where there is one, else the CPU.

        Raises:
            FileNotFoundError: no checkpoint folder at `path` (or the named one is not installed).
            ValueError: the config or weights do not describe a `VideoTokenizer`; a `device` torch does
                not know or this machine lacks ("cuda" without a GPU).
        """
        if device == "auto":
            device = resolve_device("auto")
        try:
            device = torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"device {device!r}: {err}") from None
        if device.type == "cuda":  # checked as --device is: one this machine lacks is said before any loading
            resolve_device(str(device))
        try:
            folder = resolve_checkpoint(shipped_or_folder(path))
        except FileNotFoundError as err:
            if Path(path).exists() or len(Path(path).parts) != 1 or str(path) in SHIPPED_TOKENIZERS:
                raise  # a folder's own problem, or a shipped name this installation lacks (said already)
            raise FileNotFoundError(f"{err} (the shipped tokenizers' names: {', '.join(SHIPPED_TOKENIZERS)})") from None
        try:
            config = load_config(TokenizerConfig, folder / "config.json")
        except ConfigError as err:
            raise ValueError(f"{str(folder)!r} does not hold a tokenizer config: {err}") from err
        model = cls(config)
        model.load_weights(folder)
        model.source = tokenizer_name(folder)
        try:
            return model.to(device).eval()
        except (RuntimeError, AssertionError) as err:  # another kind this build or machine lacks ("mps", "xpu")
            if device.type == "cuda":  # checked above: an error now is the GPU's own (out of memory, ...)
                raise
            raise ValueError(f"device {str(device)!r} is not available here: {err}") from None

    def codes_fingerprint(self) -> str:
        """A hash (hex) of what decides the codes, the encoder's and quantizer's weights: equal for
        two tokenizers that encode every video alike, whatever their decoders (a decoder phase keeps
        it), so token shards and an LM can tell whether a tokenizer still speaks their codes.

        Kept until a tensor is replaced or changed in place through autograd's view of it (its storage
        or version counter moves), so every `stream(...)` call can check it without hashing the
        weights again (7 ms for `natural`). Changes through `tensor.data` move no counter: after such
        a change, `load_state_dict` (or a new tokenizer) gives a fresh fingerprint. Tensors made under
        `torch.inference_mode` have no counter: their hash is never kept."""
        tensors = sorted({**{f"encoder.{k}": v for k, v in self.encoder.state_dict().items()},
                          **{f"quantizer.{k}": v for k, v in self.quantizer.state_dict().items()}}.items())
        try:
            key = tuple((name, tensor.data_ptr(), tensor._version, tensor.dtype) for name, tensor in tensors)
        except RuntimeError:  # inference tensors track no version
            key = None
        if key is not None and self._fingerprint is not None and self._fingerprint[0] == key:
            return self._fingerprint[1]
        digest = hashlib.sha256()
        for name, tensor in tensors:
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        self._fingerprint = (key, digest.hexdigest())
        return self._fingerprint[1]

    def encodes_otherwise(self, recorded: str | None) -> bool:
        """Whether this tokenizer encodes videos otherwise than the one whose `codes_fingerprint` is
        `recorded` (a record of codes: token shards, an LM's training data, a token stream, a codes
        file): its encoder or quantizer weights are other ones. False where nothing is recorded."""
        return recorded is not None and recorded != self.codes_fingerprint()

    def save_pretrained(self, path: str | Path) -> None:
        """Write `config.json` and `model.safetensors` to the folder `path`, atomically.

        Raises:
            FileExistsError: `path` holds files other than a tokenizer's (they are never replaced).
        """
        with atomic_folder(path, replaces=holds_only(("config.json", "model.safetensors"))) as staging:
            self.write_files(staging)

    def write_files(self, folder: Path) -> None:
        """Write `config.json` and `model.safetensors` into an existing folder (for trainers that
        add their own files to a checkpoint)."""
        write_json(folder / "config.json", to_dict(self.config))
        save_tensors(folder / "model.safetensors", self.state_dict())

    def load_weights(self, folder: str | Path) -> None:
        """Load `model.safetensors` from a checkpoint folder whose `config.json` matches this model.

        Raises:
            ValueError: the checkpoint's architecture differs from this model's.
        """
        load_module_weights(self, folder, self.config)

    def streaming_encoder(self) -> StreamingEncoder:
        """A fresh `StreamingEncoder` over this model."""
        return StreamingEncoder(self)

    def streaming_decoder(self, *, bf16: bool = False) -> StreamingDecoder:
        """A fresh `StreamingDecoder` over this model (`bf16`: under bfloat16 autocast, see there)."""
        return StreamingDecoder(self, bf16=bf16)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _check_video(self, video: Tensor, *, values: bool = False) -> None:
        """Raise a ValueError for a malformed video; `values` also reads its range (`_check_values`)."""
        _check_tensor(video, "video")
        if video.ndim != 5 or video.shape[1] != 3 or video.shape[0] == 0:
            raise ValueError(f"expected a video of shape (b, 3, t, h, w), b >= 1, got {tuple(video.shape)}")
        if not video.is_floating_point():
            raise ValueError(f"expected a float video in [-1, 1], got dtype {video.dtype}")
        self.latent_shape(*video.shape[2:])
        if values:
            _check_values(video)

    def _check_codes(self, codes: Tensor) -> None:
        _check_tensor(codes, "codes")
        if codes.ndim != 4 or 0 in codes.shape:
            raise ValueError(f"expected codes of shape (b, t', h', w') with no empty axis, got {tuple(codes.shape)}")
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise ValueError(f"expected integer codes, got dtype {codes.dtype}")
        low, high = (int(value) for value in torch.aminmax(codes.long()))  # long: int16's range ends below the codebook's
        if low < 0 or high >= self.codebook_size:
            raise ValueError(f"codes must lie in [0, {self.codebook_size}), got values in [{low}, {high}]")


# How far past [-1, 1] an input may read: bicubic resampling of natural footage overshoots by a few
# hundredths (0.03 on bikes.mp4), float rounding by less, hard edges (text) by up to about 0.2, which
# the error's hint (clamp) covers; a video in [0, 255] is far past it. One in [0, 1] cannot be told from a bright
# video in [-1, 1], so it is not caught (README: map it as x * 2 - 1).
VALUE_SLACK = 0.1


def _check_tensor(value, name: str) -> None:
    if not isinstance(value, Tensor):
        hint = " (torch.from_numpy turns an array into one)" if type(value).__module__ == "numpy" else ""
        raise ValueError(f"expected {name} as a torch.Tensor{hint}, got {type(value).__name__}")


def _check_values(video: Tensor) -> None:
    """Raise a ValueError unless a video's values are finite and in [-1, 1] (give or take
    `VALUE_SLACK`): one pass over it, so the inference entry points check it and the training
    step, fed by arvid's own loaders, does not."""
    if not video.numel():
        return
    low, high = (float(value) for value in torch.aminmax(video.detach().float()))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("the video holds NaN or infinite values")
    if low < -1 - VALUE_SLACK or high > 1 + VALUE_SLACK:
        raise ValueError(f"expected values in [-1, 1], got values in [{low:.4g}, {high:.4g}]; uint8 frames map "
                         f"there as frames / 127.5 - 1 (`arvid.tokenizer.frames_to_video`), and a resampled video's "
                         f"overshoot goes with .clamp(-1, 1)")


class StreamingEncoder:
    """Encodes a video a few frames at a time: first the first frame alone, then
    `temporal_factor` frames per call; each call returns the one latent frame they complete,
    codes (b 1 h' w'), equal to the matching slice of `VideoTokenizer.encode` on the whole clip."""

    def __init__(self, tokenizer: VideoTokenizer) -> None:
        self.tokenizer = tokenizer
        self.cache = CausalCache()
        self.latent_frames = 0
        self.batch_and_size: tuple[int, int, int] | None = None  # (b, h, w) of the first push

    @torch.no_grad()
    def push(self, frames: Tensor) -> Tensor:
        """Frames (b 3 n h w) in [-1, 1], n = 1 on the first call, then `temporal_factor` -> codes (b 1 h' w').

        Raises:
            ValueError: wrong number of frames for this step, a batch or frame size other than the
                first call's, or a malformed video (see `VideoTokenizer.encode`).
        """
        _check_tensor(frames, "frames")
        expected = 1 if self.latent_frames == 0 else self.tokenizer.config.temporal_factor
        if frames.ndim != 5 or frames.shape[2] != expected:
            raise ValueError(f"step {self.latent_frames} expects (b, 3, {expected}, h, w) frames, got {tuple(frames.shape)}")
        self.tokenizer._check_video(frames[:, :, :1])
        _check_values(frames)
        self.batch_and_size = _same_stream_shape(self.batch_and_size, frames.shape[0], frames.shape[3], frames.shape[4],
                                                 "frames")
        self.latent_frames += 1
        frames = frames.to(self.tokenizer._device(), self.tokenizer._dtype())
        return self.tokenizer.quantizer(self.tokenizer.encoder(frames, self.cache)).indices


class SoftwareBF16Warning(UserWarning):
    """bfloat16 asked for on a CPU that computes it in software."""


_software_bf16_said = False


def _warn_software_bf16() -> None:
    global _software_bf16_said
    if not _software_bf16_said:  # once a process: every stream and candidate makes decoders
        _software_bf16_said = True
        warnings.warn("this CPU has no native bfloat16 (AVX512-BF16 or AMX): the bf16 decoder runs emulated, "
                      "about 35 times slower than float32 on a 2-core AVX2 CPU; leave it off here",
                      SoftwareBF16Warning, stacklevel=3)


class StreamingDecoder:
    """Decodes codes one latent frame at a time with cached causal context: the first latent frame
    gives 1 video frame, each later one `temporal_factor` frames, equal to the matching frames of
    `VideoTokenizer.decode` on all codes at once. Memory stays constant however long the stream.

    `bf16` runs the decoder under bfloat16 autocast: faster on CPUs with native bfloat16 (AVX512-BF16,
    AMX) and on GPUs, at a small PSNR cost (docs/results/streaming_and_speed.md); frames come back
    in float32 either way. On a CPU without native bfloat16 it is emulated and many times slower:
    said once a process (`SoftwareBF16Warning`)."""

    def __init__(self, tokenizer: VideoTokenizer, *, bf16: bool = False) -> None:
        self.tokenizer, self.bf16 = tokenizer, bf16
        if bf16 and tokenizer._device().type == "cpu" and not cpu_has_native_bf16():
            _warn_software_bf16()
        self.cache = CausalCache()
        self.batch_and_grid: tuple[int, int, int] | None = None  # (b, h', w') of the first push

    @torch.no_grad()
    def push(self, codes: Tensor) -> Tensor:
        """Codes (b n h' w') for the next n latent frames -> video (b 3 frames h w) in [-1, 1].

        Raises:
            ValueError: malformed codes (see `VideoTokenizer.decode`), or a batch or latent grid
                other than the first call's.
        """
        self.tokenizer._check_codes(codes)
        self.batch_and_grid = _same_stream_shape(self.batch_and_grid, codes.shape[0], codes.shape[2], codes.shape[3],
                                                 "codes")
        latents = self.tokenizer.quantizer.indices_to_codes(codes.to(self.tokenizer._device(), torch.long))
        with torch.autocast(latents.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            video = self.tokenizer.decoder(latents.to(self.tokenizer._dtype()), self.cache)
        return video.float().clamp(-1, 1)

    def rows(self, indices: list[int]) -> StreamingDecoder:
        """A decoder that goes on with batch rows `indices` of this one's streams alone, in that order,
        as if it had decoded only those rows (within float rounding): the kept ones of several candidates."""
        decoder = StreamingDecoder(self.tokenizer, bf16=self.bf16)
        decoder.cache = self.cache.rows(list(indices))
        if self.batch_and_grid is not None:
            decoder.batch_and_grid = (len(indices), *self.batch_and_grid[1:])
        return decoder

    def push_frames(self, codes: Tensor) -> np.ndarray:
        """Codes (h' w') of one latent frame -> its uint8 RGB frames (t h w c) as numpy, t = 1 for the
        stream's first latent frame and `temporal_factor` after: the I/O edge of `push`.

        Raises:
            ValueError: codes that are not one latent frame (h', w'), or malformed.
        """
        if not isinstance(codes, Tensor) or codes.ndim != 2:
            shape = tuple(codes.shape) if hasattr(codes, "shape") else type(codes).__name__
            raise ValueError(f"push_frames takes one latent frame's codes, a tensor (h', w'), got {shape}; "
                             f"`push` takes (b, t', h', w')")
        device = next(self.tokenizer.parameters()).device
        return video_to_frames(self.push(codes[None, None].to(device))).numpy()


def _same_stream_shape(first: tuple[int, int, int] | None, batch: int, height: int, width: int,
                       name: str) -> tuple[int, int, int]:
    """(batch, height, width) of a stream's push, checked against its first push's: a stream's
    causal cache holds that batch and size, so another cannot continue it."""
    shape = (batch, height, width)
    if first is not None and shape != first:
        raise ValueError(f"{name} of batch {batch} and size {height}x{width} (h x w) cannot continue a stream begun "
                         f"at batch {first[0]} and {first[1]}x{first[2]}: start a new one")
    return shape


def usable_frames(frames: int, temporal_factor: int) -> int:
    """The longest `1 + temporal_factor * k` prefix of `frames` frames (>= 1): how many a clip keeps."""
    return 1 + (frames - 1) // temporal_factor * temporal_factor


def frames_to_video(frames) -> Tensor:
    """uint8 frames (t h w c), numpy or torch -> float video (1 c t h w) in [-1, 1].

    Raises:
        ValueError: not uint8 (floats in [0, 1] would become a black video), or not (t, h, w, 3).
    """
    # Copied where numpy's strides run backwards (`frame[..., ::-1]`, OpenCV's BGR to RGB), which torch cannot view.
    frames = torch.as_tensor(np.ascontiguousarray(frames) if isinstance(frames, np.ndarray) else frames)
    if frames.dtype != torch.uint8:
        raise ValueError(f"expected uint8 frames (t, h, w, 3) in [0, 255], got dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (t, h, w, 3), got {tuple(frames.shape)}")
    return rearrange(frames.float() / 127.5 - 1.0, "t h w c -> 1 c t h w")


def video_to_frames(video: Tensor) -> Tensor:
    """Float video (c t h w) or (1 c t h w) in [-1, 1], c = 3 -> uint8 frames (t h w c) on the CPU.

    Raises:
        ValueError: not a tensor, or not of either shape (a (t, 3, h, w) clip read as (c, t, h, w)
            would turn into garbage).
    """
    if not isinstance(video, Tensor):
        raise ValueError(f"expected a float video tensor (3, t, h, w) or (1, 3, t, h, w), got {type(video).__name__}")
    if video.ndim == 5:
        if video.shape[0] != 1:
            raise ValueError(f"expected one video, got a batch of {video.shape[0]}")
        video = video[0]
    if video.ndim != 4 or video.shape[0] != 3:
        raise ValueError(f"expected a video (3, t, h, w) or (1, 3, t, h, w), got {tuple(video.shape)}")
    frames = ((video.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return rearrange(frames, "c t h w -> t h w c").cpu()
