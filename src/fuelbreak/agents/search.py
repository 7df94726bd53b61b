"""The policy-guided search (`dqn_search`): planning fires propose, the policy chooses.

The learned policy alone (`fuelbreak.agents.policy`) places, at each step, the legal cell of highest
Q; its Q map reads the plan-aware channels of its observation fires and what it learned from the
landscape around each cell. Tree-greedy (`fuelbreak.baselines.tree_greedy`) places the cell of
largest mean tree bound over its planning fires, and gains from every fire it is given. The search
uses both, on independent fires, one cell a step:

1. the mean tree bound of `n_fires` planning fires through the plan so far ranks the legal cells,
   and its best `candidates` are the proposals;
2. of the proposals, the policy places the one of highest Q (its Q map through the plan so far, from
   its own observation fires);
3. both fire sets follow the new break (`PlanFires.place`).

With `candidates = 1` it is tree-greedy on the planning fires; with `candidates` = every cell, the
policy. Its effort is `n_fires`: the planning fires cost what tree-greedy's cost, on top of the
policy's own plan. The planning fires come from the plan seed's planning streams
(`fuelbreak.baselines.common.planning_streams`), never from an evaluator's, unless `fires` are
given (an in-sample reference, see `fuelbreak evaluate --frontier`).

Measured on validation tiles (docs/learned_planner.md): the other way round, the policy proposing
and the bound choosing, planned worse than tree-greedy on the same planning fires.
"""

from __future__ import annotations

import numpy as np
import torch

from fuelbreak.agents.policy import DQNPolicy, PlanStep, best_legal, resolve_policy
from fuelbreak.baselines.common import (
    cell_costs,
    check_positive_int,
    cost_ratio,
    planning_fires,
    planning_streams,
)
from fuelbreak.baselines.local_search import prune_refill
from fuelbreak.env.observation import with_plan
from fuelbreak.errors import ConfigError
from fuelbreak.fire.montecarlo import FireSet, behaviors_for, cell_equivalent_weights
from fuelbreak.fire.scenario import Weather
from fuelbreak.fire.through_plan import PlanFires
from fuelbreak.landscape.core import Landscape

CANDIDATES = 2  # the planning fires' proposals a step (chosen on validation tiles: docs/learned_planner.md)
PRUNE_ROUNDS = 3  # rounds of prune and refill after the plan (chosen on validation tiles)
N_FIRES = 256  # planning fires, as tree-greedy's n_fires


def search_rollout(
    policy: DQNPolicy,
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int = 0,
    existing_breaks=None,
    n_fires: int = N_FIRES,
    candidates: int = CANDIDATES,
    fires: FireSet | None = None,
    objective: str = "area",
    max_cost: float | None = None,
) -> list[PlanStep]:
    """Place `budget` cells one at a time.

    Of the `candidates` cells of largest mean tree bound over the `n_fires` planning fires (as tree-greedy's,
    on any tile; or the given `fires`), the one of highest Q. Every step's Q map (NaN on illegal cells) and
    cell.
    """
    search = _Search(policy, landscape, weather, seed, existing_breaks, n_fires, candidates, fires, objective, max_cost)
    return search.steps(budget)


class _Search:
    """One plan's search: the policy's static channels and observation fires, and the planning fires."""

    def __init__(
        self, policy, landscape, weather, seed, existing_breaks, n_fires, candidates, fires, objective="area",
        max_cost=None,
    ):  # fmt: skip
        n_fires = check_positive_int("dqn_search.n_fires", n_fires)
        self.candidates = check_positive_int("dqn_search.candidates", candidates)
        self.policy, self.landscape = policy, landscape
        self.weights = cell_equivalent_weights(landscape, objective)
        self.costs, self.max_cost = cell_costs(landscape, max_cost), max_cost
        behaviors = behaviors_for(landscape, weather)  # once, for both fire sets
        self.static, observing = policy.observation_fires(
            landscape, weather, seed, existing_breaks, behaviors, objective
        )
        self.observation = observing.fires
        self.existing = observing.breaks.copy()
        if fires is None:
            fire_rng, _ = planning_streams(seed)
            fires = planning_fires(landscape, weather, n_fires, fire_rng, None, behaviors, existing_breaks)
        self.fires = fires
        self._observing = observing

    def steps(self, budget: int, breaks: np.ndarray | None = None) -> list[PlanStep]:
        """`budget` cells placed through `breaks` (default: the existing breaks), one a step."""
        if breaks is None:
            breaks, observing = self.existing.copy(), self._observing
        else:
            breaks = breaks.copy()
            observing = PlanFires(self.observation, breaks, neutral_roots=True, weights=self.weights)
        legal = self.landscape.treatable & ~breaks
        if budget < 1 or budget > int(legal.sum()):
            raise ConfigError(f"budget {budget} must be between 1 and the {int(legal.sum())} legal cells")
        planning = PlanFires(self.fires, breaks, neutral_roots=True, weights=self.weights)
        costs, left = self.costs, self.max_cost
        steps: list[PlanStep] = []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one small observation at a time (see DQNPolicy.q_map)
        try:
            q_of = self.policy.plan_q(self.static)
            q = q_of(with_plan(self.static, breaks, *observing.view()))
            for placed in range(budget):
                if costs is not None:
                    legal &= (costs <= left).reshape(legal.shape)
                    if not legal.any():
                        break
                k = min(self.candidates, int(legal.sum()))
                score = cost_ratio(planning.score(), costs).reshape(q.shape)
                proposals = best_legal(score, legal, k)  # largest bound (per unit cost) first
                cell = int(proposals[int(np.argmax(q.ravel()[proposals]))])  # equal Q: the larger bound
                if costs is not None:
                    left -= float(costs[cell])
                steps.append(PlanStep(np.where(legal, q, np.nan), np.array([cell], dtype=np.int64)))
                breaks.flat[cell] = True
                legal.flat[cell] = False
                observing.place([cell])
                planning.place([cell])
                if placed + 1 < budget:
                    q = q_of.update(with_plan(self.static, breaks, *observing.view()))
        finally:
            torch.set_num_threads(threads)
        return steps

    def refill(self, breaks: np.ndarray, m: int) -> np.ndarray:
        """The search's rule as prune and refill's refill (`fuelbreak.baselines.local_search`)."""
        return np.concatenate([s.cells for s in self.steps(m, breaks)])


def dqn_search_plan(
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    checkpoint=None,
    model_type: str = "auto",
    existing_breaks=None,
    n_fires: int = N_FIRES,
    candidates: int = CANDIDATES,
    bp_fires: int | None = None,
    prune_rounds: int = PRUNE_ROUNDS,
    swap: int | None = None,
    fires: FireSet | None = None,
    objective: str = "area",
    max_cost: float | None = None,
) -> np.ndarray:
    """The baselines' signature for the search.

    `checkpoint` is a path or a loaded `DQNPolicy` (None: the shipped one); `n_fires` the planning fires (its
    effort), `candidates` the proposals a step, `bp_fires` overrides the policy's observation fires;
    `prune_rounds` rounds of prune and refill on the planning fires, `swap` breaks a round (default a tenth of
    the budget); `fires` replaces the planning fires. Under the value objective both fire sets count
    value; with `max_cost` the proposals are ranked per unit cost, the plan ends when no cell fits, and
    there is no prune and refill (it swaps cells one for one, keeping a count, not a cost).
    """
    policy = resolve_policy(checkpoint, model_type, bp_fires=bp_fires)
    search = _Search(
        policy, landscape, weather, seed, existing_breaks, n_fires, candidates, fires, objective, max_cost
    )
    steps = search.steps(budget)
    plan = np.concatenate([s.cells for s in steps] or [np.zeros(0, dtype=np.int64)]).astype(np.int64)
    if prune_rounds and max_cost is None:
        _, tie_rng = planning_streams(seed)
        plan = prune_refill(
            landscape, search.fires, plan, search.refill, prune_rounds, swap, search.existing, tie_rng,
            search.weights,
        )  # fmt: skip
    return plan
