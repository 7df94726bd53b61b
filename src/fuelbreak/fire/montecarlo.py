"""Monte Carlo scoring of a plan: ignitions, weather, expected burned area and burn probability.

Everything takes a seed or a `numpy.random.Generator`; the same seed gives the same fires.
A plan is scored on a fixed `FireSet` (common random numbers), so two plans are compared on the
same fires and a difference is the plan's, not the dice's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fuelbreak.errors import ConfigError, InputError
from fuelbreak.fire.behavior import FireBehavior, compute_behavior
from fuelbreak.fire.mtt import MTTEngine, check_breaks
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.landscape.core import Landscape

ENGINES = ("mtt", "levelset")
# What a plan lowers: the expected burned area (cells), or the expected loss of value at risk (the sum over
# cells of burn probability x value; the landscape's 'value' layer).
OBJECTIVES = ("area", "value")


def make_engine(name: str, landscape: Landscape, scenario: Scenario, **kwargs):
    """Build a spread engine by name ('mtt', the fast default, or 'levelset', the reference)."""
    if name == "mtt":
        return MTTEngine(landscape, scenario, **kwargs)
    if name == "levelset":
        from fuelbreak.fire.levelset import LevelSetEngine

        return LevelSetEngine(landscape, scenario, **kwargs)
    raise InputError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


def sample_ignitions(
    landscape: Landscape, n: int, rng: np.random.Generator | int, weights: np.ndarray | None = None
) -> np.ndarray:
    """`n` ignition cells (flat indices), drawn with replacement over burnable cells.

    In proportion to the landscape's 'ignition' planner layer when it has one, else uniform; `weights`
    (another layer of the tile's shape, e.g. cells that are not breaks) multiplies it. Non-burnable
    cells never ignite.
    """
    rng = np.random.default_rng(rng)
    p = landscape.burnable.ravel().astype(np.float64)
    density = landscape.layers.get("ignition")
    if density is not None:
        p = p * density.ravel().astype(np.float64)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != landscape.shape:
            raise InputError(
                f"ignition weight layer has shape {weights.shape}, the landscape has {landscape.shape}"
            )
        if not np.all(np.isfinite(weights)) or (weights < 0).any():
            raise InputError("ignition weight layer must be finite and non-negative")
        p = p * weights.ravel()
    total = p.sum()
    if total <= 0:
        raise InputError(f"landscape '{landscape.name}' has no burnable cell to ignite")
    return rng.choice(p.size, size=n, replace=True, p=p / total).astype(np.int64)


@dataclass
class FireSet:
    """Fixed fires to score plans on: ignitions grouped by the scenario they burn under.

    `groups[i]` holds the ignitions burning under `scenarios[i]`; the expected value of a plan is
    the mean over all fires (scenarios were drawn in proportion to their weights).
    """

    scenarios: list[Scenario]
    groups: list[np.ndarray]
    engines: list = field(default_factory=list, repr=False)

    @property
    def n_fires(self) -> int:
        """Number of fires, over all scenario groups."""
        return int(sum(len(g) for g in self.groups))

    def ignitions(self) -> np.ndarray:
        """Ignition cells (flat indices) of every fire, group after group."""
        return np.concatenate(self.groups) if self.groups else np.zeros(0, dtype=np.int64)

    def fire_index(self) -> tuple[np.ndarray, np.ndarray]:
        """For each fire (in the set's order): its group and its position within the group."""
        group = np.concatenate([np.full(len(g), i, dtype=np.int64) for i, g in enumerate(self.groups)])
        pos = np.concatenate([np.arange(len(g), dtype=np.int64) for g in self.groups])
        return group, pos


def draw_fires(
    landscape: Landscape,
    weather: Weather,
    n_fires: int,
    seed: int | np.random.Generator,
    engine: str = "mtt",
    ignition_weights: np.ndarray | None = None,
    behaviors: dict[Scenario, FireBehavior] | None = None,
) -> FireSet:
    """Draw `n_fires` (scenario, ignition) pairs and build one engine per scenario drawn."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(weather.scenarios), size=n_fires, p=weather.weights)
    ign = sample_ignitions(landscape, n_fires, rng, ignition_weights)
    scenarios, groups, engines = [], [], []
    for i, scenario in enumerate(weather.scenarios):
        sel = idx == i
        if not sel.any():
            continue
        scenarios.append(scenario)
        groups.append(ign[sel])
        kwargs = {}
        if engine == "mtt" and behaviors is not None and scenario in behaviors:
            kwargs["behavior"] = behaviors[scenario]
        engines.append(make_engine(engine, landscape, scenario, **kwargs))
    return FireSet(scenarios, groups, engines)


def burn_fire_set(fires: FireSet, breaks=None) -> np.ndarray:
    """Burned masks (n_fires, H, W) of every fire of the set, in the set's order."""
    out = [eng.burn(g, breaks).burned for eng, g in zip(fires.engines, fires.groups, strict=True)]
    return np.concatenate(out, axis=0)


def burn_group(engine, ignitions: np.ndarray, breaks=None) -> np.ndarray:
    """Burned masks (n, H, W) of some fires of one engine: a pure task for an executor."""
    return engine.burn(ignitions, breaks).burned


# Fire-cells burned at once by `burned_counts` when no chunk is given: about 16 M (a chunk's arrival
# times are 4 bytes a fire-cell, its burned masks 1), so a chunk holds about 80 MB whatever the landscape.
CHUNK_FIRE_CELLS = 1 << 24


def chunk_of(n_cells: int, fire_cells: int = CHUNK_FIRE_CELLS) -> int:
    """Fires of a chunk on a landscape of `n_cells`: `fire_cells` / `n_cells`, at least 1."""
    return max(1, int(fire_cells) // max(int(n_cells), 1))


def burned_counts(fires: FireSet, breaks=None, chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """How many fires burn each cell (H, W) int64 and each fire's burned cells (n_fires,) float64.

    The same figures as `burn_fire_set` summed over the fires and over the cells, but the fires burn
    `chunk` at a time (default `chunk_of(cells)`), so memory holds one chunk, never every fire.
    """
    engines = fires.engines
    shape = engines[0].shape if engines else (0, 0)
    chunk = chunk_of(shape[0] * shape[1]) if chunk is None else int(chunk)
    if chunk < 1:
        raise InputError(f"a chunk of fires must hold at least 1 fire, got {chunk}")
    counts = np.zeros(shape, dtype=np.int64)
    areas = []
    for eng, group in zip(engines, fires.groups, strict=True):
        for i in range(0, len(group), chunk):
            burned = eng.burn(group[i : i + chunk], breaks).burned
            counts += burned.sum(axis=0)
            areas.append(burned.reshape(len(burned), -1).sum(axis=1))
            del burned
    area = np.concatenate(areas).astype(np.float64) if areas else np.zeros(0)
    return counts, area


def burned_areas(fires: FireSet, breaks=None) -> np.ndarray:
    """Burned cells of each fire (n_fires,), in the set's order."""
    out = [eng.burn(g, breaks).area for eng, g in zip(fires.engines, fires.groups, strict=True)]
    return np.concatenate(out).astype(np.float64)


def check_objective(objective: str, landscape: Landscape | None = None) -> str:
    """`objective` if it is one of OBJECTIVES (and, for 'value', `landscape` has a value layer).

    Raises:
        ConfigError: an unknown objective, or 'value' on a landscape without a 'value' layer.
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective {objective!r} is not one of {', '.join(OBJECTIVES)}")
    if objective == "value" and landscape is not None and "value" not in landscape.layers:
        where = f" '{landscape.name}'" if landscape.name else ""
        raise ConfigError(
            f"objective 'value' needs values at risk, but landscape{where} has no 'value' layer (give --values, "
            "or use synthetic tiles, which carry one)"
        )
    return objective


def loss_weights(landscape: Landscape, objective: str = "area") -> np.ndarray | None:
    """The value of each cell (H, W) float64 under `objective`: None for 'area' (every cell counts 1)."""
    if check_objective(objective, landscape) == "area":
        return None
    return landscape.cell_values


def cell_equivalent_weights(landscape: Landscape, objective: str = "area") -> np.ndarray | None:
    """Loss weights in cell-equivalents: None for area, else the value layer scaled to the burnable cells' count.

    The burnable cells together weigh as many as they count, so a loss (or a downstream bound) of value reads
    on the scale of one of cells: what rewards and observation channels of fixed scale need.
    """
    weights = loss_weights(landscape, objective)
    if weights is None:
        return None
    total = float(weights[landscape.burnable].sum())
    return weights * (int(landscape.burnable.sum()) / total) if total > 0 else weights


def burned_losses(fires: FireSet, breaks=None, weights: np.ndarray | None = None) -> np.ndarray:
    """What each fire burns (n_fires,) float64, in the set's order: cells, or value with `weights` (H, W)."""
    if weights is None:
        return burned_areas(fires, breaks)
    w = np.asarray(weights, dtype=np.float64).ravel()
    out = []
    for eng, g in zip(fires.engines, fires.groups, strict=True):
        burned = eng.burn(g, breaks).burned
        out.append(burned.reshape(len(burned), -1) @ w)
    return np.concatenate(out).astype(np.float64)


def expected_loss(fires: FireSet, landscape: Landscape, breaks=None, objective: str = "area") -> float:
    """Mean loss per fire under `objective`: burned cells ('area') or value at risk burned ('value')."""
    return float(burned_losses(fires, breaks, loss_weights(landscape, objective)).mean())


def expected_burned_area(fires: FireSet, breaks=None) -> float:
    """Mean burned cells per fire."""
    return float(burned_areas(fires, breaks).mean())


def burn_probability(fires: FireSet, breaks=None) -> np.ndarray:
    """Fraction of the fires that burn each cell (H, W)."""
    return burn_fire_set(fires, breaks).mean(axis=0)


def behaviors_for(landscape: Landscape, weather: Weather) -> dict[Scenario, FireBehavior]:
    """Fire behaviour of every scenario of a weather distribution (the costly part of an engine)."""
    return {s: compute_behavior(landscape, s) for s in weather.scenarios}


def check_plan(landscape: Landscape, breaks) -> np.ndarray:
    """A break mask of the landscape's shape, as bool."""
    return check_breaks(breaks, landscape.shape)
