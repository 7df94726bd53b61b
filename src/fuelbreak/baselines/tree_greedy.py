"""Tree-greedy: one break at a time where the planning fires' downstream area through the plan is largest.

A cheap heuristic that sees the plan. Every planning fire has a spread tree (`fuelbreak.fire.trees`);
a break at c can save at most `bound[c]` cells of a fire, c's subtree and the subtrees of the moves
that cross c. Tree-greedy places the legal cell with the largest mean bound over the planning fires,
burns again the fires that cell touched (their trees change: paths now go around it), and repeats
until the budget is spent. Unlike simulation-greedy it never tries a candidate; unlike DomiRank and
burn-probability ranking it sees what the breaks already placed do.

The bound over-rates a lone cell that fire can go around, so tree-greedy is a lower-cost, weaker
cousin of greedy: it tells how much of greedy a fast heuristic already gets. A fire's own ignition
cell counts for itself alone (`neutral_roots`): independent fires seldom start exactly there.

Under the value objective the trees count value instead of cells (a break's bound is the value downstream
of it); with a cost limit the score is per unit cost and a cell that no longer fits is not placed.
"""

from __future__ import annotations

import numpy as np

from fuelbreak.baselines.common import (
    cell_costs,
    check_budget,
    check_positive_int,
    cost_ratio,
    existing_mask,
    legal_mask,
    planning_fires,
    planning_streams,
)
from fuelbreak.baselines.local_search import Refill, prune_refill
from fuelbreak.fire.behavior import FireBehavior
from fuelbreak.fire.montecarlo import FireSet, loss_weights
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.fire.through_plan import PlanFires
from fuelbreak.landscape.core import Landscape


def tree_greedy_plan(
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    existing_breaks=None,
    n_fires: int = 64,
    cells_per_update: int = 1,
    ignition_weights: np.ndarray | None = None,
    behaviors: dict[Scenario, FireBehavior] | None = None,
    prune_rounds: int = 0,
    swap: int | None = None,
    objective: str = "area",
    max_cost: float | None = None,
) -> np.ndarray:
    """Place `budget` cells at the largest mean tree bound of `n_fires` planning fires.

    The fires are burned again after every `cells_per_update` cells (1: after each cell; more: the best few of
    one score map).

    Then `prune_rounds` rounds of prune and refill on the same fires (`fuelbreak.baselines.local_search`,
    `swap` breaks a round; 0: none, tree-greedy as it was).
    """
    n_fires = check_positive_int("n_fires", n_fires)
    loss_weights(landscape, objective)  # an unknown objective fails before the fires are drawn
    cell_costs(landscape, max_cost)
    fire_rng, _ = planning_streams(seed)
    fires = planning_fires(
        landscape, weather, n_fires, fire_rng, ignition_weights, behaviors, existing_breaks
    )
    return tree_greedy_on(
        landscape, fires, budget, seed, existing_breaks, cells_per_update, prune_rounds, swap, objective, max_cost
    )


def tree_greedy_on(
    landscape: Landscape,
    fires: FireSet,
    budget: int,
    seed: int,
    existing_breaks=None,
    cells_per_update: int = 1,
    prune_rounds: int = 0,
    swap: int | None = None,
    objective: str = "area",
    max_cost: float | None = None,
) -> np.ndarray:
    """Tree-greedy on given fires instead of its own planning fires (its options as `tree_greedy_plan`'s).

    With the very fires that score a plan it is a reference, not a method: it tells how well tree-greedy does
    when it knows the fires (an in-sample plan; `fuelbreak evaluate --frontier` labels it so).
    """
    legal = legal_mask(landscape, existing_breaks).ravel().copy()
    budget = check_budget(budget, int(legal.sum()))
    k = check_positive_int("cells_per_update", cells_per_update)
    weights = loss_weights(landscape, objective)
    costs = cell_costs(landscape, max_cost)
    _, tie_rng = planning_streams(seed)
    ties = tie_rng.random(landscape.n_cells)
    plan = _place(landscape, fires, legal, budget, k, ties, existing_breaks, weights, costs, max_cost)
    if prune_rounds and costs is None:  # prune and refill swaps cells one for one: it keeps a cell count, not a cost
        refill = bound_refill(landscape, fires, tie_rng, weights)
        existing = existing_mask(landscape, existing_breaks)
        plan = prune_refill(landscape, fires, plan, refill, prune_rounds, swap, existing, tie_rng, weights)
    return plan


def bound_refill(
    landscape: Landscape, fires: FireSet, tie_rng: np.random.Generator, weights: np.ndarray | None = None
) -> Refill:
    """Tree-greedy's rule as prune and refill's refill (`fuelbreak.baselines.local_search`).

    The legal cell of largest mean tree bound of `fires` through the plan (of value with `weights`), one
    at a time (ties in `tie_rng`'s order, drawn once for every refill).
    """
    ties = tie_rng.random(landscape.n_cells)

    def refill(breaks: np.ndarray, m: int) -> np.ndarray:
        legal = (landscape.treatable & ~breaks).ravel()
        return _place(landscape, fires, legal, m, 1, ties, breaks, weights)

    return refill


def top_cells(score: np.ndarray, ties: np.ndarray, n: int) -> np.ndarray:
    """`np.lexsort((-ties, -score))[:n]`: the n largest scores, equal scores by largest tie.

    Without sorting every cell: only the cells that can be among the n are sorted.
    """
    if n >= score.size:
        return np.lexsort((-ties, -score))[:n]
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    nth = np.partition(score, score.size - n)[score.size - n]
    above, equal = np.flatnonzero(score > nth), np.flatnonzero(score == nth)
    m = n - len(above)  # cells still wanted from those at the n-th score: the largest ties among them
    if m < len(equal):
        tie = ties[equal]
        equal = equal[tie >= np.partition(tie, len(equal) - m)[len(equal) - m]]
    cand = np.sort(np.concatenate([above, equal]))
    return cand[np.lexsort((-ties[cand], -score[cand]))][:n]


def _place(
    landscape,
    fires: FireSet,
    legal: np.ndarray,
    budget: int,
    k: int,
    ties: np.ndarray,
    existing_breaks,
    weights: np.ndarray | None = None,
    costs: np.ndarray | None = None,
    max_cost: float | None = None,
):
    """Place up to `budget` cells, `k` a burn, at the largest mean tree bound of `fires` through the plan.

    Equal scores go in the order of `ties` (one random number a cell). `legal` is updated in place. With
    `weights` the bound is of value; with `costs`, the score is per unit cost, only cells that fit what is
    left of `max_cost` are placed, and the plan ends early when none fits.
    """
    state = PlanFires(fires, existing_mask(landscape, existing_breaks), neutral_roots=True, weights=weights)
    plan = np.empty(budget, dtype=np.int64)
    left = max_cost
    i = 0
    while i < budget:
        if costs is not None:
            legal &= costs <= left
            if not legal.any():
                break
        score = np.where(legal, cost_ratio(state.score(), costs), -np.inf)
        cells = top_cells(score, ties, min(k, budget - i, int(legal.sum())))  # largest score, ties seeded
        if costs is not None:
            cells = cells[np.cumsum(costs[cells]) <= left]
            left -= float(costs[cells].sum())
        plan[i : i + len(cells)] = cells
        legal[cells] = False
        state.place(cells)
        i += len(cells)
    return plan[:i]
