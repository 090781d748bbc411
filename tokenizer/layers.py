"""Causal 3D building blocks shared by the encoder and decoder.

Einops legend: b batch, c channels, t frames, h height, w width.

Every temporal operation reads the past through a `CausalCache`. A whole clip is one call with a
fresh cache (the past is zeros); streaming is several calls with the same cache. Because both
go through the same code, streaming equals the full pass by construction, and tests check it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


class CausalCache:
    """Per-layer state carried between streaming calls: the tail of past input frames each causal
    conv still needs, and which layers have already produced output (to drop a first-frame pad)."""

    def __init__(self) -> None:
        self._tails: dict[int, Tensor] = {}
        self._started: set[int] = set()

    def with_past(self, layer: nn.Module, x: Tensor, pad_frames: int) -> Tensor:
        """`x` (b c t h w) preceded by this layer's cached past, or by `pad_frames` zero frames."""
        past = self._tails.get(id(layer))
        if past is None:
            past = x.new_zeros(x.shape[0], x.shape[1], pad_frames, *x.shape[3:])
        return torch.cat([past, x], dim=2)

    def keep(self, layer: nn.Module, tail: Tensor) -> None:
        self._tails[id(layer)] = tail

    def rows(self, indices: list[int]) -> CausalCache:
        """A cache of the pasts of batch rows `indices` alone, in that order: those streams, to go on by themselves."""
        cache = CausalCache()
        cache._tails = {key: tail[indices] for key, tail in self._tails.items()}
        cache._started = set(self._started)
        return cache

    def first_call(self, layer: nn.Module) -> bool:
        """True on the layer's first call with this cache, then False."""
        first = id(layer) not in self._started
        self._started.add(id(layer))
        return first


class CausalConv3d(nn.Module):
    """3D convolution that sees only the present and past in time; zero-padded 'same' in space.

    Shapes: (b, c_in, t, h, w) -> (b, c_out, t', h / s_h, w / s_w). With time stride 1, t' = t;
    with stride s, the outputs are those of the whole stream so far that the new frames complete
    (a first frame alone gives one output, then each `s` new frames give one more).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int] = (3, 3, 3),
                 stride: tuple[int, int, int] = (1, 1, 1)) -> None:
        super().__init__()
        kt, kh, kw = kernel
        self.time_kernel, self.time_stride = kt, stride[0]
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=(0, kh // 2, kw // 2))

    def forward(self, x: Tensor, cache: CausalCache) -> Tensor:
        padded = cache.with_past(self, x, self.time_kernel - 1)
        outputs = (padded.shape[2] - self.time_kernel) // self.time_stride + 1
        if outputs <= 0:  # not enough frames yet for a strided output: keep them all for later
            cache.keep(self, padded)
            return x.new_zeros(x.shape[0], self.conv.out_channels, 0, *self._out_hw(x))
        # The next output window starts right after the strides consumed here.
        cache.keep(self, padded[:, :, outputs * self.time_stride:])
        return self._convolve(padded, outputs)

    def _convolve(self, padded: Tensor, outputs: int) -> Tensor:
        """`self.conv(padded)`, by the faster way: on the CPU in float32, `conv3d` is slow on one video
        and faster than 2D convs on more; under bfloat16 autocast, and on GPUs, it stays (see `_as_2d_convs`)."""
        one_float32_video_on_cpu = (padded.shape[0] == 1 and padded.device.type == "cpu"
                                    and padded.dtype == torch.float32 and not torch.is_autocast_enabled("cpu"))
        return self._as_2d_convs(padded, outputs) if one_float32_video_on_cpu else self.conv(padded)

    def _as_2d_convs(self, padded: Tensor, outputs: int) -> Tensor:
        """`self.conv(padded)` (b c t h w -> b c_out outputs h' w') written as one 2D convolution per
        time tap, each over the frames it reads folded into the batch, summed: the same numbers to
        float rounding. On this CPU build (torch 2.13, oneDNN) a float32 `conv3d` on a batch of one
        video is 1.5-3.5x slower than this, while from two videos on, or in bfloat16, it is faster
        (docs/results/streaming_and_speed.md), hence the choice in `_convolve`."""
        conv, step = self.conv, self.time_stride
        out = None
        for tap in range(self.time_kernel):
            frames = padded[:, :, tap:tap + step * (outputs - 1) + 1:step]  # the frames this tap reads
            part = F.conv2d(rearrange(frames, "b c t h w -> (b t) c h w"), conv.weight[:, :, tap],
                            conv.bias if tap == 0 else None, stride=conv.stride[1:], padding=conv.padding[1:])
            out = part if out is None else out + part
        return rearrange(out, "(b t) c h w -> b c t h w", t=outputs).contiguous()

    def _out_hw(self, x: Tensor) -> tuple[int, int]:
        sh, sw = self.conv.stride[1:]
        return (x.shape[3] + sh - 1) // sh, (x.shape[4] + sw - 1) // sw


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm over (channels, h, w) of each frame alone. A norm over time would leak the future
    into the past and break causality and streaming."""

    def forward(self, x: Tensor) -> Tensor:
        frames = x.shape[2]
        y = super().forward(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(y, "(b t) c h w -> b c t h w", t=frames)


class ResBlock(nn.Module):
    """Pre-activation residual block of two causal `time_kernel`x3x3 convs: (b, c_in, t, h, w) -> (b, c_out, t, h, w).
    With `time_kernel=1` the block mixes space only (a per-frame 2D block)."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, time_kernel: int = 3) -> None:
        super().__init__()
        self.norm1 = FrameGroupNorm(groups, in_channels)
        self.conv1 = CausalConv3d(in_channels, out_channels, (time_kernel, 3, 3))
        self.norm2 = FrameGroupNorm(groups, out_channels)
        self.conv2 = CausalConv3d(out_channels, out_channels, (time_kernel, 3, 3))
        self.skip = nn.Conv3d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, cache: CausalCache) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        return self.skip(x) + h


class Downsample(nn.Module):
    """Halve h and w (and t when `time`) with a strided causal conv: (b, c_in, t, h, w) -> (b, c_out, t', h/2, w/2).

    In time, 1 + 2k frames become 1 + k: the first frame keeps its own latent frame."""

    def __init__(self, in_channels: int, out_channels: int, time: bool) -> None:
        super().__init__()
        self.conv = CausalConv3d(in_channels, out_channels, stride=(2 if time else 1, 2, 2))

    def forward(self, x: Tensor, cache: CausalCache) -> Tensor:
        return self.conv(x, cache)


class Upsample(nn.Module):
    """Double h and w (and t when `time`) by a causal conv to more channels, then depth-to-space
    (MAGVIT-v2's decoder upsampling). (b, c_in, t, h, w) -> (b, c_out, t', 2h, 2w).

    In time, each frame becomes two; on the stream's first frame the earlier of the two is
    dropped, so 1 + k frames become 1 + 2k, mirroring `Downsample`."""

    def __init__(self, in_channels: int, out_channels: int, time: bool) -> None:
        super().__init__()
        self.time_factor = 2 if time else 1
        self.conv = CausalConv3d(in_channels, out_channels * self.time_factor * 4)

    def forward(self, x: Tensor, cache: CausalCache) -> Tensor:
        y = rearrange(self.conv(x, cache), "b (c st sh sw) t h w -> b c (t st) (h sh) (w sw)",
                      st=self.time_factor, sh=2, sw=2)
        if self.time_factor > 1 and cache.first_call(self):
            y = y[:, :, self.time_factor - 1:]
        return y
