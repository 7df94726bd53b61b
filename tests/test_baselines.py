"""Baselines: plan shape and legality, seeds, corridor cuts, known hot cells, errors, and their parts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fuelbreak.baselines import BASELINES, plan
from fuelbreak.baselines.common import planning_fires, planning_streams
from fuelbreak.baselines.domirank import admissible_sigma, domirank
from fuelbreak.errors import ConfigError
from fuelbreak.fire import MTTEngine, Scenario, Weather, burn_probability, draw_fires
from fuelbreak.fire.trees import fire_trees
from fuelbreak.landscape.core import Landscape

ROCK = 99
WEST_WIND = Weather.single(Scenario(wind_speed=10.0, wind_direction=270.0, duration=1440.0))
METHODS = sorted(BASELINES)


def patchy_tile() -> Landscape:
    """20x20: grass, a shrub block, rock patches and a lake: cells of differing spread and some non-burnable."""
    tile = Landscape.uniform((20, 20), fuel=102, name="patchy")
    fuel = tile.layers["fbfm"]
    fuel[2:8, 10:18] = 145  # SH5
    fuel[12:15, 3:6] = ROCK
    fuel[9, 9:15] = ROCK
    fuel[15:19, 14:19] = 98
    return tile


def corridor_tile(width: int) -> Landscape:
    """Two grass beds (columns 0-8 and 16-24) parted by rock, joined by a `width`-cell grass corridor in rows 7..."""
    tile = Landscape.uniform((15, 25), fuel=102, name=f"corridor{width}")
    fuel = tile.layers["fbfm"]
    fuel[:, 9:16] = ROCK
    fuel[7 : 7 + width, 9:16] = 102
    return tile


def near_bed(tile: Landscape) -> np.ndarray:
    weights = np.zeros(tile.shape)
    weights[:, :9] = 1.0
    return weights


def check_plan(tile: Landscape, cells: np.ndarray, budget: int, existing: np.ndarray | None = None) -> None:
    assert cells.dtype == np.int64 and cells.shape == (budget,)
    assert len(set(cells.tolist())) == budget
    assert tile.burnable.ravel()[cells].all()
    if existing is not None:
        assert not existing.ravel()[cells].any()


@pytest.mark.parametrize("method", METHODS)
def test_plan_is_budget_distinct_legal_cells(method):
    tile = patchy_tile()
    options = {} if method == "random" else {"n_fires": 20}
    check_plan(tile, plan(method, tile, WEST_WIND, 12, seed=3, **options), 12)


@pytest.mark.parametrize("method", METHODS)
def test_plan_avoids_existing_breaks(method):
    tile = patchy_tile()
    existing = np.zeros(tile.shape, dtype=bool)
    existing[:, 7] = True  # a full north-south break already in place
    existing[0, 0] = True
    options = {"existing_breaks": existing} | ({} if method == "random" else {"n_fires": 20})
    cells = plan(method, tile, WEST_WIND, 15, seed=1, **options)
    check_plan(tile, cells, 15, existing)


def test_plan_can_take_every_legal_cell():
    tile = corridor_tile(1)
    existing = np.zeros(tile.shape, dtype=bool)
    existing[:, :9] = True
    existing[:, 16:] = True
    for method in METHODS:  # 7 legal cells left: the corridor
        cells = plan(method, tile, WEST_WIND, 7, seed=0, existing_breaks=existing)
        assert sorted(cells.tolist()) == [7 * 25 + c for c in range(9, 16)]


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_plan(method):
    tile = patchy_tile()
    a = plan(method, tile, WEST_WIND, 10, seed=7)
    b = plan(method, tile, WEST_WIND, 10, seed=7)
    np.testing.assert_array_equal(a, b)


def test_random_plans_differ_between_seeds():
    tile = patchy_tile()
    plans = {tuple(plan("random", tile, WEST_WIND, 10, seed=s)) for s in range(5)}
    assert len(plans) == 5


@pytest.mark.parametrize("method", ["greedy", "tree_greedy", "domirank"])
@pytest.mark.parametrize("width", [1, 2])
def test_corridor_is_cut(method, width):
    """With a budget of the corridor's width, the plan closes the corridor and the far bed stays unburned."""
    tile = corridor_tile(width)
    cells = plan(method, tile, WEST_WIND, width, seed=0, ignition_weights=near_bed(tile))
    rows, cols = np.divmod(cells, tile.shape[1])
    # In the corridor, or at its mouth (the bed cell it opens onto, which closes it as well).
    assert ((rows >= 7) & (rows < 7 + width) & (cols >= 8) & (cols <= 16)).all(), list(
        zip(rows, cols, strict=True)
    )
    breaks = np.zeros(tile.n_cells, dtype=bool)
    breaks[cells] = True
    fires = draw_fires(tile, WEST_WIND, 20, 12345, ignition_weights=near_bed(tile))
    assert burn_probability(fires)[:, 16:].min() == 1.0  # without breaks every fire crosses
    assert burn_probability(fires, breaks.reshape(tile.shape))[:, 16:].max() == 0.0


def star_tile(arm: int = 10) -> Landscape:
    """Four one-cell-wide grass strips of `arm` cells meeting at the centre cell of a rock tile."""
    n = 2 * arm + 1
    tile = Landscape.uniform((n, n), fuel=ROCK, name="star")
    tile.layers["fbfm"][arm, :] = 102
    tile.layers["fbfm"][:, arm] = 102
    return tile


def test_burn_probability_ranks_the_hub_first():
    """Fires that run `arm` cells all reach the centre of the star; any other cell misses some of them."""
    arm = 10
    tile = star_tile(arm)
    calm = Scenario(wind_speed=0.0)
    step = MTTEngine(tile, calm).travel[1, arm, arm]  # one cell east, minutes
    weather = Weather.single(Scenario(wind_speed=0.0, duration=float((arm + 0.5) * step)))
    cells = plan("burn_probability", tile, weather, 3, seed=0)
    assert cells[0] == arm * tile.shape[1] + arm


def test_burn_probability_intensity_prefers_the_hot_fuel():
    """Every cell burns in every fire; weighting by intensity puts the one GR9 cell first."""
    tile = Landscape.uniform((9, 9), fuel=102)
    tile.layers["fbfm"][6, 2] = 109  # GR9: far more intense than GR2
    cells = plan("burn_probability", tile, WEST_WIND, 1, seed=0, n_fires=10, intensity=True)
    assert cells[0] == 6 * 9 + 2


@pytest.mark.parametrize("budget", [0, -3, 400, 2.5, True])
def test_budget_errors_name_the_budget(budget):
    tile = patchy_tile()
    with pytest.raises(ConfigError, match="budget"):
        plan("random", tile, WEST_WIND, budget, seed=0)


def test_budget_counts_existing_breaks():
    tile = corridor_tile(1)
    existing = np.zeros(tile.shape, dtype=bool)
    existing[:, :9] = True
    existing[:, 16:] = True
    with pytest.raises(ConfigError, match="budget 8 exceeds the 7 legal cells"):
        plan("greedy", tile, WEST_WIND, 8, seed=0, existing_breaks=existing)


def test_unknown_method_and_options_are_config_errors():
    tile = patchy_tile()
    with pytest.raises(ConfigError, match="unknown baseline 'best'"):
        plan("best", tile, WEST_WIND, 3, seed=0)
    with pytest.raises(ConfigError, match="sigmaa"):
        plan("domirank", tile, WEST_WIND, 3, seed=0, sigmaa=0.1)
    with pytest.raises(ConfigError, match="graph 'grid'"):
        plan("domirank", tile, WEST_WIND, 3, seed=0, graph="grid")
    with pytest.raises(ConfigError, match="sigma"):
        plan("domirank", tile, WEST_WIND, 3, seed=0, sigma=-1.0)
    with pytest.raises(ConfigError, match="n_fires"):
        plan("greedy", tile, WEST_WIND, 3, seed=0, n_fires=0)
    with pytest.raises(ConfigError, match="seed"):
        plan("random", tile, WEST_WIND, 3, seed=-1)


def test_domirank_on_a_path_graph():
    """The path of 5 nodes: lambda_N = -sqrt(3); the steady state solves Gamma = sigma A (1 - Gamma).

    The reference values are those of the authors' NetworkX implementation (iterative, to 2 decimals).
    """
    a = sp.diags([np.ones(4), np.ones(4)], [-1, 1], format="csr")
    assert admissible_sigma(a) == pytest.approx(1 / np.sqrt(3))
    gamma = domirank(a, 0.95)
    s = 0.95 / np.sqrt(3)
    np.testing.assert_allclose(gamma, s * a @ (1 - gamma), atol=1e-10)
    np.testing.assert_allclose(gamma, [-0.54, 1.98, -1.08, 1.98, -0.54], atol=0.02)


def test_domirank_on_a_directed_acyclic_graph_uses_the_gershgorin_scale():
    """A DAG's eigenvalues are all 0: any sigma converges, and 1 / max out-strength sets the scale."""
    a = sp.csr_matrix(np.array([[0, 2.0, 1.0], [0, 0, 1.0], [0, 0, 0]]))
    assert admissible_sigma(a) == pytest.approx(1 / 3)
    gamma = domirank(a, 1.0)
    np.testing.assert_allclose(gamma, (1 / 3) * a @ (1 - gamma), atol=1e-12)


def test_domirank_on_a_large_graph_takes_the_gershgorin_bound_without_arpack(monkeypatch):
    """Above LARGE_GRAPH nodes ARPACK is not asked (it took minutes on each of a landscape's windows):
    a path, whose lambda_N is -2 cos(pi / (n + 1)), gets 1 / max out-strength = 1/2 instead; the same path
    one node under the limit still asks ARPACK. (The limit is lowered here so that ARPACK's answer is quick.)"""
    import importlib

    dr = importlib.import_module("fuelbreak.baselines.domirank")  # the package exports a function of that name
    assert dr.LARGE_GRAPH >= 10_000  # a 100 x 100 tile keeps ARPACK's sigma

    def path(n):
        return sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], format="csr")

    calls = []
    real = dr.spla.eigs
    monkeypatch.setattr(dr.spla, "eigs", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(dr, "LARGE_GRAPH", 100)
    assert admissible_sigma(path(101)) == 0.5 and not calls
    # ARPACK's eigenvalue: above the bound's 1/2, near the exact 1 / (2 cos(pi / 101)) (it stops at about -1.996)
    assert 0.5 < admissible_sigma(path(100)) < 0.502 and calls


def test_fire_tree_bound_covers_every_saving():
    """A break at c saves at most bound[c] cells of a fire, and exactly c alone when bound[c] is 1."""
    tile = patchy_tile()
    engine = MTTEngine(tile, Scenario(wind_speed=15.0, wind_direction=225.0, duration=120.0))
    rng = np.random.default_rng(0)
    ignitions = rng.choice(np.flatnonzero(tile.burnable.ravel()), size=6, replace=False)
    none = np.zeros(tile.shape, dtype=bool)
    base = engine.burn(ignitions, none, trees=True)
    trees = fire_trees(engine, base)
    burned = base.burned.reshape(len(ignitions), -1)
    np.testing.assert_array_equal(trees.size[np.arange(6), ignitions], base.area)
    assert (trees.bound >= trees.size).all()
    for cell in rng.choice(np.flatnonzero(tile.burnable.ravel()), size=40, replace=False):
        breaks = none.copy()
        breaks.ravel()[cell] = True
        saved = base.area - engine.burn(ignitions, breaks).area
        assert (saved <= trees.bound[:, cell]).all()
        exact = trees.bound[:, cell] <= burned[:, cell]
        np.testing.assert_array_equal(saved[exact], burned[exact, cell].astype(int))


def test_planning_fires_are_the_plans_own():
    """Planning ignitions avoid existing breaks and differ from draw_fires with the same integer seed."""
    tile = patchy_tile()
    existing = np.zeros(tile.shape, dtype=bool)
    existing[:10] = True
    fires = planning_fires(tile, WEST_WIND, 200, planning_streams(5)[0], existing_breaks=existing)
    assert not existing.ravel()[fires.ignitions()].any()
    assert not np.array_equal(
        np.sort(planning_fires(tile, WEST_WIND, 50, planning_streams(5)[0]).ignitions()),
        np.sort(draw_fires(tile, WEST_WIND, 50, 5).ignitions()),
    )


def test_tree_greedy_places_each_cell_at_the_largest_bound_through_the_plan_so_far():
    """Replays tree-greedy's placements: each is the legal cell of largest mean tree bound of the planning
    fires burned through the cells placed before it; the fires are burned again after every cell."""
    from fuelbreak.baselines.common import legal_mask
    from fuelbreak.fire.through_plan import PlanFires

    tile = patchy_tile()
    cells = plan("tree_greedy", tile, WEST_WIND, 12, seed=4, n_fires=20)
    fire_rng, _ = planning_streams(4)
    fires = planning_fires(tile, WEST_WIND, 20, fire_rng)
    state = PlanFires(fires, neutral_roots=True)
    legal = legal_mask(tile).ravel().copy()
    first_scores = state.score().copy()
    for cell in cells:
        score = np.where(legal, state.score(), -np.inf)
        assert score[cell] == score.max()
        legal[cell] = False
        state.place([cell])
    # the plan sees itself: a later cell's score differs from what it was before any break
    assert any(state.score()[c] != first_scores[c] for c in range(tile.n_cells))
    assert not np.array_equal(np.sort(cells), np.sort(np.argsort(-first_scores)[:12]))


def test_greedy_gain_is_what_burning_the_fires_again_saves():
    """Greedy's gain searches only what the trial break cuts off; it must equal a fresh burn's saving."""
    from fuelbreak.baselines.greedy import _FireState
    from fuelbreak.landscape.synthetic import synthetic_tile

    land = synthetic_tile(30, seed=7)
    fires = planning_fires(land, WEST_WIND, 20, np.random.default_rng(0), None, None, None)
    breaks = np.zeros(land.shape, dtype=bool)
    state = _FireState(fires, breaks)
    rng = np.random.default_rng(1)
    legal = np.flatnonzero(land.burnable.ravel())
    for c in rng.choice(legal, 8, replace=False):
        state.place([c])
        breaks.ravel()[c] = True
    checked = 0
    for c in rng.choice(legal, 60, replace=False):
        if breaks.ravel()[c]:
            continue
        trial = breaks.copy()
        trial.ravel()[c] = True
        fresh = sum(
            int(engine.burn(group, trial).area.sum())
            for group, engine in zip(fires.groups, fires.engines, strict=True)
        )
        assert state.gain(int(c), breaks) == pytest.approx(
            (state.area.sum() - fresh) / fires.n_fires, abs=1e-12
        )
        checked += state.gain(int(c), breaks) > 0
    assert checked > 5  # breaks that save something were among those checked
