"""DomiRank centrality on a graph of fire spread between cells, and breaks on the most dominant cells.

DomiRank (Engsig, Tejedor, Moreno, Foufoula-Georgiou, Kasmi, "DomiRank Centrality reveals structural
fragility of complex networks via node dominance", Nature Communications 15, 56, 2024) is the steady
state of the competition dynamics

    dGamma_i/dt = sigma * sum_j A_ij (1 - Gamma_j) - Gamma_i

where A_ij is the weight of the link from i to j: a node gains dominance from the neighbours it
links to, to the extent that they are not dominant themselves. The steady state is

    Gamma = sigma (sigma A + I)^-1 A 1,

solved here directly with a sparse LU factorisation. The dynamics converge for 0 < sigma < -1/lambda_N,
lambda_N the eigenvalue of A with the most negative real part; `sigma` is given as a fraction of that
admissible maximum (found with ARPACK; when A has no eigenvalue of negative real part, or ARPACK does
not converge, 1 / max out-strength is used, a Gershgorin lower bound on the admissible maximum). On a
graph of more than `LARGE_GRAPH` nodes (a window of a whole landscape) the bound is used directly:
there ARPACK's search for the smallest real part took from a second to minutes a graph, with a limit
of 20 x n iterations that allowed hours (windows of a 2000 x 2000 landscape, 62,500 nodes each: 80
and 146 s without converging in 2,000 iterations, and once converged to -19.1 where shift-invert
found -22.7), and it ran on every batch. The bound gives a lower sigma (1 / 90-160 against
1 / 21-30 on those windows, a fraction of about 0.01 where 0.05 is asked), within the range over
which the flow graph's plans did not change (below). Low
sigma ranks nodes by their out-strength; high sigma makes neighbours compete, so that of two linked
strong nodes only one stays dominant.

Two graphs over the legal cells (burnable, not already a break):

* `"flow"` (default): the spread trees of the planning fires. The edge i -> j carries, per fire in
  which j caught fire from i, the number of cells downstream of j (j's subtree), averaged over the
  fires. A node's out-strength is then its expected downstream area: the cells whose fastest path
  from the ignition runs through it. Competition discounts a cell whose downstream cells are
  dominant themselves, which spreads breaks over distinct fire paths instead of stacking them on one.
* `"spread"`: the local spread graph, i -> j for every stencil move the fire can make, weighted by
  the rate 1/travel time (1/min), averaged over the weather's scenarios by weight. It needs no fires
  but knows nothing of where fires start or go: a cell is dominant when it can ignite many
  neighbours quickly, which favours the interiors of fast fuel beds over the narrow passages that
  breaks should close.

The default sigma, 0.05, comes from `python -m fuelbreak.benchmarks.domirank_sigma`: on 10 synthetic 50x50 tiles
at a 5 % budget the flow graph cut the expected burned area by 36-39 % for every sigma from 0.01 to
0.99 (differences within noise), and low competition keeps together the two cells that close a
two-cell-wide passage, which sigma >= 0.1 often splits. The spread graph matched plain burn
probability (23 %) except near the admissible maximum (29 % at 0.99).

Placement is done in batches (`batch` cells each; by default a tenth of the budget): after each
batch the breaks placed so far are removed from the graph (for "flow" the planning fires are burned
again around them) and DomiRank is recomputed, as in the paper's dismantling with recalculation.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from fuelbreak.baselines.common import (
    cell_costs,
    check_budget,
    check_positive_int,
    cost_ratio,
    existing_mask,
    legal_mask,
    planning_fires,
    planning_streams,
    rank_cells,
    take_affordable,
)
from fuelbreak.errors import ConfigError
from fuelbreak.fire.behavior import FireBehavior
from fuelbreak.fire.montecarlo import behaviors_for, loss_weights
from fuelbreak.fire.mtt import MTTEngine
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.fire.trees import fire_trees
from fuelbreak.landscape.core import Landscape

GRAPHS = ("flow", "spread")
DEFAULT_SIGMA = 0.05
LARGE_GRAPH = 20_000  # nodes (legal cells) above which the admissible sigma is the Gershgorin bound


def admissible_sigma(adjacency: sp.spmatrix) -> float:
    """The largest sigma for which DomiRank's dynamics converge on `adjacency`: -1/Re(lambda_N).

    Falls back to 1 / max out-strength (Gershgorin: no eigenvalue has real part below minus the
    largest row sum) when no eigenvalue has a negative real part or ARPACK does not converge, and
    uses it directly on a graph of more than `LARGE_GRAPH` nodes (see the module docstring).
    """
    a = sp.csr_matrix(adjacency, dtype=np.float64)
    strength = float(np.abs(a).sum(axis=1).max()) if a.nnz else 0.0
    if strength == 0.0:
        return 1.0
    fallback = 1.0 / strength
    n = a.shape[0]
    if n > LARGE_GRAPH:
        return fallback
    try:
        if n <= 64:
            eig = np.linalg.eigvals(a.toarray())
        else:
            start = np.full(n, 1.0 / np.sqrt(n))  # a fixed start vector: the same graph, the same sigma
            eig = spla.eigs(a, k=1, which="SR", return_eigenvectors=False, tol=1e-6, maxiter=20 * n, v0=start)
    except (spla.ArpackNoConvergence, spla.ArpackError):
        return fallback
    lam = float(np.min(eig.real))
    if lam >= -1e-12 * strength:
        return fallback
    return max(-1.0 / lam, fallback)


def domirank(adjacency: sp.spmatrix, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """DomiRank of every node, with sigma given as a fraction of the admissible maximum."""
    a = sp.csr_matrix(adjacency, dtype=np.float64)
    s = float(sigma) * admissible_sigma(a)
    rhs = s * np.asarray(a.sum(axis=1)).ravel()
    system = (s * a + sp.identity(a.shape[0], format="csr")).tocsc()
    return np.atleast_1d(spla.spsolve(system, rhs))


def spread_graph(engines: list[MTTEngine], weights, breaks: np.ndarray) -> sp.csr_matrix:
    """(N, N) rate graph over all cells: A[i, j] = sum_s w_s / travel_s(i -> j) over the moves allowed with `breaks`."""
    h, w = breaks.shape
    rows, cols, vals = [], [], []
    r, c = np.mgrid[0:h, 0:w]
    for engine, weight in zip(engines, weights, strict=True):
        travel = engine.travel_with(breaks)
        for k, (dr, dc) in enumerate(engine.stencil):
            ok = np.isfinite(travel[k])
            src = r[ok] * w + c[ok]
            rows.append(src)
            cols.append(src + dr * w + dc)
            vals.append(weight / travel[k][ok].astype(np.float64))
    n = h * w
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def flow_graph(fires, breaks: np.ndarray, weights: np.ndarray | None = None) -> sp.csr_matrix:
    """(N, N) graph of the fires' spread trees: A[i, j] = mean over fires of [i lit j] * subtree(j).

    With `weights` (value at risk per cell), a subtree counts its value instead of its cells.
    """
    h, w = breaks.shape
    rows, cols, vals = [], [], []
    for engine, group in zip(fires.engines, fires.groups, strict=True):
        trees = fire_trees(engine, engine.burn(group, breaks, trees=True), weights)
        f, j = np.nonzero(trees.pred >= 0)
        rows.append(trees.pred[f, j])
        cols.append(j)
        vals.append(trees.size[f, j].astype(np.float64))
    n = h * w
    a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return a / fires.n_fires


def domirank_plan(
    landscape: Landscape,
    weather: Weather,
    budget: int,
    seed: int,
    existing_breaks=None,
    sigma: float = DEFAULT_SIGMA,
    graph: str = "flow",
    batch: int | None = None,
    n_fires: int = 200,
    ignition_weights: np.ndarray | None = None,
    behaviors: dict[Scenario, FireBehavior] | None = None,
    objective: str = "area",
    max_cost: float | None = None,
) -> np.ndarray:
    """Breaks on the most dominant legal cells, DomiRank recomputed after every `batch` placements.

    Under the value objective the flow graph weighs each subtree by its value (the rate graph, which
    has no trees, ignores it); with `max_cost`, cells that no longer fit are skipped and the plan ends
    when none fits.
    """
    weights = loss_weights(landscape, objective)
    costs = cell_costs(landscape, max_cost)
    if graph not in GRAPHS:
        raise ConfigError(f"domirank graph {graph!r} is unknown; choose one of {', '.join(GRAPHS)}")
    if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
        raise ConfigError(
            f"domirank sigma must be a positive fraction of the admissible maximum, got {sigma!r}"
        )
    legal0 = legal_mask(landscape, existing_breaks)
    budget = check_budget(budget, int(legal0.sum()))
    batch = max(1, math.ceil(budget / 10)) if batch is None else check_positive_int("batch", batch)
    fire_rng, tie_rng = planning_streams(seed)
    if behaviors is None:
        behaviors = behaviors_for(landscape, weather)
    if graph == "flow":
        fires = planning_fires(
            landscape, weather, n_fires, fire_rng, ignition_weights, behaviors, existing_breaks
        )
    else:
        engines = [MTTEngine(landscape, s, behavior=behaviors[s]) for s in weather.scenarios]
    breaks = existing_mask(landscape, existing_breaks).copy()
    plan: list[int] = []
    spent = 0.0
    while len(plan) < budget:
        legal = np.flatnonzero(legal0 & ~breaks)
        if costs is not None:
            legal = legal[costs[legal] <= max_cost - spent]
            if legal.size == 0:
                break
        if graph == "flow":
            full = flow_graph(fires, breaks, weights)
        else:
            full = spread_graph(engines, weather.weights, breaks)
        gamma = np.zeros(landscape.n_cells)
        gamma[legal] = domirank(full[legal][:, legal], sigma)
        ranked = rank_cells(cost_ratio(gamma, costs), legal, tie_rng)
        chosen = take_affordable(ranked, min(batch, budget - len(plan)), costs, None if costs is None else max_cost - spent)
        if costs is not None:
            spent += float(costs[chosen].sum())
        plan.extend(int(c) for c in chosen)
        breaks.ravel()[chosen] = True
    return np.asarray(plan, dtype=np.int64)
