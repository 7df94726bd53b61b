"""Fires burned through a growing plan: per-fire burned cells and spread-tree bounds, kept current.

A planner that places breaks one at a time needs, after every placement, what the fires do now:
which cells they burn and what a further break could still save in each (`fuelbreak.fire.trees`).
Only the fires that burned the new break can change, so `PlanFires.place` burns those again and
leaves the others as they were; `plan_view` computes the same from scratch (a pure function for
worker tasks). Both give the two plan-aware observation channels and tree-greedy's score:

    burn_probability[c] = share of the fires that burn c through the current breaks
    downstream[c]       = mean over fires of bound[c], the cells a break at c could save at most
                          (0 where c is already a break)

A break on a fire's own ignition cell would be credited with that whole fire, an artifact of a
finite sample (an independent fire starts there with probability 1 / burnable cells). With
`neutral_roots`, a fire's bound at its ignition cell counts the cell alone.
"""

from __future__ import annotations

import numba
import numpy as np

from fuelbreak.fire.montecarlo import FireSet
from fuelbreak.fire.mtt import BurnResult, MTTEngine, check_breaks
from fuelbreak.fire.trees import fire_trees, move_tables, unit_weights


def _bounds(
    engine: MTTEngine, ignitions: np.ndarray, result: BurnResult, neutral_roots: bool, weights=None
) -> np.ndarray:
    """Tree bounds (K, N) of the fires in `result` (value bounds with `weights`).

    With `neutral_roots`, a burning ignition counts itself alone (1, or its value).
    """
    bound = fire_trees(engine, result, weights).bound
    if neutral_roots and len(ignitions):
        rows = np.arange(len(ignitions))
        burned_root = result.burned.reshape(len(ignitions), -1)[rows, ignitions]
        own = 1 if weights is None else np.asarray(weights, dtype=np.float64).ravel()[ignitions]
        bound[rows, ignitions] = (burned_root * own).astype(bound.dtype)
    return bound


def plan_view(
    engine: MTTEngine, ignitions: np.ndarray, breaks, neutral_roots: bool = True, weights=None
) -> tuple[np.ndarray, np.ndarray]:
    """Burn probability and mean downstream bound (both (H, W) float32) of the fires through `breaks`.

    With `weights` (value at risk per cell), the bound is of value, not cells.
    """
    ignitions = np.asarray(ignitions, dtype=np.int64)
    breaks = check_breaks(breaks, engine.shape)
    result = engine.burn(ignitions, breaks, trees=True)
    n = max(len(ignitions), 1)
    bp = result.burned.sum(axis=0) / n
    bound = _bounds(engine, ignitions, result, neutral_roots, weights)
    down = np.where(breaks, 0.0, bound.sum(axis=0).reshape(engine.shape) / n)
    return bp.astype(np.float32), down.astype(np.float32)


@numba.njit(cache=True, nogil=True)
def _refresh_rows_in_boxes(
    rows, boxes, arrival, via, ignition, neutral_roots, steps, support, n_support, ones,
    burned, bound, area, burn_count, bound_sum, weighted, weight, vbound, loss, vbound_sum,
):  # fmt: skip
    """Rows `rows` of burned, bound and area from the fires' arrival and moves; the sums kept current.

    `boxes[f]` = (row0, row1, col0, col1), end-exclusive, holds every cell where fire f's rows (burned,
    bound, vbound) are non-zero, before and after: breaks only shrink a fire, and a move's support lies
    in the rectangle of its two ends. It is shrunk here to the fire's new burned cells. Cells are visited
    in the same (row-major) order as `_trees` visits the whole tile, so value sums are bit for bit the same.
    """
    h, w = arrival.shape[1], arrival.shape[2]
    n = h * w
    pred = np.empty(n, dtype=np.int64)
    size = np.zeros(n, dtype=np.int32)
    vsize = np.zeros(n if weighted else 0, dtype=np.float64)
    children = np.zeros(n, dtype=np.int32)
    stack = np.empty(n, dtype=np.int64)
    for f in rows:
        r0, r1, c0, c1 = boxes[f, 0], boxes[f, 1], boxes[f, 2], boxes[f, 3]
        for r in range(r0, r1):
            for c in range(c0, c1):
                u = r * w + c
                burn_count[u] -= burned[f, u]
                bound_sum[u] -= bound[f, u]
                if weighted:
                    vbound_sum[u] -= vbound[f, u]
        # the spread tree, as `_trees`: predecessors, then subtree sizes from the leaves up (Kahn's order)
        for r in range(r0, r1):
            for c in range(c0, c1):
                u = r * w + c
                k = via[f, r, c]
                pred[u] = -1 if k < 0 else (r - steps[k, 0]) * w + (c - steps[k, 1])
                live = arrival[f, r, c] < np.inf
                size[u] = ones[u] if live else 0
                if weighted:
                    vsize[u] = weight[u] if live else 0.0
                children[u] = 0
        for r in range(r0, r1):
            for c in range(c0, c1):
                u = r * w + c
                if pred[u] >= 0:
                    children[pred[u]] += 1
        top = 0
        for r in range(r0, r1):
            for c in range(c0, c1):
                u = r * w + c
                if arrival[f, r, c] < np.inf and children[u] == 0:
                    stack[top] = u
                    top += 1
        while top > 0:
            top -= 1
            u = stack[top]
            q = pred[u]
            if q >= 0:
                size[q] += size[u]
                if weighted:
                    vsize[q] += vsize[u]
                children[q] -= 1
                if children[q] == 0:
                    stack[top] = q
                    top += 1
        for r in range(r0, r1):
            for c in range(c0, c1):
                u = r * w + c
                bound[f, u] = size[u]
                if weighted:
                    vbound[f, u] = vsize[u]
        for r in range(r0, r1):
            for c in range(c0, c1):
                u = r * w + c
                k = via[f, r, c]
                if k < 0:
                    continue
                pr, pc = pred[u] // w, pred[u] % w
                for j in range(n_support[k]):
                    rr, cc = pr + support[k, j, 0], pc + support[k, j, 1]
                    if 0 <= rr < h and 0 <= cc < w:
                        if size[u] != 0:
                            bound[f, rr * w + cc] += size[u]
                        if weighted and vsize[u] != 0:
                            vbound[f, rr * w + cc] += vsize[u]
        # burned cells, area, value lost, neutral roots; the box shrunk to the burned cells
        count = 0
        value = 0.0
        nr0, nr1, nc0, nc1 = h, 0, w, 0
        for r in range(r0, r1):
            for c in range(c0, c1):
                u = r * w + c
                live = arrival[f, r, c] < np.inf
                burned[f, u] = live
                if live:
                    count += 1
                    if weighted:
                        value += weight[u]
                    nr0, nr1, nc0, nc1 = min(nr0, r), max(nr1, r + 1), min(nc0, c), max(nc1, c + 1)
        area[f] = count
        if weighted:
            loss[f] = value
        g = ignition[f]
        if neutral_roots:
            bound[f, g] = 1 if burned[f, g] else 0
            if weighted:
                vbound[f, g] = weight[g] if burned[f, g] else 0.0
        for r in range(r0, r1):
            for c in range(c0, c1):
                u = r * w + c
                burn_count[u] += burned[f, u]
                bound_sum[u] += bound[f, u]
                if weighted:
                    vbound_sum[u] += vbound[f, u]
        if count == 0:
            nr0, nr1, nc0, nc1 = 0, 0, 0, 0
        boxes[f, 0], boxes[f, 1], boxes[f, 2], boxes[f, 3] = nr0, nr1, nc0, nc1


class PlanFires:
    """The fires of a `FireSet` burned through a plan that grows one break at a time.

    burned (F, N) bool, bound (F, N) int32 and area (F,) describe every fire under the current
    breaks; `place(cells)` adds breaks and burns again only the fires they touch.

    With `weights` (value at risk per cell, (H, W)), vbound (F, N) float64 and loss (F,) hold the value
    bounds and the value each fire burns, and `score` is of value; without, they are bound and area
    themselves (the same arrays), and everything counts cells.
    """

    def __init__(self, fires: FireSet, breaks=None, neutral_roots: bool = False, weights=None):
        self.fires = fires
        self.neutral_roots = neutral_roots
        self.group, self.pos = fires.fire_index()
        first = fires.engines[0]
        self.shape = first.shape
        self.breaks = check_breaks(breaks, self.shape).copy()
        n, cells = fires.n_fires, self.shape[0] * self.shape[1]
        self.burned = np.zeros((n, cells), dtype=bool)
        self.bound = np.zeros((n, cells), dtype=np.int32)
        # arrival times and moves of every fire, so that a new break searches again only downstream of it
        self.arrival = np.full((n, *self.shape), np.inf, dtype=np.float32)
        self.via = np.full((n, *self.shape), -1, dtype=np.int8)
        self._burned_once = False
        # moves of every scenario group through the breaks (G, cells, directions), kept current by place
        self._travel: np.ndarray | None = None
        self._blocked: np.ndarray | None = None
        self._duration: np.ndarray | None = None  # minutes, per scenario group
        self._ignition = np.array(
            [fires.groups[g][i] for g, i in zip(self.group, self.pos, strict=True)], dtype=np.int64
        )
        # each fire's box (row0, row1, col0, col1): its rows are zero outside it; the whole tile until it burns
        self._boxes = np.tile(np.array([0, self.shape[0], 0, self.shape[1]], dtype=np.int64), (n, 1))
        self.area = np.zeros(n, dtype=np.int64)
        self.burn_count = np.zeros(cells, dtype=np.int64)  # sums over fires, kept current by update
        self.bound_sum = np.zeros(cells, dtype=np.int64)
        self._ones = unit_weights(cells)
        self.weighted = weights is not None
        if self.weighted:
            self.weight = np.asarray(weights, dtype=np.float64).reshape(cells)
            self.vbound = np.zeros((n, cells), dtype=np.float64)
            self.loss = np.zeros(n, dtype=np.float64)
            self.vbound_sum = np.zeros(cells, dtype=np.float64)
        else:  # the value is the area: the same arrays
            self.weight = np.zeros(0, dtype=np.float64)
            self.vbound, self.loss, self.vbound_sum = self.bound, self.area, self.bound_sum
        self.update(np.arange(n))

    @property
    def boxes(self) -> np.ndarray:
        """(F, 4) int64 (row0, row1, col0, col1), end-exclusive: every cell each fire burns or may save is in it.

        The arrays kept current by `place`; callers must not modify them.
        """
        return self._boxes

    @property
    def n_fires(self) -> int:
        """Number of fires, over all scenario groups."""
        return self.fires.n_fires

    def burn(self, which: np.ndarray, breaks, trees: bool = False) -> list[tuple[np.ndarray, BurnResult]]:
        """Fires `which` burned under `breaks`, as (fire indices, BurnResult) per scenario group."""
        which = np.asarray(which, dtype=np.int64)
        out = []
        for g in np.unique(self.group[which]):
            sel = which[self.group[which] == g]
            ign = self.fires.groups[g][self.pos[sel]]
            out.append((sel, self.fires.engines[g].burn(ign, breaks, trees=trees)))
        return out

    def update(self, which: np.ndarray) -> None:
        """Burn fires `which` again through the current breaks and refresh their rows.

        The first time the fires burn from scratch; afterwards breaks only get added, so each fire is
        brought up to date from its previous burn (`MTTEngine.reburn`: the same result, searching
        only what the new breaks cut off). Rows and sums are then refreshed in one compiled pass.
        """
        which = np.asarray(which, dtype=np.int64)
        if not self._burned_once:
            self._burned_once = True
            for sel, result in self.burn(which, self.breaks, trees=True):
                self.arrival[sel], self.via[sel] = result.arrival, result.via
        else:
            engines = self.fires.engines
            if self._travel is None:
                moves = [e.moves_through(self.breaks) for e in engines]  # one landscape: one blocked mask
                self._blocked = moves[0][0]
                self._travel = np.stack([travel for _, travel in moves])
                self._duration = np.array([e.scenario.duration for e in engines], dtype=np.float32)
            engines[0].reburn_stacked(
                self._travel, self._blocked, self._duration, self.group, self.arrival, self.via, which, self._boxes
            )
        tables = move_tables(self.fires.engines[0].stencil)
        weighted = self.weighted
        _refresh_rows_in_boxes(
            which, self._boxes, self.arrival, self.via, self._ignition, self.neutral_roots, tables.steps,
            tables.support, tables.n_support, self._ones, self.burned, self.bound, self.area, self.burn_count,
            self.bound_sum, weighted, self.weight, self.vbound if weighted else np.zeros((1, 0)),
            self.loss if weighted else np.zeros(0), self.vbound_sum if weighted else np.zeros(0),
        )  # fmt: skip

    def place(self, cells) -> None:
        """Add breaks at `cells` (flat indices); the fires whose paths touch any of them burn again.

        A fire's path touches c when its bound at c is positive: c burned, or a move it took crosses c.
        """
        cells = np.asarray(cells, dtype=np.int64).reshape(-1)
        touched = np.flatnonzero((self.bound[:, cells] > 0).any(axis=1))
        new = cells[~self.breaks.ravel()[cells]]
        self.breaks.ravel()[cells] = True
        if self._travel is not None and new.size:
            self.fires.engines[0].forbid(self._travel, self._blocked, new)
        if touched.size:
            self.update(touched)

    def loss_of(self, result: BurnResult) -> np.ndarray:
        """What each fire of `result` burns: cells, or value with weights (float64)."""
        if not self.weighted:
            return result.area.astype(np.float64)
        return result.burned.reshape(len(result.burned), -1) @ self.weight

    def score(self) -> np.ndarray:
        """Mean downstream bound per fire of every cell (N,), 0 on breaks: tree-greedy's score (value with weights)."""
        return np.where(self.breaks.ravel(), 0.0, self.vbound_sum / max(self.n_fires, 1))

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        """Burn probability and mean downstream bound (H, W) float32 through the current breaks."""
        n = max(self.n_fires, 1)
        bp = (self.burn_count / n).reshape(self.shape)
        return bp.astype(np.float32), self.score().reshape(self.shape).astype(np.float32)
