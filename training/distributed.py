"""Processes under `torchrun`, for both trainers: joining the process group, which rank this is,
sums over ranks, and when a backward pass all-reduces (micro-batches).

Under `torchrun` (WORLD_SIZE > 1) `init_distributed` joins the process group (NCCL on CUDA, gloo
on CPU); each trainer wraps its own models (`arvid.lm.parallel.parallelize`, DDP in the tokenizer
trainer). Model files stay single-device.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import nn


class OtherProcessFailed(RuntimeError):
    """Another process of a `torchrun` launch stopped (on an error of its own, which it reports, or an
    interrupt); this one stops with it rather than wait for it in a collective call."""


class DistInfo(NamedTuple):
    """This process's `rank` in a `world` of processes, and the device it trains on."""

    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0, the one that writes logs and checkpoints."""
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by `torchrun`; otherwise a world of one on `device`."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo(0, 1, device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), device)


def finish_distributed() -> None:
    """Leave the process group, if this process joined one, once every rank has got here.

    The barrier keeps one rank from closing its connections while another still tears down. Two-process
    FSDP2 runs over gloo on this CPU (the test `test_two_processes_equal_one`) aborted at exit in 2 of
    85 runs without it ("terminate called without an active exception"), in none of 80 with it.
    """
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank_rows(batch_size: int, info: DistInfo) -> slice:
    """This process's rows of a global batch of `batch_size` rows: an equal share each.

    Raises:
        ValueError: `batch_size` is not a multiple of the number of processes.
    """
    if batch_size % info.world:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {info.world} processes (set "
                         f"train.batch_size to a multiple of {info.world})")
    share = batch_size // info.world
    return slice(info.rank * share, (info.rank + 1) * share)


def gradient_sync(model: nn.Module, last: bool) -> contextlib.AbstractContextManager:
    """Around one micro-batch's forward and backward pass through the trained `model`: under DDP the
    gradients are all-reduced only in the `last` micro-batch's backward pass (`no_sync` before it,
    each rank adding its micro-batches' gradients locally). FSDP2 reduce-scatters every micro-batch
    (its sharded gradients add up; not syncing would hold every layer's full gradient), and one
    process has nothing to sync."""
    if not last and isinstance(model, nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


def all_reduce_sum(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum of `value` over all ranks (itself in a world of one)."""
    if info.world > 1:
        value = value.clone()
        dist.all_reduce(value)
    return value


def wrap_ddp(model: nn.Module, info: DistInfo) -> nn.Module:
    """`model` wrapped in DDP over the process group (gradients all-reduced in its backward passes);
    `model` itself in a world of one."""
    if info.world == 1:
        return model
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def any_rank(flag: bool, device: torch.device) -> bool:
    """Whether `flag` holds on any rank: a collective call in a process group (every rank must make
    it, on its training `device`: NCCL reduces CUDA tensors), `flag` itself in a world of one. For
    decisions every rank must take together, such as stopping at a time budget each reads off its
    own clock."""
    return any_rank_each((flag,), device)[0]


def any_rank_each(flags: tuple[bool, ...], device: torch.device) -> tuple[bool, ...]:
    """`any_rank` of several flags in one collective call (a training step asks two questions of
    every rank: did a stop signal come, is the time budget spent)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return tuple(flags)
    values = torch.tensor([float(flag) for flag in flags], device=device)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return tuple(bool(value) for value in values.tolist())


@contextlib.contextmanager
def failing_together(info: DistInfo) -> Iterator[None]:
    """Around work that may fail on some processes only (reading data that only the first reads):
    afterwards every process learns whether any stopped; the one that did raises its own error, the
    others `OtherProcessFailed`, so that none waits for the rest in a later collective call. Keep the
    work short on the processes that do not fail: they wait here for the others. A no-op in a world
    of one.

    Raises:
        OtherProcessFailed: another process stopped (an error or an interrupt) inside its block.
    """
    if info.world == 1:
        yield
        return
    failed = True
    try:
        yield
        failed = False
    finally:
        try:
            others = any_rank(failed, info.device)
        except Exception:  # the group already broken: a process that failed keeps its own error
            if not failed:
                raise
            others = True
        if others and not failed:
            raise OtherProcessFailed("another process of the run stopped (an error or an interrupt; it says which)")
