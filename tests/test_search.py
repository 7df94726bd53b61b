"""The policy-guided search (`fuelbreak.agents.search`) and what it builds on in the policy: windowed Q
updates, observation fires scaled with a tile's area."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from fuelbreak.agents.networks import build_model
from fuelbreak.agents.policy import MAX_FIRE_CELLS, DQNPolicy, PlanQ, dqn_plan
from fuelbreak.agents.search import dqn_search_plan, search_rollout
from fuelbreak.baselines import tree_greedy_plan
from fuelbreak.baselines.common import planning_fires, planning_streams
from fuelbreak.env.observation import CHANNEL_INDEX, CHANNELS, PLAN_CHANNELS
from fuelbreak.errors import ConfigError
from fuelbreak.fire.montecarlo import burned_areas
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.landscape.synthetic import synthetic_tile

WEATHER = Weather([Scenario(wind_speed=15.0, wind_direction=240.0, duration=240.0)], [1.0])


@pytest.fixture(scope="module")
def tile():
    return synthetic_tile(24, seed=3).validate()


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return DQNPolicy(build_model("basic", len(CHANNELS), width=8, skip=True).eval(), cells_per_step=1, bp_fires=16)


def test_windowed_q_updates_equal_whole_maps_along_a_plan(policy):
    rng = np.random.default_rng(0)
    static = rng.random((len(CHANNELS), 40, 40)).astype(np.float32)
    q_of = policy.plan_q(static)
    obs = static.copy()
    dynamic = [*PLAN_CHANNELS, CHANNEL_INDEX["breaks"]]
    obs[dynamic] = rng.random((3, 40, 40))
    q_of(obs)
    for size in (1, 3, 6):  # small changes: windows; the last one is large enough to be computed whole
        r, c = rng.integers(0, 40 - size, size=2)
        obs = obs.copy()
        obs[dynamic, r : r + size, c : c + size] = rng.random((3, size, size))
        np.testing.assert_allclose(q_of.update(obs), policy.q_map(obs), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(q_of.update(obs), q_of.q)  # nothing changed: the same map


def test_a_window_is_smaller_than_the_tile_for_a_small_change(policy, monkeypatch):
    """The window path is taken (not the whole map) when the change is small: the whole-map call is
    not made, and the values still agree."""
    rng = np.random.default_rng(1)
    static = rng.random((len(CHANNELS), 60, 60)).astype(np.float32)
    q_of = policy.plan_q(static)
    obs = static.copy()
    q_of(obs)
    calls = []
    monkeypatch.setattr(PlanQ, "__call__", lambda self, o: calls.append(1) or policy.q_map(o))
    obs = obs.copy()
    obs[CHANNEL_INDEX["breaks"], 30, 30] = 1.0
    got = q_of.update(obs)
    assert not calls
    np.testing.assert_allclose(got, policy.q_map(obs), rtol=1e-5, atol=1e-5)


def test_plans_with_windows_equal_plans_with_whole_maps(policy, tile, monkeypatch):
    windowed = policy.plan(tile, WEATHER, 20, seed=4)
    monkeypatch.setattr(PlanQ, "WHOLE_MAP_SHARE", -1.0)  # every update computes the whole map
    np.testing.assert_array_equal(policy.plan(tile, WEATHER, 20, seed=4), windowed)


def test_observation_fires_scale_with_the_tiles_area_up_to_the_memory_cap(policy):
    p = dataclasses.replace(policy, fire_cells=24 * 24)
    assert p.n_fires_for(synthetic_tile(24, seed=0)) == 16
    assert p.n_fires_for(synthetic_tile(48, seed=0)) == 64  # 4 times the cells, 4 times the fires
    assert p.n_fires_for(synthetic_tile(12, seed=0)) == 16  # never fewer than the training count
    big = type("L", (), {"n_cells": 4000 * 4000})()
    assert p.n_fires_for(big) == max(MAX_FIRE_CELLS // (4000 * 4000), 16)
    assert dataclasses.replace(p, fire_cells=None).n_fires_for(synthetic_tile(48, seed=0)) == 16


def test_a_given_bp_fires_is_used_on_every_tile(policy, tile):
    a = dqn_plan(tile, WEATHER, 10, 0, checkpoint=policy, bp_fires=40)
    b = dqn_plan(tile, WEATHER, 10, 0, checkpoint=dataclasses.replace(policy, bp_fires=40, fire_cells=None))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="bp_fires"):
        dqn_plan(tile, WEATHER, 10, 0, checkpoint=policy, bp_fires=0)


def test_search_places_the_budget_on_distinct_legal_cells_and_is_seeded(policy, tile):
    existing = np.zeros(tile.shape, dtype=bool)
    existing.flat[np.flatnonzero(tile.burnable.ravel())[:5]] = True
    plan = dqn_search_plan(tile, WEATHER, 30, 7, checkpoint=policy, n_fires=32, existing_breaks=existing)
    assert plan.size == 30 and np.unique(plan).size == 30
    assert tile.burnable.ravel()[plan].all() and not existing.ravel()[plan].any()
    again = dqn_search_plan(tile, WEATHER, 30, 7, checkpoint=policy, n_fires=32, existing_breaks=existing)
    np.testing.assert_array_equal(plan, again)
    other = dqn_search_plan(tile, WEATHER, 30, 8, checkpoint=policy, n_fires=32, existing_breaks=existing)
    assert not np.array_equal(plan, other)


def test_search_with_one_candidate_is_tree_greedy_on_the_same_planning_fires(policy, tile):
    """candidates=1: the planning fires' best cell every step, whatever the policy says."""
    plan = dqn_search_plan(tile, WEATHER, 25, 5, checkpoint=policy, n_fires=48, candidates=1, prune_rounds=0)
    rng, _ = planning_streams(5)
    fires = planning_fires(tile, WEATHER, 48, rng)
    from fuelbreak.baselines.tree_greedy import tree_greedy_on

    want = tree_greedy_on(tile, fires, 25, 5)
    # the same cells, except where two bounds tie (tree-greedy breaks ties at random, the search by Q)
    assert len(set(plan.tolist()) & set(want.tolist())) >= 22


def test_search_with_every_cell_a_candidate_is_the_policy(policy, tile):
    n = int(tile.burnable.sum())
    steps = search_rollout(policy, tile, WEATHER, 15, seed=2, n_fires=8, candidates=n)
    np.testing.assert_array_equal(np.concatenate([s.cells for s in steps]), policy.plan(tile, WEATHER, 15, seed=2))


def test_search_effort_is_its_planning_fires_and_it_cuts_fire(policy, tile):
    rng = np.random.default_rng(11)
    from fuelbreak.fire.montecarlo import draw_fires

    fires = draw_fires(tile, WEATHER, 100, rng)
    without = burned_areas(fires, None).mean()
    plan = dqn_search_plan(tile, WEATHER, 30, 1, checkpoint=policy, n_fires=128)
    breaks = np.zeros(tile.n_cells, dtype=bool)
    breaks[plan] = True
    with_plan = burned_areas(fires, breaks.reshape(tile.shape)).mean()
    random_cells = np.random.default_rng(0).choice(np.flatnonzero(tile.burnable.ravel()), 30, replace=False)
    rb = np.zeros(tile.n_cells, dtype=bool)
    rb[random_cells] = True
    assert with_plan < burned_areas(fires, rb.reshape(tile.shape)).mean() < without
    with pytest.raises(ConfigError, match="n_fires"):
        dqn_search_plan(tile, WEATHER, 5, 1, checkpoint=policy, n_fires=0)
    with pytest.raises(ConfigError, match="candidates"):
        dqn_search_plan(tile, WEATHER, 5, 1, checkpoint=policy, candidates=0)


def test_tree_greedy_on_its_own_planning_fires_is_tree_greedy(tile):
    from fuelbreak.baselines.tree_greedy import tree_greedy_on

    rng, _ = planning_streams(9)
    fires = planning_fires(tile, WEATHER, 40, rng)
    np.testing.assert_array_equal(tree_greedy_on(tile, fires, 20, 9), tree_greedy_plan(tile, WEATHER, 20, 9, n_fires=40))


def test_in_sample_tree_greedy_takes_tree_greedys_options_on_the_given_fires(tile):
    """An in-sample reference row gets the planner's options (`--option tree_greedy.X` applies to every
    tree_greedy row of a frontier): n_fires is the given fires', prune_rounds runs on them."""
    from fuelbreak.baselines.tree_greedy import tree_greedy_on
    from fuelbreak.evaluation.tile import make_plan

    rng, _ = planning_streams(3)
    fires = planning_fires(tile, WEATHER, 30, rng)
    got = make_plan("tree_greedy@in-sample", tile, WEATHER, 12, 3, {"n_fires": 999, "prune_rounds": 1}, fires)
    np.testing.assert_array_equal(got, tree_greedy_on(tile, fires, 12, 3, prune_rounds=1))
