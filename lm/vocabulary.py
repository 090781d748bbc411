"""`Vocabulary`: the one owner of token-id arithmetic.

Ids are laid out as: special tokens (`SPECIAL_TOKENS`, in that order), then the text pieces of the
sentencepiece model, then the video codes of the tokenizer. Everything else asks this object.
"""

from __future__ import annotations

import torch
from torch import Tensor

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<t2v>", "<i2v>", "<continue>", "<bot>", "<eot>", "<bov>", "<eov>")
TASKS = {"text-to-video": "<t2v>", "image-to-video": "<i2v>", "continuation": "<continue>"}


class Vocabulary:
    """Token ids for `text_size` text pieces and `video_size` video codes.

    Attributes named after the special tokens hold their ids: `pad`, `bos`, `eos`, `bot`, `eot`,
    `bov`, `eov`; `task_id(name)` gives the task tokens.
    """

    def __init__(self, *, text_size: int, video_size: int) -> None:
        if text_size < 1 or video_size < 1:
            raise ValueError(f"text_size and video_size must be positive, got {text_size}, {video_size}")
        self.text_size, self.video_size = text_size, video_size
        self._special = {name: index for index, name in enumerate(SPECIAL_TOKENS)}
        self.text_offset = len(SPECIAL_TOKENS)
        self.video_offset = self.text_offset + text_size
        self.size = self.video_offset + video_size
        for name in ("pad", "bos", "eos", "bot", "eot", "bov", "eov"):
            setattr(self, name, self._special[f"<{name}>"])

    def task_id(self, task: str) -> int:
        """Id of the task token for "text-to-video", "image-to-video" or "continuation"."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        return self._special[TASKS[task]]

    def text_ids(self, pieces: Tensor | list[int]) -> Tensor:
        """Sentencepiece piece ids -> token ids (same shape). Raises `ValueError` outside the text vocabulary."""
        pieces = torch.as_tensor(pieces, dtype=torch.long)
        if pieces.numel() and (pieces.min() < 0 or pieces.max() >= self.text_size):
            raise ValueError(f"text piece ids must be in [0, {self.text_size}), got {pieces.min()}..{pieces.max()}")
        return pieces + self.text_offset

    def video_ids(self, codes: Tensor) -> Tensor:
        """Tokenizer codes (any shape) -> token ids. Raises `ValueError` outside the codebook."""
        codes = torch.as_tensor(codes, dtype=torch.long)
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.video_size):
            raise ValueError(f"video codes must be in [0, {self.video_size}), got {codes.min()}..{codes.max()}")
        return codes + self.video_offset

    def video_codes(self, ids: Tensor) -> Tensor:
        """Token ids (any shape) -> tokenizer codes. Raises `ValueError` if any id is not a video code."""
        if not bool(self.is_video(ids).all()):
            raise ValueError("expected only video-code token ids")
        return ids.long() - self.video_offset

    def is_video(self, ids: Tensor) -> Tensor:
        """Boolean tensor: which ids are video codes."""
        return (ids >= self.video_offset) & (ids < self.size)

    def video_slice(self) -> slice:
        """The slice of the logits that holds the video codes."""
        return slice(self.video_offset, self.size)
