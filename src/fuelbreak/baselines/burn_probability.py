"""Breaks on the cells that burn most often under the planning fires (the classic hazard-map rule).

The ranking is static: burn probability is computed once, with the existing breaks in place, and
the budget goes to the top cells. It ignores what a break does to the fires around it, which is
what makes it cheap and what `greedy` adds. With `intensity=True` each burn is weighted by the
cell's mean fireline intensity over the stencil directions under the fire's scenario (kW/m), so the
score is the expected intensity a cell sees, and of two cells that burn as often, the one that burns
hotter comes first. Under the value objective each cell's score is also weighted by its value at
risk: the cells whose expected loss is largest come first.
"""

from __future__ import annotations

import numpy as np

from fuelbreak.baselines.common import (
    cell_costs,
    check_budget,
    cost_ratio,
    existing_mask,
    legal_mask,
    planning_fires,
    planning_streams,
    rank_cells,
    take_affordable,
)
from fuelbreak.fire.behavior import FireBehavior
from fuelbreak.fire.montecarlo import behaviors_for, loss_weights
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.landscape.core import Landscape


def burn_probability_scores(
    fires, breaks: np.ndarray, behaviors: dict[Scenario, FireBehavior] | None = None
) -> np.ndarray:
    """(H, W) fraction of the fires that burn each cell; given `behaviors`, the mean intensity seen."""
    total = np.zeros(breaks.shape, dtype=np.float64)
    for scenario, engine, group in zip(fires.scenarios, fires.engines, fires.groups, strict=True):
        burned = engine.burn(group, breaks).burned.sum(axis=0, dtype=np.float64)
        if behaviors is not None:
            burned *= behaviors[scenario].intensity.mean(axis=0, dtype=np.float64)
        total += burned
    return total / fires.n_fires


def burn_probability_plan(
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    existing_breaks=None,
    n_fires: int = 200,
    intensity: bool = False,
    ignition_weights: np.ndarray | None = None,
    behaviors: dict[Scenario, FireBehavior] | None = None,
    objective: str = "area",
    max_cost: float | None = None,
) -> np.ndarray:
    """The `budget` legal cells of highest burn probability (or expected intensity), ties by seed.

    Under the value objective the score is weighted by each cell's value; with `max_cost`, ranked by score
    per unit cost and taken while they fit.
    """
    weights = loss_weights(landscape, objective)
    legal = legal_mask(landscape, existing_breaks)
    budget = check_budget(budget, int(legal.sum()))
    costs = cell_costs(landscape, max_cost)
    fire_rng, tie_rng = planning_streams(seed)
    if intensity and behaviors is None:
        behaviors = behaviors_for(landscape, weather)
    fires = planning_fires(
        landscape, weather, n_fires, fire_rng, ignition_weights, behaviors, existing_breaks
    )
    breaks = existing_mask(landscape, existing_breaks)
    scores = burn_probability_scores(fires, breaks, behaviors if intensity else None)
    if weights is not None:
        scores = scores * weights
    scores = cost_ratio(scores.ravel(), costs)
    return take_affordable(rank_cells(scores, np.flatnonzero(legal), tie_rng), budget, costs, max_cost)
