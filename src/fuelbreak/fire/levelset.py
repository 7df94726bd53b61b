"""The reference engine: pyretechnics' eulerian level-set spread, behind the same `burn` interface.

Slow (tens of milliseconds a fire on 50x50) but a published, independent solution of the same fire
behaviour; the fast engine is checked against it, and final plans can be re-scored with it.
"""

from __future__ import annotations

import math

import numpy as np

from fuelbreak.fire.behavior import pyretechnics_cubes
from fuelbreak.fire.mtt import BurnResult, as_flat_ignitions, check_breaks
from fuelbreak.fire.scenario import Scenario
from fuelbreak.landscape.core import Landscape

BAND_MINUTES = 60.0


class LevelSetEngine:
    """pyretechnics' `spread_fire_with_phi_field`, one run per ignition (no spotting)."""

    name = "levelset"

    def __init__(self, landscape: Landscape, scenario: Scenario, max_cells_per_timestep: float = 0.4):
        self.landscape = landscape.validate()
        self.scenario = scenario
        self.shape = landscape.shape
        self.max_cells_per_timestep = max_cells_per_timestep
        self._bands = int(math.ceil(scenario.duration / BAND_MINUTES)) + 1
        self._cubes_cache: tuple[bytes, dict] | None = None

    def _cubes(self, breaks: np.ndarray) -> dict:
        key = np.packbits(breaks).tobytes()
        if self._cubes_cache is None or self._cubes_cache[0] != key:
            land = self.landscape.with_breaks(breaks) if breaks.any() else self.landscape
            self._cubes_cache = (key, pyretechnics_cubes(land, self.scenario, bands=self._bands))
        return self._cubes_cache[1]

    def burn(self, ignitions, breaks=None, duration: float | None = None) -> BurnResult:
        from pyretechnics.eulerian_level_set import SpreadState, spread_fire_with_phi_field

        breaks = check_breaks(breaks, self.shape)
        ign = as_flat_ignitions(ignitions, self.shape)
        duration = float(self.scenario.duration if duration is None else duration)
        cubes = self._cubes(breaks)
        h, w = self.shape
        burnable = self.landscape.burnable & ~breaks
        cell = float(self.landscape.cell_size)
        arrival = np.full((len(ign), h, w), np.inf, dtype=np.float32)
        for f, idx in enumerate(ign):
            r, c = divmod(int(idx), w)
            if not burnable[r, c]:
                continue
            state = SpreadState((self._bands, h, w)).ignite_cell((h - 1 - r, c))
            out = spread_fire_with_phi_field(
                cubes,
                state,
                cube_resolution=(BAND_MINUTES, cell, cell),
                start_time=0.0,
                max_duration=duration,
                max_cells_per_timestep=self.max_cells_per_timestep,
            )
            toa = np.flipud(
                np.asarray(out["spread_state"].get_full_matrices(["time_of_arrival"])["time_of_arrival"])
            )
            arrival[f] = np.where(np.isfinite(toa) & (toa <= duration), toa, np.inf)
        return BurnResult(arrival, duration)
