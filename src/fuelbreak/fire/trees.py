"""The spread trees of minimum-travel-time fires, and what a break can save in each.

In an MTT fire every burned cell but the ignition was reached by one fastest move from another
burned cell, its predecessor; the predecessors form a tree rooted at the ignition. A break at cell c
can only change the arrival of the cells whose chain of moves from the ignition touches c: c itself,
its descendants in the tree, and the descendants of cells reached by a move that crosses c (a knight
move's middle cells, whose blocking forbids the move) or passes beside it (a diagonal's two side
cells, whose blocking together forbids it). Every other cell keeps its path and still burns.
So, per fire,

    size[c]   = cells in c's subtree (c included; 0 if c did not burn): the downstream area of c
    bound[c]  = size[c] + sum of size[j] over cells j whose arriving move crosses or passes beside c

and `bound[c]` is an upper bound on the cells a break at c saves in that fire (exact when it is
0 or 1 and c burned: the break saves c alone). Greedy uses the bound to skip fires and as the lazy
upper bound; DomiRank's flow graph is built from the tree edges weighted by `size`.

The predecessors come from the engine itself (`MTTEngine.burn(..., trees=True)` records the
direction of the move that reached each cell), so the trees are exactly the searched paths.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np

from fuelbreak.fire.mtt import BurnResult, MTTEngine, crossed_cells


@dataclass(frozen=True)
class MoveTables:
    """Per stencil direction: the move and its 'support'.

    The support is the cells other than origin and target whose blocking can forbid it (a knight move's middle
    cells, any one of them; a diagonal's two side cells, both together).

    Offsets are relative to the move's origin.
    """

    steps: np.ndarray  # (K, 2) int64 (d_row, d_col)
    support: np.ndarray  # (K, S, 2) int64
    n_support: np.ndarray  # (K,) int64


def move_tables(stencil) -> MoveTables:
    """The move tables of a stencil (computed once per stencil; callers must not modify them)."""
    return _move_tables(tuple((int(dr), int(dc)) for dr, dc in stencil))


@functools.lru_cache(maxsize=8)
def _move_tables(stencil: tuple[tuple[int, int], ...]) -> MoveTables:
    support = []
    for dr, dc in stencil:
        middle = [(r, c) for r, c, _ in crossed_cells(dr, dc)][1:-1]
        if not middle and dr != 0 and dc != 0:  # diagonal: its two side cells
            middle = [(dr, 0), (0, dc)]
        support.append(middle)
    table = np.zeros((len(stencil), max(1, max(len(m) for m in support)), 2), dtype=np.int64)
    for k, middle in enumerate(support):
        if middle:
            table[k, : len(middle)] = middle
    return MoveTables(
        np.asarray(stencil, dtype=np.int64), table, np.array([len(m) for m in support], dtype=np.int64)
    )


@numba.njit(cache=True, nogil=True)
def _trees(arrival, via, steps, support, n_support, weight, pred, size, bound):
    """Fill pred (F, N), size (F, N) and bound (F, N) from the fires' arrival (F, H, W) and moves `via`.

    A burned cell counts `weight[u]` in its subtree: 1 for the downstream area (int32 weights and
    arrays), its value at risk for the downstream value (float64 weights and arrays).

    Subtree sizes accumulate from the leaves up (Kahn's order on the tree: a cell is passed to its
    predecessor once all its children have been), in time linear in the burned cells, no sort.
    """
    n_fires, h, w = arrival.shape
    n = h * w
    children = np.zeros(n, dtype=np.int32)
    stack = np.empty(n, dtype=np.int64)
    for f in range(n_fires):
        p = pred[f]
        s = size[f]
        b = bound[f]
        children[:] = 0
        for r in range(h):
            for c in range(w):
                u = r * w + c
                k = via[f, r, c]
                p[u] = -1 if k < 0 else (r - steps[k, 0]) * w + (c - steps[k, 1])
                s[u] = weight[u] if np.isfinite(arrival[f, r, c]) else 0
                if p[u] >= 0:
                    children[p[u]] += 1
        top = 0
        for u in range(n):
            if np.isfinite(arrival[f, u // w, u % w]) and children[u] == 0:
                stack[top] = u
                top += 1
        while top > 0:
            top -= 1
            u = stack[top]
            q = p[u]
            if q >= 0:
                s[q] += s[u]
                children[q] -= 1
                if children[q] == 0:
                    stack[top] = q
                    top += 1
        for u in range(n):
            b[u] = s[u]
        for u in range(n):
            k = via[f, u // w, u % w]
            if k < 0 or s[u] == 0:  # s[u] == 0: unburned, or nothing of value downstream
                continue
            pr, pc = p[u] // w, p[u] % w
            for j in range(n_support[k]):
                rr, cc = pr + support[k, j, 0], pc + support[k, j, 1]
                if 0 <= rr < h and 0 <= cc < w:
                    b[rr * w + cc] += s[u]


def unit_weights(n: int) -> np.ndarray:
    """Weights that make subtree sizes count cells: int32 ones."""
    return np.ones(n, dtype=np.int32)


@dataclass
class FireTrees:
    """Spread trees of F fires on an H x W tile: pred (F, N) flat index or -1; size, bound (F, N).

    int32 cells, or float64 value when built with weights.
    """

    pred: np.ndarray
    size: np.ndarray
    bound: np.ndarray


def fire_trees(engine: MTTEngine, fires: BurnResult, weights: np.ndarray | None = None) -> FireTrees:
    """The spread trees of fires burned by `engine` with `trees=True` (their `via` directions).

    With `weights` (value at risk per cell, (H, W)), size and bound count value instead of cells.
    """
    if fires.via is None:
        raise ValueError("fire_trees needs a BurnResult from engine.burn(..., trees=True)")
    tables = move_tables(engine.stencil)
    n_fires = fires.arrival.shape[0]
    n = fires.arrival.shape[1] * fires.arrival.shape[2]
    if weights is None:
        weight, dtype = unit_weights(n), np.int32
    else:
        weight, dtype = np.asarray(weights, dtype=np.float64).reshape(n), np.float64
    pred = np.empty((n_fires, n), dtype=np.int32)
    size = np.empty((n_fires, n), dtype=dtype)
    bound = np.empty((n_fires, n), dtype=dtype)
    _trees(fires.arrival, fires.via, tables.steps, tables.support, tables.n_support, weight, pred, size, bound)
    return FireTrees(pred, size, bound)
