"""Small LM set-ups shared by the LM, sampler and CLI tests: a tiny config, a text tokenizer
trained on shapes captions, and token shards whose codes follow the caption (so a few training
steps have something to learn)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from arvid.shapes.clips import shapes_videos
from arvid.data.shards import write_shards
from arvid.lm.config import LMConfig
from arvid.lm.text import TextTokenizer, train_text_tokenizer

GRID = (6, 2, 2)  # latent frames, height, width
CODEBOOK = 16


def tiny_config(**overrides) -> LMConfig:
    values = dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, text_vocab_size=128, video_vocab_size=CODEBOOK,
                  tokens_per_frame=GRID[1] * GRID[2], window_frames=3, text_tokens=32)
    return LMConfig(**(values | overrides))


def shapes_text_tokenizer() -> TextTokenizer:
    captions = [c for _, record in shapes_videos(300, frames=1, seed=1) for c in record.captions]
    return train_text_tokenizer(captions, vocab_size=128)


def write_caption_shards(path: Path, videos: int = 24, seed: int = 0) -> Path:
    """Shards whose codes are a fixed ramp offset by a hash of the shape and colour."""
    def items():
        for _, record in shapes_videos(videos, frames=1, seed=seed):
            offset = zlib.crc32(f"{record.attrs['shape']}{record.attrs['colour']}".encode()) % CODEBOOK
            yield (offset + np.arange(np.prod(GRID)).reshape(GRID)) % CODEBOOK, record
    return write_shards(path, items(), count=videos, grid=GRID, codebook_size=CODEBOOK, tokenizer_config={},
                        ends=False)


def write_tiny_model(folder: Path) -> Path:
    """A model folder (lm/ + tokenizer/) small enough to generate with in tests: 32x32 video, 64 codes,
    a 4x4 latent grid, window 3. Seeded, so every call writes the same weights."""
    import torch

    from arvid.lm.checkpoint import VideoLM
    from arvid.lm.model import Transformer
    from arvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                   codebook_bits=6)).save_pretrained(folder / "tokenizer")
    VideoLM(Transformer(tiny_config(video_vocab_size=64, tokens_per_frame=16, window_frames=3)),
            shapes_text_tokenizer()).save_pretrained(folder / "lm")
    return folder


ENCODER_WORDS = ("a small large red green blue yellow circle square triangle moving left right up down on black white "
                 "grey background").split()
ENCODER_LIMIT = 40  # the tiny encoder's max_position_embeddings: the most tokens it reads


def write_tiny_encoder(folder: Path) -> Path:
    """A local Hugging Face encoder folder small enough for tests: a random 2-layer, 32-wide BERT
    reading at most `ENCODER_LIMIT` tokens, with a word-level vocabulary of the shapes captions'
    words (others read as [UNK]). Seeded, so every call writes the same weights."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *ENCODER_WORDS]) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=5 + len(ENCODER_WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=ENCODER_LIMIT)).save_pretrained(folder)
    return folder


def encoder_lm(encoder, seed: int = 0, **overrides):
    """A seeded random `VideoLM` of 64 codes, a 4x4 latent grid and window 3 that reads its prompts
    with `encoder` (a `TextEncoder`, such as `write_tiny_encoder`'s); `overrides` go to its config."""
    import torch

    from arvid.lm.checkpoint import VideoLM
    from arvid.lm.model import Transformer

    torch.manual_seed(seed)
    config = tiny_config(video_vocab_size=64, tokens_per_frame=16, window_frames=3, text_tokens=16,
                         text_encoder=str(encoder.folder), text_encoder_dim=encoder.dim, **overrides)
    return VideoLM(Transformer(config).eval(), None, encoder=encoder)
