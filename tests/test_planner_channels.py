"""The policy sees what a planner plans with: the planner channels, episodes of both objectives, old checkpoints.

The observation's last four channels carry the objective's loss weight, the ignition density, the treatment
cost and the exclusions (`fuelbreak.env.observation.planner_channels`); a training environment can mix
tiles with and without their planner layers and episodes of both objectives; and a policy trained before
these channels existed still plans, on the channels it knows.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from fuelbreak.agents.checkpoint import (
    capture_rng_state,
    check_channels,
    load_checkpoint,
    make_payload,
    model_from_checkpoint,
    save_checkpoint,
    warm_start,
)
from fuelbreak.agents.config import TrainConfig, load_config, validate
from fuelbreak.agents.demonstrations import DemoSpec
from fuelbreak.agents.networks import build_model
from fuelbreak.agents.policy import DQNPolicy
from fuelbreak.agents.train import obs_channels
from fuelbreak.agents.validation import episode_kinds, validation_episodes
from fuelbreak.env import FuelBreakEnv
from fuelbreak.env.observation import (
    CHANNEL_INDEX,
    CHANNELS,
    PLANNER_CHANNELS,
    planner_channels,
)
from fuelbreak.errors import CheckpointError, ConfigError
from fuelbreak.fire.scenario import Scenario, Weather
from fuelbreak.landscape.core import Landscape
from fuelbreak.landscape.synthetic import synthetic_tiles

OLD_CHANNELS = [  # the 16 channels of the policies trained before the planner channels, as their checkpoints name them
    "elevation", "slope", "aspect_east", "aspect_north", "burnable", "canopy_cover", "canopy_height",
    "canopy_base_height", "canopy_bulk_density", "intensity_north", "intensity_east", "intensity_south",
    "intensity_west", "burn_probability", "downstream_area", "breaks",
]
WEATHER = Weather.single(Scenario(wind_speed=10.0, wind_direction=270.0, duration=120.0))


def layered(size: int = 12) -> Landscape:
    """Grass with a rock column at 0, value 3 on cell (2, 5), ignition 4x on row 1, cost 2 on column 11,
    and cells (6, 6) and (6, 7) excluded."""
    land = Landscape.uniform((size, size), fuel=102, name="layered")
    land.layers["fbfm"][:, 0] = 99  # not burnable
    value = np.zeros((size, size), dtype=np.float32)
    value[2, 5] = 3.0
    ignition = np.ones((size, size), dtype=np.float32)
    ignition[1] = 4.0
    cost = np.ones((size, size), dtype=np.float32)
    cost[:, 11] = 2.0
    exclude = np.zeros((size, size), dtype=np.float32)
    exclude[6, 6:8] = 1.0
    land.layers.update(value=value, ignition=ignition, cost=cost, exclude=exclude)
    return land


# ----------------------------------------------------------------------------- the channels


def test_planner_channels_come_last_so_older_channels_are_a_prefix():
    assert CHANNELS[-4:] == PLANNER_CHANNELS
    assert list(CHANNELS[:16]) == OLD_CHANNELS


def test_a_tile_without_planner_layers_shows_their_constants():
    land = layered().without_planner_layers()
    burnable = land.burnable
    ch = planner_channels(land, "area")
    for i in (0, 1):  # loss weight, ignition: 1 / (1 + 1) on burnable cells, 0 where nothing burns
        np.testing.assert_allclose(ch[i][burnable], 0.5)
        np.testing.assert_allclose(ch[i][~burnable], 0.0)
    np.testing.assert_allclose(ch[2], 0.5)  # uniform cost
    np.testing.assert_allclose(ch[3], 0.0)  # nothing excluded
    with pytest.raises(ConfigError, match="no 'value' layer"):
        planner_channels(land, "value")  # no value to weigh: an error, not a silent area weight


def test_planner_channels_show_each_layer_relative_to_its_tile_mean():
    land = layered()
    burnable = land.burnable
    n_burn = int(burnable.sum())  # 132
    value = planner_channels(land, "value")
    r = 3.0 / (3.0 / n_burn)  # the one valued cell weighs all the burnable cells' count
    assert value[0][2, 5] == pytest.approx(r / (1 + r))
    assert value[0].sum() == pytest.approx(r / (1 + r))  # every other cell weighs nothing
    area = planner_channels(land, "area")
    np.testing.assert_allclose(area[0][burnable], 0.5)  # under area the value layer does not count
    ign_mean = (11 * 4.0 + 121 * 1.0) / 132  # row 1 holds 11 burnable cells at 4, the rest at 1
    assert area[1][1, 3] == pytest.approx((4 / ign_mean) / (1 + 4 / ign_mean))
    assert area[1][5, 3] == pytest.approx((1 / ign_mean) / (1 + 1 / ign_mean))
    assert area[1][1, 0] == 0.0  # rock: no fire starts
    assert area[2][0, 11] > area[2][0, 5]  # dearer column
    assert area[3][6, 6] == 1.0 and area[3][6, 7] == 1.0 and area[3].sum() == 2.0
    assert ((area >= 0) & (area <= 1)).all()


def test_every_fixed_scale_channel_reads_its_layer_on_its_scale():
    """Slope / 45, cover / 100, height / 40, base height / 10, bulk density / 0.4, each clipped to 1."""
    from fuelbreak.env.observation import static_channels

    def channels(**layers):
        land = Landscape.uniform((4, 4), fuel=165, **layers)  # timber litter under a canopy
        zeros = np.zeros((4, 4))
        return static_channels(land, np.zeros((4, 4, 4)), zeros, zeros)

    half = channels(slope=22.5, aspect=90.0, cc=50.0, ch=20.0, cbh=5.0, cbd=0.2)
    full = channels(slope=60.0, aspect=90.0, cc=100.0, ch=80.0, cbh=20.0, cbd=0.8)
    expect = {"slope": 0.5, "canopy_cover": 0.5, "canopy_height": 0.5, "canopy_base_height": 0.5,
              "canopy_bulk_density": 0.5}  # fmt: skip
    for name, value in expect.items():
        np.testing.assert_allclose(half[CHANNEL_INDEX[name]], value, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(full[CHANNEL_INDEX[name]], 1.0, rtol=1e-5, err_msg=name)  # clipped
    np.testing.assert_allclose(half[CHANNEL_INDEX["aspect_east"]], 0.5, atol=1e-5)  # sin(90) x slope channel


# ----------------------------------------------------------------------------- policies before the channels


def old_checkpoint(path):
    """A real checkpoint of a network trained on the 16 channels of the policies before the planner channels."""
    torch.manual_seed(0)
    model = build_model("basic", len(OLD_CHANNELS), width=4)
    payload = make_payload(
        model=model,
        target=copy.deepcopy(model),
        optimizer=torch.optim.Adam(model.parameters()),
        obs_channels=OLD_CHANNELS,
        counters={"env_steps": 1, "grad_steps": 1, "episodes": 1},
        config=TrainConfig().to_dict(),
        rng_state=capture_rng_state(),
    )
    return save_checkpoint(path, payload)


def test_a_policy_trained_before_the_planner_channels_plans_on_the_channels_it_knows(tmp_path):
    path = old_checkpoint(tmp_path / "old.pt")
    ckpt = load_checkpoint(path)
    check_channels(ckpt, list(CHANNELS), prefix=True)  # a prefix: accepted where asked
    with pytest.raises(CheckpointError, match="environment only"):
        check_channels(ckpt, list(CHANNELS))  # but not where the channels must be the same (a resumed run)
    policy = DQNPolicy.load(path)
    land = layered()
    static, _ = policy.observation_fires(land, WEATHER, seed=0, objective="value")
    assert static.shape == (16, 12, 12)
    cells = policy.plan(land, WEATHER, 5, seed=0, objective="value")
    assert len(cells) == 5 and not land.excluded.flat[cells].any()


def test_a_checkpoint_whose_channels_are_not_a_prefix_is_refused(tmp_path):
    path = old_checkpoint(tmp_path / "old.pt")
    ckpt = load_checkpoint(path)
    ckpt.data["obs_channels"] = [OLD_CHANNELS[1], OLD_CHANNELS[0], *OLD_CHANNELS[2:]]
    with pytest.raises(CheckpointError, match=r"trained on channels \['slope', 'elevation'"):
        check_channels(ckpt, list(CHANNELS), prefix=True)


def test_a_warm_start_scores_as_the_checkpoint_did_and_its_new_channels_start_at_zero(tmp_path):
    ckpt = load_checkpoint(old_checkpoint(tmp_path / "old.pt"))
    torch.manual_seed(1)
    model = build_model("basic", len(CHANNELS), width=4)
    warm_start(model, ckpt, list(CHANNELS))
    old = model_from_checkpoint(ckpt)
    obs = torch.rand(3, len(CHANNELS), 11, 13)
    torch.testing.assert_close(model(obs), old(obs[:, : len(OLD_CHANNELS)]), rtol=0, atol=0)
    first = model.first_layers()[0].weight
    assert first.shape[1] == len(CHANNELS)
    assert (first[:, len(OLD_CHANNELS):] == 0).all() and first[:, : len(OLD_CHANNELS)].abs().sum() > 0
    obs[:, len(OLD_CHANNELS):] = torch.rand(3, len(CHANNELS) - len(OLD_CHANNELS), 11, 13)
    torch.testing.assert_close(model(obs), old(obs[:, : len(OLD_CHANNELS)]), rtol=0, atol=0)  # not read yet


def test_a_warm_start_refuses_another_network_or_channels_that_are_not_a_prefix(tmp_path):
    ckpt = load_checkpoint(old_checkpoint(tmp_path / "old.pt"))
    with pytest.raises(CheckpointError, match=r"hyper-parameters .*'width': 4.*the run's are .*'width': 8"):
        warm_start(build_model("basic", len(CHANNELS), width=8), ckpt, list(CHANNELS))
    with pytest.raises(CheckpointError, match="'enhanced'"):
        warm_start(build_model("enhanced", len(CHANNELS)), ckpt, list(CHANNELS))
    swapped = [CHANNELS[1], CHANNELS[0], *CHANNELS[2:]]
    with pytest.raises(CheckpointError, match="trained on channels"):
        warm_start(build_model("basic", len(CHANNELS), width=4), ckpt, swapped)


def test_the_policy_sees_the_objective_in_its_loss_weight_channel():
    policy = DQNPolicy(build_model("basic", len(CHANNELS), width=4).eval(), cells_per_step=1, bp_fires=8)
    land = layered()
    i = CHANNEL_INDEX["loss_weight"]
    area, _ = policy.observation_fires(land, WEATHER, seed=0, objective="area")
    value, _ = policy.observation_fires(land, WEATHER, seed=0, objective="value")
    assert area.shape == (len(CHANNELS), 12, 12)
    assert value[i][2, 5] > 0.9 and value[i][3, 5] == 0.0
    np.testing.assert_allclose(area[i][land.burnable], 0.5)
    terrain = CHANNEL_INDEX["intensity_west"] + 1  # terrain, fuel and intensity do not depend on the objective
    np.testing.assert_array_equal(area[:terrain], value[:terrain])


# ----------------------------------------------------------------------------- environments of both kinds


def tiles(n: int = 6):
    return synthetic_tiles(n, size=20, seed=3, planner_layers=True)


def kinds_of(env: FuelBreakEnv, seeds) -> list[tuple[bool, str]]:
    out = []
    for s in seeds:
        env.reset_task(seed=s)  # draws the episode, burns nothing
        out.append(("value" in env.landscape.layers, env.episode_objective))
    return out


def test_a_mixed_environment_draws_both_kinds_of_tile_and_both_objectives_seeded():
    make = lambda: FuelBreakEnv(data=tiles(), split="all", budget=6, n_ignitions=4, bp_fires=4,  # noqa: E731
                                weather=WEATHER, objective="mixed", planner_layers=0.6, value_share=0.5)  # fmt: skip
    kinds = kinds_of(make(), range(60))
    assert kinds == kinds_of(make(), range(60))  # the same seeds, the same episodes
    assert (False, "value") not in kinds  # value needs the layers
    counts = {k: kinds.count(k) for k in set(kinds)}
    assert set(counts) == {(False, "area"), (True, "area"), (True, "value")}
    assert 12 <= counts[(False, "area")] <= 36  # 40 % of 60, well inside 4 sigma
    assert 8 <= counts[(True, "value")] <= 28  # 30 % of 60


def test_an_environment_that_keeps_its_layers_draws_as_before():
    """planner_layers=1 and one objective draw nothing more: the episodes are those of an environment without them."""
    kw = dict(data=tiles(), split="all", budget=6, n_ignitions=4, bp_fires=4, weather=WEATHER)
    a = FuelBreakEnv(**kw)  # the defaults: keep every layer, plan for area
    b = FuelBreakEnv(**kw, objective="area", planner_layers=1.0, value_share=0.9)
    for s in range(5):
        a.reset_task(seed=s)
        b.reset_task(seed=s)
        assert a.tile_index == b.tile_index and a.scenario_index == b.scenario_index
        np.testing.assert_array_equal(a.ignitions, b.ignitions)


def test_reset_options_fix_the_kind_and_the_value_reward_follows_it():
    env = FuelBreakEnv(data=tiles(), split="all", budget=6, n_ignitions=8, bp_fires=4, weather=WEATHER,
                       objective="mixed", planner_layers=0.5)  # fmt: skip
    obs_v, info_v = env.reset(seed=1, options={"tile": 0, "scenario": 0, "layers": True, "objective": "value"})
    assert info_v["objective"] == "value" and "value" in env.landscape.layers
    assert obs_v[CHANNEL_INDEX["excluded"]].sum() > 0  # the synthetic exclusion zone is seen
    obs_a, info_a = env.reset(seed=1, options={"tile": 0, "scenario": 0, "layers": False, "objective": "area"})
    assert info_a["objective"] == "area" and "value" not in env.landscape.layers
    assert obs_a[CHANNEL_INDEX["excluded"]].sum() == 0
    assert info_v["initial_burned"] != info_a["initial_burned"]  # value in cell-equivalents, not cells
    with pytest.raises(ConfigError, match="no 'value' layer"):
        env.reset(seed=1, options={"tile": 0, "layers": False, "objective": "value"})


def test_an_environment_without_planner_channels_shows_the_base_channels():
    kw = dict(data=tiles(), split="all", budget=6, n_ignitions=4, bp_fires=4, weather=WEATHER)
    full, _ = FuelBreakEnv(**kw).reset(seed=2)
    base_env = FuelBreakEnv(**kw, planner_channels=False)
    base, _ = base_env.reset(seed=2)
    assert list(base_env.channels) == OLD_CHANNELS and base_env.observation_space.shape == (16, 20, 20)
    np.testing.assert_array_equal(base, full[:16])
    obs, *_ = base_env.step(int(np.flatnonzero(base_env.action_mask())[0]))
    assert obs.shape == (16, 20, 20) and obs[CHANNEL_INDEX["breaks"]].sum() == 1


def test_validation_plays_each_kind_of_episode_in_turn():
    env = FuelBreakEnv(data=tiles(), split="all", budget=6, n_ignitions=4, bp_fires=4, weather=WEATHER,
                       objective="mixed", planner_layers=0.6)  # fmt: skip
    assert episode_kinds(env) == [{"layers": False, "objective": "area"}, {"layers": True, "objective": "value"}]
    eps = validation_episodes(env, 4)
    assert [o["objective"] for _, o in eps] == ["area", "value", "area", "value"]
    bare = FuelBreakEnv(data=synthetic_tiles(3, size=20, seed=3), split="all", budget=6, weather=WEATHER,
                        objective="mixed", planner_layers=0.6)  # fmt: skip
    assert episode_kinds(bare) == [{}]  # tiles without values: area only, nothing to alternate


def test_training_config_checks_the_mix():
    cfg = TrainConfig()  # the default recipe: the shipped policy's, without planner layers or channels
    assert (cfg.env.objective, cfg.env.planner_layers, cfg.env.planner_channels) == ("area", 0.0, False)
    assert obs_channels(cfg) == OLD_CHANNELS
    mix = load_config("values")
    assert (mix.env.objective, mix.env.planner_layers, mix.env.planner_channels) == ("mixed", 0.6, True)
    assert obs_channels(mix) == list(CHANNELS)
    validate(mix)
    for key, value, match in (
        ("planner_layers", 1.5, "env.planner_layers"),
        ("value_share", -0.1, "env.value_share"),
        ("objective", "money", "env.objective"),
    ):
        bad = TrainConfig()
        setattr(bad.env, key, value)
        with pytest.raises(ConfigError, match=match):
            validate(bad)
    bad = load_config("values")
    bad.env.planner_layers = 0.0
    with pytest.raises(ConfigError, match="value objective needs tiles"):
        validate(bad)


def test_a_demonstration_for_value_is_cached_apart_and_an_area_one_keeps_its_key():
    land = tiles(1)[0]
    scen = WEATHER.scenarios[0]
    area = DemoSpec(0, land, scen, 6, "tree_greedy", (("n_fires", 8),), 1)
    assert area.key() == DemoSpec(0, land, scen, 6, "tree_greedy", (("n_fires", 8),), 1, "area").key()
    value = DemoSpec(0, land, scen, 6, "tree_greedy", (("n_fires", 8),), 1, "value")
    assert value.key() != area.key()
