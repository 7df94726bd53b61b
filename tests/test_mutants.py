"""Tests written for mutants that survived the suite (docs/mutation.md, `scripts/mutation.py`).

Each test says what it pins down; the mutant it was written for is named in brackets.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from fuelbreak.errors import InputError
from fuelbreak.fire import MTTEngine, Scenario, Weather
from fuelbreak.fire.behavior import STENCIL16
from fuelbreak.fire.montecarlo import FireSet, make_engine
from fuelbreak.fire.trees import fire_trees, move_tables
from fuelbreak.landscape import Landscape
from fuelbreak.landscape.synthetic import synthetic_tile


# ------------------------------------------------------------------------------------ fire
def test_reburn_of_some_rows_updates_those_and_leaves_the_others():
    """[mtt: `rows.max() >= len(arrival)` -> `!=`] `reburn(rows=...)` of a subset of the fires."""
    land = synthetic_tile(size=20, seed=4)
    eng = MTTEngine(land, Scenario(wind_speed=15, duration=240))
    ign = np.flatnonzero(land.burnable.ravel())[[10, 150, 300]]
    fires = eng.burn(ign, trees=True)
    arrival, via = fires.arrival.copy(), fires.via.copy()
    breaks = np.zeros(land.shape, dtype=bool)
    breaks[8:12, :] = True
    eng.reburn(breaks, arrival, via, rows=[0])
    fresh = eng.burn(ign, breaks, trees=True)
    np.testing.assert_array_equal(arrival[0], fresh.arrival[0])
    np.testing.assert_array_equal(arrival[1:], fires.arrival[1:])
    with pytest.raises(InputError, match="rows outside"):
        eng.reburn(breaks, arrival, via, rows=[3])


def naive_bound(pred: np.ndarray, size: np.ndarray, via: np.ndarray, shape) -> np.ndarray:
    """A cell's bound by its definition: its own subtree, plus the subtree below every move whose
    support (side or middle cells) holds it."""
    h, w = shape
    tables = move_tables(STENCIL16)
    bound = size.astype(np.int64).copy()
    for u in range(h * w):
        k = int(via.ravel()[u])
        if k < 0 or size[u] == 0:
            continue
        pr, pc = divmod(int(pred[u]), w)
        for j in range(tables.n_support[k]):
            rr, cc = pr + tables.support[k, j, 0], pc + tables.support[k, j, 1]
            if 0 <= rr < h and 0 <= cc < w:
                bound[rr * w + cc] += size[u]
    return bound


@pytest.mark.parametrize("corner", [(0, 0), (0, 19), (19, 19)])
def test_tree_bounds_follow_their_definition_whatever_the_ignition(corner):
    """[trees: `k < 0` -> `k == 0`] the ignition's own move is none: it adds nothing anywhere."""
    land = Landscape.uniform((20, 20), fuel=102)
    eng = MTTEngine(land, Scenario(wind_speed=10, wind_direction=200, duration=400))
    fires = eng.burn([corner[0] * 20 + corner[1], 210], trees=True)
    trees = fire_trees(eng, fires)
    for f in range(2):
        want = naive_bound(trees.pred[f], trees.size[f], fires.via[f], land.shape)
        np.testing.assert_array_equal(trees.bound[f], want)
        assert trees.bound[f].max() == trees.size[f].max() == fires.area[f]  # the root's, nothing more


def test_an_empty_fire_set_and_an_unknown_engine():
    """[montecarlo: `np.zeros(0)` -> `np.zeros(-1)`; `name == "mtt"` -> `>=`, `== "levelset"` -> `>`]"""
    empty = FireSet([], [], [])
    assert empty.ignitions().shape == (0,) and empty.ignitions().dtype == np.int64
    land = Landscape.uniform((5, 5))
    for name in ("zz", "nope", "a"):
        with pytest.raises(InputError, match="unknown engine"):
            make_engine(name, land, Scenario())
    assert type(make_engine("levelset", land, Scenario())).__name__ == "LevelSetEngine"


def test_fires_drawn_for_the_level_set_ignore_mtt_behaviours_given_to_them():
    """[montecarlo: `engine == "mtt"` -> `<=`] behaviours computed for mtt are not handed to the level
    set; its fires have the ignitions and scenarios an mtt draw has."""
    from fuelbreak.fire.levelset import LevelSetEngine
    from fuelbreak.fire.montecarlo import behaviors_for, draw_fires
    from fuelbreak.fire.scenario import default_weather

    land, weather = synthetic_tile(size=12, seed=1), default_weather()
    ref = draw_fires(land, weather, 6, 5, "levelset", None, behaviors_for(land, weather))
    mtt = draw_fires(land, weather, 6, 5, "mtt", None, behaviors_for(land, weather))
    assert all(isinstance(e, LevelSetEngine) for e in ref.engines)
    np.testing.assert_array_equal(ref.ignitions(), mtt.ignitions())
    assert ref.scenarios == mtt.scenarios


# ------------------------------------------------------------------------------------ environment
def test_the_four_intensity_channels_face_north_east_south_west():
    """[simulation: INTENSITY_AZIMUTHS 180 -> 181] Wind from the west on flat uniform fuel: the east
    channel is the head, the west the back, and north and south, the two flanks, are equal."""
    from fuelbreak.env import FuelBreakEnv
    from fuelbreak.env.observation import CHANNEL_INDEX

    land = Landscape.uniform((12, 12), fuel=102)
    weather = Weather.single(Scenario(wind_speed=20, wind_direction=270, duration=60))
    env = FuelBreakEnv(data=[land], split="all", budget=2, n_ignitions=2, bp_fires=4, weather=weather)
    obs, _ = env.reset(seed=0)
    n, e, s, w = (obs[CHANNEL_INDEX[f"intensity_{d}"]][6, 6] for d in ("north", "east", "south", "west"))
    assert e > n > w > 0
    assert n == s


@pytest.mark.slow
def test_an_environment_on_the_level_set_scores_with_the_level_set():
    """[simulation: `engine_name == "mtt"` -> `<=`] engine='levelset' scores episodes on the level set."""
    from fuelbreak.env import FuelBreakEnv
    from fuelbreak.fire.levelset import LevelSetEngine

    land = Landscape.uniform((12, 12), fuel=102)
    scenario = Scenario(wind_speed=10, duration=90)
    env = FuelBreakEnv(data=[land], split="all", budget=2, n_ignitions=2, bp_fires=4,
                       weather=Weather.single(scenario), engine="levelset")  # fmt: skip
    env.reset(seed=0)
    assert isinstance(env.tile_fire.engine, LevelSetEngine)
    want = LevelSetEngine(land, scenario).burn(env.ignitions).burned.reshape(2, -1).sum(axis=1).mean()
    assert env.area == pytest.approx(float(want))


# ------------------------------------------------------------------------------------ evaluation
def test_evaluation_passes_each_methods_options_and_times_its_plan():
    """[tile: `method_options or {}` -> `and {}`; `perf_counter() - t0` -> `+`] a method's options
    reach it (the plan is the one those options make), and a plan's seconds lie within the call's."""
    from fuelbreak.baselines import plan as baseline_plan
    from fuelbreak.evaluation.tile import evaluate_tile, evaluation_fires, plan_seed, score_plan
    from fuelbreak.fire.scenario import default_weather

    land = synthetic_tile(size=20, seed=7)
    weather = default_weather()
    t0 = time.perf_counter()
    out = evaluate_tile(3, land, weather, ("tree_greedy",), (12,), 10, 0,
                        method_options={"tree_greedy": {"n_fires": 3}})  # fmt: skip
    elapsed = time.perf_counter() - t0
    row = out["rows"][0]
    cells = baseline_plan("tree_greedy", land, weather, 12, plan_seed(0, 3), n_fires=3)
    other = baseline_plan("tree_greedy", land, weather, 12, plan_seed(0, 3))
    assert not np.array_equal(np.sort(cells), np.sort(other))  # the option matters on this tile
    fires = evaluation_fires(land, weather, 10, 0, 3)
    assert row["burned_with"] == pytest.approx(score_plan(fires, land, cells)[0])
    assert 0 <= row["plan_seconds"] <= elapsed


# ------------------------------------------------------------------------------------ policy, checkpoint
def test_a_policy_sees_the_intensity_channels_the_environment_shows():
    """[policy: `weight * stack` -> `weight + stack`] One scenario: the static channels a policy plans
    with are the environment's, intensity included."""
    from fuelbreak.agents.networks import build_model
    from fuelbreak.agents.policy import DQNPolicy
    from fuelbreak.env import FuelBreakEnv
    from fuelbreak.env.observation import CHANNEL_INDEX, CHANNELS

    land = synthetic_tile(size=16, seed=2)
    weather = Weather.single(Scenario(wind_speed=15, wind_direction=250, duration=120))
    env = FuelBreakEnv(data=[land], split="all", budget=2, n_ignitions=2, bp_fires=4, weather=weather)
    obs, _ = env.reset(seed=0)
    policy = DQNPolicy(build_model("basic", len(CHANNELS), width=4), cells_per_step=1, bp_fires=4)
    static, _ = policy.observation_fires(land, weather)
    for name in ("intensity_north", "intensity_east", "intensity_south", "intensity_west", "slope", "burnable"):
        np.testing.assert_allclose(static[CHANNEL_INDEX[name]], obs[CHANNEL_INDEX[name]], rtol=1e-6, atol=1e-7)


def test_the_traced_graphs_of_many_policies_keep_the_newest(monkeypatch):
    """[policy: `_TRACED.popitem(last=False)` -> `last=True`] More policies than the process keeps
    graphs for: the oldest go, every policy still plans, the newest are kept."""
    import fuelbreak.agents.policy as policy_module
    from fuelbreak.agents.networks import build_model
    from fuelbreak.agents.policy import DQNPolicy
    from fuelbreak.env.observation import CHANNELS

    monkeypatch.setattr(policy_module, "_TRACED", type(policy_module._TRACED)())
    monkeypatch.setattr(policy_module, "TRACED_KEPT", 2)
    obs = np.random.default_rng(0).random((len(CHANNELS), 8, 8)).astype(np.float32)
    keys = []
    for seed in range(4):
        torch.manual_seed(seed)
        policy = DQNPolicy(build_model("basic", len(CHANNELS), width=4).eval(), cells_per_step=1)
        assert policy.q_map(obs).shape == (8, 8)
        keys.append((policy._weights_key(), (1, *obs.shape)))
    assert list(policy_module._TRACED) == keys[-2:]


def test_a_policy_file_keeps_the_runs_notes_but_not_its_step_in_flight():
    """[checkpoint: `k != "in_flight"` -> `k >= "in_flight"`] notes on both sides of the name."""
    from fuelbreak.agents.checkpoint import Checkpoint, policy_payload

    data = {key: 0 for key in ("format_version", "model_type", "model_hparams", "obs_channels",
                               "model_state", "counters", "config")}  # fmt: skip
    data["extra"] = {"best": 1, "in_flight": {"batch": 1}, "state": {"env_steps": 4}, "zz": 2}
    payload = policy_payload(Checkpoint(None, data))
    assert payload["extra"]["source_extra"] == {"best": 1, "state": {"env_steps": 4}, "zz": 2}
    assert payload["kind"] == "policy"


def test_a_fire_digest_is_sixteen_hex_digits_of_the_fires_content():
    """The digest written beside every score: 16 hex digits, the same for the same fires, another for
    other ignitions (a longer or shorter digest would not match earlier evaluations' files)."""
    from fuelbreak.evaluation.tile import fires_digest
    from fuelbreak.landscape.synthetic import synthetic_tile

    land = synthetic_tile(12, seed=1).validate()
    scenario = Scenario(wind_speed=10.0, wind_direction=270.0, duration=120.0)
    engine = make_engine("mtt", land, scenario)
    a = fires_digest(FireSet([scenario], [np.array([5, 40])], [engine]))
    assert len(a) == 16 and int(a, 16) >= 0
    assert a == fires_digest(FireSet([scenario], [np.array([5, 40])], [engine]))
    assert a != fires_digest(FireSet([scenario], [np.array([5, 41])], [engine]))
