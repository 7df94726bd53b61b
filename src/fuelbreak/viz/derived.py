"""Layers a planner reads fire from, derived from a landscape under a weather, to draw under a plan.

fireline intensity of a front heading north, east, south or west (kW/m), burn probability without
breaks (fraction of fires) and downstream area (cells per fire a break in the cell could save at
most): the same quantities, from the same fires, as the policy's observation channels
(`fuelbreak.agents.policy.observation_fires`), in physical units, intensity weighted over the
weather's scenarios.
"""

from __future__ import annotations

import numpy as np

from fuelbreak.landscape.core import Landscape
from fuelbreak.viz.style import DERIVED_LAYERS

INTENSITY_KEYS = ("intensity_north", "intensity_east", "intensity_south", "intensity_west")


def derived_layers(
    landscape: Landscape, weather, seed: int = 0, keys=DERIVED_LAYERS
) -> dict[str, np.ndarray]:
    """The derived layers `keys` of a landscape under `weather` (fires drawn as the policy's are)."""
    from fuelbreak.agents.policy import BP_FIRES, observation_fires

    unknown = [k for k in keys if k not in DERIVED_LAYERS]
    if unknown:
        raise ValueError(f"unknown derived layer(s) {unknown}; choose from {', '.join(DERIVED_LAYERS)}")
    intensity, fires = observation_fires(landscape, weather, BP_FIRES, seed)
    bp, downstream = fires.view()
    grids = {
        **dict(zip(INTENSITY_KEYS, intensity, strict=True)),
        "burn_probability": bp,
        "downstream_area": downstream,
    }
    return {k: grids[k].astype(np.float32) for k in keys}


def with_layers(landscape: Landscape, layers: dict[str, np.ndarray]) -> Landscape:
    """A copy of `landscape` that also carries `layers` (for drawing; validation ignores extra layers)."""
    return Landscape(
        {**landscape.layers, **layers},
        landscape.cell_size,
        landscape.crs,
        landscape.transform,
        landscape.name,
        dict(landscape.meta),
    )
