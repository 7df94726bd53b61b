"""Action spaces whose `sample()` only returns legal cells.

An illegal action is an error in `FuelBreakEnv` (not a silent no-op), so a plain `Discrete.sample()`
would crash random agents and gymnasium's checker one step in ten. These spaces keep the current
legal-cell mask (the environment updates it) and sample from it; membership (`contains`) is unchanged.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces


class CellSpace(spaces.Discrete):
    """One cell index in [0, n); `sample()` draws a legal cell."""

    def __init__(self, n: int, seed: int | None = None):
        super().__init__(n, seed=seed)
        self.legal = np.ones(n, dtype=bool)

    def sample(self, mask: np.ndarray | None = None, probability: np.ndarray | None = None) -> np.int64:
        """A legal cell index, or one drawn with Gymnasium's `mask` or `probability` when given."""
        if mask is None and probability is None:
            mask = self.legal.astype(np.int8)
        return super().sample(mask=mask, probability=probability)


class CellsSpace(spaces.MultiDiscrete):
    """`k` cell indices placed together; `sample()` draws k distinct legal cells."""

    def __init__(self, n: int, k: int, seed: int | None = None):
        super().__init__(np.full(k, n, dtype=np.int64), seed=seed)
        self.n_cells, self.k = n, k
        self.legal = np.ones(n, dtype=bool)

    def sample(self, mask=None, probability=None) -> np.ndarray:
        """`k` distinct legal cell indices (with repeats only when fewer are legal), or Gymnasium's draw with `mask` or `probability`."""
        if mask is not None or probability is not None:
            return super().sample(mask=mask, probability=probability)
        legal = np.flatnonzero(self.legal)
        replace = len(legal) < self.k
        return self.np_random.choice(legal, size=self.k, replace=replace).astype(np.int64)
