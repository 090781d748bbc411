"""arvid.sampling: next-token sampling, the sliding-window context, and streaming generation."""

from arvid.sampling.logits import SamplerConfig, filter_logits, guide, sample
from arvid.sampling.stream import (LatentFrame, TokenizerMismatchWarning, UnknownPromptWarning, check_compatible,
                                   generate, stream, stream_batch, tokenizer_mismatch)
from arvid.sampling.window import WindowedContext

__all__ = ["LatentFrame", "SamplerConfig", "TokenizerMismatchWarning", "UnknownPromptWarning", "WindowedContext",
           "check_compatible", "filter_logits", "generate", "guide", "sample", "stream", "stream_batch",
           "tokenizer_mismatch"]
