"""Encode + decode throughput: arvid's `VideoTokenizer` against `magvit2-pytorch`'s, in one run.

    python benchmarks/tokenizer_throughput.py                      # batch sizes 1 and 4, 5 repeats
    python benchmarks/tokenizer_throughput.py --batch-sizes 1 --repeats 3 --threads 1
    python benchmarks/tokenizer_throughput.py --arvid-ckpt runs/tokenizer-tiny/ckpt --json out.json
    python benchmarks/tokenizer_throughput.py --arvid-ckpt natural --sizes 64 128   # the natural tokenizer

With an FSQ codebook that is not a power of two (the natural tokenizer's 64,000 codes), the peer
gets the next power of two (65,536: 16-bit LFQ) and `init_dim` 34, as in `tokenizer_peer.py`:
about the same code bits and parameters. `--sizes` times square frames of each size (both models
are convolutional; the peer is built for each size).

What it measures: both tokenizers take the same random video, float (b, 3, 17, 64, 64) in
[-1, 1], turn it into integer codes (b, 5, 8, 8) and decode those codes back into a
(b, 3, 17, 64, 64) video, in eval mode under `torch.no_grad()`, on the CPU. Encode and decode
are timed separately with `time.perf_counter`; after `--warmup` untimed passes per model, the
two models' `--repeats` repetitions are interleaved (A B, B A, A B, ...) so that load from other
processes falls on both alike, and the median of each is reported. Table: parameters, median
encode and decode milliseconds, clips/s and frames/s of encode + decode, and per batch size the
ratio of arvid's frames/s to the peer's. Weights do not change the speed of either model, so both
are randomly initialised unless `--arvid-ckpt` points at a trained checkpoint folder.

The peer, `magvit2_pytorch.VideoTokenizer` 0.5.1 (lucidrains' MAGVIT-v2 reproduction), is built as

    VideoTokenizer(image_size=64, init_dim=32, codebook_size=4096,
                   layers=('residual', 'compress_space', 'residual', 'compress_space',
                           'compress_time', 'compress_space', 'compress_time'),
                   use_gan=False, perceptual_loss_weight=0)

Why that is comparable to the `tokenizer/tiny` preset (5.5M parameters): both are causal 3D
convolutional tokenizers with a 4096-entry codebook needing no lookup (the preset's FSQ with
levels 8, 8, 8, 8; the peer's 12-bit LFQ, which does no entropy work in eval mode; either
quantizer is a rounding of a few channels per cell, a negligible share of the time); both
compress 8x in height and width and 4x in time, so 17x64x64 becomes the same 5x8x8 grid of codes;
both start at 32 channels (`init_dim=32`, arvid's `channels: 32`). They spend their
parameters differently: the peer runs a 7x7x7 convolution and two residual units at full
resolution (64x64 at 32 channels, 32x32 at 64), then only strided convolutions that double the
width at each step, up to 1024 channels at the 5x8x8 latent (5.0M parameters); arvid folds 2x2
pixel patches into channels first and runs residual blocks at 32x32, 16x16 and 8x8 with 32, 64
and 128 channels, two per level in the decoder, per-frame 2D blocks except at the middle
(5.5M parameters). The peer also builds a 40.7M-parameter
discriminator whatever `use_gan` says; it is never run by `tokenize` / `decode_from_code_indices`,
its own `parameters()` leaves it out, and this script deletes it (as its `copy_for_eval` does).

Installing the peer without torchvision or a CUDA torch (its requirements list both):

    pip install --no-deps magvit2-pytorch==0.5.1
    pip install accelerate beartype "ema-pytorch>=0.2.4" pytorch-warmup "gateloop-transformer>=0.2.2" \\
        kornia "pytorch-custom-utils>=0.0.9" "taylor-series-linear-attention>=0.1.5" x-transformers \\
        opencv-python-headless

The package imports torchvision at import time (VGG16 for its perceptual loss, transforms in its
data module); with the perceptual loss and GAN off its tokenizer never calls it, so when
torchvision is absent this script imports the peer with placeholder torchvision modules.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import platform
import statistics
import sys
import time
import types
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable

import torch
from torch import Tensor, nn

from arvid.configs import load_config, preset_path
from arvid.tokenizer import VideoTokenizer
from arvid.tokenizer.train import TokenizerRunConfig

PEER_NAME = "magvit2-pytorch"
PEER_VERSION = "0.5.1"
PEER_INSTALL = f"""\
{PEER_NAME} is not importable ({{error}}). Install it without its torchvision / CUDA-torch requirements:

    pip install --no-deps {PEER_NAME}=={PEER_VERSION}
    pip install accelerate beartype "ema-pytorch>=0.2.4" pytorch-warmup "gateloop-transformer>=0.2.2" \\
        kornia "pytorch-custom-utils>=0.0.9" "taylor-series-linear-attention>=0.1.5" x-transformers \\
        opencv-python-headless

(`--no-deps` on magvit2-pytorch because it requires torchvision, which can pull another torch
build with it; the tokenizer never calls torchvision, and this script stands in placeholders for it.)"""

# Encoder: 64 -> 32 -> 16 -> 8 in space (three `compress_space`), 17 -> 5 in time (two
# `compress_time`), like the tiny preset's patch 2 + two downsampling levels.
PEER_LAYERS = ("residual", "compress_space", "residual", "compress_space",
               "compress_time", "compress_space", "compress_time")
PEER_SPATIAL_FACTOR = 8
PEER_TEMPORAL_FACTOR = 4


@dataclass
class Timing:
    """One model at one batch size: per-repetition milliseconds and their medians."""

    model: str
    batch_size: int
    params: int
    image_size: int = 0
    encode_ms_all: list[float] = field(default_factory=list)
    decode_ms_all: list[float] = field(default_factory=list)

    @property
    def encode_ms(self) -> float:
        return statistics.median(self.encode_ms_all)

    @property
    def decode_ms(self) -> float:
        return statistics.median(self.decode_ms_all)

    @property
    def total_ms(self) -> float:
        """Median of per-repetition encode + decode (not the sum of the two medians)."""
        return statistics.median(e + d for e, d in zip(self.encode_ms_all, self.decode_ms_all))

    def clips_per_s(self) -> float:
        return self.batch_size / (self.total_ms / 1e3)

    def frames_per_s(self, frames: int) -> float:
        return self.clips_per_s() * frames


@dataclass
class Contender:
    """A tokenizer behind a common interface: `encode` video (b 3 t h w) -> codes (b t' h' w'),
    `decode` codes -> video (b 3 t h w); both called under `torch.no_grad()`."""

    name: str
    model: nn.Module
    params: int
    encode: Callable[[Tensor], Tensor]
    decode: Callable[[Tensor], Tensor]


class _TorchvisionStandIn:
    """Stands in for any torchvision class; constructing it works (the peer's data module
    builds `T.ToTensor()` as a default argument at import), using it raises."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __call__(self, *args, **kwargs):
        raise RuntimeError("torchvision is not installed; this is a placeholder for the benchmark")


class _VGG16WeightsStandIn:
    """A real class, because the peer's beartype-checked constructor annotates
    `vgg_weights: VGG16_Weights = VGG16_Weights.DEFAULT`."""

    DEFAULT = None


@contextlib.contextmanager
def _torchvision_placeholders():
    """Put placeholder `torchvision` modules in `sys.modules` while the peer is imported, if
    torchvision is not installed; remove them afterwards."""
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        yield
        return
    names = ("torchvision", "torchvision.models", "torchvision.transforms", "torchvision.utils")
    modules = {name: types.ModuleType(name) for name in names}
    modules["torchvision.models"].VGG16_Weights = _VGG16WeightsStandIn
    for name in names[1:]:
        modules[name].__getattr__ = lambda attr: _TorchvisionStandIn
        setattr(modules["torchvision"], name.rsplit(".", 1)[1], modules[name])
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name in names:
            sys.modules.pop(name, None)


def import_peer() -> type[nn.Module]:
    """magvit2_pytorch.VideoTokenizer. Exits with install instructions when it cannot be imported."""
    try:
        with _torchvision_placeholders(), warnings.catch_warnings():
            # Its import emits FutureWarnings (`torch.cuda.amp.autocast`) and kernel-override
            # warnings from its dependencies; none concern inference on the CPU.
            warnings.simplefilter("ignore")
            from magvit2_pytorch import VideoTokenizer as PeerTokenizer
            from magvit2_pytorch.version import __version__ as peer_version
    except ImportError as err:
        sys.exit(PEER_INSTALL.format(error=err))
    if peer_version != PEER_VERSION:
        print(f"note: {PEER_NAME} {peer_version} is installed; this benchmark was written for {PEER_VERSION}",
              file=sys.stderr)
    return PeerTokenizer


def build_arvid(checkpoint: str | None) -> Contender:
    """arvid's tokenizer: the `tokenizer/tiny` preset, randomly initialised, or a checkpoint folder."""
    if checkpoint is None:
        config = load_config(TokenizerRunConfig, preset_path("tokenizer/tiny")).model
        model = VideoTokenizer(config).eval()
    else:
        model = VideoTokenizer.from_pretrained(checkpoint)
    params = sum(p.numel() for p in model.parameters())
    return Contender("arvid", model, params, model.encode, model.decode)


def build_peer(peer_cls: type[nn.Module], *, image_size: int, codebook_size: int, init_dim: int = 32) -> Contender:
    """The peer at the size the module docstring argues is comparable (`init_dim` 32; the training
    benchmark `tokenizer_peer.py` widens it to match a larger codebook's parameters), discriminator removed."""
    model = peer_cls(image_size=image_size, init_dim=init_dim, codebook_size=codebook_size, layers=PEER_LAYERS,
                     use_gan=False, perceptual_loss_weight=0)
    # Built regardless of `use_gan` and never run by tokenize/decode; `copy_for_eval` deletes it too.
    del model.discr
    model.eval()
    # The peer's own `parameters()` lists exactly the encoder, decoder and quantizer modules.
    params = sum(p.numel() for p in model.parameters())
    # `tokenize` = `forward(video, return_codes=True)` under no_grad: encoder, then LFQ -> (b t' h' w') codes.
    # `decode_from_code_indices`: LFQ `indices_to_codes`, then the decoder -> (b 3 t h w).
    return Contender(PEER_NAME, model, params, model.tokenize, model.decode_from_code_indices)


def run_once(contender: Contender, video: Tensor) -> tuple[float, float, Tensor, Tensor]:
    """Encode then decode `video`; (encode ms, decode ms, codes, reconstruction)."""
    start = time.perf_counter()
    codes = contender.encode(video)
    middle = time.perf_counter()
    recon = contender.decode(codes)
    end = time.perf_counter()
    return (middle - start) * 1e3, (end - middle) * 1e3, codes, recon


def check_shapes(contender: Contender, video: Tensor, codes: Tensor, recon: Tensor,
                 latent_shape: tuple[int, int, int]) -> None:
    """Both models must do the same work: video -> (b t' h' w') integer codes -> video of the input's shape."""
    expected_codes = (video.shape[0], *latent_shape)
    if tuple(codes.shape) != expected_codes or codes.is_floating_point():
        raise RuntimeError(f"{contender.name}: codes {tuple(codes.shape)} {codes.dtype}, "
                           f"expected integer {expected_codes}")
    if recon.shape != video.shape:
        raise RuntimeError(f"{contender.name}: decoded {tuple(recon.shape)}, expected {tuple(video.shape)}")


def benchmark(contenders: list[Contender], *, batch_size: int, frames: int, image_size: int,
              latent_shape: tuple[int, int, int], warmup: int, repeats: int, seed: int) -> list[Timing]:
    """Time every contender on the same video; repetitions interleaved, order alternating."""
    generator = torch.Generator().manual_seed(seed)
    video = torch.rand(batch_size, 3, frames, image_size, image_size, generator=generator) * 2 - 1
    timings = [Timing(c.name, batch_size, c.params) for c in contenders]
    with torch.no_grad():
        for contender in contenders:
            for _ in range(max(warmup, 1)):  # at least one pass, to check shapes before timing
                *_, codes, recon = run_once(contender, video)
            check_shapes(contender, video, codes, recon, latent_shape)
        for rep in range(repeats):
            order = list(zip(contenders, timings))
            for contender, timing in order if rep % 2 == 0 else reversed(order):
                encode_ms, decode_ms, _, _ = run_once(contender, video)
                timing.encode_ms_all.append(encode_ms)
                timing.decode_ms_all.append(decode_ms)
    return timings


def print_table(timings: list[Timing], frames: int) -> None:
    print("| model | size | batch | params | encode ms | decode ms | clips/s | frames/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for t in timings:
        print(f"| {t.model} | {t.image_size} | {t.batch_size} | {t.params / 1e6:.2f}M | {t.encode_ms:.1f} "
              f"| {t.decode_ms:.1f} | {t.clips_per_s():.2f} | {t.frames_per_s(frames):.1f} |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4], help="clips per call (default: 1 4)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed repetitions per model and batch size; the median is reported")
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes per model and batch size first")
    parser.add_argument("--frames", type=int, default=17, help="frames per clip, 1 + 4k (default 17)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: leave torch's default)")
    parser.add_argument("--arvid-ckpt", type=str, default=None,
                        help="time this arvid checkpoint folder instead of the tiny preset")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="square frame sizes, multiples of 8 (default: the arvid model's image size)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input video")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or any(b < 1 for b in args.batch_sizes):
        parser.error("--repeats and --batch-sizes must be >= 1, --warmup >= 0")
    if args.sizes and any(size < 8 or size % 8 for size in args.sizes):
        parser.error("--sizes must be multiples of 8")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    peer_cls = import_peer()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    arvid = build_arvid(args.arvid_ckpt)
    config = arvid.model.config
    if (config.spatial_factor, config.temporal_factor) != (PEER_SPATIAL_FACTOR, PEER_TEMPORAL_FACTOR):
        sys.exit(f"arvid's model compresses {config.spatial_factor}x in space and {config.temporal_factor}x in "
                 f"time; the peer's configuration here does {PEER_SPATIAL_FACTOR}x and {PEER_TEMPORAL_FACTOR}x, "
                 "so the two would not produce the same code grid")
    codebook_size = config.codebook_size
    # An FSQ codebook of another size (64,000) faces the next power of two, wider as tokenizer_peer.py does.
    peer_codebook, init_dim = (codebook_size, 32) if not codebook_size & (codebook_size - 1) else (
        1 << (codebook_size - 1).bit_length(), 34)
    sizes = args.sizes or [config.image_size]

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads; input (b, 3, {args.frames}, size, size) -> codes from a "
          f"{codebook_size}-entry codebook -> video; warmup {args.warmup}, median of {args.repeats}")
    print(f"arvid: {'checkpoint ' + args.arvid_ckpt if args.arvid_ckpt else 'tokenizer/tiny preset, random init'}; "
          f"{PEER_NAME}: init_dim={init_dim}, codebook_size={peer_codebook}, layers={PEER_LAYERS}, random init")
    print()

    timings: list[Timing] = []
    ratios: dict[tuple[int, int], float] = {}
    for size in sizes:
        latent_shape = arvid.model.latent_shape(args.frames, size, size)
        peer = build_peer(peer_cls, image_size=size, codebook_size=peer_codebook, init_dim=init_dim)
        for batch_size in args.batch_sizes:
            batch = benchmark([arvid, peer], batch_size=batch_size, frames=args.frames, image_size=size,
                              latent_shape=latent_shape, warmup=args.warmup, repeats=args.repeats, seed=args.seed)
            for timing in batch:
                timing.image_size = size
            timings += batch
            ratios[size, batch_size] = batch[0].frames_per_s(args.frames) / batch[1].frames_per_s(args.frames)

    print_table(timings, args.frames)
    print()
    for (size, batch_size), ratio in ratios.items():
        print(f"{size}x{size}, batch {batch_size}: ratio (arvid / {PEER_NAME} frames/s): {ratio:.2f}")

    if args.json is not None:
        report = {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "frames": args.frames,
            "image_sizes": sizes,
            "codebook_size": codebook_size,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "arvid": args.arvid_ckpt or "tokenizer/tiny (random init)",
            "peer": {"package": PEER_NAME, "init_dim": init_dim, "codebook_size": peer_codebook, "layers": list(PEER_LAYERS),
                     "use_gan": False, "perceptual_loss_weight": 0},
            "results": [{**asdict(t), "encode_ms": t.encode_ms, "decode_ms": t.decode_ms, "total_ms": t.total_ms,
                         "clips_per_s": t.clips_per_s(), "frames_per_s": t.frames_per_s(args.frames)}
                        for t in timings],
            "ratio_arvid_over_peer_frames_per_s": {f"{size}x{size} batch {b}": r for (size, b), r in ratios.items()},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
