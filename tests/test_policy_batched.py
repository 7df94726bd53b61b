"""A policy on a large landscape (`fuelbreak.agents.batched`): several independent cells a network forward."""

from __future__ import annotations

import numpy as np
import pytest

from fuelbreak.agents.batched import batch_for, batched_plan, batched_rollout
from fuelbreak.agents.policy import DQNPolicy, dqn_plan, independent_best
from fuelbreak.errors import ConfigError
from fuelbreak.fire import Scenario, Weather
from fuelbreak.landscape.synthetic import synthetic_tile

WEATHER = Weather((Scenario(wind_speed=25.0, wind_direction=250.0, duration=480.0),), (1.0,))
# shorter fires: some cells of a 90 x 90 tile far enough apart that no fire is cut by both
SHORT = Weather((Scenario(wind_speed=15.0, wind_direction=250.0, duration=150.0),), (1.0,))


@pytest.fixture(scope="module")
def policy():
    return DQNPolicy.shipped()


@pytest.fixture(scope="module")
def big():
    return synthetic_tile(90, seed=5)


def test_a_small_landscape_gets_one_cell_a_forward_and_a_large_one_more():
    assert batch_for(synthetic_tile(50, seed=1), 8192) == 1
    assert batch_for(synthetic_tile(90, seed=1), 1000) == 8
    assert batch_for(synthetic_tile(90, seed=1), None) == batch_for(synthetic_tile(90, seed=1), 0) == 1


def test_a_50x50_plan_is_the_policys_own_plan(policy):
    tile = synthetic_tile(50, seed=2)
    want = dqn_plan(tile, WEATHER, 40, 3, checkpoint=policy)
    np.testing.assert_array_equal(batched_plan(tile, WEATHER, 40, 3, checkpoint=policy), want)


def test_one_cell_a_forward_is_the_policys_own_plan_on_a_large_landscape(policy, big):
    want = policy.plan(big, WEATHER, 30, 4)
    np.testing.assert_array_equal(batched_plan(big, WEATHER, 30, 4, checkpoint=policy, batch_area=0), want)


@pytest.mark.parametrize("weather", [WEATHER, SHORT])
def test_no_batch_places_two_interacting_cells(policy, big, weather):
    reach = policy.model.reach
    _, fires = policy.observation_fires(big, weather, 6)
    legal = big.treatable.copy()
    q = np.random.default_rng(3).random(big.shape).astype(np.float32)  # candidates all over the tile
    sizes = []
    for _ in range(6):
        cells = independent_best(q, legal, fires, 8, reach, 32)
        sizes.append(len(cells))
        order = [int(c) for c in np.argsort(-np.where(legal.ravel(), q.ravel(), -np.inf), kind="stable")[:32]]
        assert cells[0] == order[0]  # the best legal cell first
        assert legal.ravel()[cells].all() and len(set(cells.tolist())) == len(cells)
        for b in cells[1:]:
            br, bc = divmod(int(b), big.shape[1])
            for a in order[: order.index(int(b))]:  # every better candidate, taken or not
                ar, ac = divmod(a, big.shape[1])
                assert max(abs(ar - br), abs(ac - bc)) > reach
                for f in np.flatnonzero(fires.bound[:, a] > 0):  # b lies outside its fires' widened boxes
                    r0, r1, c0, c1 = fires.boxes[f]
                    assert not (r0 - reach <= br < r1 + reach and c0 - reach <= bc < c1 + reach)
                    assert fires.bound[f, b] == 0  # so no fire is cut by both
        legal.flat[cells] = False
        fires.place(cells)
    assert max(sizes) > 1  # the test sees batches, not only single cells


def test_a_batched_plan_keeps_the_budget_and_the_exclusions(policy, big):
    exclude = np.zeros(big.shape, dtype=np.float32)
    exclude[:, :30] = 1
    land = synthetic_tile(90, seed=5)
    land.layers["exclude"] = exclude
    steps = batched_rollout(policy, land, SHORT, 60, 7, batch_area=1000)
    cells = np.concatenate([s.cells for s in steps])
    assert len(cells) == 60 and len(set(cells.tolist())) == 60
    assert land.treatable.ravel()[cells].all() and not exclude.ravel()[cells].any()
    assert len(steps) < 60  # several cells a forward
    plan = batched_plan(land, WEATHER, 60, 7, checkpoint=policy, batch_area=1000, fire_share=0.5)
    assert len(plan) == 60 and len(set(plan.tolist())) == 60 and not exclude.ravel()[plan].any()


@pytest.mark.parametrize("options", [{"batch_area": -1}, {"batch_area": 2.5}, {"fire_share": 0}, {"fire_share": 1.5}])
def test_bad_options_are_config_errors(policy, big, options):
    with pytest.raises(ConfigError, match="dqn."):
        batched_plan(big, WEATHER, 10, 0, checkpoint=policy, **options)


def test_a_plan_continued_from_its_own_first_cells_is_the_same_plan(policy):
    tile = synthetic_tile(50, seed=2)
    want = dqn_plan(tile, WEATHER, 30, 3, checkpoint=policy)
    got = batched_plan(tile, WEATHER, 30, 3, checkpoint=policy, prefix=want[:12])
    np.testing.assert_array_equal(got, want)


def test_a_prefix_must_be_legal_and_within_the_budget(policy):
    tile = synthetic_tile(50, seed=2)
    legal = np.flatnonzero(tile.treatable.ravel())
    for prefix in (legal[:11], np.array([legal[0], legal[0]]), np.flatnonzero(~tile.treatable.ravel())[:1]):
        with pytest.raises(ConfigError, match="prefix"):
            batched_plan(tile, WEATHER, 10, 3, checkpoint=policy, prefix=prefix)


def test_a_window_asked_for_more_continues_its_earlier_proposal(policy):
    from fuelbreak.planning.windows import propose, split_windows, window_landscape

    land = synthetic_tile(100, seed=4)
    window = split_windows(land.shape, 50, 8)[3]
    box = window_landscape(land, window)
    args = (box, window, land.shape[1], 0.25, "dqn", WEATHER)
    options = {"checkpoint": policy}
    first = propose(*args, 12, 0, options, 16)
    again = propose(*args, 24, 0, options, 16, first.cells)
    afresh = propose(*args, 24, 0, options, 16)
    np.testing.assert_array_equal(again.cells[:12], first.cells)
    np.testing.assert_array_equal(again.cells, afresh.cells)  # one cell a forward on a 66-cell box: the same plan
    np.testing.assert_array_equal(window.to_box(window.to_landscape(np.arange(5), 100), 100), np.arange(5))
