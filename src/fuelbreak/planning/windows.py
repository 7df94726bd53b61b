"""Planning a landscape larger than a window: windows with halos, the budget shared where it saves most.

Windows. The landscape is cut into windows: a *core* of at most `size` x `size` cells (the cores tile
the landscape, no overlap) and a *box*, the core with `halo` more cells on every side (cut at the
landscape's edge). A window plans on its box with any planner (`fuelbreak.planning.plan_cells`): its
planning fires start anywhere in the box and burn across the core's edge, so a core's edge cells see
the fires coming from outside. Breaks go on core cells only: the halo is marked `exclude` on the box
(a planner that honours the layer never picks it) and any halo cell a planner still picks is dropped
from its list, so no two windows place the same cell. Memory follows the box, not the landscape.

The budget. Each window first *proposes* more cells than its fair share: `oversupply` x the budget x
its share of the landscape's ignitions (its burnable cells, weighted by the 'ignition' layer when the
landscape has one), in its planner's order. Each proposal is then measured on the window's *gain
fires* (`gain_fires` fires that start in its core, burned on its box): the mean burned area with the
first k proposed cells, at `GAIN_POINTS` prefixes, times the window's share of the ignitions, so that
every window's gain is in one unit, cells saved per fire of the whole landscape (under the value
objective: value saved, and the windows plan for value). Each gain curve is
made concave (its upper hull) and the budget goes, segment by segment, to the steepest segments of
all windows (a window's cells are always taken as a prefix, in its planner's order): the merge is
greedy on the marginal gain per cell. A window whose whole proposal was taken may deserve more: it
proposes again with twice the cells (at most `rounds` times; more when the proposals cannot fill the
budget) and the merge is done again.

Scoring is never windowed: a plan's fires burn on the whole landscape
(`fuelbreak.planning.landscape.score_plan`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fuelbreak.errors import ConfigError
from fuelbreak.fire.montecarlo import burned_losses, draw_fires, loss_weights
from fuelbreak.fire.scenario import Weather
from fuelbreak.landscape.core import Landscape

WINDOW_TAG = 0x57494E44  # "WIND": seeds of a window's planner and gain fires
GAIN_POINTS = 8  # prefixes of a proposal whose burned area is measured (plus the empty plan)


@dataclass(frozen=True)
class Window:
    """One window: its index, core and box as (row0, row1, col0, col1), end-exclusive, in landscape cells."""

    index: int
    core: tuple[int, int, int, int]
    box: tuple[int, int, int, int]

    @property
    def box_shape(self) -> tuple[int, int]:
        """Rows and columns of the box."""
        return self.box[1] - self.box[0], self.box[3] - self.box[2]

    def core_mask(self) -> np.ndarray:
        """Bool mask of the box's shape, True on the core."""
        mask = np.zeros(self.box_shape, dtype=bool)
        r0, c0 = self.core[0] - self.box[0], self.core[2] - self.box[2]
        mask[r0 : r0 + self.core[1] - self.core[0], c0 : c0 + self.core[3] - self.core[2]] = True
        return mask

    def to_box(self, cells: np.ndarray, width: int) -> np.ndarray:
        """Flat indices of a landscape `width` cells wide (cells of the box) as flat box indices."""
        cells = np.asarray(cells, dtype=np.int64)
        return (cells // width - self.box[0]) * self.box_shape[1] + cells % width - self.box[2]

    def to_landscape(self, cells: np.ndarray, width: int) -> np.ndarray:
        """Flat box indices as flat indices of a landscape `width` cells wide."""
        cells = np.asarray(cells, dtype=np.int64)
        bw = self.box_shape[1]
        return (cells // bw + self.box[0]) * width + cells % bw + self.box[2]


def split_windows(shape: tuple[int, int], size: int, halo: int) -> list[Window]:
    """The windows of a landscape of `shape`: cores of at most `size` cells a side, boxes `halo` wider.

    The cores are as even as possible (a 613-cell side in windows of 256 gives cores of 205, 204, 204).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ConfigError(f"window size must be a whole number of cells >= 8, got {size!r}")
    if isinstance(halo, bool) or not isinstance(halo, int) or halo < 0:
        raise ConfigError(f"window halo must be a whole number of cells >= 0, got {halo!r}")
    h, w = shape

    def edges(n: int) -> list[int]:
        k = max(1, math.ceil(n / size))
        return [round(i * n / k) for i in range(k + 1)]

    rows, cols = edges(h), edges(w)
    out = []
    for r0, r1 in zip(rows[:-1], rows[1:], strict=True):
        for c0, c1 in zip(cols[:-1], cols[1:], strict=True):
            box = (max(r0 - halo, 0), min(r1 + halo, h), max(c0 - halo, 0), min(c1 + halo, w))
            out.append(Window(len(out), (r0, r1, c0, c1), box))
    return out


def window_landscape(landscape: Landscape, window: Window) -> Landscape:
    """The window's box as a landscape, its halo marked `exclude` (with the landscape's own exclusions)."""
    r0, r1, c0, c1 = window.box
    box = landscape.window(r0, c0, r1 - r0, c1 - c0, name=f"{landscape.name} window {window.index}")
    exclude = (~window.core_mask()).astype(np.float32)
    own = box.layers.get("exclude")
    if own is not None:
        exclude = np.maximum(exclude, np.asarray(own, dtype=np.float32))
    box.layers["exclude"] = exclude
    return box


def ignition_weight(landscape: Landscape) -> np.ndarray:
    """Where fires of the landscape start, unnormalised (H, W): burnable cells, times the 'ignition' layer."""
    weight = landscape.burnable.astype(np.float64)
    layer = landscape.planner_layer("ignition")
    return weight if layer is None else weight * np.asarray(layer, dtype=np.float64)


def window_seed(seed: int, index: int) -> int:
    """The seed of window `index`'s planner and gain fires, from the plan's seed."""
    return int(np.random.SeedSequence([WINDOW_TAG, int(seed), int(index)]).generate_state(1)[0])


@dataclass(frozen=True)
class Proposal:
    """A window's proposed cells (landscape flat indices, planner's order) and their measured gain.

    `points[j]` cells of the proposal save `saved[j]` cells (value, under the value objective) per fire of
    the whole landscape (points[0] = 0).
    `requested` is how many cells the window was asked for (a planner may return fewer core cells), and
    `requested_cost` the cost they might sum to under a cost limit (infinite without one).
    """

    index: int
    requested: int
    cells: np.ndarray
    points: np.ndarray
    saved: np.ndarray
    requested_cost: float = math.inf

    @property
    def asked(self) -> tuple[int, float]:
        """What the window was asked for: (cells, cost); a later, larger request is planned again."""
        return self.requested, self.requested_cost

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The proposal as named arrays (for `np.savez`)."""
        return {
            "index": np.array(self.index),
            "requested": np.array(self.requested),
            "cells": self.cells,
            "points": self.points,
            "saved": self.saved,
            "requested_cost": np.array(self.requested_cost),
        }

    @classmethod
    def from_arrays(cls, arrays) -> Proposal:
        """A proposal saved with `to_arrays`."""
        return cls(
            int(arrays["index"]),
            int(arrays["requested"]),
            np.asarray(arrays["cells"], dtype=np.int64),
            np.asarray(arrays["points"], dtype=np.int64),
            np.asarray(arrays["saved"], dtype=np.float64),
            float(arrays["requested_cost"]) if "requested_cost" in arrays else math.inf,
        )


def propose(
    box: Landscape,
    window: Window,
    width: int,
    share: float,
    method: str,
    weather: Weather,
    requested: int,
    seed: int,
    options: dict,
    gain_fires: int,
    earlier: np.ndarray | None = None,
) -> Proposal:
    """A window's proposal: `requested` core cells planned on its box, with their gain curve (a pure task).

    `box` is `window_landscape(landscape, window)`, `width` the landscape's width, `share` the window's
    share of the landscape's ignitions. `earlier`: the window's earlier, smaller proposal (landscape flat
    indices) of this plan; a trained policy continues it instead of placing its cells again (`is_dqn`;
    `DQNPolicy.rollout`'s prefix), other planners plan afresh. A cost limit in `options` (`max_cost`) is the
    window's share of the plan's, and the proposal records it as `requested_cost`.
    """
    from fuelbreak.planning.planners import is_dqn, plan_cells

    core = window.core_mask()
    legal = int((box.treatable & core).sum())
    requested = min(int(requested), legal)
    wseed = window_seed(seed, window.index)
    cost = float(options["max_cost"]) if options.get("max_cost") is not None else math.inf
    if requested < 1:
        empty = np.zeros(0, dtype=np.int64)
        return Proposal(window.index, 0, empty, np.zeros(1, dtype=np.int64), np.zeros(1), cost)
    options = dict(options)
    if earlier is not None and 0 < len(earlier) < requested and is_dqn(method):
        options["prefix"] = window.to_box(earlier, width)
    cells = np.asarray(plan_cells(method, box, weather, requested, wseed, options), dtype=np.int64)
    cells = cells[core.ravel()[cells] & box.treatable.ravel()[cells]]
    weights = loss_weights(box, options.get("objective", "area"))  # None: burned cells
    points, saved = gain_curve(box, core, weather, cells, gain_fires, wseed, weights)
    return Proposal(window.index, requested, window.to_landscape(cells, width), points, saved * share, cost)


def gain_curve(
    box: Landscape,
    core: np.ndarray,
    weather: Weather,
    cells: np.ndarray,
    n_fires: int,
    seed: int,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Prefix lengths of `cells` and the mean loss each saves, on `n_fires` fires started in `core`.

    The loss is burned cells, or with `weights` (H, W) the value they hold (the value objective).
    """
    points = np.unique(np.round(np.linspace(0, len(cells), GAIN_POINTS + 1)).astype(np.int64))
    if len(cells) == 0 or (ignition_weight(box) * core).sum() <= 0:
        return points, np.zeros(len(points))
    rng = np.random.default_rng(np.random.SeedSequence([WINDOW_TAG, seed, 0x6741]))
    # the box's own ignition layer, if any, weighs them too (`sample_ignitions`)
    fires = draw_fires(box, weather, n_fires, rng, "mtt", core.astype(np.float64))
    mask = np.zeros(box.n_cells, dtype=bool)
    before = burned_losses(fires, None, weights).mean()
    saved, done = [0.0], 0
    for k in points[1:]:
        mask[cells[done:k]] = True
        done = k
        saved.append(before - burned_losses(fires, mask.reshape(box.shape), weights).mean())
    return points, np.array(saved)


def upper_hull(
    points: np.ndarray, saved: np.ndarray, spent: np.ndarray | None = None
) -> list[tuple[int, int, float]]:
    """Segments (start, end, gain per cell) of the concave upper hull of a gain curve, in order.

    With `spent` (the cost of each prefix in `points`), the hull is of the gain against the cost, and a
    segment's slope is its gain per unit cost (a segment that costs nothing is the steepest).
    """
    x = np.asarray(points if spent is None else spent, dtype=np.float64)
    hull = [(0, float(x[0]), float(saved[0]))]
    for j in range(1, len(points)):
        hull.append((j, float(x[j]), float(saved[j])))
        while len(hull) >= 3:
            (_, x0, s0), (_, x1, s1), (_, x2, s2) = hull[-3:]
            if (s1 - s0) * (x2 - x1) <= (s2 - s1) * (x1 - x0):  # the middle point is not above the chord
                del hull[-2]
            else:
                break
    out = []
    for (j0, x0, s0), (j1, x1, s1) in zip(hull[:-1], hull[1:], strict=True):
        slope = (s1 - s0) / (x1 - x0) if x1 > x0 else math.inf
        out.append((int(points[j0]), int(points[j1]), slope))
    return out


def merge(
    proposals: list[Proposal], budget: int, costs: np.ndarray | None = None, max_cost: float | None = None
) -> tuple[np.ndarray, dict[int, int]]:
    """The plan: `budget` cells (or all proposed, when fewer), the steepest hull segments of all windows first.

    With `costs` (each landscape cell's treatment cost, flat) and `max_cost`, the segments are ranked by
    gain per unit cost and the plan's summed cost stays within `max_cost`: a segment that no longer fits
    gives the longest prefix that does, and its window gives no more cells (a window's cells stay a
    prefix of its proposal); the other windows' segments may still fill what is left.

    Returns the cells in placement order and how many of each window's proposal were taken.
    """
    by_index = {p.index: p for p in proposals}
    segments = []
    for p in proposals:
        spent = None if costs is None else prefix_costs(p, costs)
        for start, end, slope in upper_hull(p.points, p.saved, spent):
            segments.append((-slope, p.index, start, end))
    segments.sort()
    taken = dict.fromkeys(by_index, 0)
    closed: set[int] = set()
    parts, left = [], int(budget)
    money = math.inf if max_cost is None or costs is None else float(max_cost)
    for _, index, start, end in segments:
        if left <= 0:
            break
        if index in closed:
            continue
        part = by_index[index].cells[start : start + min(end - start, left)]
        if costs is not None:
            fits = int(np.searchsorted(np.cumsum(costs[part]), money, side="right"))
            if fits < len(part):
                part = part[:fits]
                closed.add(index)
            money -= float(costs[part].sum())
        parts.append(part)
        taken[index] = start + len(part)
        left -= len(part)
    cells = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return cells.astype(np.int64), taken


def prefix_costs(proposal: Proposal, costs: np.ndarray) -> np.ndarray:
    """The summed cost of each prefix of `proposal.points` (costs: each landscape cell's, flat)."""
    total = np.concatenate([[0.0], np.cumsum(costs[proposal.cells])])
    return total[proposal.points]
