"""A trained policy on a large landscape: several cells a network forward where they do not interact.

`DQNPolicy.rollout` places one cell a step (`cells_per_step`, as in training), burns again the
observation fires it touches and computes the next Q map. On a 50 x 50 tile that is what training
did; on a window's box of up to 320 x 320 cells the box holds 500-750 observation fires and a
proposal of 1,500 cells takes 1,500 steps. Cells whose fires never meet could be placed together with
the same effect as one after the other.

`batched_rollout` places, after each Q map, the best legal cell and then, in Q order among the next
`scan` best, each cell that is *independent of every better candidate* (placed or not): its distance
from each is more than the network's reach (its Q does not see their break channel), and it lies in
no box, widened by the reach, of an observation fire that a better candidate touches (so no input
of its Q changes when they are placed, and no fire is cut by both). Such a cell keeps its Q when
the better ones are placed; only a cell whose Q rises past it could be placed first one step at a
time, and then the batch places it later instead. Up to `batch` cells a forward, `batch` following
the landscape's area (`batch_for`: one cell per `batch_area` cells), so a 50 x 50 tile (or any
landscape of fewer than 2 x `batch_area` cells) is planned exactly as `DQNPolicy.rollout` plans it.

Measured (docs/how-it-works/scale.md), it pays little: the fires through a cell of high Q cover much
of a box, so a batch holds 1.5-2 cells, and the Q map is computed again over the same changed cells
either way; what a step costs is mostly burning its fires again. `fire_share` (observe fewer fires)
is faster but loses quality. `prefix` lets a window asked for more cells continue its proposal.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fuelbreak.agents.policy import SCAN, DQNPolicy, PlanStep, resolve_policy
from fuelbreak.errors import ConfigError
from fuelbreak.fire.scenario import Weather
from fuelbreak.landscape.core import Landscape

# A landscape gets one more cell a forward per this many cells: a 50 x 50 tile 1 (as trained), a window's
# 320 x 320 box 12. Measured (docs/how-it-works/scale.md): on Worcester 2 % less CPU and the same reduction
# (35.8 % against 35.9 %), on a synthetic 320 x 320 box under the default weather 11 % less, the same gain.
BATCH_AREA = 8192
# Share of the policy's observation fires (`DQNPolicy.n_fires_for`) it observes where it places several cells
# a forward. Measured on Worcester: 0.5 lost 2.0 and 3.2 points (two seeds) for a fifth to a third less CPU.
FIRE_SHARE = 1.0


def batch_for(landscape: Landscape, batch_area: int | None) -> int:
    """Cells at most per network forward on `landscape`: one per `batch_area` cells (None or 0: always 1)."""
    if not batch_area:
        return 1
    return max(1, landscape.n_cells // int(batch_area))


def check_batch_area(batch_area) -> int | None:
    """`batch_area` as an int >= 1, or None (0 or None: one cell a forward).

    Raises:
        ConfigError: not a whole number >= 0.
    """
    if batch_area is None:
        return None
    if isinstance(batch_area, bool) or not isinstance(batch_area, int) or batch_area < 0:
        raise ConfigError(f"dqn.batch_area must be a whole number of cells >= 0 (0: one cell a forward), got {batch_area!r}")
    return batch_area or None


def check_fire_share(fire_share) -> float:
    """`fire_share` as a float in (0, 1].

    Raises:
        ConfigError: not a number in (0, 1].
    """
    if isinstance(fire_share, bool) or not isinstance(fire_share, int | float) or not 0 < fire_share <= 1:
        raise ConfigError(f"dqn.fire_share must be a number in (0, 1], got {fire_share!r}")
    return float(fire_share)


def batched_rollout(
    policy: DQNPolicy,
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int = 0,
    existing_breaks=None,
    objective: str = "area",
    batch_area: int | None = BATCH_AREA,
    scan: int = SCAN,
    prefix=None,
) -> list[PlanStep]:
    """`policy.rollout` with up to `batch_for(landscape, batch_area)` independent cells a step (`independent_best`).

    One cell a step (exactly `policy.rollout`, when no `prefix`) where the batch is 1, the policy places several
    cells a step itself (`cells_per_step` > 1), does not follow the plan, or its network sees the whole tile (no
    `reach`). `prefix`: the plan's first cells, placed first (`DQNPolicy.rollout`).
    """
    batch = batch_of(policy, landscape, batch_area)
    return policy.rollout(landscape, weather, budget, seed, existing_breaks, objective, prefix=prefix, batch=batch, scan=scan)


def batch_of(policy: DQNPolicy, landscape: Landscape, batch_area: int | None) -> int:
    """Cells a step `policy` places on `landscape`: `batch_for`, or 1 where the policy cannot place several.

    It cannot where it places several cells a step of its own, does not follow the plan, or its network has
    no finite reach.
    """
    if policy.cells_per_step != 1 or not policy.plan_aware or getattr(policy.model, "reach", None) is None:
        return 1
    return batch_for(landscape, batch_area)


def batched_plan(
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    checkpoint=None,
    model_type: str = "auto",
    existing_breaks=None,
    cells_per_step: int | None = None,
    bp_fires: int | None = None,
    objective: str = "area",
    max_cost: float | None = None,
    batch_area: int | None = BATCH_AREA,
    fire_share: float = FIRE_SHARE,
    prefix=None,
) -> np.ndarray:
    """`fuelbreak.agents.policy.dqn_plan`, with `batched_rollout` on a landscape of more than one cell a forward.

    There (`batch_for(landscape, batch_area)` > 1, no cost limit) the policy observes `fire_share` of its
    observation fires (`DQNPolicy.n_fires_for`, or `bp_fires`; at least 1); elsewhere the plan is `dqn_plan`'s.
    `prefix`: the plan's first cells, already known (`batched_rollout`; not with a cost limit).
    """
    policy = resolve_policy(checkpoint, model_type, cells_per_step, bp_fires)
    batch_area = check_batch_area(batch_area)
    check_fire_share(fire_share)
    has_prefix = prefix is not None and len(prefix) > 0
    if max_cost is not None and has_prefix:
        raise ConfigError("a prefix is not placed under a cost limit")
    if max_cost is not None or (batch_for(landscape, batch_area) == 1 and not has_prefix):
        return policy.plan(landscape, weather, budget, seed, existing_breaks, objective, max_cost)
    if fire_share < 1 and batch_for(landscape, batch_area) > 1:
        n_fires = max(1, round(fire_share * policy.n_fires_for(landscape)))
        policy = dataclasses.replace(policy, bp_fires=n_fires, fire_cells=None)
    batch = batch_of(policy, landscape, batch_area)
    return policy.plan(landscape, weather, budget, seed, existing_breaks, objective, prefix=prefix, batch=batch)
