"""Scale-out of the LM with PyTorch's own engine, applied from outside the model: `parallelize`
wraps it in DDP or shards it with FSDP2 (the process group: `arvid.training.distributed`). Model
files stay single-device.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from arvid.training.distributed import DistInfo, wrap_ddp


def parallelize(model: nn.Module, info: DistInfo, mode: Literal["ddp", "fsdp2"], *,
                activation_checkpointing: bool = False) -> nn.Module:
    """The module to train: `model` itself in a world of one, else wrapped by DDP or sharded by FSDP2
    (each transformer block its own unit, then the root). With `activation_checkpointing` each block
    keeps no activations for the backward pass and runs again there (`Transformer.checkpoint_blocks`:
    a switch inside the model, as PyTorch's module-level `torch.distributed._composable.checkpoint`
    recomputes other shapes under torch.compile, a CheckpointError on the `tiny` preset's compiled
    step, 2026-12-06)."""
    model.checkpoint_blocks = activation_checkpointing
    if info.world == 1:
        return model
    if mode == "ddp":
        return wrap_ddp(model, info)
    if mode == "fsdp2":
        from torch.distributed.fsdp import fully_shard

        for layer in model.layers:
            fully_shard(layer)
        return fully_shard(model)
    raise ValueError(f"unknown parallel mode {mode!r}; expected 'ddp' or 'fsdp2'")
