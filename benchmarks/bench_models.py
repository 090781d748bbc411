"""Loading the models a streaming benchmark times, the same way in every script beside this one."""

from __future__ import annotations

import torch


def load_for_streaming(model: str | None, *, threads: int, compile: bool):
    """The model folder `model` (None: the shipped model) on the CPU with `threads` torch threads and,
    with `compile`, a compiled decode step -> (lm, tokenizer, its default SamplerConfig, its window).
    A folder that holds no model ends the script with the command line's one-line message."""
    from arvid.sampling import SamplerConfig
    from arvid.tools.checkpoints import load_models
    from arvid.tools.errors import UsageError

    torch.set_num_threads(threads)
    try:
        lm, tokenizer = load_models(model, "cpu")
    except UsageError as err:
        raise SystemExit(f"error: {err}") from None
    if compile:
        lm.model.compile_decode()
    config = SamplerConfig.from_model(lm)
    return lm, tokenizer, config, config.window_for(lm.config.window_frames)
