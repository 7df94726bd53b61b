"""Training configuration: nested dataclasses, loaded from TOML, overridden by dotted `key=value` flags.

`load_config(path, overrides)` reads a TOML file (the packaged `configs/default.toml` when no path is
given), applies overrides such as `dqn.lr=3e-4` or `model.hparams.width=32` (each value checked
against the field's type; an unknown key is a ConfigError naming it), validates the ranges, and
returns a `TrainConfig`. `write_config` saves the resolved config as TOML beside a run's outputs, so a
run can be reproduced from that file alone.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

from fuelbreak.agents.networks import MODELS, check_hparams
from fuelbreak.atomic import atomic_write_text
from fuelbreak.errors import ConfigError, FuelbreakError
from fuelbreak.fire.scenario import Scenario, Weather

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class EnvConfig:
    """The training environment: tiles, budget, fires per episode and spread engine (`[env]` of a config)."""
    tile_size: int = 50  # cells per side of a synthetic tile (30 m cells)
    budget_fraction: float = 0.05  # share of a tile's cells that may be treated in an episode
    cells_per_step: int = 1  # cells per action (the best of one Q map); the observation follows the plan after each
    n_ignitions: int = 16  # fires per episode that score its steps (common random numbers)
    bp_fires: int = 64  # observation fires: burn probability and downstream area through the breaks
    engine: str = "mtt"  # spread engine for training: "mtt" (fast) or "levelset"
    data_dir: str = ""  # folder of tiles from `fuelbreak data`; empty: synthetic tiles
    synthetic_tiles: int = 500  # synthetic tiles (when data_dir is empty), split train/val/test 80/10/10
    synthetic_seed: int = 0
    split_seed: int = 0  # seed of the train/val/test split (evaluation uses the same)
    plan_aware: bool = True  # burn probability and downstream area follow the breaks (False: ablation)
    objective: str = "area"  # reward: fall in expected burned cells ("area"), value lost ("value"; needs tiles with
    # values) or "mixed" (episodes on tiles with values plan for value with probability value_share, else for area)
    planner_layers: float = 0.0  # share of episodes whose tile keeps its planner layers (synthetic tiles get them when > 0)
    value_share: float = 0.5  # under objective "mixed": share of episodes with values that plan for value
    planner_channels: bool = False  # the observation ends with the four planner channels (a checkpoint without
    # the key was trained without them)


@dataclass
class WeatherConfig:
    """The weather of training: a preset or scenario file, or one scenario from these fields (`[weather]`).

    Wind speed in km/h at 10 m, direction in degrees the wind blows from, dead (m1h, m10h, m100h),
    live (herb, woody) and foliar moistures as fractions, fire duration in minutes.
    """
    preset: str = "broad"  # a preset (default, seed, dry-windy, broad), a .csv/.toml scenario file, or "single"
    wind_speed: float = 20.0  # km/h at 10 m
    wind_direction: float = 270.0  # degrees the wind blows FROM
    m1h: float = 0.06
    m10h: float = 0.08
    m100h: float = 0.10
    herb: float = 0.60
    woody: float = 0.90
    foliar: float = 1.0
    duration: float = 240.0  # minutes

    def scenario(self) -> Scenario:
        """The single scenario these fields describe (used when preset is "single")."""
        return Scenario(**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "preset"})

    def to_weather(self) -> Weather:
        """The preset or scenario file `preset` names, or with "single" the one scenario of the fields."""
        from fuelbreak.fire.presets import resolve_weather

        return Weather.single(self.scenario()) if self.preset == "single" else resolve_weather(self.preset)


@dataclass
class ModelConfig:
    """The Q-network: its type and overrides of its hyperparameters (`[model]`)."""
    type: str = "basic"  # "basic", "enhanced" or "dueling"
    hparams: dict = field(default_factory=lambda: {"width": 8, "skip": True})  # overrides of its defaults


@dataclass
class DQNConfig:
    """The DQN learner's settings (`[dqn]`): discount, n-step returns, optimiser, replay, exploration, demonstrations."""
    gamma: float = 0.99
    n_step: int = 5
    lr: float = 3e-4
    adam_eps: float = 1.5e-4
    batch_size: int = 16
    buffer_size: int = 30000  # transitions kept (about 15 KB each: episodes store one observation)
    reward_scale: float = 100.0  # rewards are learned in percent of the tile
    learning_starts: int = 500  # env steps before the first gradient step
    train_freq: int = 1  # env steps per gradient step
    target_update_interval: int = 500  # gradient steps between target updates
    tau: float = 1.0  # 1: copy the online net; < 1: Polyak averaging at each target update
    epsilon_start: float = 0.2
    epsilon_end: float = 0.02
    epsilon_decay_steps: int = 10000  # env steps over which epsilon falls linearly
    grad_clip: float = 10.0  # max gradient norm; 0 disables clipping
    huber: bool = True  # Huber (smooth L1) loss; False: squared error
    double: bool = True  # double DQN target
    prioritized: bool = False
    per_alpha: float = 0.6
    per_beta_start: float = 0.4
    per_beta_end: float = 1.0
    demonstrations: int = 100  # episodes of baseline placements put in the replay before learning
    demo_method: str = "tree_greedy"  # the teacher: a baseline's name
    demo_options: dict = field(default_factory=lambda: {"n_fires": 160})  # the teacher's options, e.g. n_fires = 100
    demo_cache: str = ""  # folder of cached demonstrations; empty: ~/.cache/fuelbreak/demonstrations
    demo_margin: float = 0.1  # DQfD margin per cell (in reward units) between demonstrated and other cells
    demo_weight: float = 1.0  # weight of DQfD's margin loss on demonstration transitions; 0 disables
    pretrain_steps: int = 1000  # gradient steps on the demonstrations alone before acting
    init: str = ""  # weights the network starts from: a checkpoint or policy file, or "shipped"; empty: random


@dataclass
class RunConfig:
    """How a training run runs (`[run]`): env steps, environments, executor, checkpoints, validation, seed, outdir.

    `step_timeout` is in seconds; the intervals are in env steps.
    """
    total_env_steps: int = 20000
    n_envs: int = 4
    executor: str = "process"  # "serial", "process" or "ray"
    ray_address: str = ""  # with executor "ray": the cluster to join ("" : RAY_ADDRESS, else a private local Ray)
    step_timeout: float = 120.0  # seconds before a simulation task counts as hung
    checkpoint_interval: int = 2000  # env steps between periodic checkpoints
    validation_interval: int = 4000  # env steps between validations (and one at the end)
    validation_episodes: int = 8
    validation_fires: int = 64  # fires per validation episode
    seed: int = 0
    outdir: str = "runs/default"
    torch_threads: int = 1  # 0: leave torch's default
    device: str = "auto"  # where the learner runs: "auto" (cuda when present), "cpu" or "cuda"
    time_limit_s: float = 1140.0  # stop (with a checkpoint) after this much wall time; 0: no limit


@dataclass
class TrainConfig:
    """A whole training configuration: one section per dataclass, as in a config TOML file."""
    env: EnvConfig = field(default_factory=EnvConfig)
    weather: WeatherConfig = field(default_factory=WeatherConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        """The configuration as nested plain dicts (what is written to a run's config.toml)."""
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- building from dicts


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check a TOML value against a field type; ints are accepted where floats are wanted."""
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{source}: {key} must be an integer, got {value!r}")
    if tp is dict and not isinstance(value, dict):
        raise ConfigError(f"{source}: {key} must be a table, got {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"{source}: {key} must be {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or 'config'} must be a table, got {data!r}")
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"[{prefix}] " if prefix else ""
        raise ConfigError(f"{source}: unknown key {where}{unknown[0]!r}; known keys: {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        kwargs[name] = (
            _build(tp, value, key, source) if _is_dataclass_type(tp) else _coerce(value, tp, key, source)
        )
    return cls(**kwargs)


def config_from_dict(data: dict, source: str = "config") -> TrainConfig:
    """A TrainConfig from a nested dict; keys left out keep their defaults."""
    cfg = _build(TrainConfig, data, "", source)
    validate(cfg, source)
    return cfg


# ----------------------------------------------------------------------------- overrides


def _parse_bool(text: str, key: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"override {key}: {text!r} is not a boolean (true/false)")


def _parse_value(text: str, tp: Any, key: str) -> Any:
    if tp is bool:
        return _parse_bool(text, key)
    try:
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
    except ValueError:
        raise ConfigError(f"override {key}: {text!r} is not a valid {tp.__name__}") from None
    if tp is str:
        return text
    raise ConfigError(f"override {key}: cannot set a {tp} field from the command line")


def _parse_free(text: str, key: str) -> Any:
    """A value for a free table (model.hparams): any TOML value; bare words are strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(cfg: TrainConfig, overrides: list[str] | tuple[str, ...]) -> TrainConfig:
    """A copy of cfg with `section.key=value` overrides applied, each type-checked."""
    cfg = config_from_dict(cfg.to_dict())
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value (e.g. dqn.lr=3e-4)")
        key, text = (s.strip() for s in item.split("=", 1))
        _set_dotted(cfg, key, text)
    validate(cfg, "overrides")
    return cfg


def _set_dotted(cfg: TrainConfig, key: str, text: str) -> None:
    parts = key.split(".")
    obj: Any = cfg
    for i, part in enumerate(parts):
        path = ".".join(parts[: i + 1])
        if isinstance(obj, dict):  # a free table: the rest of the key names one entry
            obj[".".join(parts[i:])] = _parse_free(text, key)
            return
        names = {f.name for f in fields(obj)}
        if part not in names:
            where = ".".join(parts[:i]) or "config"
            raise ConfigError(f"unknown config key {path!r}: {where} has {sorted(names)}")
        tp = get_type_hints(type(obj))[part]
        last = i == len(parts) - 1
        if last:
            if _is_dataclass_type(tp) or tp is dict:
                raise ConfigError(f"override {key!r} names a section; give one of its keys, e.g. {key}.NAME")
            setattr(obj, part, _parse_value(text, tp, key))
            return
        if not (_is_dataclass_type(tp) or tp is dict):
            raise ConfigError(f"unknown config key {key!r}: {path} is a value, not a section")
        obj = getattr(obj, part)


# ----------------------------------------------------------------------------- validation


def _check(ok: bool, key: str, value: Any, rule: str, source: str) -> None:
    if not ok:
        raise ConfigError(f"{source}: {key}={value!r} must be {rule}")


def validate(cfg: TrainConfig, source: str = "config") -> None:
    """Range checks that name the key; choices of names are checked where they are used too."""
    e, d, r, w = cfg.env, cfg.dqn, cfg.run, cfg.weather
    c = lambda ok, key, value, rule: _check(ok, key, value, rule, source)  # noqa: E731
    c(e.tile_size >= 4, "env.tile_size", e.tile_size, ">= 4")
    c(0.0 < e.budget_fraction < 1.0, "env.budget_fraction", e.budget_fraction, "in (0, 1)")
    c(e.cells_per_step >= 1, "env.cells_per_step", e.cells_per_step, ">= 1")
    c(e.n_ignitions >= 1, "env.n_ignitions", e.n_ignitions, ">= 1")
    c(e.engine in ("mtt", "levelset"), "env.engine", e.engine, "'mtt' or 'levelset'")
    c(e.objective in ("area", "value", "mixed"), "env.objective", e.objective, "'area', 'value' or 'mixed'")
    c(0.0 <= e.planner_layers <= 1.0, "env.planner_layers", e.planner_layers, "a share in [0, 1]")
    c(0.0 <= e.value_share <= 1.0, "env.value_share", e.value_share, "a share in [0, 1]")
    c(
        e.objective == "area" or e.planner_layers > 0,
        "env.objective",
        e.objective,
        "'area' when env.planner_layers is 0 (the value objective needs tiles that keep their value layer)",
    )
    c(
        e.synthetic_tiles >= 3,
        "env.synthetic_tiles",
        e.synthetic_tiles,
        ">= 3 (train, val and test need one each)",
    )
    c(e.bp_fires >= 1, "env.bp_fires", e.bp_fires, ">= 1")
    if w.preset != "single":
        try:
            w.to_weather()
        except FuelbreakError as exc:
            raise ConfigError(f"{source}: weather.preset: {exc}") from None
    c(cfg.model.type in MODELS, "model.type", cfg.model.type, f"one of {sorted(MODELS)}")
    try:
        check_hparams(cfg.model.type, cfg.model.hparams)
    except ConfigError as exc:
        raise ConfigError(f"{source}: model.hparams: {exc}") from None
    c(0.0 < d.gamma <= 1.0, "dqn.gamma", d.gamma, "in (0, 1]")
    for key in ("n_step", "batch_size", "buffer_size", "train_freq", "target_update_interval"):
        c(getattr(d, key) >= 1, f"dqn.{key}", getattr(d, key), ">= 1")
    c(d.lr > 0 and math.isfinite(d.lr), "dqn.lr", d.lr, "> 0")
    c(d.reward_scale > 0, "dqn.reward_scale", d.reward_scale, "> 0")
    c(d.adam_eps > 0, "dqn.adam_eps", d.adam_eps, "> 0")
    c(d.learning_starts >= 0, "dqn.learning_starts", d.learning_starts, ">= 0")
    c(0.0 < d.tau <= 1.0, "dqn.tau", d.tau, "in (0, 1]")
    for key in ("epsilon_start", "epsilon_end", "per_beta_start", "per_beta_end"):
        c(0.0 <= getattr(d, key) <= 1.0, f"dqn.{key}", getattr(d, key), "in [0, 1]")
    c(d.epsilon_decay_steps >= 0, "dqn.epsilon_decay_steps", d.epsilon_decay_steps, ">= 0")
    c(d.grad_clip >= 0, "dqn.grad_clip", d.grad_clip, ">= 0 (0 disables)")
    c(d.per_alpha >= 0, "dqn.per_alpha", d.per_alpha, ">= 0")
    c(d.demonstrations >= 0, "dqn.demonstrations", d.demonstrations, ">= 0")
    c(d.demo_margin >= 0, "dqn.demo_margin", d.demo_margin, ">= 0")
    c(d.demo_weight >= 0, "dqn.demo_weight", d.demo_weight, ">= 0")
    c(d.pretrain_steps >= 0, "dqn.pretrain_steps", d.pretrain_steps, ">= 0")
    c(r.total_env_steps >= 1, "run.total_env_steps", r.total_env_steps, ">= 1")
    c(r.n_envs >= 1, "run.n_envs", r.n_envs, ">= 1")
    c(r.executor in ("serial", "process", "ray"), "run.executor", r.executor, "'serial', 'process' or 'ray'")
    c(r.step_timeout > 0, "run.step_timeout", r.step_timeout, "> 0")
    for key in ("checkpoint_interval", "validation_interval", "validation_episodes", "validation_fires"):
        c(getattr(r, key) >= 1, f"run.{key}", getattr(r, key), ">= 1")
    c(r.time_limit_s >= 0, "run.time_limit_s", r.time_limit_s, ">= 0 (0: no limit)")
    c(r.torch_threads >= 0, "run.torch_threads", r.torch_threads, ">= 0 (0: torch's default)")
    c(r.device in DEVICES, "run.device", r.device, f"one of {', '.join(map(repr, DEVICES))}")
    if d.demonstrations:
        from fuelbreak.baselines import BASELINES, options_of

        c(d.demo_method in BASELINES, "dqn.demo_method", d.demo_method, f"a baseline: {', '.join(BASELINES)}")
        stray = sorted(set(d.demo_options) - set(options_of(d.demo_method)))
        c(not stray, "dqn.demo_options", d.demo_options, f"options of {d.demo_method} ({', '.join(options_of(d.demo_method))})")
    try:  # the scenario fields are checked even while the preset ignores them
        w.scenario()
    except ConfigError as exc:
        raise ConfigError(f"{source}: weather: {exc}") from None


# ----------------------------------------------------------------------------- files


def default_config_path() -> Path:
    """The path of the default training configuration shipped in the package."""
    return packaged_config_path("default")


def packaged_config_path(name: str) -> Path:
    """The path of a configuration shipped in the package (`fuelbreak/configs/NAME.toml`)."""
    return Path(str(resources.files("fuelbreak") / "configs" / f"{name}.toml"))


def packaged_configs() -> list[str]:
    """The names of the configurations shipped in the package."""
    folder = resources.files("fuelbreak") / "configs"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def resolve_config(name_or_path: str | Path | None) -> Path:
    """A TOML path, or the name of a packaged configuration ('default', 'long'); None: the default."""
    if name_or_path is None:
        return default_config_path()
    text = str(name_or_path)
    if not text.endswith(".toml") and "/" not in text and text in packaged_configs():
        return packaged_config_path(text)
    path = Path(text)
    if not path.is_file():
        if text.endswith(".toml") or "/" in text:
            raise ConfigError(f"config file {path} does not exist")
        raise ConfigError(
            f"--config {text}: no such config file or packaged configuration "
            f"(packaged: {', '.join(packaged_configs())})"
        )
    return path


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a TOML config (a path or a packaged config's name; the default when None), apply overrides."""
    path = resolve_config(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    cfg = config_from_dict(data, source=f"config file {path}")
    return apply_overrides(cfg, overrides) if overrides else cfg


def _toml_key(key: str) -> str:
    bare = key and all(ch.isalnum() or ch in "_-" for ch in key)
    return key if bare else _toml_str(key)


def _toml_str(s: str) -> str:
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v: Any, key: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x, key) for x in v) + "]"
    raise ConfigError(f"config key {key!r}: cannot write a {type(v).__name__} value to TOML")


def dumps_toml(data: dict) -> str:
    """TOML text for nested dicts of str, int, float, bool and lists of them (tables after values)."""
    lines: list[str] = []

    def table(d: dict, prefix: list[str]) -> None:
        values = {k: v for k, v in d.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in d.items() if isinstance(v, dict)}
        if prefix and (values or not tables):
            lines.append(("\n" if lines else "") + "[" + ".".join(_toml_key(p) for p in prefix) + "]")
        for k, v in values.items():
            lines.append(f"{_toml_key(k)} = {_toml_value(v, '.'.join([*prefix, k]))}")
        for k, v in tables.items():
            table(v, [*prefix, k])

    table(data, [])
    return "\n".join(lines) + "\n"


def write_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config as TOML, atomically."""
    return atomic_write_text(path, dumps_toml(cfg.to_dict()))
