"""Simulation-greedy: add, one at a time, the cell whose break most lowers the expected burned area.

The slow one, and not the strong one it was taken for: a lone cell's marginal gain misses what a
line of cells does (most cells of a line save nothing until the line is whole), so on the default
test tiles greedy with 200 planning fires (56.9 %) plans below tree-greedy with 256 (64.5 %), and
planned in-sample on the 200 scoring fires of 10 test tiles it reached 56.0 % (`fuelbreak evaluate
--frontier`, docs/learned_planner.md). Every step evaluates marginal gains by burning the planning fires again
(common random numbers: every candidate is scored on the same fires). Three things make it
affordable:

* Fires a break cannot change are not burned again. From each fire's spread tree
  (`fuelbreak.fire.trees`) a break at c can save at most `bound[c]` cells; when that is 0,
  or 1 and c itself burned, the saving is known without simulating.
* Lazy evaluation (CELF, Leskovec et al. 2007): candidates sit in a priority queue keyed by an upper
  estimate of their gain, at first the tree bound summed over fires (a true upper bound for the
  first step); the top candidate is re-evaluated against the current plan and placed only if it is
  still on top once its value is fresh. Break gains are NOT submodular (a break can be worth more once
  its neighbours are in place: a line only stops fires when it is complete), so stale values may
  under-rate a cell and lazy greedy is a heuristic here, not the exact greedy. Two guards: after
  each placement the candidates within 2 cells of the new break (where gains grow most) get their
  fresh tree bound back as key, so they are re-evaluated before anything is placed; and equal gains
  go to the cell with the larger tree bound (two cells closing a two-cell-wide passage each save
  only themselves alone; the one more fire paths run through is placed first, and its partner's
  gain then shows). Greedy, lazy or not, still cannot see a line that pays off only when complete.
* A candidate set: the `n_candidates` legal cells of highest tree bound (the cells whose breaks could
  save most), plus their 8 neighbours, so that a break can be widened or extended.

A break on a planning ignition would be credited with that whole fire, an artifact of a finite
sample (an independent ignition falls there with probability 1 / burnable cells): the cells where
planning fires start are not candidates. When no candidate lowers the expected burned area any more,
the rest of the budget goes to the remaining candidates, then to other legal cells, in seeded
random order.
"""

from __future__ import annotations

import heapq

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
    take_affordable,
)
from fuelbreak.fire.behavior import FireBehavior
from fuelbreak.fire.montecarlo import loss_weights
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.fire.through_plan import PlanFires
from fuelbreak.landscape.core import Landscape


class _FireState(PlanFires):
    """The planning fires under the current breaks, and the exact gain of one more break."""

    def gain(self, cell: int, breaks: np.ndarray) -> float:
        """Expected cells (value, when weighted) saved per fire by a break at `cell` added to `breaks` (exact, on these fires)."""
        own = self.weight[cell] if self.weighted else 1.0
        burned = self.burned[:, cell] * own  # what the break saves at the cell itself
        simulate = np.flatnonzero(self.vbound[:, cell] > burned)
        saved = float(burned.sum() - burned[simulate].sum())
        if simulate.size:
            trial = breaks.copy()
            trial.ravel()[cell] = True
            arrival, via = self.arrival[simulate], self.via[simulate]  # copies: the trial is not kept
            for g in np.unique(self.group[simulate]):
                rows = np.flatnonzero(self.group[simulate] == g)
                self.fires.engines[g].reburn(trial, arrival, via, rows)  # only what the break cuts off
            burned_after = np.isfinite(arrival).reshape(len(simulate), -1)
            after = burned_after @ self.weight if self.weighted else burned_after.sum(axis=1)
            saved += float((self.loss[simulate] - after).sum())
        return saved / self.fires.n_fires


def candidate_cells(
    bound: np.ndarray, legal: np.ndarray, n_candidates: int, forbidden: np.ndarray
) -> np.ndarray:
    """Top `n_candidates` legal cells by bound (bound > 0) and their 8 neighbours, as a bool mask."""
    allowed = legal & ~forbidden
    score = np.where(allowed & (bound > 0), bound, -1.0).ravel()
    n_pos = int((score > 0).sum())
    top = np.argsort(-score, kind="stable")[: min(n_candidates, n_pos)]
    seed = np.zeros(legal.size, dtype=bool)
    seed[top] = True
    seed = seed.reshape(legal.shape)
    grown = seed.copy()
    h, w = legal.shape
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            src = seed[max(0, -dr) : h - max(0, dr), max(0, -dc) : w - max(0, dc)]
            grown[max(0, dr) : h - max(0, -dr), max(0, dc) : w - max(0, -dc)] |= src
    return grown & allowed


def _rekey_near(
    heap: list, cell: int, shape: tuple[int, int], state: _FireState, step: int, radius: int = 2
) -> list:
    """Raise the stale keys of candidates within `radius` cells of a new break to their tree bound.

    Gains grow most next to a new break (it may now complete a line), where a stale value would hide
    that; the bound is an upper bound under the current breaks, so these cells are re-evaluated
    before any cell of lower gain is placed.
    """
    w = shape[1]
    r0, c0 = divmod(cell, w)
    out = []
    for entry in heap:
        neg, neg_bound, tie, c, stamp = entry
        r, cc = divmod(c, w)
        if abs(r - r0) <= radius and abs(cc - c0) <= radius:
            bound = state.vbound[:, c].sum() / state.fires.n_fires
            entry = (-bound, -bound, tie, c, -1)
        out.append(entry)
    heapq.heapify(out)
    return out


def greedy_plan(
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    existing_breaks=None,
    n_fires: int = 50,
    n_candidates: int | None = None,
    ignition_weights: np.ndarray | None = None,
    behaviors: dict[Scenario, FireBehavior] | None = None,
    objective: str = "area",
    max_cost: float | None = None,
) -> np.ndarray:
    """Lazy simulation-greedy plan on the planning fires; `n_candidates` defaults to 4 x budget + 100.

    Under the value objective gains are of value; with `max_cost`, of value per unit cost, and a cell
    that no longer fits is dropped (the plan ends when nothing fits).
    """
    weights = loss_weights(landscape, objective)
    costs = cell_costs(landscape, max_cost)
    legal = legal_mask(landscape, existing_breaks)
    budget = check_budget(budget, int(legal.sum()))
    n_candidates = (
        4 * budget + 100 if n_candidates is None else check_positive_int("n_candidates", n_candidates)
    )
    fire_rng, tie_rng = planning_streams(seed)
    fires = planning_fires(
        landscape, weather, n_fires, fire_rng, ignition_weights, behaviors, existing_breaks
    )
    breaks = existing_mask(landscape, existing_breaks).copy()
    state = _FireState(fires, breaks, weights=weights)

    def per_cost(gain: float, cell: int) -> float:
        return gain if costs is None else float(cost_ratio(np.array([gain]), costs[cell : cell + 1])[0])

    ignited = np.zeros(landscape.n_cells, dtype=bool)
    ignited[fires.ignitions()] = True
    total_bound = state.vbound.sum(axis=0) / fires.n_fires
    cand = np.flatnonzero(
        candidate_cells(
            total_bound.reshape(landscape.shape), legal, n_candidates, ignited.reshape(landscape.shape)
        )
    )
    # Heap entries: (-gain estimate, -tree bound, random tie-break, cell, step of the estimate). Equal
    # gains go to the larger bound: the cell more fire paths run through, whose break a later one may
    # complete (two cells closing a two-cell-wide passage each save only themselves alone).
    ties = tie_rng.random(cand.size)
    heap = [
        (-per_cost(total_bound[c], c), -total_bound[c], float(r), int(c), -1) for c, r in zip(cand, ties, strict=True)
    ]
    heapq.heapify(heap)
    plan: list[int] = []
    left = max_cost
    while len(plan) < budget and heap:
        neg, neg_bound, tie, cell, stamp = heapq.heappop(heap)
        if costs is not None and costs[cell] > left:
            continue  # no longer fits what is left of the money
        if stamp == len(plan):
            if -neg <= 0.0:
                heapq.heappush(heap, (neg, neg_bound, tie, cell, stamp))
                break
            plan.append(cell)
            breaks.ravel()[cell] = True
            state.place([cell])
            if costs is not None:
                left -= float(costs[cell])
            heap = _rekey_near(heap, cell, landscape.shape, state, len(plan))
            continue
        bound = state.vbound[:, cell].sum() / fires.n_fires
        heapq.heappush(heap, (-per_cost(state.gain(cell, breaks), cell), -bound, tie, cell, len(plan)))
    if len(plan) < budget:  # nothing left lowers the loss: fill in seeded random order
        rest = [e[3] for e in sorted(heap, key=lambda e: e[2])]
        others = np.flatnonzero(
            legal.ravel() & ~breaks.ravel() & ~np.isin(np.arange(landscape.n_cells), rest)
        )
        rest += [int(c) for c in tie_rng.permutation(others)]
        fill = take_affordable(np.asarray(rest, dtype=np.int64), budget - len(plan), costs, left)
        plan += [int(c) for c in fill]
    return np.asarray(plan, dtype=np.int64)
