"""Fires through a growing plan (`fuelbreak.fire.through_plan`): incremental updates equal a fresh burn."""

from __future__ import annotations

import numpy as np
import pytest

from fuelbreak.errors import InputError
from fuelbreak.fire import MTTEngine, Scenario, Weather, draw_fires
from fuelbreak.fire.through_plan import PlanFires, _bounds, plan_view
from fuelbreak.fire.trees import fire_trees
from fuelbreak.landscape.core import Landscape
from fuelbreak.landscape.synthetic import synthetic_tile

WEATHER = Weather(
    (
        Scenario(wind_speed=0.0, duration=240.0),
        Scenario(wind_speed=20.0, wind_direction=250.0, duration=240.0),
    ),
    (0.5, 0.5),
)


@pytest.fixture(scope="module")
def tile():
    return synthetic_tile(30, seed=3)


def fresh(fires, breaks, neutral_roots):
    """Burn probability and mean bound of every fire burned from scratch through `breaks`."""
    burned, bound = [], []
    for group, engine in zip(fires.groups, fires.engines, strict=True):
        view_bp, view_down = plan_view(engine, group, breaks, neutral_roots)
        burned.append(view_bp * len(group))
        bound.append(view_down * len(group))
    n = fires.n_fires
    return sum(burned) / n, sum(bound) / n


@pytest.mark.parametrize("neutral_roots", [False, True])
def test_incremental_updates_equal_a_fresh_burn(tile, neutral_roots):
    fires = draw_fires(tile, WEATHER, 24, 5)
    state = PlanFires(fires, neutral_roots=neutral_roots)
    rng = np.random.default_rng(0)
    legal = np.flatnonzero(tile.burnable.ravel())
    for _ in range(6):
        # the cells fire paths run through most, where updates matter, and a random one
        score = np.where(tile.burnable.ravel() & ~state.breaks.ravel(), state.score(), -1)
        cells = [int(np.argmax(score)), int(rng.choice(legal))]
        cells = [c for c in dict.fromkeys(cells) if not state.breaks.flat[c]]
        state.place(cells)
        bp, down = state.view()
        want_bp, want_down = fresh(fires, state.breaks, neutral_roots)
        np.testing.assert_allclose(bp, want_bp, atol=1e-6)
        np.testing.assert_allclose(down, want_down, rtol=1e-5, atol=1e-4)


def test_channels_follow_the_breaks_and_agree_with_a_direct_simulation(tile):
    scenario = WEATHER.scenarios[1]
    engine = MTTEngine(tile, scenario)
    ign = np.flatnonzero(tile.burnable.ravel())[::37][:20]
    bp0, down0 = plan_view(engine, ign, None)
    breaks = np.zeros(tile.shape, dtype=bool)
    hot = np.argsort(-np.where(tile.burnable.ravel(), down0.ravel(), -1))[:15]
    breaks.flat[hot] = True
    bp1, down1 = plan_view(engine, ign, breaks)
    direct = engine.burn(ign, breaks).burned
    np.testing.assert_allclose(bp1, direct.mean(axis=0), atol=1e-6)
    assert bp1.sum() < bp0.sum()  # the breaks stop some fire
    assert (bp1[breaks] == 0).all() and (down1[breaks] == 0).all()  # broken cells neither burn nor save
    assert not np.allclose(down1, down0)


def test_neutral_roots_credit_an_ignition_cell_with_itself_alone(tile):
    engine = MTTEngine(tile, WEATHER.scenarios[1])
    ign = np.array([int(np.flatnonzero(tile.burnable.ravel())[100])])
    fires = engine.burn(ign, None, trees=True)
    raw = fire_trees(engine, fires).bound[0, ign[0]]
    assert raw == fires.area[0] > 1  # the root's subtree is the whole fire
    _, down = plan_view(engine, ign, None, neutral_roots=True)
    assert down.flat[ign[0]] == 1.0


# ----------------------------------------------------------------- reburn: the incremental search


def canonical_via(engine: MTTEngine, arrival: np.ndarray, breaks) -> np.ndarray:
    """For each burned cell but a root, the lowest stencil direction among its fastest moves."""
    travel = engine.travel_with(breaks)  # (K, H, W): minutes from a cell to its k-th neighbour
    h, w = engine.shape
    via = np.full((h, w), -1, dtype=np.int8)
    for r, c in zip(*np.nonzero(np.isfinite(arrival) & (arrival > 0)), strict=True):
        for k, (dr, dc) in enumerate(engine.stencil):
            pr, pc = r - dr, c - dc
            if (
                0 <= pr < h
                and 0 <= pc < w
                and np.float32(arrival[pr, pc] + travel[k, pr, pc]) == arrival[r, c]
            ):
                via[r, c] = k
                break
    return via


def test_ties_between_equally_fast_moves_go_to_the_lowest_direction():
    # A uniform flat calm tile: many cells are reached as fast by two moves (a tie); the tree must
    # not depend on the order of the search, or an incremental update could not reproduce it.
    land = Landscape.uniform((15, 15), fuel=102)
    engine = MTTEngine(land, Scenario(wind_speed=0.0, duration=600.0))
    fires = engine.burn([112, 3], None, trees=True)
    for f in range(2):
        want = canonical_via(engine, fires.arrival[f], None)
        got = np.where(fires.arrival[f] > 0, fires.via[f], -1)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("where", ["synthetic", "uniform"])
def test_reburn_equals_a_fresh_burn_value_for_value(tile, where):
    land = tile if where == "synthetic" else Landscape.uniform((30, 30), fuel=102)
    engine = MTTEngine(land, Scenario(wind_speed=15.0, wind_direction=250.0, duration=240.0))
    legal = np.flatnonzero(land.burnable.ravel())
    ign = legal[::53][:12]
    fires = engine.burn(ign, None, trees=True)
    arrival, via = fires.arrival.copy(), fires.via.copy()
    breaks = np.zeros(land.shape, dtype=bool)
    rng = np.random.default_rng(1)
    r0, c0 = divmod(int(ign[0]), land.shape[1])
    additions = [
        [int(legal[rng.integers(len(legal))])],  # an isolated break
        [int(ign[1])],  # a break on an ignition: that fire burns nothing
        [
            (r0 + 2) * land.shape[1] + c0 + d
            for d in range(-4, 5)
            if 0 <= c0 + d < land.shape[1] and r0 + 2 < land.shape[0]
        ],
        [int(c) for c in rng.choice(legal, 10, replace=False)],  # scattered
    ]
    for cells in additions:
        breaks.ravel()[cells] = True
        engine.reburn(breaks, arrival, via)
        want = engine.burn(ign, breaks, trees=True)
        np.testing.assert_array_equal(arrival, want.arrival)
        np.testing.assert_array_equal(via, want.via)
    assert not np.isfinite(arrival[1]).any()
    assert np.isfinite(arrival).sum() < np.isfinite(fires.arrival).sum()  # the breaks stopped some fire


def test_plan_fires_keep_each_fire_as_a_fresh_burn_gives_it(tile):
    fires = draw_fires(tile, WEATHER, 16, 2)
    state = PlanFires(fires, neutral_roots=True)
    for _ in range(5):
        score = np.where(tile.burnable.ravel() & ~state.breaks.ravel(), state.score(), -1)
        state.place([int(np.argmax(score))])
    for g, (group, engine) in enumerate(zip(fires.groups, fires.engines, strict=True)):
        rows = np.flatnonzero(state.group == g)
        want = engine.burn(group[state.pos[rows]], state.breaks, trees=True)
        np.testing.assert_array_equal(state.arrival[rows], want.arrival)
        np.testing.assert_array_equal(state.via[rows], want.via)
        np.testing.assert_array_equal(state.burned[rows], want.burned.reshape(len(rows), -1))
        np.testing.assert_array_equal(state.area[rows], want.area)
        np.testing.assert_array_equal(state.bound[rows], _bounds(engine, group[state.pos[rows]], want, True))
    np.testing.assert_array_equal(state.burn_count, state.burned.sum(axis=0))
    np.testing.assert_array_equal(state.bound_sum, state.bound.sum(axis=0))


def test_reburn_rejects_arrays_that_are_not_a_burn_with_trees(tile):
    engine = MTTEngine(tile, WEATHER.scenarios[0])
    fires = engine.burn([5], None, trees=True)
    with pytest.raises(InputError, match="float32 arrival and int8 via"):
        engine.reburn(None, fires.arrival.astype(np.float64), fires.via)
    with pytest.raises(InputError, match="shape"):
        engine.reburn(None, fires.arrival[:, :5], fires.via[:, :5])


@pytest.mark.parametrize("valued", [False, True])
def test_incremental_updates_equal_a_fresh_burn_on_a_long_tile_and_under_values(valued):
    """On a tile that is not square (24 x 36), and with value weights: the same bounds, burn counts and losses
    as the fires burned from scratch through the plan."""
    land = synthetic_tile(36, seed=5).window(0, 0, 24, 36)
    weights = np.random.default_rng(1).gamma(0.5, 2.0, land.shape) if valued else None
    fires = draw_fires(land, WEATHER, 16, 7)
    state = PlanFires(fires, neutral_roots=True, weights=weights)
    for _ in range(4):
        score = np.where(land.burnable.ravel() & ~state.breaks.ravel(), state.score(), -1)
        state.place([int(np.argmax(score))])
    burned, bound = [], []
    for group, engine in zip(fires.groups, fires.engines, strict=True):
        bp, down = plan_view(engine, group, state.breaks, True, weights)
        burned.append(bp * len(group))
        bound.append(down * len(group))
    bp, down = state.view()
    np.testing.assert_allclose(bp, sum(burned) / fires.n_fires, atol=1e-6)
    np.testing.assert_allclose(down, sum(bound) / fires.n_fires, rtol=1e-5, atol=1e-4)
    masks = np.concatenate([e.burn(g, state.breaks).burned for e, g in zip(fires.engines, fires.groups, strict=True)])
    flat = masks.reshape(len(masks), -1)
    want = flat.sum(axis=1) if weights is None else flat @ weights.ravel()
    np.testing.assert_allclose(state.loss, want, rtol=1e-9)


@pytest.mark.parametrize("valued", [False, True])
def test_rows_kept_inside_each_fires_box_equal_a_fresh_burns_rows_exactly(tile, valued):
    # PlanFires refreshes a fire's rows and reburns it only inside the box of the cells it burned: every row
    # must still be, value for value, what a fresh burn and its spread trees give (long windy fires cross the box)
    weather = Weather((Scenario(wind_speed=30.0, wind_direction=250.0, duration=600.0),), (1.0,))
    fires = draw_fires(tile, weather, 16, 2)
    weights = np.random.default_rng(4).random(tile.shape) * 3 if valued else None
    state = PlanFires(fires, neutral_roots=True, weights=weights)
    engine, ign = fires.engines[0], fires.groups[0]
    rng = np.random.default_rng(1)
    for _ in range(8):
        score = np.where(tile.burnable.ravel() & ~state.breaks.ravel(), state.score(), -1)
        state.place([int(np.argmax(score)), int(rng.integers(tile.n_cells))])
        result = engine.burn(ign, state.breaks, trees=True)
        np.testing.assert_array_equal(state.burned, result.burned.reshape(len(ign), -1))
        np.testing.assert_array_equal(state.bound, _bounds(engine, ign, result, True))
        if valued:
            np.testing.assert_array_equal(state.vbound, _bounds(engine, ign, result, True, weights))
        assert (state.area < tile.n_cells).all() and state.area.max() > 0
