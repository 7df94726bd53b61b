"""FuelBreakEnv: the gymnasium API, reproducibility, rewards, masks and errors."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import fuelbreak  # noqa: F401  (registers the environment id)
from fuelbreak.env import CHANNELS, ENV_ID, FuelBreakEnv
from fuelbreak.errors import ConfigError, InputError
from fuelbreak.fire import Scenario, Weather
from fuelbreak.landscape import Landscape


def two_beds(size=20):
    """Grass with a band of rock, so that some cells are illegal and breaks matter."""
    land = Landscape.uniform((size, size), fuel=102, name="beds")
    land.layers["fbfm"][:, size // 2] = 99
    land.layers["fbfm"][size // 2, size // 2] = 102  # one gap joins the two halves
    return land


WEATHER = Weather(
    (Scenario(wind_speed=10, duration=300), Scenario(wind_speed=20, wind_direction=200, duration=300)),
    (0.5, 0.5),
)


def make_env(**kw):
    kw.setdefault("data", [two_beds(), Landscape.uniform((20, 20), fuel=122)])
    kw.setdefault("split", "all")
    kw.setdefault("weather", WEATHER)
    kw.setdefault("budget", 8)
    kw.setdefault("n_ignitions", 6)
    kw.setdefault("bp_fires", 16)
    return FuelBreakEnv(**kw)


def test_registered_and_passes_the_gymnasium_checker():
    env = gym.make(ENV_ID, data=[two_beds()], split="all", weather=WEATHER, budget=6, bp_fires=8)
    check_env(env.unwrapped)
    obs, info = env.reset(seed=1)
    assert obs.shape == (len(CHANNELS), 20, 20) and obs.dtype == np.float32
    assert info["action_mask"].shape == (400,)


def test_reset_with_a_seed_is_reproducible():
    a, b = make_env(), make_env()
    oa, ia = a.reset(seed=5)
    ob, ib = b.reset(seed=5)
    assert np.array_equal(oa, ob) and ia["tile"] == ib["tile"] and ia["scenario"] == ib["scenario"]
    assert np.array_equal(a.ignitions, b.ignitions)
    cells = np.flatnonzero(ia["action_mask"])[:3]
    for c in cells:
        ra, rb = a.step(c)[1], b.step(c)[1]
        assert ra == rb


def test_rewards_sum_to_the_plans_total_reduction():
    env = make_env()
    _, info = env.reset(seed=3, options={"tile": 0, "scenario": 1})
    start = info["burned_before"]
    total, done = 0.0, False
    rng = np.random.default_rng(0)
    while not done:
        action = rng.choice(np.flatnonzero(info["action_mask"]))
        _, r, done, trunc, info = env.step(action)
        total += r
        assert not trunc
    assert total == pytest.approx(info["reduction"])
    assert total == pytest.approx((start - info["burned_after"]) / 400)
    # the episode's fires re-burned through the final plan give the same area
    assert env.episode_fires().mean_area == pytest.approx(info["burned_after"])
    assert len(env.placed) == env.budget == 8


def test_cutting_the_gap_is_rewarded():
    env = make_env(budget=1, n_ignitions=20)
    _, info = env.reset(seed=0, options={"tile": 0, "scenario": 0})
    _, reward, done, _, info = env.step(10 * 20 + 10)  # the gap cell joining the two beds
    assert done and reward > 0


def test_action_mask_marks_nonburnable_and_broken_cells():
    env = make_env()
    _, info = env.reset(seed=0, options={"tile": 0})
    mask = info["action_mask"].reshape(20, 20)
    assert not mask[0, 10] and mask[10, 10] and mask[0, 0]
    _, _, _, _, info = env.step(0)
    assert not info["action_mask"][0]
    assert env.action_space.legal[0] == False  # noqa: E712  sample() draws legal cells only
    samples = [int(env.action_space.sample()) for _ in range(200)]
    assert all(info["action_mask"][s] for s in samples)


def test_illegal_actions_are_errors_with_a_clear_message():
    env = make_env()
    env.reset(seed=0, options={"tile": 0})
    with pytest.raises(InputError, match="not burnable"):
        env.step(10)  # row 0, col 10: rock
    env.step(0)
    with pytest.raises(InputError, match="already a break"):
        env.step(0)
    with pytest.raises(InputError, match="outside"):
        env.step(400)


def test_several_cells_per_step():
    env = make_env(cells_per_step=4, budget=8)
    assert env.action_space.shape == (4,)
    _, info = env.reset(seed=2)
    _, _, done, _, info = env.step(env.action_space.sample())
    assert not done and info["budget_left"] == 4 and len(info["cells"]) == 4
    with pytest.raises(InputError, match="repeats"):
        env.step([1, 1, 2, 3])
    _, _, done, _, _ = env.step(env.action_space.sample())
    assert done
    with pytest.raises(InputError, match="reset"):
        env.step(env.action_space.sample())


def test_bad_configuration_is_an_error():
    with pytest.raises(ConfigError, match="budget"):
        make_env(budget=0)
    with pytest.raises(ConfigError, match="cells_per_step"):
        make_env(budget=3, cells_per_step=4)
    with pytest.raises(ConfigError, match="engine"):
        make_env(engine="fast")
    with pytest.raises(ConfigError, match="split"):
        make_env(split="holdout")
    with pytest.raises(InputError, match="shape"):
        FuelBreakEnv(data=[two_beds(), Landscape.uniform((10, 10))], split="all").reset(
            seed=0, options={"tile": 1}
        )
    env = make_env()
    with pytest.raises(ConfigError, match="tile"):
        env.reset(seed=0, options={"tile": 9})


def test_any_tile_size_works():
    env = make_env(data=[Landscape.uniform((13, 29), fuel=122)], budget=0.05)
    obs, info = env.reset(seed=0)
    assert obs.shape == (len(CHANNELS), 13, 29) and env.budget == round(0.05 * 13 * 29)


def test_observation_channels_are_documented_and_bounded():
    env = make_env()
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs[CHANNELS.index("breaks")].sum() == 0
    cell = int(np.flatnonzero(env.action_mask())[0])
    obs, *_ = env.step(cell)
    assert obs[CHANNELS.index("breaks")].flat[cell] == 1.0


def test_random_draws_skip_tiles_without_room_for_the_budget():
    lake = Landscape.uniform((20, 20), fuel=98, name="lake")
    lake.layers["fbfm"][0, :3] = 102  # three burnable cells, budget 8
    env = make_env(data=[lake, two_beds()])
    for seed in range(6):
        _, info = env.reset(seed=seed)
        assert info["tile"] == 1
    assert env.skipped_tiles > 0
    with pytest.raises(InputError, match="fewer than the budget"):
        env.reset(seed=0, options={"tile": 0})


def test_burn_probability_and_downstream_follow_the_plan():
    """After a step the two fire channels are those of the observation fires burned through the breaks."""
    from fuelbreak.env.observation import CHANNEL_INDEX
    from fuelbreak.fire.through_plan import plan_view

    env = make_env(budget=8, cells_per_step=4)
    obs0, info = env.reset(seed=3, options={"tile": 0, "scenario": 1})
    bp_c, down_c = CHANNEL_INDEX["burn_probability"], CHANNEL_INDEX["downstream_area"]
    gap = 10 * 20 + 10  # the one grass cell joining the two beds: fire paths run through it
    cells = [gap] + [int(c) for c in np.flatnonzero(info["action_mask"]) if c != gap][:3]
    obs1, *_ = env.step(cells)
    tf = env.tile_fire
    bp, down = plan_view(tf.observer, tf.bp_ignitions, env.breaks)
    np.testing.assert_allclose(obs1[bp_c], bp, atol=1e-6)
    direct = tf.observer.burn(tf.bp_ignitions, env.breaks).burned.mean(axis=0)
    np.testing.assert_allclose(obs1[bp_c], direct, atol=1e-6)
    want_down = np.clip(np.log1p(down) / np.log1p(env.n_cells), 0, 1)
    np.testing.assert_allclose(obs1[down_c], want_down, atol=1e-6)
    assert not np.allclose(obs1[bp_c], obs0[bp_c]) and not np.allclose(obs1[down_c], obs0[down_c])
    assert obs1[down_c].flat[gap] == 0.0  # a break saves nothing more
    # the vector env's worker path (the step task) gives the same observation
    env2 = make_env(budget=8, cells_per_step=4)
    env2.reset(seed=3, options={"tile": 0, "scenario": 1})
    obs2, *_ = env2.complete_step(env2.step_task(cells).run())
    np.testing.assert_array_equal(obs1, obs2)


def test_plan_aware_false_keeps_the_fire_channels_of_the_tile_without_breaks():
    from fuelbreak.env.observation import CHANNEL_INDEX

    env = make_env(budget=8, cells_per_step=4, plan_aware=False)
    obs0, info = env.reset(seed=3, options={"tile": 0, "scenario": 1})
    obs1, *_ = env.step([10 * 20 + 10, *np.flatnonzero(info["action_mask"])[:3]])
    for name in ("burn_probability", "downstream_area"):
        np.testing.assert_array_equal(obs1[CHANNEL_INDEX[name]], obs0[CHANNEL_INDEX[name]])
    assert obs1[CHANNEL_INDEX["breaks"]].sum() == 4


@pytest.mark.parametrize("cells_per_step", [1, 3])
@pytest.mark.parametrize("plan_aware", [True, False])
def test_in_process_steps_equal_the_step_task_value_for_value(cells_per_step, plan_aware):
    """`step` keeps the episode's fires and updates them; a vector env runs the pure task instead."""
    from fuelbreak.landscape.synthetic import synthetic_tile

    kw = dict(data=[synthetic_tile(24, seed=s) for s in range(3)], budget=24, n_ignitions=12,
              bp_fires=24, cells_per_step=cells_per_step, plan_aware=plan_aware)  # fmt: skip
    here, task = make_env(**kw), make_env(**kw)
    rng = np.random.default_rng(0)
    for episode in range(3):
        obs_a, info_a = here.reset(seed=episode)
        obs_b, info_b = task.reset(seed=episode)
        done = False
        while not done:
            legal = np.flatnonzero(info_a["action_mask"])
            action = rng.choice(legal, size=cells_per_step, replace=False)
            obs_a, r_a, done, _, info_a = here.step(action)
            obs_b, r_b, done_b, _, info_b = task.complete_step(task.step_task(action).run())
            np.testing.assert_array_equal(obs_a, obs_b)
            assert r_a == r_b and done == done_b
            assert info_a["burned_after"] == info_b["burned_after"]
        assert here._fires is not None  # the in-process path was the one taken


def test_a_step_task_in_the_middle_of_an_episode_restarts_the_kept_fires():
    here, task = make_env(), make_env()
    obs, info = here.reset(seed=3)
    task.reset(seed=3)
    for i in range(8):
        action = int(np.flatnonzero(info["action_mask"])[i * 7 % 20])
        if i == 3:  # this step goes through a task, as a vector env would run it
            obs, r, _, _, info = here.complete_step(here.step_task(action).run())
            assert here._fires is None
        else:
            obs, r, _, _, info = here.step(action)
        obs_b, r_b, _, _, _ = task.complete_step(task.step_task(action).run())
        np.testing.assert_array_equal(obs, obs_b)
        assert r == r_b


@pytest.mark.parametrize("plan_aware", [True, False])
def test_held_step_tasks_equal_the_pure_task_whether_the_fires_are_found_or_not(plan_aware):
    """A held task updates the fires its process kept (found), or burns them again from the breaks
    (missing: another worker, a replaced one; stale: they burned through other breaks)."""
    from fuelbreak.held import held_keys, take_held
    from fuelbreak.landscape.synthetic import synthetic_tile

    kw = dict(data=[synthetic_tile(24, seed=s) for s in range(3)], budget=12, n_ignitions=12,
              bp_fires=24, plan_aware=plan_aware)  # fmt: skip
    held, pure = make_env(**kw), make_env(**kw)
    rng = np.random.default_rng(1)
    for episode in range(2):
        _, info = held.complete_reset(held.reset_task(seed=episode, held=True).run())
        pure.reset(seed=episode)
        assert held._token in held_keys()  # the reset task kept the episode's fires
        done, step = False, 0
        while not done:
            action = int(rng.choice(np.flatnonzero(info["action_mask"])))
            task = held.step_task(action, held=True)
            assert task.fn.__name__ == "held_step"
            if step == 3:
                take_held(held._token)  # missing: the next task burns them again from the breaks
            if step == 6:
                stale = take_held(held._token)
                stale.step(np.array([int(np.flatnonzero(info["action_mask"])[-1])]))  # other breaks
                from fuelbreak.held import hold

                hold(held._token, stale)
            obs_a, r_a, done, _, info = held.complete_step(task.run())
            obs_b, r_b, done_b, _, _ = pure.complete_step(pure.step_task(action).run())
            np.testing.assert_array_equal(obs_a, obs_b)
            assert r_a == r_b and done == done_b
            step += 1
        assert held._token not in held_keys()  # the episode's last step let them go


def test_a_new_tile_whose_fires_are_kept_burns_its_observation_fires_once(monkeypatch):
    """With a token, the reset task burns the observation fires once, for the episode and for the
    tile's channels both; the channels equal those of a tile prepared on its own."""
    import fuelbreak.env.simulation as sim
    from fuelbreak.held import take_held
    from fuelbreak.landscape.synthetic import synthetic_tile

    land = synthetic_tile(24, seed=5)
    scenario = Scenario(wind_speed=15.0, duration=240.0)
    rng = np.random.default_rng(0)
    ign, bp_ign = (rng.choice(np.flatnonzero(land.burnable), size=n, replace=False) for n in (8, 20))
    alone, first = sim.start_episode(None, land, scenario, ign, bp_ign)
    views = []
    monkeypatch.setattr(sim, "plan_view", lambda *a, **k: views.append(a) or pytest.fail("burned twice"))
    kept, result = sim.start_episode(None, land, scenario, ign, bp_ign, token="new-tile")
    assert views == [] and take_held("new-tile") is not None
    for name in ("burn_probability", "downstream"):
        np.testing.assert_array_equal(getattr(kept, name), getattr(alone, name))
        np.testing.assert_array_equal(getattr(result, name), getattr(first, name))
    np.testing.assert_array_equal(result.areas, first.areas)
    np.testing.assert_array_equal(result.burn_count, first.burn_count)
