"""The floor every method must beat: breaks on legal cells drawn uniformly at random."""

from __future__ import annotations

import numpy as np

from fuelbreak.baselines.common import check_budget, legal_mask, planning_streams
from fuelbreak.fire.scenario import Weather
from fuelbreak.landscape.core import Landscape


def random_plan(
    landscape: Landscape, weather: Weather, budget: int, seed: int, existing_breaks=None
) -> np.ndarray:
    """`budget` distinct legal cells, uniformly at random without replacement (weather is unused)."""
    legal = np.flatnonzero(legal_mask(landscape, existing_breaks))
    budget = check_budget(budget, legal.size)
    _, rng = planning_streams(seed)
    return rng.choice(legal, size=budget, replace=False).astype(np.int64)
