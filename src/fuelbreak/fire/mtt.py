"""Minimum-travel-time spread (the fast default engine), as in FlamMap's MTT and Cell2Fire.

A fire reaches a cell at the earliest time any path of neighbour moves can bring it there. Each
move's time is charged over every cell the move's straight line crosses, at that cell's rate of
spread in the move's direction: a cardinal or diagonal move spends half its length in each end
cell, a knight move a quarter in each of the four cells it crosses. Charging only the end cells
would let diagonal and knight moves jump over slow cells and breaks (DESIGN.md: fires then burn
1.5-2.2 times too much).

The travel times depend only on (landscape, scenario), so they are computed once. A fuel break
only forbids moves that enter or cross a broken cell, or pass between two that touch at a corner;
`burn` applies the break mask inside the search, so nothing is rebuilt per plan. The search is
Dijkstra's algorithm with a bucket queue (a binary heap where the buckets would be too many, and
when fires are updated through new breaks), compiled with numba, one independent fire per
ignition, stopped at the burn duration; each fire resets only the cells it reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np

from fuelbreak.errors import InputError
from fuelbreak.fire.behavior import STENCIL8, STENCIL16, FireBehavior, compute_behavior
from fuelbreak.fire.scenario import Scenario
from fuelbreak.landscape.core import Landscape


def crossed_cells(d_row: int, d_col: int) -> list[tuple[int, int, float]]:
    """Cells a straight move from the centre of (0,0) to the centre of (d_row,d_col) crosses.

    Returns (row, col, fraction of the move's length inside that cell), origin and target included.
    Found by intersecting the segment with the grid lines (an exact, tiny Amanatides-Woo walk).
    """
    # Parameter values t in (0,1) where the segment crosses a cell boundary (x or y = k + 0.5).
    ts = {0.0, 1.0}
    for dist in (d_row, d_col):
        for k in range(abs(dist)):
            if dist:
                ts.add((k + 0.5) / abs(dist))
    ts = sorted(ts)
    cells: list[tuple[int, int, float]] = []
    for t0, t1 in zip(ts[:-1], ts[1:], strict=True):
        tm = 0.5 * (t0 + t1)
        r, c = int(math.floor(tm * d_row + 0.5)), int(math.floor(tm * d_col + 0.5))
        if cells and cells[-1][:2] == (r, c):
            cells[-1] = (r, c, cells[-1][2] + t1 - t0)
        else:
            cells.append((r, c, t1 - t0))
    return cells


@lru_cache(maxsize=8)
def _stencil_tables(stencil) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per direction: the crossed cells (padded) and their length fractions, for the compiled search."""
    n = len(stencil)
    crossed = [crossed_cells(dr, dc) for dr, dc in stencil]
    width = max(len(c) for c in crossed)
    offsets = np.zeros((n, width, 2), dtype=np.int64)
    fractions = np.zeros((n, width), dtype=np.float64)
    counts = np.zeros(n, dtype=np.int64)
    for k, cells in enumerate(crossed):
        counts[k] = len(cells)
        for j, (r, c, f) in enumerate(cells):
            offsets[k, j] = (r, c)
            fractions[k, j] = f
    return offsets, fractions, counts


@numba.njit(cache=True, nogil=True)
def _open_moves(ros, lengths, offsets, fractions, counts, blocked, pad, out):
    """out[u, k] = minutes of the move from padded cell u in direction k, or inf where it is forbidden.

    A move's time is the sum over the cells its segment crosses of fraction x length / rate toward k,
    in float64, rounded to float32 once. It is forbidden where it leaves the grid, where a cell it
    crosses is blocked (`blocked`, the padded grid) or does not carry fire that way (rate 0), and,
    for a diagonal move, where both cells beside it are blocked. Its segment touches those two cells
    at one point, their shared corner: it passes a single blocked corner, as a front does around a
    30 m obstacle, but not between two blocked cells that touch there (a diagonal line of breaks is
    closed). (Forbidding it beside any blocked cell, as the 30 m level set's 4-neighbour gradients
    suggest, made `mtt` over-credit scattered breaks against the level set on a 10 m grid: issue 12,
    README.) The rows of blocked cells are left as the caller filled them (inf). Returns the shortest
    and longest allowed move (inf, 0 when there is none), which size the search's buckets.
    """
    n, h, w = ros.shape
    wp = w + 2 * pad
    shortest, longest = np.inf, 0.0
    for r in range(h):
        for c in range(w):
            if blocked[r + pad, c + pad]:
                continue
            u = (r + pad) * wp + c + pad
            for k in range(n):
                total = 0.0
                for j in range(counts[k]):
                    rr, cc = r + offsets[k, j, 0], c + offsets[k, j, 1]
                    if (
                        rr < 0 or rr >= h or cc < 0 or cc >= w
                        or blocked[rr + pad, cc + pad] or not ros[k, rr, cc] > 0
                    ):  # fmt: skip
                        total = np.inf
                        break
                    total += fractions[k, j] * lengths[k] * (1.0 / np.float64(ros[k, rr, cc]))
                dr, dc = offsets[k, counts[k] - 1, 0], offsets[k, counts[k] - 1, 1]
                if counts[k] == 2 and dr != 0 and dc != 0:
                    if blocked[r + pad + dr, c + pad] and blocked[r + pad, c + pad + dc]:
                        total = np.inf
                out[u, k] = total
                if total < np.inf:
                    shortest = min(shortest, np.float64(out[u, k]))
                    longest = max(longest, np.float64(out[u, k]))
    return shortest, longest


def open_moves(
    behavior: FireBehavior, cell_size: float, blocked: np.ndarray, pad: int
) -> tuple[np.ndarray, float, float]:
    """Minutes of each move the `blocked` cells allow (`_open_moves`), on the grid padded by `pad` blocked cells.

    A (padded cells, directions) float32 array, cell-major as the search reads it, and the shortest and
    longest of those moves (minutes).
    """
    offsets, fractions, counts = _stencil_tables(behavior.stencil)
    n, h, w = behavior.ros.shape
    lengths = np.array([cell_size * math.hypot(dr, dc) for dr, dc in behavior.stencil])
    out = np.full(((h + 2 * pad) * (w + 2 * pad), n), np.inf, dtype=np.float32)
    shortest, longest = _open_moves(
        np.ascontiguousarray(behavior.ros), lengths, offsets, fractions, counts, blocked, pad, out
    )
    return out, float(shortest), float(longest)


@numba.njit(cache=True, nogil=True, inline="always")
def _sift_up(keys, heap, pos, v, i):
    """Place cell v at heap index i and move it up past parents with larger keys (indexed min-heap)."""
    key = keys[v]
    while i > 0:
        parent = (i - 1) >> 1
        pv = heap[parent]
        if keys[pv] <= key:
            break
        heap[i] = pv
        pos[pv] = i
        i = parent
    heap[i] = v
    pos[v] = i


@numba.njit(cache=True, nogil=True, inline="always")
def _pop_min(keys, heap, pos, size):
    """Remove and return the cell with the smallest key; returns (cell, new size)."""
    top = heap[0]
    pos[top] = -2  # settled
    size -= 1
    if size == 0:
        return top, 0
    v = heap[size]
    key = keys[v]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and keys[heap[child + 1]] < keys[heap[child]]:
            child += 1
        cv = heap[child]
        if key <= keys[cv]:
            break
        heap[i] = cv
        pos[cv] = i
        i = child
    heap[i] = v
    pos[v] = i
    return top, size


@numba.njit(cache=True, nogil=True, inline="always")
def _relax(u, travel, step, duration, best, came, heap, pos, size):
    """Dijkstra's relaxation of the moves out of settled cell u; returns the new heap size.

    A cell reached faster gets the time and the move; of equally fast moves into a cell not yet
    settled the lowest direction wins, whatever the order of the search, so that the spread tree
    is a function of the arrival times alone.
    """
    t = best[u]
    for k in range(travel.shape[1]):
        nt = t + travel[u, k]
        if nt <= duration:
            v = u + step[k]
            if nt < best[v]:
                best[v] = nt
                came[v] = k
                i = pos[v]
                if i == -1:
                    i = size
                    size += 1
                _sift_up(best, heap, pos, v, i)
            elif nt == best[v] and k < came[v] and pos[v] != -2:
                came[v] = k
    return size


@numba.njit(cache=True, nogil=True)
def _block_breaks(travel, blocked, breaks, offsets, counts, wp):
    """Remove, in place, every move that crosses or enters one of the `breaks` (flat padded indices).

    The same rules as `_open_moves`, applied only around the new breaks (`blocked` already
    includes them), so that a plan costs a few operations per break rather than a pass over the grid.
    """
    n_dir = travel.shape[1]
    for b in breaks:
        br, bc = b // wp, b % wp
        for k in range(n_dir):
            for j in range(1, counts[k]):
                u = (br - offsets[k, j, 0]) * wp + (bc - offsets[k, j, 1])
                travel[u, k] = np.inf
            dr, dc = offsets[k, counts[k] - 1, 0], offsets[k, counts[k] - 1, 1]
            if counts[k] == 2 and dr != 0 and dc != 0:
                # b beside a diagonal move (from b - (dr, 0) or from b - (0, dc)): closed when the cell
                # on the move's other side is blocked too (`blocked` holds every new break already)
                if blocked[br - dr, bc + dc]:
                    travel[(br - dr) * wp + bc, k] = np.inf
                if blocked[br + dr, bc - dc]:
                    travel[br * wp + bc - dc, k] = np.inf


@numba.njit(cache=True, nogil=True)
def _block_breaks_stacked(travel, blocked, breaks, offsets, counts, wp):
    """`_block_breaks` on every scenario's moves of a (G, cells, directions) stack."""
    for g in range(travel.shape[0]):
        _block_breaks(travel[g], blocked, breaks, offsets, counts, wp)


@numba.njit(cache=True, nogil=True, inline="always")
def _copy_out(settled, n_settled, f, wp, pad, best, came, state, arrival, via, track):
    """Write fire f's settled cells (flat padded indices) into arrival[f] (and via[f] when `track`).

    Also reset the search's scratch arrays there (`state`: -1, never reached) for the next fire.
    """
    for i in range(n_settled):
        u = settled[i]
        r, c = u // wp - pad, u % wp - pad
        arrival[f, r, c] = best[u]
        if track:
            via[f, r, c] = came[u]
        best[u] = np.inf
        came[u] = -1
        state[u] = -1


@numba.njit(cache=True, nogil=True)
def _burn(travel, step, starts, duration, wp, pad, arrival, via):
    """Dijkstra from each start cell over the flat padded grid; arrival[f] = minutes (inf beyond `duration`).

    travel[u, k] is the time of the move from padded cell u to u + step[k] (inf when forbidden).
    Each cell enters the heap once and is moved up when a faster path is found (decrease-key), so
    the heap never holds more than the fire front. A start of -1 (a blocked ignition cell) burns
    nothing. The search runs on scratch arrays of the padded grid; only the cells a fire reached are
    written to arrival[f] (H x W, inf beforehand) and reset afterwards, so a fire costs its burned
    cells, not the grid. When `via` has a row per fire, via[f] gets the stencil direction of the
    fastest move into each cell (-1 beforehand: none), which makes the spread tree of the fire. Of
    several equally fast moves into a cell the one of the lowest stencil direction is kept, so the
    tree is a function of the arrival times alone and `_reburn` can reproduce it.
    """
    track = via.shape[0] == starts.shape[0]
    n_cells, n_dir = travel.shape
    best = np.full(n_cells, np.inf, dtype=np.float32)
    came = np.full(n_cells, -1, dtype=np.int8)
    heap = np.empty(n_cells, dtype=np.int32)
    settled = np.empty(n_cells, dtype=np.int32)
    pos = np.full(n_cells, -1, dtype=np.int32)  # -1 never reached, -2 settled, else index in heap
    for f in range(starts.shape[0]):
        start = starts[f]
        if start < 0:
            continue
        best[start] = 0.0
        heap[0] = start
        pos[start] = 0
        size = 1
        n_settled = 0
        while size > 0:
            u, size = _pop_min(best, heap, pos, size)
            settled[n_settled] = u
            n_settled += 1
            size = _relax(u, travel, step, duration, best, came, heap, pos, size)
        # Every cell the fire reached was settled (the heap ran dry): copy those out, reset them.
        _copy_out(settled, n_settled, f, wp, pad, best, came, pos, arrival, via, track)


@numba.njit(cache=True, nogil=True)
def _burn_buckets(travel, step, starts, duration, wp, pad, arrival, via, width, n_buckets):
    """`_burn` with a bucket queue (Dial 1969) instead of the binary heap.

    The same arrival times and spread trees, value for value, at about 2 times the search floor against the
    heap's 2.7 (`fuelbreak bench fire`).

    A cell reached at t minutes waits in bucket floor(t / width), kept in a ring of `n_buckets`
    doubly linked lists (a faster path moves it to its new bucket in O(1)); the search empties the
    buckets in order. With `width` at most half the shortest move, a cell popped from a bucket
    cannot improve another cell of that bucket (every move leaves it), so each popped cell's time
    is final, whatever the order within the bucket; and every move that reaches a cell at its final
    time comes from an earlier bucket, so `_burn`'s tie rule (the lowest direction) sees the same
    moves. The ring needs more buckets than min(longest move, duration) / width + 2.
    """
    track = via.shape[0] == starts.shape[0]
    n_cells, n_dir = travel.shape
    best = np.full(n_cells, np.inf, dtype=np.float32)
    came = np.full(n_cells, -1, dtype=np.int8)
    nxt = np.empty(n_cells, dtype=np.int32)
    prv = np.empty(n_cells, dtype=np.int32)
    slot = np.full(n_cells, -1, dtype=np.int32)  # -1 never reached, -2 settled, else its bucket
    head = np.full(n_buckets, -1, dtype=np.int32)
    settled = np.empty(n_cells, dtype=np.int32)
    per_minute = 1.0 / width
    for f in range(starts.shape[0]):
        start = starts[f]
        if start < 0:
            continue
        best[start] = 0.0
        head[0] = start
        nxt[start] = -1
        prv[start] = -1
        slot[start] = 0
        size = 1
        current = 0
        n_settled = 0
        while size > 0:
            b = current % n_buckets
            u = head[b]
            if u < 0:
                current += 1
                continue
            head[b] = nxt[u]
            if nxt[u] >= 0:
                prv[nxt[u]] = -1
            slot[u] = -2
            size -= 1
            settled[n_settled] = u
            n_settled += 1
            t = best[u]
            for k in range(n_dir):
                nt = t + travel[u, k]
                if nt <= duration:
                    v = u + step[k]
                    if nt < best[v]:
                        best[v] = nt
                        came[v] = k
                        nb = np.int64(np.float64(nt) * per_minute) % n_buckets
                        old = slot[v]
                        if old == nb:
                            continue
                        if old >= 0:  # unlink v from its old bucket
                            p, q = prv[v], nxt[v]
                            if p >= 0:
                                nxt[p] = q
                            else:
                                head[old] = q
                            if q >= 0:
                                prv[q] = p
                        else:
                            size += 1
                        q = head[nb]
                        nxt[v] = q
                        prv[v] = -1
                        if q >= 0:
                            prv[q] = v
                        head[nb] = v
                        slot[v] = nb
                    elif nt == best[v] and k < came[v] and slot[v] != -2:
                        came[v] = k
        _copy_out(settled, n_settled, f, wp, pad, best, came, slot, arrival, via, track)


# Past this many buckets (a tile with very fast moves under a long burn) the empty buckets a fire
# scans would cost more than the heap saves; `burn` then uses the heap.
MAX_BUCKETS = 1 << 15


@numba.njit(cache=True, nogil=True)
def _reburn(travel, blocked, step, duration, group, wp, pad, arrival, via, rows, boxes):
    """Update, in place, fires `rows` burned with trees (arrival, via) to the fewer moves of `travel`.

    `boxes[f]` = (row0, row1, col0, col1), end-exclusive, holds every cell fire f burned (the whole tile
    when unknown): only it is scanned, and the search stays in it (a fire only shrinks).

    Fire f burned on travel[group[f]] (G, cells, directions) for duration[group[f]] minutes; the
    moves may only have been lost since (more breaks). A cell keeps its
    arrival and its move unless the chain of moves that reached it now crosses a forbidden move or
    a blocked cell: those cells, the subtrees below every such move, form the set S searched again,
    seeded from the burned cells around S, whose times cannot change (times only grow when moves go,
    and their own chains are intact). The search is `_burn`'s, with its tie rule, so the result is
    value for value what burning the fires from scratch gives, at the cost of S and one pass over the
    burned cells (Ramalingam and Reps 1996 call this the incremental shortest-path tree update).
    """
    n_cells, n_dir = travel.shape[1], travel.shape[2]
    best = np.full(n_cells, np.inf, dtype=np.float32)
    came = np.full(n_cells, -1, dtype=np.int8)
    heap = np.empty(n_cells, dtype=np.int32)
    pos = np.full(n_cells, -1, dtype=np.int32)  # -1 open, -2 final, else index in heap
    inside = np.zeros(n_cells, dtype=np.uint8)  # 1: in S
    burned = np.empty(n_cells, dtype=np.int32)
    first = np.zeros(n_cells + 1, dtype=np.int32)  # children of each cell, as compressed rows
    kids = np.empty(n_cells, dtype=np.int32)
    queue = np.empty(n_cells, dtype=np.int32)
    for f in rows:
        moves = travel[group[f]]
        limit = duration[group[f]]
        nb = 0
        for r in range(boxes[f, 0], boxes[f, 1]):
            for c in range(boxes[f, 2], boxes[f, 3]):
                if arrival[f, r, c] < np.inf:
                    u = (r + pad) * wp + c + pad
                    best[u] = arrival[f, r, c]
                    came[u] = via[f, r, c]
                    pos[u] = -2
                    burned[nb] = u
                    nb += 1
        nq = 0
        for i in range(nb):  # the roots of S: a blocked cell, or one reached by a forbidden move
            u = burned[i]
            k = came[u]
            if blocked[u] or (k >= 0 and not moves[u - step[k], k] < np.inf):
                inside[u] = 1
                queue[nq] = u
                nq += 1
        if nq > 0:
            for i in range(nb):
                k = came[burned[i]]
                if k >= 0:
                    first[burned[i] - step[k] + 1] += 1
            span0, span1 = burned[0], burned[nb - 1] + 1  # every burned cell, so every parent, is in it
            for u in range(span0, span1):
                first[u + 1] += first[u]
            for i in range(nb):
                u = burned[i]
                k = came[u]
                if k >= 0:
                    p = u - step[k]
                    kids[first[p]] = u
                    first[p] += 1  # first[p] now ends p's children; p's start is first[p - 1]
            head = 0
            while head < nq:  # S: the roots and everything below them
                u = queue[head]
                head += 1
                lo = first[u - 1] if u > 0 else 0
                for i in range(lo, first[u]):
                    v = kids[i]
                    if inside[v] == 0:
                        inside[v] = 1
                        queue[nq] = v
                        nq += 1
            for i in range(nq):
                v = queue[i]
                best[v] = np.inf
                came[v] = -1
                pos[v] = -1
            size = 0
            for i in range(nq):  # seed S from the final cells around it
                v = queue[i]
                if blocked[v]:
                    continue
                for k in range(n_dir):
                    u = v - step[k]
                    if pos[u] == -2:
                        nt = best[u] + moves[u, k]
                        if nt <= limit:
                            if nt < best[v]:
                                best[v] = nt
                                came[v] = k
                            elif nt == best[v] and k < came[v]:
                                came[v] = k
                if best[v] < np.inf:
                    _sift_up(best, heap, pos, v, size)
                    size += 1
            while size > 0:
                u, size = _pop_min(best, heap, pos, size)
                size = _relax(u, moves, step, limit, best, came, heap, pos, size)
            for i in range(nq):
                v = queue[i]
                r, c = v // wp - pad, v % wp - pad
                arrival[f, r, c] = best[v]
                via[f, r, c] = came[v]
            first[span0 : span1 + 1] = 0
        for i in range(nb):
            u = burned[i]
            best[u] = np.inf
            came[u] = -1
            pos[u] = -1
            inside[u] = 0


@dataclass
class BurnResult:
    """Arrival times (minutes since ignition, inf where unburned) of K fires on an H x W grid."""

    arrival: np.ndarray  # float32 (K, H, W)
    duration: float
    via: np.ndarray | None = (
        None  # int8 (K, H, W): stencil direction of the move that reached each cell, -1 none
    )
    # float32 (K, H, W): the burned fraction of each cell, where an engine resolves parts of cells
    # (the level set on a finer grid); None: a cell burns whole when its centre does
    cover: np.ndarray | None = None

    @property
    def burned(self) -> np.ndarray:
        """Bool (K, H, W): the cells each fire reached within its duration."""
        return np.isfinite(self.arrival)

    @property
    def area(self) -> np.ndarray:
        """Burned cells per fire (fractions of cells summed, with `cover`)."""
        if self.cover is not None:
            return self.cover.reshape(self.cover.shape[0], -1).sum(axis=1, dtype=np.float64)
        return self.burned.reshape(self.arrival.shape[0], -1).sum(axis=1)


def as_flat_ignitions(ignitions, shape: tuple[int, int]) -> np.ndarray:
    """Accept flat cell indices (K,) or (row, col) pairs (K, 2); return int64 flat indices."""
    ign = np.asarray(ignitions, dtype=np.int64)
    h, w = shape
    if ign.ndim == 2 and ign.shape[1] == 2:
        if (ign[:, 0] < 0).any() or (ign[:, 0] >= h).any() or (ign[:, 1] < 0).any() or (ign[:, 1] >= w).any():
            raise InputError(f"ignition (row, col) outside the {h}x{w} grid")
        ign = ign[:, 0] * w + ign[:, 1]
    elif ign.ndim == 0:
        ign = ign.reshape(1)
    elif ign.ndim != 1:
        raise InputError(
            f"ignitions must be flat cell indices (K,) or (row, col) pairs (K, 2), got shape {ign.shape}"
        )
    if ign.size and ((ign < 0).any() or (ign >= h * w).any()):
        raise InputError(f"ignition cell index outside the {h}x{w} grid")
    return ign


def check_breaks(breaks, shape: tuple[int, int]) -> np.ndarray:
    """`breaks` as a bool mask of `shape` (None: no breaks).

    Raises:
        InputError: the mask's shape is not the landscape's.
    """
    if breaks is None:
        return np.zeros(shape, dtype=bool)
    breaks = np.asarray(breaks)
    if breaks.shape != shape:
        raise InputError(f"break mask has shape {breaks.shape}, the landscape has {shape}")
    return breaks.astype(bool)


class MTTEngine:
    """Minimum-travel-time spread over an 8- or 16-neighbour grid; built once per (landscape, scenario)."""

    name = "mtt"

    def __init__(
        self,
        landscape: Landscape,
        scenario: Scenario,
        neighbours: int = 16,
        behavior: FireBehavior | None = None,
    ):
        if neighbours not in (8, 16):
            raise InputError(f"neighbours must be 8 or 16, got {neighbours}")
        stencil = STENCIL16 if neighbours == 16 else STENCIL8
        if behavior is None:
            behavior = compute_behavior(landscape, scenario, stencil)
        elif behavior.stencil[: len(stencil)] != stencil:
            raise InputError("fire behaviour was computed on another stencil")
        else:
            behavior = FireBehavior(
                stencil, behavior.ros[: len(stencil)], behavior.intensity[: len(stencil)], behavior.fire_type
            )
        self.shape = landscape.shape
        self.scenario = scenario
        self.nonburnable = ~landscape.burnable
        self._offsets, _, self._counts = _stencil_tables(stencil)
        # The search runs on a grid padded by 2 blocked cells, so that no move needs a bounds check.
        p = self._pad = 2
        self._blocked_open = self._blocked(np.zeros(self.shape, bool))
        # Moves allowed without breaks, cell-major on the padded grid; a plan only removes moves, so
        # the shortest and longest open moves bound those of every plan (they size the buckets).
        self._travel_open, self._shortest_move, self._longest_move = open_moves(
            behavior, landscape.cell_size, self._blocked_open, p
        )
        self.padded_width = self.shape[1] + 2 * p
        # flat padded-grid offset of each stencil move
        self.step = self._offsets[np.arange(len(self._counts)), self._counts - 1] @ np.array(
            [self.padded_width, 1]
        )

    @property
    def travel(self) -> np.ndarray:
        """(n_dir, H, W) minutes from each cell to its neighbour in each stencil direction (inf: no spread).

        A move is inf where it leaves the grid or enters or crosses a cell that cannot carry fire.
        """
        return self.travel_with(None)

    @property
    def stencil(self) -> tuple[tuple[int, int], ...]:
        """The engine's neighbour moves (row, column offsets): 8 or 16 directions."""
        return STENCIL16 if len(self._counts) == 16 else STENCIL8

    def _blocked(self, breaks: np.ndarray) -> np.ndarray:
        if getattr(self, "_blocked_open", None) is not None and not breaks.any():
            return self._blocked_open  # read-only use: no plan, the same mask every time
        p = self._pad
        blocked = np.ones((self.shape[0] + 2 * p, self.shape[1] + 2 * p), dtype=np.uint8)
        blocked[p:-p, p:-p] = self.nonburnable | breaks
        return blocked

    def _moves(self, breaks: np.ndarray, blocked: np.ndarray) -> np.ndarray:
        """Cell-major padded travel times with the moves the breaks forbid removed."""
        if not breaks.any():
            return self._travel_open
        p, wp = self._pad, self.shape[1] + 2 * self._pad
        rows_b, cols_b = np.nonzero(breaks & ~self.nonburnable)
        travel = self._travel_open.copy()
        _block_breaks(travel, blocked, (rows_b + p) * wp + cols_b + p, self._offsets, self._counts, wp)
        return travel

    def travel_with(self, breaks=None) -> np.ndarray:
        """(n_dir, H, W) minutes of each allowed move once `breaks` are in place (inf: forbidden)."""
        breaks = check_breaks(breaks, self.shape)
        p = self._pad
        hp, wp = self.shape[0] + 2 * p, self.shape[1] + 2 * p
        moves = self._moves(breaks, self._blocked(breaks))
        return moves.reshape(hp, wp, -1).transpose(2, 0, 1)[:, p:-p, p:-p]

    def burn(self, ignitions, breaks=None, duration: float | None = None, trees: bool = False) -> BurnResult:
        """Run one independent fire per ignition; return arrival times within the duration.

        With `trees`, also the direction of the move that reached each cell (`BurnResult.via`): the
        predecessor of cell (r, c) is (r, c) - stencil[via], so the fires' spread trees come for free.
        """
        breaks = check_breaks(breaks, self.shape)
        ign = as_flat_ignitions(ignitions, self.shape)
        duration = float(self.scenario.duration if duration is None else duration)
        h, w = self.shape
        p = self._pad
        wp = w + 2 * p
        blocked = self._blocked(breaks)
        travel = self._moves(breaks, blocked)
        rows, cols = ign // w + p, ign % w + p
        starts = np.where(blocked[rows, cols] == 0, rows * wp + cols, -1)
        step = self.step
        arrival = np.full((len(ign), h, w), np.inf, dtype=np.float32)
        via = np.full((len(ign), h, w) if trees else (0, 1, 1), -1, dtype=np.int8)
        width, n_buckets = self._buckets(duration)
        if n_buckets <= MAX_BUCKETS:
            _burn_buckets(travel, step, starts, np.float32(duration), wp, p, arrival, via, width, n_buckets)
        else:
            _burn(travel, step, starts, np.float32(duration), wp, p, arrival, via)
        return BurnResult(arrival, duration, via if trees else None)

    def _buckets(self, duration: float) -> tuple[float, int]:
        """Width (minutes) and number of the bucket queue's buckets for fires of `duration` minutes.

        Half the shortest move, and enough to hold the moves a fire can still make (`_burn_buckets`).
        """
        if not np.isfinite(self._shortest_move):
            return 1.0, 3  # no move at all: each fire is its ignition
        width = 0.5 * self._shortest_move
        span = min(self._longest_move, duration)
        return width, int(span / width) + 3 if np.isfinite(span) else MAX_BUCKETS + 1

    def moves_through(self, breaks) -> tuple[np.ndarray, np.ndarray]:
        """The blocked mask of the padded grid and the moves (padded cells, directions) allowed through `breaks`.

        Fresh arrays, for a plan that grows with `forbid` and burns with `reburn_stacked`.
        """
        breaks = check_breaks(breaks, self.shape)
        blocked = self._blocked(breaks).copy()
        travel = self._moves(breaks, blocked)
        return blocked, (travel.copy() if travel is self._travel_open else travel)

    def forbid(self, travel: np.ndarray, blocked: np.ndarray, cells) -> None:
        """Add breaks at flat `cells` to a `moves_through` pair, in place.

        `travel` may stack the moves of several engines on this landscape (G, padded cells, directions).
        """
        h, w = self.shape
        cells = np.asarray(cells, dtype=np.int64).reshape(-1)
        if cells.size and (cells.min() < 0 or cells.max() >= h * w):
            raise InputError(f"break cell index outside the {h}x{w} grid")
        padded = (cells // w + self._pad) * self.padded_width + cells % w + self._pad
        blocked.ravel()[padded] = 1
        burnable = padded[~self.nonburnable.ravel()[cells]]
        stack = travel if travel.ndim == 3 else travel[None]
        _block_breaks_stacked(stack, blocked, burnable, self._offsets, self._counts, self.padded_width)

    def reburn_stacked(self, travel, blocked, durations, group, arrival, via, rows, boxes=None) -> None:
        """`reburn` for fires of several engines on this landscape at once.

        Fire f burned on travel[group[f]] for durations[group[f]] minutes; `travel` and `blocked` now hold the
        breaks (`moves_through`, `forbid`). No checks: callers keep the arrays as `PlanFires` does. `boxes`
        (F, 4) int64: (row0, row1, col0, col1) of each fire, holding every cell it burned; only those are
        scanned (default: the whole tile).
        """
        if boxes is None:
            boxes = np.tile(np.array([0, self.shape[0], 0, self.shape[1]], dtype=np.int64), (len(arrival), 1))
        _reburn(travel, blocked.ravel(), self.step, durations, group, self.padded_width, self._pad, arrival, via, rows, boxes)  # fmt: skip

    def reburn(self, breaks, arrival: np.ndarray, via: np.ndarray, rows=None) -> None:
        """Bring fires burned with `trees=True` up to date with more breaks, in place.

        `arrival` (K, H, W) float32 and `via` (K, H, W) int8 are fires this engine burned, at its
        scenario's duration, under a subset of `breaks`; afterwards rows `rows` (default: all) are,
        value for value, what `burn(ignitions, breaks, trees=True)` gives, but only the cells
        downstream of a move the new breaks forbid are searched again (`_reburn`).
        """
        breaks = check_breaks(breaks, self.shape)
        if arrival.dtype != np.float32 or via.dtype != np.int8 or arrival.shape != via.shape:
            raise InputError("reburn needs the float32 arrival and int8 via arrays of a burn with trees")
        if arrival.shape[1:] != self.shape or not (arrival.flags.c_contiguous and via.flags.c_contiguous):
            raise InputError(f"fires of shape {arrival.shape[1:]} on a {self.shape} engine (C-ordered)")
        rows = np.arange(len(arrival)) if rows is None else np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(arrival)):
            raise InputError(f"reburn rows outside the {len(arrival)} fires")
        blocked = self._blocked(breaks)
        travel = self._moves(breaks, blocked)
        duration = np.array([self.scenario.duration], dtype=np.float32)
        group = np.zeros(len(arrival), dtype=np.int64)
        self.reburn_stacked(travel[None], blocked, duration, group, arrival, via, rows)
