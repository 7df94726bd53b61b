"""The environments and the device a training run uses: its weather, env keyword arguments, vector env and torch device."""

from __future__ import annotations

import functools

import psutil
import torch

from fuelbreak.agents.config import TrainConfig
from fuelbreak.env.fuelbreak_env import FuelBreakEnv
from fuelbreak.errors import ConfigError
from fuelbreak.fire.scenario import Weather
from fuelbreak.landscape.dataset import open_dataset
from fuelbreak.parallel.executors import make_executor
from fuelbreak.parallel.lanes import LaneExecutor
from fuelbreak.parallel.vector_env import FuelBreakVectorEnv


def weather_of(cfg: TrainConfig) -> Weather:
    """The training weather of `cfg`."""
    return cfg.weather.to_weather()


def env_kwargs(cfg: TrainConfig, split: str) -> dict:
    """Keyword arguments of `FuelBreakEnv` for `cfg`'s environments on the dataset split `split`."""
    e = cfg.env
    return dict(
        data=open_dataset(
            e.data_dir or None, n=e.synthetic_tiles, size=e.tile_size, seed=e.synthetic_seed,
            planner_layers=e.planner_layers > 0,
        ),
        split=split,
        split_seed=e.split_seed,
        budget=e.budget_fraction,
        cells_per_step=e.cells_per_step,
        n_ignitions=e.n_ignitions,
        bp_fires=e.bp_fires,
        weather=weather_of(cfg),
        engine=e.engine,
        plan_aware=e.plan_aware,
        objective=e.objective,
        planner_layers=e.planner_layers,
        value_share=e.value_share,
        planner_channels=e.planner_channels,
    )


def make_vector_env(cfg: TrainConfig) -> FuelBreakVectorEnv:
    """The vector of `cfg.run.n_envs` training environments on `cfg.run.executor`.

    Raises:
        ConfigError: `run.ray_address` is set for an executor other than ray.
    """
    kind = cfg.run.executor
    options = {"timeout": cfg.run.step_timeout}
    if kind == "process":
        options["workers"] = max(1, min(cfg.run.n_envs, psutil.cpu_count(logical=False) or 2))
    if cfg.run.ray_address:
        if kind != "ray":
            raise ConfigError(f"run.ray_address={cfg.run.ray_address} needs run.executor=ray, not {kind}")
        options["address"] = cfg.run.ray_address
    if kind == "process":  # each environment's tasks in one worker, which keeps its episode's fires
        executor = LaneExecutor(**options)
    else:
        executor = make_executor(kind, **options) if kind != "serial" else make_executor("serial")
    factory = functools.partial(FuelBreakEnv, **env_kwargs(cfg, "train"))
    return FuelBreakVectorEnv([factory] * cfg.run.n_envs, executor=executor, timeout=cfg.run.step_timeout)


def resolve_device(name: str) -> torch.device:
    """run.device: 'auto' is cuda when torch sees a GPU, else cpu; 'cuda' without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "run.device = 'cuda', but torch sees no CUDA device (this torch build or machine has none); "
            "use run.device=auto or run.device=cpu"
        )
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"run.device must be 'auto', 'cpu' or 'cuda', got {name!r}")
    return torch.device(name)
