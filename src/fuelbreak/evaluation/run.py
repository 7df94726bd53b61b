"""Evaluation on held-out tiles: every method's plan, scored on the same fires, summarised over tiles.

    ev = evaluate(dataset, select_tiles(dataset, "test", 0, 20), ["random", "greedy"], [0.05])
    print(ev.markdown); write_outputs(ev, "eval_out")

Each tile is one pure task (`fuelbreak.evaluation.tile.evaluate_tile`) run through an executor
(serial by default). Every plan of a tile is burned by the tile's evaluation fires, drawn from a
seed independent of planning and training; the digest of the fires each plan met is checked to be
the tile's before any number is kept. A tile whose task fails is reported as failed, with the
reason, and its numbers stay empty. Tiles default to the TEST split of `dataset_split(dataset, 0)`, the
split training uses, so evaluation tiles are never trained on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from fuelbreak import __version__
from fuelbreak.baselines import BASELINES, options_of
from fuelbreak.baselines.common import check_positive_int, check_seed
from fuelbreak.env import budget_cells
from fuelbreak.errors import ConfigError, InputError
from fuelbreak.evaluation.report import (
    TILE_COLUMNS,
    csv_text,
    reduction_figure,
    save_png,
    summary_columns,
    summary_markdown,
    write_text,
)
from fuelbreak.evaluation.stats import CI_METHOD, summarize
from fuelbreak.evaluation.tile import (
    base_method,
    check_same_fires,
    evaluate_tile,
    is_dqn,
    known_methods,
    uses_policy,
)
from fuelbreak.fire.montecarlo import ENGINES, check_objective
from fuelbreak.fire.scenario import Weather, default_weather
from fuelbreak.landscape.dataset import dataset_split

DEFAULT_METHODS = tuple(BASELINES)
SPLITS = ("test", "val", "all")
DQN_OPTIONS = ("checkpoint", "model_type", "cells_per_step", "bp_fires", "batch_area", "fire_share")
SEARCH_OPTIONS = (
    "checkpoint", "model_type", "bp_fires", "n_fires", "candidates", "prune_rounds", "swap", "objective", "max_cost",
)  # fmt: skip
REQUEST_KEYS = ("objective", "max_cost")  # planner parameters of the request, not per-method options
REFERENCE_OPTIONS = ("in_sample",)  # a frontier's reference rows: planned on the scoring fires


@dataclass
class Evaluation:
    """What an evaluation found: per-tile records, the summary per (budget, method), and its setup."""

    records: list[dict]
    summary: list[dict]
    methods: tuple[str, ...]
    budgets: tuple[float, ...]
    info: dict
    failures: list[dict] = field(default_factory=list)

    @property
    def markdown(self) -> str:
        """The summary as Markdown tables (`summary_markdown`)."""
        return summary_markdown(self.summary, self.methods, self.info)


def check_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """Known, distinct method names, in the order given."""
    methods = tuple(methods)
    if not methods:
        raise ConfigError("--methods: choose at least one method")
    unknown = [m for m in methods if base_method(m) not in known_methods() and not is_dqn(m)]
    if unknown:
        raise ConfigError(
            f"--methods: unknown method(s) {', '.join(unknown)}; choose from {', '.join(known_methods())} "
            "(or dqn:LABEL, one per trained policy)"
        )
    repeated = sorted({m for m in methods if methods.count(m) > 1})
    if repeated:
        raise ConfigError(f"--methods lists {', '.join(repeated)} more than once")
    return methods


def check_budgets(budgets: Sequence[float]) -> tuple[float, ...]:
    """Budgets as fractions of a tile (0 < b < 1) or whole cell counts (>= 1), distinct."""
    out = []
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, int | float) or not math.isfinite(b) or b <= 0:
            raise ConfigError(
                f"--budget {b!r}: a budget is a fraction of the tile in (0, 1) or a cell count >= 1"
            )
        if b >= 1 and b != int(b):
            raise ConfigError(f"--budget {b!r}: a budget of 1 or more is a whole number of cells")
        out.append(float(b))
    if not out:
        raise ConfigError("--budget: give at least one budget")
    if len(set(out)) != len(out):
        raise ConfigError(f"--budget lists a budget more than once: {', '.join(f'{b:g}' for b in out)}")
    return tuple(out)


def select_tiles(dataset, split: str = "test", split_seed: int = 0, max_tiles: int | None = 20) -> list[int]:
    """The first `max_tiles` indices (sorted) of a split of `dataset_split(dataset, split_seed)`."""
    if split not in SPLITS:
        raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    n = len(dataset)
    indices = list(range(n)) if split == "all" else dataset_split(dataset, split_seed)[split]
    if not indices:
        raise InputError(
            f"the {split!r} split of the dataset's {n} tiles is empty; use more tiles or --split all"
        )
    if max_tiles is not None:
        indices = indices[: check_positive_int("--max-tiles", max_tiles)]
    return indices


def check_options(methods: tuple[str, ...], method_options: dict | None) -> dict[str, dict]:
    """Per-method options, checked against what each method takes; a dqn checkpoint path is loaded once."""
    options = {m: dict(o) for m, o in (method_options or {}).items()}
    stray = sorted(set(options) - set(methods))
    if stray:
        raise ConfigError(f"options given for method(s) {', '.join(stray)}, which are not evaluated")
    for method, opts in options.items():
        base = base_method(method)
        if is_dqn(method):
            takes = DQN_OPTIONS
        elif base == "dqn_search":
            takes = SEARCH_OPTIONS + REFERENCE_OPTIONS
        else:
            takes = options_of(base) + (REFERENCE_OPTIONS if base == "tree_greedy" else ())
        takes = tuple(t for t in takes if t not in REQUEST_KEYS)  # set for every method by --objective, --max-cost
        unknown = sorted(set(opts) - set(takes))
        if unknown:
            raise ConfigError(f"{method} has no option(s) {', '.join(unknown)}; it takes {', '.join(takes)}")
    for method in filter(uses_policy, methods):
        from fuelbreak.agents.policy import DQNPolicy

        dqn = options.setdefault(method, {})
        if dqn.get("checkpoint") is None and base_method(method) == "dqn_search":
            from fuelbreak.agents.shipped import shipped_policy_path

            dqn["checkpoint"] = str(shipped_policy_path())  # the search guides with the shipped policy
        if dqn.get("checkpoint") is None:
            raise ConfigError(f"the {method} method needs a checkpoint (--ckpt PATH)")
        if not isinstance(dqn["checkpoint"], DQNPolicy):  # load once, not once per tile
            dqn["checkpoint"] = DQNPolicy.load(dqn["checkpoint"], dqn.pop("model_type", "auto"))
    return options


def evaluate(
    dataset,
    indices: Sequence[int],
    methods: Sequence[str] = DEFAULT_METHODS,
    budgets: Sequence[float] = (0.05,),
    weather: Weather | None = None,
    n_fires: int = 200,
    seed: int = 0,
    engine: str = "mtt",
    method_options: dict[str, dict] | None = None,
    executor=None,
    timeout: float | None = None,
    progress: bool = True,
    split: str = "test",
    objective: str = "area",
    max_cost: float | None = None,
) -> Evaluation:
    """Plan with every method at every budget on each tile of `dataset[indices]` and score the plans.

    `method_options` maps a method to its keyword options (e.g. {"greedy": {"n_fires": 20}},
    {"dqn": {"checkpoint": path_or_policy}}); several policies are methods "dqn:LABEL", each with
    its own checkpoint. `executor` (from `fuelbreak.parallel.make_executor`)
    runs the tile tasks; None runs them here, one after another. `timeout` caps one tile's task.
    Every method plans for `objective` ('area' or 'value') within `max_cost` of the tiles' cost layer.
    """
    from fuelbreak.parallel import SerialExecutor

    methods, budgets = check_methods(methods), check_budgets(budgets)
    n_fires, seed = check_positive_int("--fires", n_fires), check_seed(seed)
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not indices:
        raise InputError("no tiles to evaluate")
    options = check_options(methods, method_options)
    check_objective(objective)
    weather = weather or default_weather()
    own = executor is None
    executor = SerialExecutor() if own else executor
    records: list[dict] = []
    failures: list[dict] = []
    task_options = options if executor.kind == "serial" else shared_options(options)
    try:
        batches = []
        for i in indices:
            tile = dataset[i]
            for b in budgets:  # a budget too small for the tile is a bad flag: stop before any work
                budget_cells(b, tile.n_cells, 1)
            check_objective(objective, tile)  # a tile without values under the value objective: stop before any work
            args = (i, tile, weather, methods, budgets, n_fires, seed, engine, task_options, objective, max_cost)
            batches.append((i, tile, executor.submit_batch(evaluate_tile, [args], timeout)))
        for i, tile, batch in tqdm(batches, desc="evaluating", unit="tile", disable=not progress):
            out = executor.collect(batch)[0]
            if out.ok:
                check_same_fires(out.value)
                records += tile_records(out.value)
            else:
                failures.append({"tile_index": i, "tile_name": tile.name, "error": out.error})
                records += failed_records(i, tile, methods, budgets, n_fires, engine, out.error)
    finally:
        if own:
            executor.close()
    info = {
        "fuelbreak_version": __version__,
        "n_tiles": len(indices),
        "split": split,
        "tile_indices": list(indices),
        "methods": list(methods),
        "budgets": list(budgets),
        "n_fires": n_fires,
        "seed": seed,
        "engine": engine,
        "weather": weather.to_dict(),
        "objective": objective,
        "max_cost": max_cost,
        "confidence_interval": CI_METHOD,
        "method_options": {m: {k: _plain(v) for k, v in o.items()} for m, o in options.items()},
        "executor": getattr(executor, "kind", type(executor).__name__),
        "failed_tiles": failures,
    }
    return Evaluation(records, summarize(records, methods, budgets, objective), methods, budgets, info, failures)


def shared_options(options: dict):
    """The method options (a loaded DQN policy among them) as `Shared` state.

    Sent to each worker once, not with every tile; keyed by the content of their pickle.
    """
    import hashlib
    import pickle

    from fuelbreak.parallel.cache import Shared

    digest = hashlib.blake2b(pickle.dumps(options, protocol=5), digest_size=16).hexdigest()
    return Shared(("evaluate-options", digest), options)


def tile_records(tile: dict) -> list[dict]:
    """Flat per-(budget, method) records of one tile's task result."""
    keep = ("tile_index", "tile_name", "n_cells", "n_fires", "engine", "plan_seed")
    return [
        {**{k: tile[k] for k in keep}, **row, "status": "ok" if row["ok"] else "failed"}
        for row in tile["rows"]
    ]


def failed_records(index, tile, methods, budgets, n_fires, engine, error: str) -> list[dict]:
    """Records of a tile whose task failed: the reason, and no numbers."""
    return [
        {
            "tile_index": index,
            "tile_name": tile.name,
            "n_cells": tile.n_cells,
            "n_fires": n_fires,
            "engine": engine,
            "budget": b,
            "budget_cells": budget_cells(b, tile.n_cells, 1),
            "method": m,
            "status": "failed",
            "error": f"tile task failed: {error}",
        }
        for b in budgets
        for m in methods
    ]


def _plain(value):
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return getattr(value, "source", None) or repr(value)


def write_outputs(ev: Evaluation, outdir: str | Path) -> dict[str, Path]:
    """tiles.csv, summary.csv, summary.md, evaluation.json and, with several budgets, reduction_vs_budget.png."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"--outdir {outdir} exists and is not a folder")
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {
        "tiles": write_text(outdir / "tiles.csv", csv_text(ev.records, TILE_COLUMNS)),
        "summary": write_text(outdir / "summary.csv", csv_text(ev.summary, summary_columns(ev.methods))),
        "markdown": write_text(outdir / "summary.md", ev.markdown),
        "info": write_text(outdir / "evaluation.json", json.dumps(ev.info, indent=1) + "\n"),
    }
    if len(ev.budgets) > 1:
        paths["plot"] = save_png(
            reduction_figure(ev.summary, ev.methods, ev.info), outdir / "reduction_vs_budget.png"
        )
    return paths
