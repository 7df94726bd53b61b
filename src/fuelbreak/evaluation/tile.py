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
from fuelbreak.fire.montecarlo import FireSet, behaviors_for, burned_areas, draw_fires
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


def score_plan(fires: FireSet, landscape: Landscape, cells: np.ndarray | None) -> tuple[float, str]:
    """Mean burned cells per fire with `cells` as breaks (None: no breaks), and the fires' digest."""
    breaks = None
    if cells is not None:
        breaks = np.zeros(landscape.n_cells, dtype=bool)
        breaks[np.asarray(cells, dtype=np.int64)] = True
        breaks = breaks.reshape(landscape.shape)
    return float(burned_areas(fires, breaks).mean()), fires_digest(fires)


def make_plan(
    method: str,
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    options: dict,
    fires: FireSet | None = None,
) -> np.ndarray:
    """A method's plan (see `fuelbreak.planning.plan_cells`); `fires`, when given, are the planning fires."""
    return plan_cells(method, landscape, weather, budget, seed, options, fires)


def check_plan_cells(method: str, cells: np.ndarray, landscape: Landscape, budget: int) -> np.ndarray:
    """A plan must be exactly `budget` distinct burnable cells; anything else is a SimulationError."""
    cells = np.asarray(cells, dtype=np.int64).reshape(-1)
    if cells.size != budget or np.unique(cells).size != budget:
        raise SimulationError(
            f"{method} returned {cells.size} cells ({np.unique(cells).size} distinct), not {budget}"
        )
    if (cells < 0).any() or (cells >= landscape.n_cells).any() or not landscape.burnable.ravel()[cells].all():
        raise SimulationError(f"{method} placed breaks outside the tile's burnable cells")
    return cells


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
) -> dict:
    """Plan with every method at every budget and score all plans on the tile's evaluation fires.

    Returns plain data: tile facts and one row per (budget, method). A method that raises a
    `FuelbreakError` (e.g. a budget above the tile's legal cells) gets a failed row with the reason
    and no numbers; any other exception fails the whole task.
    """
    landscape = landscape.validate()
    method_options = method_options or {}
    pseed = plan_seed(seed, tile_index)
    fires = evaluation_fires(landscape, weather, n_fires, seed, tile_index, engine)
    without, digest = score_plan(fires, landscape, None)
    rows = []
    for budget in budgets:
        cells_budget = budget_cells(budget, landscape.n_cells, 1)
        for method in methods:
            row = {"budget": float(budget), "budget_cells": cells_budget, "method": method}
            options = dict(method_options.get(method, {}))
            in_sample = fires if options.pop("in_sample", False) else None
            try:
                t0 = time.perf_counter()
                cells = make_plan(method, landscape, weather, cells_budget, pseed, options, in_sample)
                seconds = time.perf_counter() - t0
                cells = check_plan_cells(method, cells, landscape, cells_budget)
            except FuelbreakError as exc:
                rows.append({**row, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
                continue
            with_breaks, used = score_plan(fires, landscape, cells)
            reduction = 100.0 * (1.0 - with_breaks / without) if without > 0 else float("nan")
            rows.append(
                {
                    **row,
                    "ok": True,
                    "error": "",
                    "burned_without": without,
                    "burned_with": with_breaks,
                    "reduction_pct": reduction,
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
