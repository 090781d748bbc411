"""Timing two ways of running one training step against each other in the same run: their steps
interleaved on the same batches, so that a busy machine slows both alike (the training benchmarks)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any


def interleaved_medians(steps: dict[str, Callable[[Any], tuple[float, float]]], batches: Sequence[Any], *,
                        warmup: int) -> dict[str, tuple[float, float]]:
    """Run every `steps[name](batch) -> (seconds, loss)` on each batch, who goes first alternating;
    the first `warmup` batches (compilation) are not timed. Returns name -> (median seconds, mean loss)."""
    for batch in batches[:warmup]:
        for step in steps.values():
            step(batch)
    seconds = {name: [] for name in steps}
    losses = {name: [] for name in steps}
    for index, batch in enumerate(batches[warmup:]):
        order = list(steps) if index % 2 else list(steps)[::-1]
        for name in order:
            took, loss = steps[name](batch)
            seconds[name].append(took)
            losses[name].append(loss)
    return {name: (statistics.median(seconds[name]), statistics.fmean(losses[name])) for name in steps}
