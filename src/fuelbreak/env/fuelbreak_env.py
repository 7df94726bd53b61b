"""`FuelBreakEnv`: place fuel breaks on a tile under a budget; reward = fall in expected burned area.

An episode takes one tile, one weather scenario drawn from the weather distribution, and a fixed set
of ignitions (common random numbers: every step is scored on the same fires, so a reward measures the
plan, not the dice). Each step places `cells_per_step` cells; the reward is the fall in the mean
burned area of the episode's fires caused by the step, as a fraction of the tile, so an episode's
return is the plan's total reduction. The episode ends when the budget is spent.

The heavy work of `reset` and `step` is a pure task (`fuelbreak.env.simulation`). A vector
environment calls `step_task` / `complete_step` (and `reset_task` / `complete_reset`) and runs the
task on a worker, so a worker that hangs or dies loses only a task. `step` runs in process and, with
mtt engines, keeps the episode's fires and updates them through each new break (`EpisodeFires`),
which gives the task's result value for value at a fraction of its work.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fuelbreak.env.observation import BASE_CHANNELS, CHANNELS, static_channels, with_plan
from fuelbreak.env.simulation import (
    EpisodeFires,
    StepResult,
    TileFire,
    held_step,
    simulate_step,
    start_episode,
)
from fuelbreak.env.spaces import CellSpace, CellsSpace
from fuelbreak.errors import ConfigError, InputError
from fuelbreak.fire.montecarlo import ENGINES, cell_equivalent_weights, check_objective, sample_ignitions
from fuelbreak.fire.scenario import Weather, default_weather
from fuelbreak.landscape.core import LAYERS, Landscape

SPLITS = ("train", "val", "test", "all")
MIXED = "mixed"  # the objective of an environment whose episodes plan for area or value
MAX_TILE_DRAWS = 20  # random tiles tried for one episode before giving up


@dataclass(frozen=True)
class Task:
    """A pure function and its arguments, to run in process or on a worker."""

    fn: Any
    args: tuple

    def run(self):
        """The function called on its arguments; its result."""
        return self.fn(*self.args)


def budget_cells(budget: float, n_cells: int, cells_per_step: int) -> int:
    """Budget in cells: a fraction of the tile (< 1) or a count, rounded down to whole steps."""
    if not (np.isfinite(budget) and budget > 0):
        raise ConfigError(f"budget must be a positive fraction of the tile or a cell count, got {budget!r}")
    cells = int(round(budget * n_cells)) if budget < 1 else int(budget)
    cells -= cells % cells_per_step
    if cells < cells_per_step:
        raise ConfigError(
            f"budget {budget!r} gives {cells} cell(s) on a {n_cells}-cell tile, less than one step of "
            f"cells_per_step={cells_per_step}"
        )
    return cells


def resolve_tiles(data, split: str, split_seed: int, n_tiles: int, tile_size: int, tiles_seed: int):
    """The tiles of one split: (dataset, indices). `data` is None (synthetic), a path, or a sequence."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if data is None or isinstance(data, str | bytes) or hasattr(data, "__fspath__"):
        from fuelbreak.landscape.dataset import open_dataset

        dataset = open_dataset(data, n=n_tiles, size=tile_size, seed=tiles_seed)
    else:
        dataset = data
    n = len(dataset)
    if n == 0:
        raise InputError("the dataset has no tiles")
    if split == "all":
        return dataset, list(range(n))
    from fuelbreak.landscape.dataset import dataset_split

    indices = list(dataset_split(dataset, split_seed)[split])
    if not indices:
        raise InputError(f"the dataset's {split!r} split is empty ({n} tiles); use more tiles or split='all'")
    return dataset, indices


class FuelBreakEnv(gym.Env):
    """Place fuel breaks cell by cell; see the module docstring. Registered as `fuelbreak/FuelBreak-v0`.

    data            None for the built-in synthetic tiles, a dataset folder, or a sequence of Landscapes
    split           which tiles episodes draw from: train, val, test (disjoint, by `split_seed`) or all
    budget          a fraction of the tile's cells (< 1) or a cell count; rounded down to whole steps
    cells_per_step  cells placed by one action (1: Discrete action; k > 1: k distinct cells at once)
    n_ignitions     fires per episode, fixed for the whole episode
    bp_fires        observation fires behind the burn-probability and downstream channels (fixed per tile
                    and scenario, burned again through the breaks after every step)
    weather         a `Weather`; the default mixes calm and 15-25 km/h winds on dry fuels
    objective       'area' (reward: fall in expected burned cells), 'value' (fall in expected loss of the
                    tiles' 'value' layer, in cell-equivalents: the burnable cells weigh as many as they count)
                    or 'mixed' (each episode on a tile with a value layer plans for value with probability
                    `value_share`, else for area; what a policy for both objectives trains on)
    planner_layers  share of episodes whose tile keeps its planner layers (value, ignition, cost, exclude;
                    the others see the tile without them: uniform ignitions, nothing excluded); 1 keeps them
    plan_aware      burn probability and downstream area follow the breaks (False: they stay those
                    of the tile without breaks, for ablations)
    planner_channels the observation ends with the four planner channels (False: `BASE_CHANNELS` only,
                    what policies trained without them read)

    Observation: float32 (C, H, W), channels `self.channels` (`CHANNELS`, or `BASE_CHANNELS`). Action: a flat cell index (row * W + col).
    `info["action_mask"]` marks legal cells (burnable, not excluded, not yet a break). An illegal action raises
    `InputError`. Options of `reset`: {"tile": index into the split, "scenario": index into the
    weather, "layers": keep the tile's planner layers (bool), "objective": 'area' or 'value'} fix the
    episode's draws (for validation and evaluation); `episode_objective` is the episode's objective.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        data=None,
        split: str = "train",
        split_seed: int = 0,
        n_tiles: int = 500,
        tile_size: int = 50,
        tiles_seed: int = 0,
        budget: float = 0.05,
        cells_per_step: int = 1,
        n_ignitions: int = 10,
        bp_fires: int = 64,
        weather: Weather | None = None,
        engine: str = "mtt",
        cache_size: int = 32,
        plan_aware: bool = True,
        objective: str = "area",
        planner_layers: float = 1.0,
        value_share: float = 0.5,
        planner_channels: bool = True,
    ):
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        for name, value in (
            ("cells_per_step", cells_per_step),
            ("n_ignitions", n_ignitions),
            ("bp_fires", bp_fires),
        ):
            if int(value) != value or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self.dataset, self.tile_indices = resolve_tiles(
            data, split, split_seed, n_tiles, tile_size, tiles_seed
        )
        self.weather = weather or default_weather()
        self.engine_name = engine
        self.plan_aware = bool(plan_aware)
        self.objective = objective if objective == MIXED else check_objective(objective)
        for name, share in (("planner_layers", planner_layers), ("value_share", value_share)):
            if not (isinstance(share, int | float) and 0.0 <= share <= 1.0):
                raise ConfigError(f"{name} must be a share between 0 and 1, got {share!r}")
        self.planner_layers = float(planner_layers)
        self.value_share = float(value_share)
        self.episode_objective = "area" if objective == MIXED else self.objective
        self._weights = None  # the episode tile's loss weights (None: cells)
        self.cells_per_step = int(cells_per_step)
        self.n_ignitions = int(n_ignitions)
        self.bp_fires = int(bp_fires)
        self.budget_arg = budget
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[int, int], TileFire] = OrderedDict()

        first = self._tile(0)
        self.shape = first.shape
        h, w = self.shape
        self.n_cells = h * w
        self.budget = budget_cells(budget, self.n_cells, self.cells_per_step)
        self.channels = CHANNELS if planner_channels else BASE_CHANNELS
        self.observation_space = spaces.Box(-1.0, 1.0, (len(self.channels), h, w), dtype=np.float32)
        self.action_space = (
            CellSpace(self.n_cells)
            if self.cells_per_step == 1
            else CellsSpace(self.n_cells, self.cells_per_step)
        )
        self._pending: np.ndarray | None = None
        self._fires: EpisodeFires | None = None  # the episode's fires, kept by in-process steps
        self._episode_ready = False
        self.skipped_tiles = 0

    # ----------------------------------------------------------------------------------------- tiles
    def _tile(self, i: int) -> Landscape:
        land = self.dataset[self.tile_indices[i]]
        if hasattr(self, "shape") and land.shape != self.shape:
            raise InputError(
                f"tile {self.tile_indices[i]} has shape {land.shape}; this environment's tiles are {self.shape}"
            )
        return land

    def _draw_tile(self, options: dict, rng: np.random.Generator) -> tuple[int, Landscape]:
        """The episode's tile: the one `options` names, or a random one with room for the budget.

        A real dataset may hold tiles with too few burnable cells (lakes, towns); a random draw skips
        them (counted in `skipped_tiles`), a named one is an error.
        """
        if "tile" in options:
            tile_i = int(options["tile"])
            if not 0 <= tile_i < self.n_tiles:
                raise ConfigError(f"reset option tile={tile_i} is outside this split's {self.n_tiles} tiles")
            candidates = [tile_i]
        else:
            candidates = [int(i) for i in rng.integers(self.n_tiles, size=MAX_TILE_DRAWS)]
        for tile_i in candidates:
            landscape = self._tile(tile_i)
            if int(landscape.treatable.sum()) >= self.budget:
                return tile_i, landscape
            self.skipped_tiles += 1
        raise InputError(
            f"tile {self.tile_indices[tile_i]} has {int(landscape.treatable.sum())} treatable cells, fewer than the "
            f"budget {self.budget}"
            + ("" if "tile" in options else f" (and so had {MAX_TILE_DRAWS} random draws)")
        )

    def _draw_layers(self, landscape: Landscape, options: dict, rng: np.random.Generator) -> tuple[Landscape, str]:
        """The episode's tile with or without its planner layers, and its objective (`planner_layers`, `objective`).

        Draws only what the settings leave open, so an environment that keeps every layer and plans for one
        objective draws its episodes as it did before these settings existed.
        """
        has_layers = set(landscape.layers) - set(LAYERS)
        if "layers" in options:
            keep = bool(options["layers"])
        else:
            keep = not has_layers or self.planner_layers >= 1.0 or rng.random() < self.planner_layers
        if not keep:
            landscape = landscape.without_planner_layers()
        if "objective" in options:
            objective = str(options["objective"])
        elif self.objective != MIXED:
            objective = self.objective
        else:
            has_value = "value" in landscape.layers
            objective = "value" if has_value and rng.random() < self.value_share else "area"
        return landscape, check_objective(objective, landscape)

    def _cache_key(self, tile_i: int, scen_i: int) -> tuple:
        """The tile fire's cache key: tile, scenario, and what changes its fires (layers kept, objective)."""
        return (tile_i, scen_i, tuple(sorted(self.landscape.layers)), self.episode_objective)

    def tile_layers(self, i: int) -> set[str]:
        """The planner layers tile i of the split carries (before an episode keeps or drops them)."""
        return set(self._tile(i).layers) - set(LAYERS)

    def has_room(self, i: int) -> bool:
        """Whether tile i of the split has at least the budget of treatable cells (burnable, not excluded)."""
        return int(self._tile(i).treatable.sum()) >= self.budget

    @property
    def n_tiles(self) -> int:
        """Number of tiles in the environment's split."""
        return len(self.tile_indices)

    # ----------------------------------------------------------------------------------------- reset
    def reset_task(self, seed: int | None = None, options: dict | None = None, held: bool = False) -> Task:
        """Choose the episode (tile, scenario, ignitions) and return the task that prepares it.

        With `held`, the task also keeps the episode's fires in the process it runs in, for the
        episode's `held` step tasks (see `step_task`).
        """
        super().reset(seed=seed)
        options = options or {}
        rng = self.np_random
        n_scen = len(self.weather.scenarios)
        scen_i = (
            int(options["scenario"])
            if "scenario" in options
            else int(rng.choice(n_scen, p=self.weather.weights))
        )
        if not 0 <= scen_i < n_scen:
            raise ConfigError(f"reset option scenario={scen_i} is outside the weather's {n_scen} scenarios")
        tile_i, landscape = self._draw_tile(options, rng)
        landscape, objective = self._draw_layers(landscape, options, rng)
        self.episode_objective = objective
        self.landscape = landscape
        self.tile_index = tile_i
        self.scenario_index = scen_i
        self.scenario = self.weather.scenarios[scen_i]
        self.ignitions = sample_ignitions(landscape, self.n_ignitions, rng)
        self.breaks = np.zeros(self.shape, dtype=bool)
        self.placed: list[int] = []
        self._legal = landscape.treatable.ravel().copy()
        self._weights = cell_equivalent_weights(landscape, objective)
        self._episode_ready = False
        self._token = uuid.uuid4().hex  # names the episode's fires where a worker keeps them
        key = self._cache_key(tile_i, scen_i)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
        bp_rng = np.random.default_rng([tile_i, scen_i, 7919])  # fixed per (tile, scenario)
        bp_ignitions = sample_ignitions(landscape, self.bp_fires, bp_rng)
        args = (cached, landscape, self.scenario, self.ignitions, bp_ignitions, self.engine_name)
        if held:
            args += (self._token, self.plan_aware)
        else:
            args += (None, True)
        args += (self._weights,)
        return Task(start_episode, args)

    def complete_reset(self, result: tuple[TileFire, StepResult]) -> tuple[np.ndarray, dict]:
        """Finish a reset with the result of `reset_task`'s task: the first observation and its info."""
        tile_fire, start = result
        key = self._cache_key(self.tile_index, self.scenario_index)
        self._cache[key] = tile_fire
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self.tile_fire = tile_fire
        self._fires = None  # made by the first in-process step
        self._static = static_channels(
            self.landscape, tile_fire.intensity, tile_fire.burn_probability, tile_fire.downstream,
            objective=self.episode_objective,
        )[: len(self.channels)]
        self._plan_view = (start.burn_probability, start.downstream)
        self.initial_area = self.area = start.mean_area
        self._episode_ready = True
        self._sync_space()
        return self._obs(), self._info(burned_before=self.area, cells=np.zeros(0, dtype=np.int64))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode in this process (Gymnasium's reset): the observation and info, with its action mask."""
        return self.complete_reset(self.reset_task(seed, options).run())

    # ------------------------------------------------------------------------------------------ step
    def step_task(self, action, held: bool = False) -> Task:
        """Check the action, and return the task that burns the episode's fires through the new breaks.

        With `held` (and mtt engines), the task updates the episode's fires kept in the process that
        ran the episode's previous task, and keeps them for the next (`held_step`): the same result at
        a fraction of the work when an executor sends an episode's tasks to one process
        (`keeps_affinity`); elsewhere the fires are burned again from the breaks, as without `held`.
        """
        self._begin_step(action)
        self._fires = None  # the episode goes on elsewhere: an in-process step would start them again
        tf, observer = self.tile_fire, self._observer
        if held and EpisodeFires.supports(tf.engine, observer):
            last = len(self.placed) + len(self._pending) >= self.budget
            args = (self._token, self.breaks.copy(), self._pending, tf.engine, self.ignitions, observer,
                    tf.bp_ignitions, last, self._weights)  # fmt: skip
            return Task(held_step, args)
        return self._step_task()

    def _begin_step(self, action) -> None:
        if not self._episode_ready:
            raise InputError("step() called before reset() or after the episode ended; call reset() first")
        self._pending = self._check_action(action)

    def _step_task(self) -> Task:
        breaks = self.breaks.copy()
        breaks.flat[self._pending] = True
        tf = self.tile_fire
        return Task(simulate_step, (tf.engine, breaks, self.ignitions, self._observer, tf.bp_ignitions, self._weights))

    def complete_step(self, result: StepResult):
        """Finish a step with the result of `step_task`'s task (Gymnasium's step tuple).

        The reward is the drop in mean burned cells (value in cell-equivalents) per fire, as a fraction of the
        tile's cells.
        """
        cells = self._pending
        self._pending = None
        self.breaks.flat[cells] = True
        self._legal[cells] = False
        self.placed.extend(int(c) for c in cells)
        before = self.area
        self.area = result.mean_area
        if result.burn_probability is not None:
            self._plan_view = (result.burn_probability, result.downstream)
        reward = (before - self.area) / self.n_cells
        terminated = len(self.placed) >= self.budget
        if terminated:
            self._episode_ready = False
        self._sync_space()
        return self._obs(), float(reward), terminated, False, self._info(burned_before=before, cells=cells)

    def step(self, action):
        """Run the step's task here.

        With mtt engines, the episode's fires are kept through its breaks and updated (`EpisodeFires`: the
        same result as the task, a fraction of its work).
        """
        self._begin_step(action)
        if self._fires is None and EpisodeFires.supports(self.tile_fire.engine, self._observer):
            tf, breaks = self.tile_fire, self.breaks
            self._fires = EpisodeFires(tf.engine, self.ignitions, self._observer, tf.bp_ignitions, breaks, self._weights)
        if self._fires is None:
            return self.complete_step(self._step_task().run())
        return self.complete_step(self._fires.step(self._pending))

    def abandon_step(self) -> None:
        """Forget a step whose task failed: the episode cannot go on (a vector env truncates it)."""
        self._pending = None
        self._episode_ready = False

    # --------------------------------------------------------------------------------------- helpers
    def _check_action(self, action) -> np.ndarray:
        cells = np.asarray(action, dtype=np.int64).reshape(-1)
        if cells.size != self.cells_per_step:
            raise InputError(f"action must hold {self.cells_per_step} cell index(es), got {cells.size}")
        if len(np.unique(cells)) != cells.size:
            raise InputError(f"action repeats a cell: {cells.tolist()}")
        h, w = self.shape
        for c in cells:
            if not 0 <= c < self.n_cells:
                raise InputError(
                    f"illegal action: cell {int(c)} is outside the {h}x{w} tile (0..{self.n_cells - 1})"
                )
            if not self._legal[c]:
                why = (
                    "already a break"
                    if self.breaks.flat[c]
                    else "excluded from treatment"
                    if self.landscape.excluded.flat[c]
                    else "not burnable"
                )
                raise InputError(
                    f"illegal action: cell {int(c)} (row {c // w}, col {c % w}) is {why}; see info['action_mask']"
                )
        return cells

    @property
    def _observer(self):
        """The engine that burns the observation fires through the plan (None unless `plan_aware`)."""
        return self.tile_fire.observer if self.plan_aware else None

    def _sync_space(self) -> None:
        self.action_space.legal = self._legal.copy()

    def _obs(self) -> np.ndarray:
        return with_plan(self._static, self.breaks, *self._plan_view)

    def _info(self, burned_before: float, cells: np.ndarray) -> dict:
        return {
            "action_mask": self._legal.copy(),
            "burned_before": float(burned_before),
            "burned_after": float(self.area),
            "initial_burned": float(self.initial_area),
            "reduction": float((self.initial_area - self.area) / self.n_cells),
            "cells": np.asarray(cells, dtype=np.int64),
            "budget_left": int(self.budget - len(self.placed)),
            "tile": int(self.tile_indices[self.tile_index]),
            "scenario": int(self.scenario_index),
            "objective": self.episode_objective,
        }

    def action_mask(self) -> np.ndarray:
        """Bool (H*W,): the cells that may still be chosen, a copy."""
        return self._legal.copy()

    def episode_fires(self, breaks: np.ndarray | None = None) -> StepResult:
        """The episode's fires through `breaks` (the current breaks by default), computed here."""
        tf = self.tile_fire
        breaks = self.breaks if breaks is None else breaks
        return simulate_step(tf.engine, breaks, self.ignitions, tf.observer, tf.bp_ignitions, self._weights)
