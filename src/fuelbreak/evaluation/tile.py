"""One tile's evaluation: every method plans, every plan is burned by the same evaluation fires.

`evaluate_tile` is a pure task (module-level, picklable arguments, plain results) so that tiles can
run on any executor. Its randomness comes from two places that never meet:

- planning: each method gets `plan_seed(seed, tile_index)`; baselines turn it into their own
  streams (`SeedSequence([PLAN, plan_seed])`), the DQN into its burn-probability ignitions;
- scoring: the evaluation fires come from `SeedSequence([EVAL, seed, tile_index])`, drawn once
  per tile and shared by every method and budget.

Each score carries the digest of the fire set it was burned on, so that the caller can check
(`check_same_fires`) rather than assume that all methods met identical ignitions and scenarios.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np

from fuelbreak.env import budget_cells
from fuelbreak.errors import FuelbreakError, SimulationError
from fuelbreak.fire.montecarlo import FireSet, behaviors_for, check_objective, draw_fires
from fuelbreak.fire.scenario import Weather
from fuelbreak.landscape.core import Landscape
from fuelbreak.planning.planners import base_method, is_dqn, known_methods, plan_cells, uses_policy

__all__ = [
    "base_method",
    "check_same_fires",
    "evaluate_tile",
    "is_dqn",
    "known_methods",
    "make_plan",
    "uses_policy",
]

EVAL_TAG = 0x4556414C  # "EVAL": evaluation fires, apart from planning (PLAN) and training streams
PLAN_SEED_TAG = 0x53454544  # "SEED": derives a tile's planning seed from (seed, tile index)


def plan_seed(seed: int, tile_index: int) -> int:
    """The planning seed every method gets on a tile: a 32-bit integer derived from the run seed."""
    ss = np.random.SeedSequence([PLAN_SEED_TAG, int(seed), int(tile_index)])
    return int(ss.generate_state(1, np.uint32)[0])


def evaluation_rng(seed: int, tile_index: int) -> np.random.Generator:
    """The generator of a tile's evaluation fires, independent of every planning stream."""
    return np.random.default_rng(np.random.SeedSequence([EVAL_TAG, int(seed), int(tile_index)]))


def evaluation_fires(
    landscape: Landscape, weather: Weather, n_fires: int, seed: int, tile_index: int, engine: str = "mtt"
) -> FireSet:
    """The tile's evaluation fires. The ignitions and scenarios do not depend on `engine`."""
    behaviors = behaviors_for(landscape, weather) if engine == "mtt" else None
    return draw_fires(landscape, weather, n_fires, evaluation_rng(seed, tile_index), engine, None, behaviors)


def fires_digest(fires: FireSet) -> str:
    """A content hash of a fire set's scenarios and ignitions (in order): equal digests, equal fires."""
    h = hashlib.sha256()
    for scenario, group in zip(fires.scenarios, fires.groups, strict=True):
        h.update(json.dumps(scenario.to_dict(), sort_keys=True).encode())
        g = np.ascontiguousarray(group, dtype=np.int64)
        h.update(f"{g.size}:".encode())
        h.update(g.tobytes())
    return h.hexdigest()[:16]


# A method's plan (`fuelbreak.planning.plan_cells`), under the name the tile's task calls (tests replace it here).
make_plan = plan_cells


def check_plan_cells(
    method: str, cells: np.ndarray, landscape: Landscape, budget: int, max_cost: float | None = None
) -> np.ndarray:
    """A plan must be exactly `budget` distinct treatable cells (burnable, not excluded); anything else is a SimulationError.

    With `max_cost`, at most `budget` cells whose summed cost is within it.
    """
    cells = np.asarray(cells, dtype=np.int64).reshape(-1)
    n_distinct = np.unique(cells).size
    if n_distinct != cells.size or (cells.size != budget if max_cost is None else cells.size > budget):
        raise SimulationError(f"{method} returned {cells.size} cells ({n_distinct} distinct), not {budget}")
    if (cells < 0).any() or (cells >= landscape.n_cells).any() or not landscape.treatable.ravel()[cells].all():
        raise SimulationError(f"{method} placed breaks outside the tile's treatable cells (burnable, not excluded)")
    if max_cost is not None:
        spent = float(landscape.layers["cost"].astype(np.float64).ravel()[cells].sum())
        if spent > max_cost * (1 + 1e-9):
            raise SimulationError(f"{method} spent {spent:g}, more than the cost limit {max_cost:g}")
    return cells


def plan_facts(landscape: Landscape, cells: np.ndarray) -> dict:
    """Treated cells and hectares of a plan, and its cost (NaN without a cost layer)."""
    cells = np.asarray(cells, dtype=np.int64)
    cost = landscape.planner_layer("cost")
    return {
        "treated_cells": int(cells.size),
        "treated_ha": float(cells.size * landscape.cell_size**2 / 1e4),
        "cost": float(cost.astype(np.float64).ravel()[cells].sum()) if cost is not None else float("nan"),
    }


def score_plan(fires: FireSet, landscape: Landscape, cells: np.ndarray | None) -> tuple[float, float, str]:
    """Mean burned cells and mean value burned (NaN without a value layer) per fire, and the fires' digest."""
    breaks = None
    if cells is not None:
        breaks = np.zeros(landscape.n_cells, dtype=bool)
        breaks[np.asarray(cells, dtype=np.int64)] = True
        breaks = breaks.reshape(landscape.shape)
    weights = landscape.planner_layer("value")
    w = None if weights is None else weights.astype(np.float64).ravel()
    areas, values = [], []
    for eng, group in zip(fires.engines, fires.groups, strict=True):
        burned = eng.burn(group, breaks).burned.reshape(len(group), -1)
        areas.append(burned.sum(axis=1).astype(np.float64))
        if w is not None:
            values.append(burned @ w)
    area = np.concatenate(areas)
    value = float(np.concatenate(values).mean()) if w is not None else float("nan")
    return float(area.mean()), value, fires_digest(fires)


def _reduction(before: float, after: float) -> float:
    return 100.0 * (1.0 - after / before) if before > 0 else float("nan")


def evaluate_tile(
    tile_index: int,
    landscape: Landscape,
    weather: Weather,
    methods: tuple[str, ...],
    budgets: tuple[float, ...],
    n_fires: int,
    seed: int,
    engine: str = "mtt",
    method_options: dict[str, dict] | None = None,
    objective: str = "area",
    max_cost: float | None = None,
) -> dict:
    """Plan with every method at every budget and score all plans on the tile's evaluation fires.

    Every method plans for `objective` within `max_cost` (when given). Each plan is scored on both
    losses the tile allows: burned area, and value burned when the tile has a value layer;
    `reduction_pct` is the objective's, `area_reduction_pct` and `value_reduction_pct` both.

    Returns plain data: tile facts and one row per (budget, method). A method that raises a
    `FuelbreakError` (e.g. a budget above the tile's legal cells) gets a failed row with the reason
    and no numbers; any other exception fails the whole task.
    """
    landscape = landscape.validate()
    check_objective(objective, landscape)
    method_options = method_options or {}
    pseed = plan_seed(seed, tile_index)
    fires = evaluation_fires(landscape, weather, n_fires, seed, tile_index, engine)
    without, value_without, digest = score_plan(fires, landscape, None)
    request = {"objective": objective, **({} if max_cost is None else {"max_cost": max_cost})}
    rows = []
    for budget in budgets:
        cells_budget = budget_cells(budget, landscape.n_cells, 1)
        for method in methods:
            row = {"budget": float(budget), "budget_cells": cells_budget, "method": method}
            options = dict(method_options.get(method, {}))
            in_sample = fires if options.pop("in_sample", False) else None
            options.update(request)  # every planner takes the objective and the cost limit
            try:
                t0 = time.perf_counter()
                cells = make_plan(method, landscape, weather, cells_budget, pseed, options, in_sample)
                seconds = time.perf_counter() - t0
                cells = check_plan_cells(method, cells, landscape, cells_budget, max_cost)
            except FuelbreakError as exc:
                rows.append({**row, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
                continue
            with_breaks, value_with, used = score_plan(fires, landscape, cells)
            area_red, value_red = _reduction(without, with_breaks), _reduction(value_without, value_with)
            rows.append(
                {
                    **row,
                    "ok": True,
                    "error": "",
                    "burned_without": without,
                    "burned_with": with_breaks,
                    "reduction_pct": value_red if objective == "value" else area_red,
                    "area_reduction_pct": area_red,
                    "value_lost_without": value_without,
                    "value_lost_with": value_with,
                    "value_reduction_pct": value_red,
                    **plan_facts(landscape, cells),
                    "plan_seconds": seconds,
                    "fires_digest": used,
                }
            )
    return {
        "tile_index": int(tile_index),
        "tile_name": landscape.name,
        "n_cells": landscape.n_cells,
        "n_fires": fires.n_fires,
        "engine": engine,
        "plan_seed": pseed,
        "fires_digest": digest,
        "objective": objective,
        "rows": rows,
    }


def check_same_fires(tile: dict) -> None:
    """Raise SimulationError unless every scored row of a tile used the tile's evaluation fires."""
    odd = [r for r in tile["rows"] if r["ok"] and r["fires_digest"] != tile["fires_digest"]]
    if odd:
        who = ", ".join(f"{r['method']} at budget {r['budget']:g} (fires {r['fires_digest']})" for r in odd)
        raise SimulationError(
            f"tile {tile['tile_index']} ({tile['tile_name']}): {who} not scored on the tile's evaluation "
            f"fires {tile['fires_digest']}; methods must be compared on identical ignitions and scenarios"
        )
