"""Training batches drawn ahead of the steps in worker processes, the same as drawn in the training
process: `StepBatches(source, batch_size=4, seed=0, workers=4).batch(step, rng)`.

The batch of step s is `batch_size` clips drawn in turn from `np.random.default_rng([seed, s])`, the
generator `arvid.training.loop.train_loop` gives step s. It depends on (seed, s) and the files alone,
so it is the same with no worker (drawn from the loop's generator, between steps) and with any
number of them (`torch.utils.data.DataLoader` workers, each building whole batches of the steps
ahead), and a resumed run draws the batches the interrupted one would have. What differs with
workers: the training process no longer waits for decoding, and up to `2 * workers` batches are
drawn ahead (past the last step too, then thrown away).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from arvid.data.clips import ClipSource


def draw_batch(source: ClipSource, rng: np.random.Generator, batch_size: int) -> np.ndarray:
    """`batch_size` clips drawn in turn from `rng` -> uint8 (b t h w c)."""
    return np.stack([source.sample(rng) for _ in range(batch_size)])


class _StepDataset(torch.utils.data.Dataset):
    """Item s: (s, the batch of step s), or (s, the error drawing it raised): an error crosses back
    to the training process as itself, one line, not as a DataLoader traceback."""

    def __init__(self, source: ClipSource, *, batch_size: int, seed: int) -> None:
        self.source, self.batch_size, self.seed = source, batch_size, seed

    def __getitem__(self, step: int) -> tuple[int, np.ndarray | Exception]:
        try:
            return step, draw_batch(self.source, np.random.default_rng([self.seed, step]), self.batch_size)
        except (ValueError, OSError) as err:  # unreadable data (VideoReadError is a ValueError); bugs keep their traceback
            return step, err


class StepBatches:
    """The training batches of `source`, `batch_size` clips a step, drawn in `workers` processes
    (0: in this one, when asked). See the module docstring for what is the same either way.

    Raises:
        ValueError: `workers` < 0 or `batch_size` < 1.
    """

    def __init__(self, source: ClipSource, *, batch_size: int, seed: int, workers: int = 0) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.source, self.batch_size, self.seed, self.workers = source, batch_size, seed, workers
        self._ahead = None  # the workers' iterator, from the step `_next_step` on
        self._next_step = -1

    def batch(self, step: int, rng: np.random.Generator) -> np.ndarray:
        """The batch of step `step` -> uint8 (b t h w c). `rng` is the loop's generator for this step,
        `np.random.default_rng([seed, step])`: without workers the clips are drawn from it.

        Raises:
            ValueError, OSError: as the source's `sample` (from a worker too).
        """
        if self.workers == 0:
            return draw_batch(self.source, rng, self.batch_size)
        if self._ahead is None or step != self._next_step:  # the first step, or a jump: start from `step`
            self.close()
            loader = torch.utils.data.DataLoader(
                _StepDataset(self.source, batch_size=self.batch_size, seed=self.seed), batch_size=None,
                sampler=itertools.count(step), num_workers=self.workers, prefetch_factor=2)
            self._ahead = iter(loader)
        drawn_step, batch = next(self._ahead)
        self._next_step = step + 1
        if drawn_step != step:
            raise RuntimeError(f"the data loader gave the batch of step {drawn_step} for step {step}")
        if isinstance(batch, Exception):
            raise batch
        return batch.numpy()

    def close(self) -> None:
        """Stop the workers (they also stop when this object is collected)."""
        self._ahead = None  # the DataLoader's iterator shuts its workers down when it goes
