"""The reference engine: pyretechnics' eulerian level-set spread, behind the same `burn` interface.

Slow (tens of milliseconds a fire on 50x50) but a published, independent solution of the same fire
behaviour; the fast engine is checked against it, and final plans can be re-scored with it.

With `refine=k` (odd) the level set runs on a grid k times finer than the landscape's (each cell,
break cells included, split into k x k cells with its values; the ignition in the centre one). The
level set leaves an unburned line one grid cell wide straight behind an isolated non-burnable
cell, on the 30 m grid and on a 10 m one alike (`tests/test_fire_geometry.py`): on a finer grid
that line, and the credit it gives scattered breaks, shrinks with the cell. A refined run reports
each coarse cell's burned fraction (`BurnResult.cover`) and its centre's arrival time.
"""

from __future__ import annotations

import math

import numpy as np

from fuelbreak.errors import InputError
from fuelbreak.fire.behavior import pyretechnics_cubes
from fuelbreak.fire.mtt import BurnResult, as_flat_ignitions, check_breaks
from fuelbreak.fire.scenario import Scenario
from fuelbreak.landscape.core import Landscape

BAND_MINUTES = 60.0


class LevelSetEngine:
    """pyretechnics' `spread_fire_with_phi_field`, one run per ignition (no spotting)."""

    name = "levelset"

    def __init__(
        self,
        landscape: Landscape,
        scenario: Scenario,
        max_cells_per_timestep: float = 0.4,
        refine: int = 1,
    ):
        if int(refine) != refine or refine < 1 or refine % 2 == 0:
            raise InputError(f"the level set's refinement must be an odd whole number >= 1, got {refine}")
        self.landscape = landscape.validate()
        self.scenario = scenario
        self.shape = landscape.shape
        self.refine = int(refine)
        self.max_cells_per_timestep = max_cells_per_timestep
        self._bands = int(math.ceil(scenario.duration / BAND_MINUTES)) + 1
        self._cubes_cache: tuple[bytes, dict] | None = None

    def _cubes(self, breaks: np.ndarray) -> dict:
        key = np.packbits(breaks).tobytes()
        if self._cubes_cache is None or self._cubes_cache[0] != key:
            land = self.landscape.with_breaks(breaks) if breaks.any() else self.landscape
            if self.refine > 1:
                land = land.refined(self.refine)
            self._cubes_cache = (key, pyretechnics_cubes(land, self.scenario, bands=self._bands))
        return self._cubes_cache[1]

    def burn(self, ignitions, breaks=None, duration: float | None = None) -> BurnResult:
        """Burn one fire per ignition through `breaks` with pyretechnics' level set, for `duration` minutes.

        `duration` defaults to the scenario's; arrival times are in minutes (inf where not reached).

        Raises:
            InputError: the break mask does not fit the landscape, or an ignition is outside it.
        """
        from pyretechnics.eulerian_level_set import SpreadState, spread_fire_with_phi_field

        breaks = check_breaks(breaks, self.shape)
        ign = as_flat_ignitions(ignitions, self.shape)
        duration = float(self.scenario.duration if duration is None else duration)
        cubes = self._cubes(breaks)
        h, w = self.shape
        k = self.refine
        burnable = self.landscape.burnable & ~breaks
        cell = float(self.landscape.cell_size) / k
        arrival = np.full((len(ign), h, w), np.inf, dtype=np.float32)
        cover = np.zeros((len(ign), h, w), dtype=np.float32) if k > 1 else None
        for f, idx in enumerate(ign):
            r, c = divmod(int(idx), w)
            if not burnable[r, c]:
                continue
            r, c = r * k + k // 2, c * k + k // 2  # the centre of the cell on the run's grid
            state = SpreadState((self._bands, h * k, w * k)).ignite_cell((h * k - 1 - r, c))
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
            toa = np.where(np.isfinite(toa) & (toa <= duration), toa, np.inf)
            arrival[f] = toa[k // 2 :: k, k // 2 :: k]
            if k > 1:
                cover[f] = np.isfinite(toa).reshape(h, k, w, k).mean(axis=(1, 3))
        return BurnResult(arrival, duration, cover=cover)
