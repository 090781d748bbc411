"""Growing a trained tokenizer's decoder: more residual blocks per resolution level.

The grown tokenizer decodes exactly as the original at first: each new block's last convolution
starts at zero, so the block adds nothing to its residual stream (the identity). The encoder and
quantizer are copied unchanged, so every video keeps its codes, and token shards and LMs made over
them stay valid. A decoder-only phase (`train.train_encoder: false`) then trains the added capacity.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from arvid.configs import ConfigError, load_config, to_dict
from arvid.training.checkpoint import resolve_checkpoint
from arvid.tokenizer.config import TokenizerConfig
from arvid.tokenizer.layers import Upsample
from arvid.tokenizer.model import VideoTokenizer
from arvid.weights import shipped_or_folder


def grow_decoder(tokenizer: VideoTokenizer, res_blocks: int) -> VideoTokenizer:
    """A copy of `tokenizer` whose decoder has `res_blocks` residual blocks per level, the new
    blocks appended after each level's trained ones as identities (decoding is unchanged).

    Raises:
        ValueError: `res_blocks` not more than the decoder already has.
    """
    have = tokenizer.config.decoder_res_blocks
    if res_blocks <= have:
        raise ValueError(f"the decoder already has {have} residual blocks per level; growing needs more, "
                         f"got {res_blocks}")
    grown = VideoTokenizer(dataclasses.replace(tokenizer.config, decoder_res_blocks=res_blocks))
    grown.to(next(tokenizer.parameters()).device)
    old, new = tokenizer.decoder, grown.decoder
    for part in ("conv_in", "norm_out", "conv_out"):
        getattr(new, part).load_state_dict(getattr(old, part).state_dict())
    for trained, fresh in zip(_levels(old.blocks), _levels(new.blocks), strict=True):
        for block, source in zip(fresh, trained, strict=False):  # the first len(trained) blocks
            block.load_state_dict(source.state_dict())
        for block in fresh[len(trained):]:
            nn.init.zeros_(block.conv2.conv.weight)
            nn.init.zeros_(block.conv2.conv.bias)
    grown.encoder.load_state_dict(tokenizer.encoder.state_dict())
    grown.quantizer.load_state_dict(tokenizer.quantizer.state_dict())
    return grown.train(tokenizer.training)


def _levels(blocks: nn.ModuleList) -> list[list[nn.Module]]:
    """The decoder's blocks split at its upsamplers: each level's blocks in order, the upsampler
    that ends a level as a level of its own (so trained and grown decoders pair up one to one)."""
    levels: list[list[nn.Module]] = [[]]
    for block in blocks:
        if isinstance(block, Upsample):
            levels += [[block], []]
        else:
            levels[-1].append(block)
    return levels


def _difference(saved: TokenizerConfig, wanted: TokenizerConfig) -> str | None:
    """What keeps `saved`'s weights from serving `wanted` ("X is A there and B here"), or None where
    they serve it as they are or grown: the same architecture but for as many or more decoder residual
    blocks and the frame size (the training crops: the network is convolutional, its weights the
    same at any size)."""
    if wanted.decoder_res_blocks < saved.decoder_res_blocks:
        return (f"decoder_res_blocks is {saved.decoder_res_blocks} there and {wanted.decoder_res_blocks} here (a "
                "decoder is grown, never shrunk)")
    # Compared as saved: a setting the quantizer ignores does not count; a key both have is named first.
    there = to_dict(dataclasses.replace(saved, decoder_res_blocks=wanted.decoder_res_blocks,
                                        image_size=wanted.image_size))
    here = to_dict(wanted)
    differ = sorted((key for key in {*there, *here} if there.get(key) != here.get(key)),
                    key=lambda key: (key not in there or key not in here, key))
    if not differ:
        return None
    key = differ[0]
    saved_value, wanted_value = (repr(config[key]) if key in config else "unset" for config in (there, here))
    return f"{key} is {saved_value} there and {wanted_value} here"


@torch.no_grad()
def init_weights(model: VideoTokenizer, folder: str | Path) -> str:
    """Load the tokenizer checkpoint `folder` into `model`: as it is when the architectures match
    (its training frame size may differ), grown (`grow_decoder`) when `model` has more decoder
    residual blocks. Returns what was done.

    Raises:
        FileNotFoundError: no checkpoint at `folder`.
        ValueError: another architecture (beyond a deeper decoder and another frame size).
    """
    folder = resolve_checkpoint(shipped_or_folder(folder))  # a shipped name ("natural") too
    try:  # only the config is read to decide; the weights are read once, below
        saved = load_config(TokenizerConfig, folder / "config.json")
    except ConfigError as err:  # an LM's folder, say
        raise ValueError(f"{str(folder)!r} does not hold a tokenizer config: {err}") from err
    if (difference := _difference(saved, model.config)) is not None:
        raise ValueError(f"checkpoint {str(folder)!r} is another architecture: {difference}")
    loaded, done = VideoTokenizer.from_pretrained(folder), [f"weights from {folder}"]
    if model.config.decoder_res_blocks > saved.decoder_res_blocks:
        loaded = grow_decoder(loaded, model.config.decoder_res_blocks)
        done.append(f"decoder grown from {saved.decoder_res_blocks} to {model.config.decoder_res_blocks} residual "
                    "blocks per level (the new ones start as identities)")
    if model.config.image_size != saved.image_size:
        done.append(f"trained on {saved.image_size}x{saved.image_size} crops, now on "
                    f"{model.config.image_size}x{model.config.image_size}")
    model.load_state_dict(loaded.state_dict())
    return ", ".join(done)
