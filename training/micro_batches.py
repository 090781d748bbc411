"""Splitting a batch into micro-batches (`LoopConfig.micro_batch_size`): gradient accumulation."""

from __future__ import annotations


def micro_slices(rows: int, size: int | None) -> list[slice]:
    """Consecutive slices over `rows` batch rows, `size` rows each (the last may be shorter); one
    slice of all of them when `size` is None or not smaller than `rows`.

    A trainer runs one forward and backward pass per slice and weighs each slice's loss by its share
    of the batch, so the summed gradients are the whole batch's.

    Raises:
        ValueError: `size` < 1.
    """
    if size is not None and size < 1:
        raise ValueError(f"micro_batch_size must be >= 1 (or None: the whole batch at once), got {size}")
    if size is None or size >= rows:
        return [slice(0, rows)]
    return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]
