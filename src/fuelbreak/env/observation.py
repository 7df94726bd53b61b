"""Observation channels of `FuelBreakEnv`: a (C, H, W) float32 stack, each channel roughly in [0, 1].

The list `CHANNELS` is recorded in every checkpoint, so a model knows what it was trained on. Scales
are fixed constants (not per-tile statistics, except elevation, whose absolute value says nothing
about fire), so the same cell looks the same on every tile.

Burn probability and downstream area follow the plan: after every step they are those of the
observation fires burned through the breaks placed so far (`fuelbreak.fire.through_plan`), so the
network sees where fire still runs and what a further break could still save, as greedy does.

Nothing here reveals the episode's own ignitions (which score the rewards): the burn probability
comes from other, fixed fires, so a policy cannot learn to break the ignition cells it was shown;
it has to learn placements that hold for fires it has not seen.

The last four channels are the planner's layers (`fuelbreak.landscape.core.PLANNER_LAYERS`), as ratios
r to their tile mean shown as r / (1 + r), so 0.5 is "as the tile's average" on any tile and in any unit:
what each cell weighs in the objective (value under the value objective, the burnable cells under area),
the relative ignition density, the relative treatment cost, and the exclusions. A tile without a layer
shows its constant (every burnable cell weighs 1, ignitions uniform, cost uniform, nothing excluded).
They come after the channels of the policies trained before them, so an older checkpoint's channels
are a prefix of these (`fuelbreak.agents.checkpoint.check_channels(..., prefix=True)`).
"""

from __future__ import annotations

import numpy as np

from fuelbreak.fire.montecarlo import loss_weights
from fuelbreak.landscape.core import Landscape

CHANNELS: tuple[str, ...] = (
    "elevation",  # (dem - tile min) / tile relief, 0 on a flat tile
    "slope",  # degrees / 45, clipped to 1
    "aspect_east",  # sin(aspect) * slope channel: downslope direction, weighted by steepness
    "aspect_north",  # cos(aspect) * slope channel
    "burnable",  # 1 where the fuel model burns
    "canopy_cover",  # % / 100
    "canopy_height",  # m / 40, clipped
    "canopy_base_height",  # m / 10, clipped
    "canopy_bulk_density",  # kg/m^3 / 0.4, clipped
    "intensity_north",  # log1p(kW/m) / log1p(1e5), clipped: intensity of a front heading north
    "intensity_east",
    "intensity_south",
    "intensity_west",
    "burn_probability",  # burn probability of the observation fires through the current breaks
    "downstream_area",  # log1p(cells per fire a break here could still save) / log1p(tile cells)
    "breaks",  # 1 where a break has been placed
    "loss_weight",  # r / (1 + r), r: the cell's weight in the objective / the burnable cells' mean (0 unburnable)
    "ignition_density",  # r / (1 + r), r: ignition density / its burnable mean (0 where no fire starts)
    "treatment_cost",  # r / (1 + r), r: treatment cost / its mean over the treatable cells
    "excluded",  # 1 where a break may not go
)
CHANNEL_INDEX = {name: i for i, name in enumerate(CHANNELS)}
_LOG_I = float(np.log1p(1e5))


PLANNER_CHANNELS: tuple[str, ...] = ("loss_weight", "ignition_density", "treatment_cost", "excluded")
"""The channels of the planner's layers and objective (the last four)."""
BASE_CHANNELS: tuple[str, ...] = CHANNELS[: -len(PLANNER_CHANNELS)]
"""The channels before the planner channels: what an observation without them holds (the shipped policy's)."""


def _ratio(values: np.ndarray, over: np.ndarray) -> np.ndarray:
    """The ratio r of `values` to their mean over the cells `over`, shown as r / (1 + r) (0 where values are 0)."""
    v = np.asarray(values, dtype=np.float64)
    mean = float(v[over].mean()) if over.any() else 0.0
    if mean <= 0:
        return np.zeros(v.shape)
    r = v / mean
    return r / (1.0 + r)


def planner_channels(landscape: Landscape, objective: str = "area") -> np.ndarray:
    """The four planner channels (4, H, W) of `landscape` planned for `objective` (see the module docstring).

    Raises:
        ConfigError: an unknown objective, or 'value' on a landscape without a 'value' layer.
    """
    burnable = landscape.burnable
    treatable = landscape.treatable
    weight = loss_weights(landscape, objective)  # None: burned area, every cell alike
    ignition = landscape.layers.get("ignition")
    cost = landscape.layers.get("cost")
    out = np.zeros((4, *landscape.shape))
    out[0] = _ratio(np.where(burnable, 1.0 if weight is None else weight, 0.0), burnable)
    out[1] = _ratio(np.where(burnable, 1.0 if ignition is None else ignition, 0.0), burnable)
    out[2] = _ratio(np.ones(landscape.shape) if cost is None else cost, treatable)
    out[3] = landscape.excluded
    return out


def static_channels(
    landscape: Landscape,
    intensity: np.ndarray,
    burn_probability: np.ndarray,
    downstream: np.ndarray,
    objective: str = "area",
) -> np.ndarray:
    """The channels that do not change within an episode, (C, H, W) with the dynamic ones zero.

    `objective` ('area' or 'value') sets the loss-weight channel.
    """
    lay = landscape.layers
    h, w = landscape.shape
    obs = np.zeros((len(CHANNELS), h, w), dtype=np.float32)
    dem = lay["dem"]
    relief = float(dem.max() - dem.min())
    obs[0] = np.clip((dem - dem.min()) / relief, 0.0, 1.0) if relief > 0 else 0.0  # float32 can round past 1
    slope = np.clip(lay["slp"] / 45.0, 0.0, 1.0)
    obs[1] = slope
    asp = np.radians(lay["asp"])
    obs[2] = np.sin(asp) * slope
    obs[3] = np.cos(asp) * slope
    obs[4] = landscape.burnable
    obs[5] = lay["cc"] / 100.0
    obs[6] = np.clip(lay["ch"] / 40.0, 0.0, 1.0)
    obs[7] = np.clip(lay["cbh"] / 10.0, 0.0, 1.0)
    obs[8] = np.clip(lay["cbd"] / 0.4, 0.0, 1.0)
    obs[9:13] = np.clip(np.log1p(np.maximum(intensity, 0.0)) / _LOG_I, 0.0, 1.0)
    fill_plan(obs, np.zeros((h, w), dtype=bool), burn_probability, downstream)
    obs[CHANNEL_INDEX[PLANNER_CHANNELS[0]] :] = planner_channels(landscape, objective)
    return obs


def fill_plan(obs: np.ndarray, breaks: np.ndarray, burn_probability: np.ndarray, downstream: np.ndarray) -> None:
    """Write the channels that follow the plan (breaks, burn probability, downstream area) into obs."""
    h, w = breaks.shape
    obs[CHANNEL_INDEX["burn_probability"]] = burn_probability
    obs[CHANNEL_INDEX["downstream_area"]] = np.clip(
        np.log1p(np.maximum(downstream, 0.0)) / np.log1p(h * w), 0.0, 1.0
    )
    obs[CHANNEL_INDEX["breaks"]] = breaks


def with_plan(
    static: np.ndarray, breaks: np.ndarray, burn_probability: np.ndarray, downstream: np.ndarray
) -> np.ndarray:
    """A copy of the static stack with the plan-following channels of the current breaks."""
    obs = static.copy()
    fill_plan(obs, breaks, burn_probability, downstream)
    return obs


PLAN_CHANNELS = tuple(CHANNEL_INDEX[c] for c in ("burn_probability", "downstream_area"))
"""Float channels that change within an episode (the break mask changes too, and is stored as bits)."""
