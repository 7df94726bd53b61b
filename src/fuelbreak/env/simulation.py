"""The heavy, pure parts of an episode, as module-level functions a worker process can run.

`prepare_tile` builds the spread engine for (tile, scenario) and everything the observation needs
that costs fires; `simulate_step` burns the episode's fixed ignitions through the current breaks,
and the observation fires too, so that burn probability and downstream area follow the plan.
Both are pure: same inputs, same outputs, no state kept, so a task lost with its worker is simply
run again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fuelbreak.fire.montecarlo import make_engine
from fuelbreak.fire.scenario import Scenario
from fuelbreak.fire.through_plan import plan_view
from fuelbreak.held import hold, take_held
from fuelbreak.landscape.core import Landscape

# Compass directions of the four intensity channels, degrees clockwise from north.
INTENSITY_AZIMUTHS = (0.0, 90.0, 180.0, 270.0)


@dataclass
class StepResult:
    """Burned cells of each episode fire and how many of those fires burn each cell.

    Also the observation fires' burn probability and downstream area through the same breaks.
    """

    areas: np.ndarray  # (K,) burned cells per fire (value in cell-equivalents under the value objective)
    burn_count: np.ndarray  # (H, W) number of fires that burned the cell
    burn_probability: np.ndarray | None = None  # (H, W) observation fires through the breaks
    downstream: np.ndarray | None = None  # (H, W) their mean tree bound through the breaks

    @property
    def mean_area(self) -> float:
        """Mean burned cells per episode fire (0 without fires)."""
        return float(self.areas.mean()) if self.areas.size else 0.0


@dataclass
class TileFire:
    """What a (tile, scenario) gives every episode on it: the engine and the fire-derived channels."""

    engine: object
    intensity: np.ndarray  # (4, H, W) fireline intensity toward N, E, S, W, kW/m
    burn_probability: np.ndarray  # (H, W) under the scenario, no breaks
    downstream: np.ndarray  # (H, W) mean cells per fire whose spread path runs through the cell
    observer: object = None  # the mtt engine that burns the observation fires
    bp_ignitions: np.ndarray | None = None  # the observation fires' ignitions


def simulate_step(
    engine, breaks: np.ndarray, ignitions: np.ndarray, observer=None, bp_ignitions=None, weights=None
) -> StepResult:
    """Burn the ignitions through the breaks, one independent fire each.

    With an `observer` engine, also the observation fires `bp_ignitions` (their burn probability and
    downstream area). With `weights` (value per cell, in cell-equivalents), losses and downstream bounds
    count value instead of cells.
    """
    burned = engine.burn(ignitions, breaks).burned
    flat = burned.reshape(len(ignitions), -1)
    losses = flat.sum(axis=1) if weights is None else flat @ np.asarray(weights, dtype=np.float64).ravel()
    result = StepResult(losses.astype(np.float64), burned.sum(axis=0))
    if observer is not None:
        result.burn_probability, result.downstream = plan_view(observer, bp_ignitions, breaks, weights=weights)
    return result


class EpisodeFires:
    """An episode's fires kept through its breaks, updated step by step.

    Each step updates only the fires the new breaks touch, and in each only what they cut off (`PlanFires`,
    `MTTEngine.reburn`), where `simulate_step` burns every fire again. Value for value the same `StepResult`;
    mtt engines only (`supports`). Kept in this process by an environment stepped in place (validation,
    `FuelBreakEnv.step`), or in a worker between an episode's tasks (`held_step`).

    engine       scores the episode: its `ignitions` burn through `breaks`
    observer     burns the observation fires `bp_ignitions` (None: no plan-aware channels)
    """

    def __init__(self, engine, ignitions: np.ndarray, observer, bp_ignitions, breaks: np.ndarray, weights=None):
        from fuelbreak.fire.montecarlo import FireSet
        from fuelbreak.fire.through_plan import PlanFires

        self.shape = engine.shape
        fires = FireSet([engine.scenario], [np.asarray(ignitions)], [engine])
        self.scoring = PlanFires(fires, breaks, weights=weights)
        self.observing = None
        if observer is not None:
            fires = FireSet([observer.scenario], [np.asarray(bp_ignitions)], [observer])
            self.observing = PlanFires(fires, breaks, neutral_roots=True, weights=weights)  # as `plan_view`

    @staticmethod
    def supports(engine, observer=None) -> bool:
        """Whether the fires of `engine` (and `observer`, when given) can be kept: mtt engines only."""
        from fuelbreak.fire.mtt import MTTEngine

        return isinstance(engine, MTTEngine) and (observer is None or isinstance(observer, MTTEngine))

    @property
    def breaks(self) -> np.ndarray:
        """The breaks the fires have burned through so far (H, W) bool."""
        return self.scoring.breaks

    def result(self) -> StepResult:
        """What `simulate_step` gives through the breaks so far."""
        result = StepResult(
            self.scoring.loss.astype(np.float64), self.scoring.burn_count.reshape(self.shape).copy()
        )
        if self.observing is not None:
            result.burn_probability, result.downstream = self.observing.view()
        return result

    def step(self, cells: np.ndarray) -> StepResult:
        """Add breaks at `cells` (flat indices); what `simulate_step` gives through all breaks so far."""
        self.scoring.place(cells)
        if self.observing is not None:
            self.observing.place(cells)
        return self.result()


def held_step(
    token: str, breaks: np.ndarray, cells: np.ndarray, engine, ignitions, observer, bp_ignitions, last: bool,
    weights=None,
) -> StepResult:  # fmt: skip
    """`simulate_step` through `breaks` plus `cells`, with the episode's fires kept in this process.

    The fires held under `token` are used when they have burned through exactly `breaks` (the same
    episode's previous step ran here); otherwise (another process ran it, a replaced worker, a failed
    task) they are burned again from `breaks`. Either way the result equals `simulate_step`'s. The
    fires are held for the next step unless this is the episode's `last`; a task that raises holds
    nothing.
    """
    fires = take_held(token)
    if fires is None or not np.array_equal(fires.breaks, breaks):
        fires = EpisodeFires(engine, ignitions, observer, bp_ignitions, breaks, weights)
    result = fires.step(np.asarray(cells, dtype=np.int64))
    if not last:
        hold(token, fires)
    return result


def prepare_tile(
    landscape: Landscape,
    scenario: Scenario,
    bp_ignitions: np.ndarray,
    engine_name: str = "mtt",
    observe: bool = True,
    weights=None,
) -> TileFire:
    """Build the engine once and compute the fire-derived channels from the `bp_ignitions` fires.

    The downstream area of a cell is the upper bound of what a break there could save per fire
    (`fuelbreak.fire.through_plan`): it comes from the fires' spread trees, which the fast engine
    records. The observation fires always burn on `mtt`, also when episodes are scored with the
    level set. With `observe=False` they are not burned here (burn probability and downstream are
    left None): for a caller that burns them anyway and fills them in.
    """
    from fuelbreak.fire.behavior import compute_behavior
    from fuelbreak.fire.mtt import MTTEngine

    behavior = compute_behavior(landscape, scenario)
    mtt = MTTEngine(landscape, scenario, behavior=behavior)
    engine = mtt if engine_name == "mtt" else make_engine(engine_name, landscape, scenario)
    intensity = np.stack([behavior.intensity_toward(az) for az in INTENSITY_AZIMUTHS])
    bp_ignitions = np.asarray(bp_ignitions, dtype=np.int64)
    bp, downstream = plan_view(mtt, bp_ignitions, None, weights=weights) if observe else (None, None)
    return TileFire(engine, intensity.astype(np.float32), bp, downstream, mtt, bp_ignitions)


def start_episode(
    tile_fire: TileFire | None,
    landscape: Landscape,
    scenario: Scenario,
    ignitions: np.ndarray,
    bp_ignitions: np.ndarray,
    engine_name: str = "mtt",
    token: str | None = None,
    plan_aware: bool = True,
    weights=None,
) -> tuple[TileFire, StepResult]:
    """The reset task: prepare the tile unless already prepared, then burn the episode's fires once.

    With a `token` (and mtt engines), the episode's fires are kept in this process for its first
    `held_step` (see there): the same result. On a new tile they then burn the observation fires
    once, for the episode and the tile's channels both.
    """
    if tile_fire is None:  # its observation channels come below, from fires kept here if any
        tile_fire = prepare_tile(landscape, scenario, bp_ignitions, engine_name, observe=False, weights=weights)
    observer = tile_fire.observer if plan_aware else None
    if token is not None and EpisodeFires.supports(tile_fire.engine, observer):
        no_breaks = np.zeros(landscape.shape, dtype=bool)
        fires = EpisodeFires(tile_fire.engine, ignitions, observer, tile_fire.bp_ignitions, no_breaks, weights)
        hold(token, fires)
        result = fires.result()
    else:
        result = simulate_step(tile_fire.engine, np.zeros(landscape.shape, dtype=bool), ignitions, weights=weights)
    if tile_fire.burn_probability is None:  # a new tile: the kept observation fires' view, else burn them
        if result.burn_probability is not None:  # the same values `plan_view` gives (`PlanFires.view`)
            tile_fire.burn_probability, tile_fire.downstream = result.burn_probability, result.downstream
        else:
            tile_fire.burn_probability, tile_fire.downstream = plan_view(
                tile_fire.observer, tile_fire.bp_ignitions, None, weights=weights
            )
    result.burn_probability, result.downstream = tile_fire.burn_probability, tile_fire.downstream
    return tile_fire, result
