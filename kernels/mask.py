"""The attention masks arvid uses, as one rule shared by every kernel and reference.

A query at position `i` may read a key at position `j` when

    (j <= i  or  j < prefix_len)  and  (window is None  or  j < sink  or  i - j < window)

- causal: `prefix_len=0, window=None`;
- bidirectional text prefix, causal after it: `prefix_len=P` (VideoPoet's layout);
- sink + sliding window: `sink=s, window=w` (the first `s` positions and the last `w` up to `i`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True, kw_only=True)
class MaskSpec:
    """Which keys each query sees; see the module docstring for the rule."""

    prefix_len: int = 0
    sink: int = 0
    window: int | None = None

    def __post_init__(self) -> None:
        for name in ("prefix_len", "sink", "window"):
            value = getattr(self, name)
            if not (value is None and name == "window") and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be an integer{' or None' if name == 'window' else ''}, got {value!r}")
        if self.prefix_len < 0 or self.sink < 0:
            raise ValueError(f"prefix_len and sink must be >= 0, got {self.prefix_len} and {self.sink}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be >= 1 or None, got {self.window}")


CAUSAL = MaskSpec()


def allowed(query_positions: Tensor, key_positions: Tensor, spec: MaskSpec) -> Tensor:
    """Boolean mask (nq, nk): True where the query at `query_positions[i]` may read the key at
    `key_positions[j]`. Both are 1-D integer tensors of absolute positions."""
    i = query_positions[:, None]
    j = key_positions[None, :]
    visible = (j <= i) | (j < spec.prefix_len)
    if spec.window is not None:
        visible &= (j < spec.sink) | (i - j < spec.window)
    return visible
