"""One entry point for every planner: the baselines, a trained policy (`dqn`) and `dqn_search`.

A method's label may carry a suffix after '@' (e.g. 'tree_greedy@256', one effort of a frontier) and a
trained policy may be labelled 'dqn:LABEL' when several are compared; `base_method` and `is_dqn` read
the labels.
"""

from __future__ import annotations

import numpy as np

from fuelbreak.baselines import BASELINES
from fuelbreak.baselines import plan as baseline_plan
from fuelbreak.errors import SimulationError
from fuelbreak.fire.montecarlo import FireSet
from fuelbreak.fire.scenario import Weather
from fuelbreak.landscape.core import Landscape


def known_methods() -> tuple[str, ...]:
    """The baselines, `dqn` and `dqn_search`.

    Several trained policies are evaluated as `dqn:LABEL` (see `is_dqn`).
    """
    return (*BASELINES, "dqn", "dqn_search")


def base_method(method: str) -> str:
    """The method a label names: the label without its '@' suffix ('tree_greedy@256' -> 'tree_greedy')."""
    return method.partition("@")[0]


def is_dqn(method: str) -> bool:
    """Whether `method` plans with a trained policy alone: `dqn`, or `dqn:LABEL` when several are compared."""
    method = base_method(method)
    return method == "dqn" or (method.startswith("dqn:") and len(method) > 4)


def uses_policy(method: str) -> bool:
    """Whether `method` needs a trained policy's checkpoint: `dqn`, `dqn:LABEL` or `dqn_search`."""
    return is_dqn(method) or base_method(method) == "dqn_search"


def plan_cells(
    method: str,
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    options: dict,
    fires: FireSet | None = None,
) -> np.ndarray:
    """A method's plan: `budget` break cells as flat indices in placement order.

    'dqn' (or 'dqn:LABEL') and 'dqn_search' take their policy from `options['checkpoint']` (a loaded
    DQNPolicy or a path; the shipped policy when absent). `fires`, when given, are the planning fires
    (an in-sample reference: tree-greedy and the search only).

    Raises:
        SimulationError: `fires` given to a method that cannot plan on given fires.
        ConfigError: an unknown method or an option the method does not take.
    """
    base = base_method(method)
    extra = {} if fires is None else {"fires": fires}
    if base == "dqn_search":
        from fuelbreak.agents.search import dqn_search_plan

        return dqn_search_plan(landscape, weather, budget, seed, **options, **extra)
    if is_dqn(base):  # several independent cells a forward on a large landscape, else `dqn_plan` itself
        from fuelbreak.agents.batched import batched_plan

        return batched_plan(landscape, weather, budget, seed, **options)
    if fires is not None:
        if base != "tree_greedy":
            raise SimulationError(f"{method}: only tree_greedy and dqn_search plan on given fires")
        from fuelbreak.baselines.tree_greedy import tree_greedy_on

        known = ("existing_breaks", "cells_per_update", "prune_rounds", "swap", "objective", "max_cost")  # n_fires: given
        return tree_greedy_on(landscape, fires, budget, seed, **{k: v for k, v in options.items() if k in known})
    return baseline_plan(base, landscape, weather, budget, seed, **options)
