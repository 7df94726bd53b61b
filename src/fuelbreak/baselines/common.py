"""What every baseline shares: legal cells, the budget check, the planning random streams, ranking.

A plan is a 1-D int64 array of distinct flat cell indices (row-major, row 0 north) in placement
order. A cell is legal when it is burnable, not excluded (the landscape's 'exclude' layer) and not
already a break. Every baseline takes the objective ('area': expected burned cells; 'value': expected
loss of the 'value' layer) and an optional `max_cost`: the plan's summed 'cost' layer stays within
it, so a plan may hold fewer than `budget` cells when the money runs out first.

Planning randomness comes from `planning_streams(seed)`: a `SeedSequence` keyed by the seed and a
fixed tag, so a baseline's planning ignitions never coincide with those `draw_fires(seed=...)` gives
for the same integer seed. An evaluator must still draw its own ignitions from its own seed.
"""

from __future__ import annotations

import numpy as np

from fuelbreak.errors import ConfigError, InputError
from fuelbreak.fire.behavior import FireBehavior
from fuelbreak.fire.montecarlo import FireSet, check_plan, draw_fires
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.landscape.core import Landscape

PLAN_TAG = 0x504C414E  # "PLAN": separates planning streams from other uses of the same seed


def check_seed(seed) -> int:
    """A non-negative integer seed, or a ConfigError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def planning_streams(seed: int, n: int = 2) -> list[np.random.Generator]:
    """`n` independent generators for one plan: by convention [0] draws ignitions, [1] breaks ties."""
    ss = np.random.SeedSequence([PLAN_TAG, check_seed(seed)])
    return [np.random.default_rng(s) for s in ss.spawn(n)]


def existing_mask(landscape: Landscape, existing_breaks) -> np.ndarray:
    """The existing-break mask as bool of the tile's shape (all False when None)."""
    return check_plan(landscape, existing_breaks)


def legal_mask(landscape: Landscape, existing_breaks=None) -> np.ndarray:
    """Cells where a break may go: burnable, not excluded and not already a break."""
    return landscape.treatable & ~existing_mask(landscape, existing_breaks)


def cell_costs(landscape: Landscape, max_cost) -> np.ndarray | None:
    """The flat cost of every cell (float64) when a cost limit is given, else None.

    Raises:
        ConfigError: `max_cost` is not a positive number, or the landscape has no 'cost' layer.
    """
    if max_cost is None:
        return None
    if isinstance(max_cost, bool) or not isinstance(max_cost, int | float | np.floating | np.integer):
        raise ConfigError(f"max_cost must be a number, got {max_cost!r}")
    if not (np.isfinite(max_cost) and max_cost > 0):
        raise ConfigError(f"max_cost must be a positive number, got {max_cost!r}")
    cost = landscape.planner_layer("cost")
    if cost is None:
        where = f" '{landscape.name}'" if landscape.name else ""
        raise ConfigError(f"max_cost {max_cost:g} needs a treatment cost, but landscape{where} has no 'cost' layer")
    return cost.astype(np.float64).ravel()


def take_affordable(order: np.ndarray, budget: int, costs: np.ndarray | None, max_cost) -> np.ndarray:
    """The first `budget` cells of `order` whose summed cost stays within `max_cost` (a cell that no longer fits is skipped)."""
    order = np.asarray(order, dtype=np.int64)
    if costs is None:
        return order[:budget]
    taken, spent = [], 0.0
    for cell in order:
        c = costs[cell]
        if spent + c <= max_cost:
            taken.append(int(cell))
            spent += c
            if len(taken) == budget:
                break
    return np.asarray(taken, dtype=np.int64)


def cost_ratio(score: np.ndarray, costs: np.ndarray | None) -> np.ndarray:
    """`score` per unit cost where a cost limit applies (cells of cost 0 first, by score), else `score`.

    Under a cost limit the greedy rule of a budgeted cover takes the best gain per unit spent.
    """
    if costs is None:
        return score
    free = costs <= 0
    ratio = np.where(free, 0.0, score / np.where(free, 1.0, costs))
    top = ratio.max(initial=0.0) + 1.0
    return np.where(free & (score > 0), top + score, ratio)

def check_budget(budget, n_legal: int) -> int:
    """The budget as int, or a ConfigError naming it when it is not in [1, number of legal cells]."""
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer):
        raise ConfigError(f"budget must be a whole number of cells, got {budget!r}")
    if budget < 1:
        raise ConfigError(f"budget {budget} must be at least 1 cell")
    if budget > n_legal:
        raise ConfigError(
            f"budget {budget} exceeds the {n_legal} legal cells (burnable and not already a break)"
        )
    return int(budget)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """An integer option of at least `minimum`, or a ConfigError naming the option."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def planning_fires(
    landscape: Landscape,
    weather: Weather,
    n_fires: int,
    rng: np.random.Generator,
    ignition_weights: np.ndarray | None = None,
    behaviors: dict[Scenario, FireBehavior] | None = None,
    existing_breaks=None,
) -> FireSet:
    """The planning fires (scenario, ignition) of one plan, on MTT engines.

    Ignitions fall on burnable cells that are not existing breaks (a fire there would burn nothing),
    in proportion to `ignition_weights` when given.
    """
    n_fires = check_positive_int("n_fires", n_fires)
    weights = (~existing_mask(landscape, existing_breaks)).astype(np.float64)
    if ignition_weights is not None:
        ignition_weights = np.asarray(ignition_weights, dtype=np.float64)
        if ignition_weights.shape != landscape.shape:
            raise InputError(
                f"ignition weight layer has shape {ignition_weights.shape}, the landscape has {landscape.shape}"
            )
        weights = weights * ignition_weights
    return draw_fires(landscape, weather, n_fires, rng, "mtt", weights, behaviors)


def rank_cells(scores: np.ndarray, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Candidate flat indices sorted by score, highest first; equal scores in a seeded random order."""
    candidates = np.asarray(candidates, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64).ravel()[candidates]
    order = np.lexsort((rng.random(candidates.size), -s))
    return candidates[order]
