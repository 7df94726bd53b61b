"""Prune and refill (`fuelbreak.baselines.local_search`): a plan keeps its size and legality, its
planning fires never burn more, and a break that a later line made redundant is moved."""

from __future__ import annotations

import numpy as np
import pytest

from fuelbreak.baselines import tree_greedy_plan
from fuelbreak.baselines.common import planning_fires, planning_streams
from fuelbreak.baselines.local_search import prune_refill, removal_losses
from fuelbreak.baselines.tree_greedy import bound_refill
from fuelbreak.fire.montecarlo import FireSet, burned_areas, make_engine
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.fire.through_plan import PlanFires
from fuelbreak.landscape.core import Landscape
from fuelbreak.landscape.synthetic import synthetic_tile

WEATHER = Weather([Scenario(wind_speed=15.0, wind_direction=240.0, duration=240.0)], [1.0])


@pytest.fixture(scope="module")
def tile():
    return synthetic_tile(24, seed=5).validate()


def fires_of(tile, n, seed):
    rng, _ = planning_streams(seed)
    return planning_fires(tile, WEATHER, n, rng)


def test_removal_loss_is_the_cells_burned_more_without_the_break(tile):
    fires = fires_of(tile, 30, 1)
    plan = tree_greedy_plan(tile, WEATHER, 15, 1, n_fires=30)
    breaks = np.zeros(tile.n_cells, dtype=bool)
    breaks[plan] = True
    state = PlanFires(fires, breaks.reshape(tile.shape))
    losses = removal_losses(state, plan)
    full = burned_areas(fires, breaks.reshape(tile.shape)).sum()
    for i in (0, 7, 14):  # against burning every fire again without that break
        without = breaks.copy()
        without[plan[i]] = False
        assert losses[i] == pytest.approx(burned_areas(fires, without.reshape(tile.shape)).sum() - full)
    assert (losses >= 0).all()


def test_prune_refill_keeps_size_and_legality_and_never_burns_more(tile):
    fires = fires_of(tile, 40, 2)
    existing = np.zeros(tile.shape, dtype=bool)
    existing.flat[np.flatnonzero(tile.burnable.ravel())[:3]] = True
    plan = tree_greedy_plan(tile, WEATHER, 20, 2, n_fires=40, existing_breaks=existing)
    _, ties = planning_streams(2)
    better = prune_refill(tile, fires, plan, bound_refill(tile, fires, ties), 3, 4, existing)
    assert better.size == 20 and np.unique(better).size == 20
    assert tile.burnable.ravel()[better].all() and not existing.ravel()[better].any()

    def burned(p):
        b = existing.copy()
        b.flat[p] = True
        return burned_areas(fires, b).sum()

    assert burned(better) <= burned(plan)


def test_a_redundant_break_is_moved_where_it_cuts_fire():
    """A corridor 5 cells wide with fires from the west: a full line across it holds everything, so a
    lone break far east behind the line saves nothing; it is moved to where fire still runs, west of
    the line, and the line stays whole."""
    rock = np.zeros((7, 20), dtype=bool)
    rock[0, :] = rock[-1, :] = True  # rock above and below: a corridor of rows 1-5
    land = Landscape.uniform((7, 20), fuel=102).with_breaks(rock).validate()
    scenario = Scenario(wind_speed=20.0, wind_direction=270.0, duration=600.0)
    engine = make_engine("mtt", land, scenario)
    ignitions = np.array([r * 20 + 1 for r in range(1, 6)] * 2)  # fires start at the west end
    fires = FireSet([scenario], [ignitions], [engine])
    line = [r * 20 + 6 for r in range(1, 6)]  # rows 1-5 of column 6: the whole corridor
    lone = [3 * 20 + 17]  # far east, behind the line
    plan = np.array(line + lone)
    refill = bound_refill(land, fires, np.random.default_rng(0))
    better = prune_refill(land, fires, plan, refill, rounds=2, swap=1)
    assert lone[0] not in better.tolist() and set(line) <= set(better.tolist())
    assert better[-1] % 20 < 6  # the moved break went west of the line, where the fires burn
    b = np.zeros(land.n_cells, dtype=bool)
    b[better] = True
    assert burned_areas(fires, b.reshape(land.shape)).sum() < burned_areas(
        fires, np.isin(np.arange(land.n_cells), plan).reshape(land.shape)
    ).sum()


def test_tree_greedy_without_prune_rounds_is_unchanged_and_with_them_burns_less_on_its_fires(tile):
    plain = tree_greedy_plan(tile, WEATHER, 25, 4, n_fires=48)
    assert np.array_equal(plain, tree_greedy_plan(tile, WEATHER, 25, 4, n_fires=48, prune_rounds=0))
    pruned = tree_greedy_plan(tile, WEATHER, 25, 4, n_fires=48, prune_rounds=3)
    fires = fires_of(tile, 48, 4)

    def burned(p):
        b = np.zeros(tile.n_cells, dtype=bool)
        b[p] = True
        return burned_areas(fires, b.reshape(tile.shape)).sum()

    assert burned(pruned) <= burned(plain)
    assert np.array_equal(pruned, tree_greedy_plan(tile, WEATHER, 25, 4, n_fires=48, prune_rounds=3))  # seeded
