"""Training batches drawn ahead of the steps in worker processes, the same as drawn in the training
process: `StepBatches(source, batch_size=4, seed=0, workers=4).batch(step)`.

Clip i of step s's batch is drawn from its own generator (`clip_generator(seed, s, i)`). So
a batch depends on (seed, s) and the files alone: it is the same with no worker (drawn between
steps) and with any number of them (`torch.utils.data.DataLoader` workers, each building whole
batches of the steps ahead), a resumed run draws the batches the interrupted one would have, and a
process of a `torchrun` launch draws its rows of the global batch alone (`rows`), the very clips one
process would draw there. What differs with workers: the training process no longer waits for
decoding, and up to `2 * workers` batches are drawn ahead (past the last step too, then thrown away).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from arvid.data.clips import ClipSource, ReadingStopped, leave_stopping_to_the_main_process


def clip_generator(seed: int, step: int, row: int) -> np.random.Generator:
    """The generator of clip `row` of step `step`'s batch: a child stream (`spawn_key`) of the step's
    seed, never the step's own generator (`default_rng([seed, step])`, the loop's) nor another row's.
    (A plain `[seed, step, row]` would not do: numpy reads trailing zeros as absent, so row 0 would
    be the step's generator.)"""
    return np.random.default_rng(np.random.SeedSequence([seed, step], spawn_key=(row,)))


def draw_batch(source: ClipSource, seed: int, step: int, rows: range) -> np.ndarray:
    """Clips `rows` of step `step`'s batch, each from its `clip_generator` -> uint8 (b t h w c)."""
    return np.stack([source.sample(clip_generator(seed, step, row)) for row in rows])


class _StepDataset(torch.utils.data.Dataset):
    """Item s: (s, rows `rows` of the batch of step s), or (s, the error drawing it raised): an error
    crosses back to the training process as itself, one line, not as a DataLoader traceback."""

    def __init__(self, source: ClipSource, *, rows: range, seed: int) -> None:
        self.source, self.rows, self.seed = source, rows, seed

    def __getitem__(self, step: int) -> tuple[int, np.ndarray | Exception]:
        try:
            return step, draw_batch(self.source, self.seed, step, self.rows)
        except (ValueError, OSError) as err:  # unreadable data (VideoReadError is a ValueError); bugs keep their traceback
            return step, err


class StepBatches:
    """The training batches of `source`, `batch_size` clips a step, drawn in `workers` processes
    (0: in this one, when asked); `rows` (a slice of the batch's rows, None: all) are the ones this
    process draws and trains on, a rank's share. See the module docstring for what is the same either way.

    Raises:
        ValueError: `workers` < 0, `batch_size` < 1 or no rows.
    """

    def __init__(self, source: ClipSource, *, batch_size: int, seed: int, workers: int = 0,
                 rows: slice | None = None) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.rows = range(batch_size)[rows or slice(None)]
        if not self.rows:
            raise ValueError(f"rows {rows} of a batch of {batch_size} hold no row")
        self.source, self.batch_size, self.seed, self.workers = source, batch_size, seed, workers
        self._ahead = None  # the workers' iterator, from the step `_next_step` on
        self._next_step = -1

    def batch(self, step: int) -> np.ndarray:
        """This process's rows of the batch of step `step` -> uint8 (b t h w c).

        Raises:
            ValueError, OSError: as the source's `sample` (from a worker too).
            ReadingStopped: a worker was killed.
        """
        if self.workers == 0:
            return draw_batch(self.source, self.seed, step, self.rows)
        if self._ahead is None or step != self._next_step:  # the first step, or a jump: start from `step`
            self.close()
            loader = torch.utils.data.DataLoader(
                _StepDataset(self.source, rows=self.rows, seed=self.seed), batch_size=None,
                sampler=itertools.count(step), num_workers=self.workers, prefetch_factor=2,
                worker_init_fn=leave_stopping_to_the_main_process)
            self._ahead = iter(loader)
        try:
            drawn_step, batch = next(self._ahead)
        except RuntimeError as err:
            # torch's words for a worker that ended without a word: "DataLoader worker (pid ...) is killed
            # by signal: ..." or "... exited unexpectedly"; other errors keep their traceback.
            if not str(err).startswith("DataLoader worker"):
                raise
            self.close()
            raise ReadingStopped(f"a process drawing training clips stopped without a word (killed: often for "
                                 f"memory) before step {step}'s batch: {err}; fewer workers (train.num_workers) or "
                                 f"a smaller train.cache_mb each hold less") from None
        self._next_step = step + 1
        if drawn_step != step:
            raise RuntimeError(f"the data loader gave the batch of step {drawn_step} for step {step}")
        if isinstance(batch, Exception):
            raise batch
        return batch.numpy()

    def close(self) -> None:
        """Stop the workers (they also stop when this object is collected)."""
        self._ahead = None  # the DataLoader's iterator shuts its workers down when it goes

