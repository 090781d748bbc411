"""Training losses of the tokenizer. Models return outputs; every loss and weight lives here.

Default weights are MAGVIT-v2's (Yu et al. 2024, appendix): entropy 0.1, commitment 0.25.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from arvid.tokenizer.quantizer import QuantizerOutput


def reconstruction_loss(reconstruction: Tensor, target: Tensor, *, edge_weight: float = 0.0) -> Tensor:
    """Mean squared error (L2) between videos (b c t h w); with `edge_weight` > 0, each pixel's error
    counts `1 + edge_weight * edges(target)` times (see `edge_map`), so object outlines weigh more.

    Plain L2 barely sees a small object (about 2% of a shapes-world frame): the tiny tokenizer drew
    small triangles as rounded domes (docs/results/tokenizer.md)."""
    squared = (reconstruction - target).pow(2)
    if edge_weight == 0:
        return squared.mean()
    return (squared * (1 + edge_weight * edge_map(target))).mean()


def edge_map(video: Tensor) -> Tensor:
    """Where `video` (b c t h w, values in [-1, 1]) has spatial edges: (b 1 t h w) in [0, 1].

    The largest absolute difference between a pixel and any of its four neighbours, over channels,
    halved (the widest step in [-1, 1] is 2), then spread to the 3x3 neighbourhood: a ring two
    pixels wide on each side of an outline. A plain frame gives 0 everywhere."""
    step_x = (video[..., :, 1:] - video[..., :, :-1]).abs()
    step_y = (video[..., 1:, :] - video[..., :-1, :]).abs()
    # Each step belongs to both pixels it separates.
    edges = torch.stack([F.pad(step_x, (0, 1)), F.pad(step_x, (1, 0)),
                         F.pad(step_y, (0, 0, 0, 1)), F.pad(step_y, (0, 0, 1, 0))]).amax(dim=(0, 2)) / 2
    return F.max_pool3d(edges.unsqueeze(1), kernel_size=(1, 3, 3), stride=1, padding=(0, 1, 1))


def quantizer_loss(quantized: QuantizerOutput, *, entropy_weight: float = 0.1, commitment_weight: float = 0.25,
                   diversity: float = 1.0) -> Tensor:
    """MAGVIT-v2's quantizer terms: the entropy penalty (confident codes per latent, uniform use of
    the codebook across the batch) and the commitment loss. Zero for FSQ, which needs neither."""
    entropy = quantized.per_sample_entropy - diversity * quantized.batch_entropy
    return entropy_weight * entropy + commitment_weight * quantized.commitment


def discriminator_hinge_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge loss for the discriminator: push real logits above 1 and fake ones below -1."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def generator_adversarial_loss(fake_logits: Tensor) -> Tensor:
    """The tokenizer's adversarial term: raise the discriminator's logits on reconstructions."""
    return -fake_logits.mean()


class LeCAMRegularizer(nn.Module):
    """LeCAM regularization (Tseng et al. 2021), used by MAGVIT-v2 to keep the discriminator from
    running away on small data: anchors real and fake logits to EMAs of each other.

    The penalty (`forward`) reads the EMAs as they stand and `update` moves them once a step, after
    it: a step's micro-batches (`train.micro_batch_size`) all meet the same EMAs, so their penalties
    add up to the whole batch's."""

    def __init__(self, decay: float = 0.999) -> None:
        super().__init__()
        self.decay = decay
        self.register_buffer("ema_real", torch.zeros(()))
        self.register_buffer("ema_fake", torch.zeros(()))

    def forward(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """The penalty on a batch's real and fake logits (any equal shapes): a scalar."""
        return F.relu(real_logits - self.ema_fake).pow(2).mean() + F.relu(self.ema_real - fake_logits).pow(2).mean()

    @torch.no_grad()
    def update(self, real_mean: Tensor | float, fake_mean: Tensor | float) -> None:
        """Move the EMAs toward a step's mean real and fake logits (scalars)."""
        self.ema_real.lerp_(torch.as_tensor(real_mean, dtype=self.ema_real.dtype, device=self.ema_real.device),
                            1 - self.decay)
        self.ema_fake.lerp_(torch.as_tensor(fake_mean, dtype=self.ema_fake.dtype, device=self.ema_fake.device),
                            1 - self.decay)


# torchvision's VGG16 `features` layout: conv widths, "M" a 2x2 max-pool.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# Activations after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, as LPIPS uses them.
_VGG16_TAPS = (3, 8, 15, 22, 29)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualLoss(nn.Module):
    """Frame-wise perceptual distance over VGG16 features (LPIPS without its learned heads).

    Weights are never downloaded: `weights_path` is a local `.safetensors` file holding
    torchvision's `vgg16().features` tensors (keys `features.N.weight` / `features.N.bias`, or
    the same without the `features.` prefix).

    Raises:
        FileNotFoundError: `weights_path` does not exist (the message says what to provide).
        ValueError: the file lacks the VGG16 tensors.
    """

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__()
        from safetensors.torch import load_file

        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"perceptual loss weights not found at {str(path)!r}: give a local .safetensors file with "
                "torchvision's VGG16 `features` weights, or set the perceptual weight to 0"
            )
        layers: list[nn.Module] = []
        in_ch = 3
        for item in _VGG16:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(in_ch, item, 3, padding=1), nn.ReLU()]
                in_ch = item
        self.features = nn.Sequential(*layers)
        state = {k.removeprefix("features."): v for k, v in load_file(str(path)).items()}
        missing, _ = self.features.load_state_dict(state, strict=False)
        if missing:
            raise ValueError(f"{str(path)!r} lacks VGG16 feature tensors, e.g. {missing[0]!r}")
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        """Videos (b 3 t h w) in [-1, 1] -> scalar distance."""
        frames = rearrange(torch.cat([reconstruction, target]), "b c t h w -> (b t) c h w")
        x = ((frames + 1) / 2 - self.mean) / self.std
        loss = frames.new_zeros(())
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _VGG16_TAPS:
                fake, real = x.chunk(2)
                loss = loss + F.mse_loss(F.normalize(fake, dim=1), F.normalize(real, dim=1))
            if index >= _VGG16_TAPS[-1]:
                break
        return loss
