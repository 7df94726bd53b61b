"""The spread trees of minimum-travel-time fires, and what a break can save in each.

In an MTT fire every burned cell but the ignition was reached by one fastest move from another
burned cell, its predecessor; the predecessors form a tree rooted at the ignition. A break at cell c
can only change the arrival of the cells whose chain of moves from the ignition touches c: c itself,
its descendants in the tree, and the descendants of cells reached by a move that crosses c (a knight
move's middle cells, a diagonal's two side cells). Every other cell keeps its path and still burns.
So, per fire,

    size[c]   = cells in c's subtree (c included; 0 if c did not burn): the downstream area of c
    bound[c]  = size[c] + sum of size[j] over cells j whose arriving move crosses c

and `bound[c]` is an upper bound on the cells a break at c saves in that fire (exact when it is
0 or 1 and c burned: the break saves c alone). Greedy uses the bound to skip fires and as the lazy
upper bound; DomiRank's flow graph is built from the tree edges weighted by `size`.

The predecessor of a cell is the allowed move whose origin's arrival plus travel time matches the
cell's arrival best; the move rules (a move is forbidden when a cell it crosses after its origin is
blocked, a diagonal when both cells beside it are) are those of `fuelbreak.fire.mtt`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from fuelbreak.fire.mtt import MTTEngine, crossed_cells


@dataclass(frozen=True)
class MoveTables:
    """Per stencil direction: the move, the cells it crosses after its origin, and its 'support'.

    support: cells other than origin and target whose blocking can forbid the move (crossed middle
    cells; for a diagonal, both side cells). Offsets are relative to the move's origin.
    """

    steps: np.ndarray  # (K, 2) int64 (d_row, d_col)
    crossed: np.ndarray  # (K, M, 2) int64, cells crossed after the origin (target last)
    n_crossed: np.ndarray  # (K,) int64
    support: np.ndarray  # (K, S, 2) int64
    n_support: np.ndarray  # (K,) int64


def move_tables(stencil) -> MoveTables:
    n = len(stencil)
    crossed = [[(r, c) for r, c, _ in crossed_cells(dr, dc)][1:] for dr, dc in stencil]
    support = []
    for (dr, dc), cells in zip(stencil, crossed, strict=True):
        middle = cells[:-1]
        if not middle and dr != 0 and dc != 0:  # diagonal: its two side cells
            middle = [(dr, 0), (0, dc)]
        support.append(middle)
    m = max(len(c) for c in crossed)
    s = max(1, max(len(c) for c in support))
    tc = np.zeros((n, m, 2), dtype=np.int64)
    ts = np.zeros((n, s, 2), dtype=np.int64)
    for k in range(n):
        tc[k, : len(crossed[k])] = crossed[k]
        if support[k]:
            ts[k, : len(support[k])] = support[k]
    return MoveTables(
        np.asarray(stencil, dtype=np.int64),
        tc,
        np.array([len(c) for c in crossed], dtype=np.int64),
        ts,
        np.array([len(c) for c in support], dtype=np.int64),
    )


@numba.njit(cache=True, nogil=True)
def _move_allowed(blocked, r, c, k, steps, crossed, n_crossed):
    """Whether the move k from (r, c) stays on the grid and crosses no blocked cell."""
    h, w = blocked.shape
    for j in range(n_crossed[k]):
        rr, cc = r + crossed[k, j, 0], c + crossed[k, j, 1]
        if rr < 0 or rr >= h or cc < 0 or cc >= w or blocked[rr, cc]:
            return False
    dr, dc = steps[k, 0], steps[k, 1]
    if n_crossed[k] == 1 and dr != 0 and dc != 0:
        if blocked[r + dr, c] and blocked[r, c + dc]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _trees(arrival, travel, blocked, steps, crossed, n_crossed, support, n_support, pred, size, bound):
    """Fill pred (F, N), size (F, N) and bound (F, N) for fires arrival (F, H, W) on one engine."""
    n_fires, h, w = arrival.shape
    n_dir = steps.shape[0]
    for f in range(n_fires):
        a = arrival[f]
        p = pred[f]
        move = np.full(h * w, -1, dtype=np.int64)
        n_burned = 0
        for r in range(h):
            for c in range(w):
                u = r * w + c
                p[u] = -1
                t = a[r, c]
                if not np.isfinite(t):
                    continue
                n_burned += 1
                if t == 0.0:
                    continue  # the ignition
                best = np.inf
                for k in range(n_dir):
                    pr, pc = r - steps[k, 0], c - steps[k, 1]
                    if pr < 0 or pr >= h or pc < 0 or pc >= w:
                        continue
                    ta = a[pr, pc]
                    tt = travel[k, pr, pc]
                    if not (np.isfinite(ta) and np.isfinite(tt)):
                        continue
                    if not _move_allowed(blocked, pr, pc, k, steps, crossed, n_crossed):
                        continue
                    err = abs(ta + tt - t)
                    if err < best:
                        best = err
                        p[u] = pr * w + pc
                        move[u] = k
        flat = a.ravel()
        order = np.argsort(-np.where(np.isfinite(flat), flat, -1.0))[:n_burned]
        s = size[f]
        b = bound[f]
        s[:] = 0
        for u in order:
            s[u] = 1
        for u in order:  # latest first: children before parents (travel times are positive)
            if p[u] >= 0:
                s[p[u]] += s[u]
        b[:] = s
        for u in order:
            k = move[u]
            if k < 0:
                continue
            pr, pc = p[u] // w, p[u] % w
            for j in range(n_support[k]):
                rr, cc = pr + support[k, j, 0], pc + support[k, j, 1]
                if 0 <= rr < h and 0 <= cc < w:
                    b[rr * w + cc] += s[u]


@dataclass
class FireTrees:
    """Spread trees of F fires on an H x W tile: pred (F, N) flat index or -1; size, bound (F, N); int32."""

    pred: np.ndarray
    size: np.ndarray
    bound: np.ndarray


def fire_trees(engine: MTTEngine, arrival: np.ndarray, breaks: np.ndarray) -> FireTrees:
    """The spread trees of fires `arrival` (F, H, W) burned by `engine` with the break mask `breaks`."""
    tables = move_tables(engine.stencil)
    blocked = (engine.nonburnable | np.asarray(breaks, dtype=bool)).astype(np.bool_)
    arrival = np.ascontiguousarray(arrival, dtype=np.float64)
    n_fires = arrival.shape[0]
    n = arrival.shape[1] * arrival.shape[2]
    pred = np.empty((n_fires, n), dtype=np.int32)
    size = np.empty((n_fires, n), dtype=np.int32)
    bound = np.empty((n_fires, n), dtype=np.int32)
    _trees(
        arrival,
        np.ascontiguousarray(engine.travel, dtype=np.float64),
        blocked,
        tables.steps,
        tables.crossed,
        tables.n_crossed,
        tables.support,
        tables.n_support,
        pred,
        size,
        bound,
    )
    return FireTrees(pred, size, bound)
