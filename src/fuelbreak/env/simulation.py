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


def simulate_step(engine, breaks: np.ndarray, ignitions: np.ndarray) -> StepResult:
    """Burn the ignitions through the breaks; one independent fire each."""
    burned = engine.burn(ignitions, breaks).burned
    return StepResult(burned.reshape(len(ignitions), -1).sum(axis=1).astype(np.float64), burned.sum(axis=0))


def prepare_tile(
    landscape: Landscape, scenario: Scenario, bp_ignitions: np.ndarray, engine_name: str = "mtt"
) -> TileFire:
    """Build the engine once and compute the baseline burn probability and intensity channels."""
    from fuelbreak.fire.behavior import compute_behavior

    behavior = compute_behavior(landscape, scenario)
    kwargs = {"behavior": behavior} if engine_name == "mtt" else {}
    engine = make_engine(engine_name, landscape, scenario, **kwargs)
    intensity = np.stack([behavior.intensity_toward(az) for az in INTENSITY_AZIMUTHS])
    no_breaks = np.zeros(landscape.shape, dtype=bool)
    bp = simulate_step(engine, no_breaks, bp_ignitions).burn_count / max(len(bp_ignitions), 1)
    return TileFire(engine, intensity.astype(np.float32), bp.astype(np.float32))


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
