"""What every baseline shares: legal cells, the budget check, the planning random streams, ranking.

A plan is a 1-D int64 array of distinct flat cell indices (row-major, row 0 north) in placement
order. A cell is legal when it is burnable and not already a break.

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
    """Cells where a break may go: burnable and not already a break."""
    return landscape.burnable & ~existing_mask(landscape, existing_breaks)


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
