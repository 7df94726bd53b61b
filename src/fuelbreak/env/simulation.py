"""The heavy, pure parts of an episode, as module-level functions a worker process can run.

`prepare_tile` builds the spread engine for (tile, scenario) and everything the observation needs
that costs fires; `simulate_step` burns the episode's fixed ignitions through the current breaks.
Both are pure: same inputs, same outputs, no state kept, so a task lost with its worker is simply
run again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fuelbreak.fire.montecarlo import make_engine
from fuelbreak.fire.scenario import Scenario
from fuelbreak.landscape.core import Landscape

# Compass directions of the four intensity channels, degrees clockwise from north.
INTENSITY_AZIMUTHS = (0.0, 90.0, 180.0, 270.0)


@dataclass
class StepResult:
    """Burned cells of each episode fire, and how many of those fires burn each cell."""

    areas: np.ndarray  # (K,) burned cells per fire
    burn_count: np.ndarray  # (H, W) number of fires that burned the cell

    @property
    def mean_area(self) -> float:
        return float(self.areas.mean()) if self.areas.size else 0.0


@dataclass
class TileFire:
    """What a (tile, scenario) gives every episode on it: the engine and the fire-derived channels."""

    engine: object
    intensity: np.ndarray  # (4, H, W) fireline intensity toward N, E, S, W, kW/m
    burn_probability: np.ndarray  # (H, W) under the scenario, no breaks
    downstream: np.ndarray  # (H, W) mean cells per fire whose spread path runs through the cell


def simulate_step(engine, breaks: np.ndarray, ignitions: np.ndarray) -> StepResult:
    """Burn the ignitions through the breaks; one independent fire each."""
    burned = engine.burn(ignitions, breaks).burned
    return StepResult(burned.reshape(len(ignitions), -1).sum(axis=1).astype(np.float64), burned.sum(axis=0))


def prepare_tile(
    landscape: Landscape, scenario: Scenario, bp_ignitions: np.ndarray, engine_name: str = "mtt"
) -> TileFire:
    """Build the engine once and compute the fire-derived channels from the `bp_ignitions` fires.

    The downstream area of a cell is the upper bound of what a break there could save per fire
    (`fuelbreak.fire.trees`): it comes from the fires' spread trees, which the fast engine records.
    The trees always come from `mtt`, also when episodes are scored with the level set.
    """
    from fuelbreak.fire.behavior import compute_behavior
    from fuelbreak.fire.mtt import MTTEngine
    from fuelbreak.fire.trees import fire_trees

    behavior = compute_behavior(landscape, scenario)
    mtt = MTTEngine(landscape, scenario, behavior=behavior)
    engine = mtt if engine_name == "mtt" else make_engine(engine_name, landscape, scenario)
    intensity = np.stack([behavior.intensity_toward(az) for az in INTENSITY_AZIMUTHS])
    fires = mtt.burn(bp_ignitions, trees=True)
    n = max(len(bp_ignitions), 1)
    bp = fires.burned.sum(axis=0) / n
    downstream = fire_trees(mtt, fires).bound.sum(axis=0).reshape(landscape.shape) / n
    return TileFire(
        engine, intensity.astype(np.float32), bp.astype(np.float32), downstream.astype(np.float32)
    )


def start_episode(
    tile_fire: TileFire | None,
    landscape: Landscape,
    scenario: Scenario,
    ignitions: np.ndarray,
    bp_ignitions: np.ndarray,
    engine_name: str = "mtt",
) -> tuple[TileFire, StepResult]:
    """The reset task: prepare the tile unless already prepared, then burn the episode's fires once."""
    if tile_fire is None:
        tile_fire = prepare_tile(landscape, scenario, bp_ignitions, engine_name)
    return tile_fire, simulate_step(tile_fire.engine, np.zeros(landscape.shape, dtype=bool), ignitions)
