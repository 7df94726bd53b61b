"""Training config: the packaged default, TOML files, typed dotted overrides, and a TOML round trip."""

from __future__ import annotations

import tomllib

import pytest

from fuelbreak.agents.config import (
    TrainConfig,
    apply_overrides,
    config_from_dict,
    default_config_path,
    dumps_toml,
    load_config,
    write_config,
)
from fuelbreak.errors import ConfigError
from fuelbreak.fire.presets import broad_weather


def test_packaged_default_matches_the_dataclass_defaults():
    assert default_config_path().is_file()
    assert load_config() == TrainConfig()


def test_partial_file_keeps_defaults_for_what_it_leaves_out(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[dqn]\nlr = 1\n[model]\ntype = "dueling"\n[model.hparams]\nwidth = 32\n')
    cfg = load_config(path)
    assert cfg.dqn.lr == 1.0 and isinstance(cfg.dqn.lr, float)  # an int is fine for a float
    assert cfg.model.type == "dueling" and cfg.model.hparams == {"width": 32}
    assert cfg.dqn.gamma == TrainConfig().dqn.gamma and cfg.env == TrainConfig().env


def test_overrides_are_typed_and_leave_the_original_alone():
    base = TrainConfig()
    cfg = apply_overrides(
        base,
        [
            "dqn.lr=3e-5",
            "dqn.batch_size=64",
            "dqn.double=false",
            "dqn.prioritized = yes",
            "run.outdir=runs/a=b",
            "model.type=enhanced",
            "model.hparams.width=32",
            "model.hparams.dilations=[1, 2]",
            "weather.preset=single",
            "weather.wind_speed=30",
        ],
    )
    assert cfg.dqn.lr == 3e-5 and cfg.dqn.batch_size == 64
    assert cfg.dqn.double is False and cfg.dqn.prioritized is True
    assert cfg.run.outdir == "runs/a=b"
    assert cfg.model.hparams == {"width": 32, "skip": True, "dilations": [1, 2]}  # the default skip stays
    assert cfg.weather.wind_speed == 30.0
    assert cfg.weather.to_weather().scenarios[0].wind_speed == 30.0
    assert base == TrainConfig()
    assert TrainConfig().weather.to_weather() == broad_weather()  # what the shipped policy trains on


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("dqn.learning_rate=1", r"unknown config key 'dqn.learning_rate'"),
        ("optim.lr=1", r"unknown config key 'optim'"),
        ("dqn.lr.x=1", r"dqn.lr is a value, not a section"),
        ("dqn=1", r"names a section"),
        ("dqn.lr", r"must look like section.key=value"),
        ("dqn.batch_size=3.5", r"dqn.batch_size: '3.5' is not a valid int"),
        ("dqn.lr=fast", r"dqn.lr: 'fast' is not a valid float"),
        ("dqn.double=maybe", r"dqn.double: 'maybe' is not a boolean"),
        ("dqn.gamma=1.5", r"dqn.gamma=1.5 must be in \(0, 1\]"),
        ("run.executor=threads", r"run.executor='threads' must be"),
        ("model.type=resnet", r"model.type='resnet' must be one of"),
        ("model.hparams.depth=3", r"no hyper-parameter 'depth'"),
        ("model.hparams.width=wide", r"'width' must be int"),
        ("weather.wind_speed=-5", r"weather: scenario wind_speed=-5.0 is outside"),
        ("weather.preset=forecast", r"weather.preset: weather 'forecast' is neither a preset"),
    ],
)
def test_bad_overrides_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides(TrainConfig(), [override])


def test_single_weather_is_checked_by_its_scenario():
    with pytest.raises(ConfigError, match="weather: scenario wind_speed=-5.0"):
        apply_overrides(TrainConfig(), ["weather.preset=single", "weather.wind_speed=-5"])


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"config file .*missing\.toml does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[dqn\nlr = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML"):
        load_config(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[dqn]\nlearning_rate = 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown\.toml: unknown key \[dqn\] 'learning_rate'"):
        load_config(unknown)
    typed = tmp_path / "typed.toml"
    typed.write_text('[run]\nn_envs = "two"\n')
    with pytest.raises(ConfigError, match=r"typed\.toml: run.n_envs must be int, got str 'two'"):
        load_config(typed)
    boolean = tmp_path / "bool.toml"
    boolean.write_text("[run]\nseed = true\n")
    with pytest.raises(ConfigError, match="run.seed must be an integer"):
        load_config(boolean)
    section = tmp_path / "section.toml"
    section.write_text("dqn = 3\n")
    with pytest.raises(ConfigError, match="dqn must be a table"):
        load_config(section)


def test_written_config_reads_back_identically(tmp_path):
    cfg = apply_overrides(
        TrainConfig(),
        [
            'run.outdir=runs/with "quotes" and \\ backslash',
            "dqn.lr=1e-07",
            "model.hparams.dilations=[1, 2, 4]",
            "model.hparams.head_width=8",
            "model.type=dueling",
            "env.data_dir=tiles/élan",
        ],
    )
    path = write_config(cfg, tmp_path / "run" / "config.toml")
    assert load_config(path) == cfg
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left


def test_dumps_toml_handles_nested_and_empty_tables_and_special_floats():
    data = {
        "a": 1,
        "b": {"x": float("inf"), "y": [1.5, -2.0], "c": {}, "d": {"flag": True}},
        "s": "tab\there",
    }
    text = dumps_toml(data)
    back = tomllib.loads(text)
    assert back == data
    with pytest.raises(ConfigError, match="'b.z'"):
        dumps_toml({"b": {"z": object()}})


def test_config_from_dict_is_the_inverse_of_to_dict():
    cfg = apply_overrides(TrainConfig(), ["env.tile_size=64", "run.n_envs=4"])
    assert config_from_dict(cfg.to_dict()) == cfg


def test_packaged_configs_are_chosen_by_name():
    from fuelbreak.agents.config import packaged_configs

    assert {"default", "long"} <= set(packaged_configs())
    long = load_config("long")
    assert long.run.outdir == "runs/long" and long.run.time_limit_s <= 3 * 3600
    assert long.dqn.demonstrations > load_config("default").dqn.demonstrations
    with pytest.raises(ConfigError, match="no such config file or packaged configuration.*default, long"):
        load_config("longest")
