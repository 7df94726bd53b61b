"""Baselines: plans a user could make without the learned policy, to measure it against.

Every baseline is a function `(landscape, weather, budget, seed, **options) -> np.ndarray` returning
exactly `budget` distinct legal cells (burnable, not in the optional `existing_breaks` mask) as flat
indices in placement order. The same seed gives the same plan; planning fires are drawn from the
seed (see `common.planning_streams`), never shared with an evaluator's.

    random            uniform over legal cells
    burn_probability  cells that burn most often under the planning fires (optionally x intensity)
    domirank          DomiRank centrality on a graph of fire spread (Engsig et al. 2024)
    tree_greedy       one cell at a time at the largest downstream area of the planning fires through the plan
                      (optionally then prune and refill: `local_search`)
    greedy            lazy simulation-greedy on the planning fires: slow; single-cell gains miss lines
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from fuelbreak.baselines.burn_probability import burn_probability_plan
from fuelbreak.baselines.domirank import domirank, domirank_plan
from fuelbreak.baselines.greedy import greedy_plan
from fuelbreak.baselines.random_placement import random_plan
from fuelbreak.baselines.tree_greedy import tree_greedy_plan
from fuelbreak.errors import ConfigError
from fuelbreak.fire.scenario import Weather
from fuelbreak.landscape.core import Landscape

BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "random": random_plan,
    "domirank": domirank_plan,
    "burn_probability": burn_probability_plan,
    "tree_greedy": tree_greedy_plan,
    "greedy": greedy_plan,
}


def options_of(method: str) -> tuple[str, ...]:
    """The option names a baseline accepts (its keyword parameters after the four common ones)."""
    params = list(inspect.signature(_method(method)).parameters)
    return tuple(params[4:])


def _method(method: str) -> Callable[..., np.ndarray]:
    if method not in BASELINES:
        raise ConfigError(f"unknown baseline {method!r}; choose one of {', '.join(BASELINES)}")
    return BASELINES[method]


def plan(
    method: str, landscape: Landscape, weather: Weather, budget: int, seed: int, **options
) -> np.ndarray:
    """The plan of baseline `method`; an option it does not take is a ConfigError naming it."""
    fn = _method(method)
    unknown = sorted(set(options) - set(options_of(method)))
    if unknown:
        raise ConfigError(
            f"baseline {method!r} has no option(s) {', '.join(unknown)}; it takes {', '.join(options_of(method))}"
        )
    return fn(landscape, weather, budget, seed, **options)


__all__ = [
    "BASELINES",
    "burn_probability_plan",
    "domirank",
    "domirank_plan",
    "greedy_plan",
    "options_of",
    "plan",
    "random_plan",
    "tree_greedy_plan",
]
