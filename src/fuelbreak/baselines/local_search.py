"""Prune and refill: a local search that takes out the breaks a plan no longer needs and places them again.

A planner that places one break at a time (tree-greedy, the policy, the search) never takes a break
back, though later breaks can make an earlier one redundant: a cell placed to cut a fire path that
a line placed later cuts anyway. Prune and refill, on the planning fires (never the scoring ones):

1. the removal loss of every break: the planning fires that burn a cell within two cells of it are
   burned again without it (the others cannot reach it), and its loss is the cells they burn more;
2. the `swap` breaks of least loss are taken out, and `swap` cells are placed again, one at a time,
   by the planner's own rule through the plan that remains (`refill`);
3. the new plan is kept if the planning fires burn less under it, and the search goes on; otherwise
   the plan before the round is kept and the search stops. At most `rounds` rounds.

Every round keeps the budget and the legality of the plan (refill places legal cells only). It is
the plan's own fires that decide, so a plan can only gain on them; whether it gains on independent
fires is measured (docs/learned_planner.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fuelbreak.baselines.common import check_positive_int
from fuelbreak.fire.montecarlo import FireSet
from fuelbreak.fire.through_plan import PlanFires
from fuelbreak.landscape.core import Landscape

REACH = 2  # cells around a break within which a fire that burns may run through it once it is gone

Refill = Callable[[np.ndarray, int], np.ndarray]
"""refill(breaks, m): `m` legal cells (flat indices) placed through the plan `breaks` (H, W), in order."""


def removal_losses(state: PlanFires, plan: np.ndarray) -> np.ndarray:
    """Cells (value, when `state` is weighted) burned more by the planning fires without each break of `plan`, per break.

    Only the fires that burn a cell within `REACH` of a break are burned again (a fire that comes no
    nearer cannot pass through it).
    """
    h, w = state.shape
    breaks = state.breaks
    losses = np.zeros(len(plan), dtype=np.float64)
    for i, cell in enumerate(np.asarray(plan, dtype=np.int64)):
        r, c = divmod(int(cell), w)
        near = np.zeros((h, w), dtype=bool)
        near[max(r - REACH, 0) : r + REACH + 1, max(c - REACH, 0) : c + REACH + 1] = True
        touched = np.flatnonzero(state.burned[:, near.ravel()].any(axis=1))
        if touched.size == 0:
            continue
        without = breaks.copy()
        without.flat[cell] = False
        after = sum(float(state.loss_of(result).sum()) for _, result in state.burn(touched, without))
        losses[i] = after - float(state.loss[touched].sum())
    return losses


def prune_refill(
    landscape: Landscape,
    fires: FireSet,
    plan: np.ndarray,
    refill: Refill,
    rounds: int = 3,
    swap: int | None = None,
    existing_breaks=None,
    rng: np.random.Generator | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """`plan` improved by at most `rounds` rounds of prune and refill on `fires` (see the module).

    With `weights` (value at risk per cell) the fires' loss is the value they burn, not their cells.

    `swap` breaks a round (default a tenth of the plan, at least 1). Existing breaks are never taken out.
    Returns a plan of the same size; equal removal losses are broken in `rng`'s order.
    """
    plan = np.asarray(plan, dtype=np.int64).copy()
    rounds = check_positive_int("prune_rounds", rounds, minimum=0)
    swap = max(1, round(0.1 * plan.size)) if swap is None else check_positive_int("swap", swap)
    swap = min(swap, plan.size)
    rng = rng or np.random.default_rng(0)
    existing = (
        np.zeros(landscape.shape, dtype=bool)
        if existing_breaks is None
        else np.asarray(existing_breaks, bool)
    )
    breaks = existing.copy()
    breaks.flat[plan] = True
    state = PlanFires(fires, breaks, weights=weights)
    burned = float(state.loss.sum())
    for _ in range(rounds):
        losses = removal_losses(state, plan)
        drop = np.lexsort((rng.random(plan.size), losses))[:swap]
        keep = np.delete(plan, drop)
        kept = existing.copy()
        kept.flat[keep] = True
        added = np.asarray(refill(kept, swap), dtype=np.int64)
        candidate = np.concatenate([keep, added])
        trial = kept.copy()
        trial.flat[added] = True
        new_state = PlanFires(fires, trial, weights=weights)
        new_burned = float(new_state.loss.sum())
        if new_burned >= burned:
            break
        plan, state, burned = candidate, new_state, new_burned
    return plan
