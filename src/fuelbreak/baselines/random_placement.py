"""The floor every method must beat: breaks on legal cells drawn uniformly at random."""

from __future__ import annotations

import numpy as np

from fuelbreak.baselines.common import cell_costs, check_budget, legal_mask, planning_streams, take_affordable
from fuelbreak.fire.montecarlo import check_objective
from fuelbreak.fire.scenario import Weather
from fuelbreak.landscape.core import Landscape


def random_plan(
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    existing_breaks=None,
    objective: str = "area",
    max_cost: float | None = None,
) -> np.ndarray:
    """`budget` distinct legal cells, uniformly at random without replacement (weather and objective are unused).

    With `max_cost`, cells in random order that still fit the cost limit.
    """
    check_objective(objective, landscape)
    legal = np.flatnonzero(legal_mask(landscape, existing_breaks))
    budget = check_budget(budget, legal.size)
    costs = cell_costs(landscape, max_cost)
    _, rng = planning_streams(seed)
    if costs is None:
        return rng.choice(legal, size=budget, replace=False).astype(np.int64)
    return take_affordable(rng.permutation(legal), budget, costs, max_cost)
