"""Validation: fixed episodes on the validation tiles, played greedily by a model (the score that picks `best.pt`) or at random."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fuelbreak.agents.dqn import (
    greedy_cells,
)
from fuelbreak.env.fuelbreak_env import MIXED, FuelBreakEnv
from fuelbreak.errors import ConfigError

VALIDATION_SEED = 0x5641  # validation episodes are fixed: seeds VALIDATION_SEED + i

def run_episode(env: FuelBreakEnv, seed: int, options: dict, choose) -> float:
    """Play one episode with `choose(obs, mask) -> cells`; return the fall in burned area as a fraction of it."""
    obs, info = env.reset(seed=seed, options=options)
    done = False
    while not done:
        obs, _, done, _, info = env.step(choose(obs, info["action_mask"]))
    return info["reduction"] * env.n_cells / info["initial_burned"] if info["initial_burned"] > 0 else 0.0


def episode_kinds(env: FuelBreakEnv) -> list[dict]:
    """The kinds of episode an environment trains on, as reset options.

    The tile with or without its planner layers, and the objective; one kind (no options) unless the
    environment mixes them.
    """
    layers = env.tile_layers(0)
    if env.objective == MIXED and env.value_share > 0 and "value" in layers:
        area = {"layers": False, "objective": "area"} if env.planner_layers < 1 else {"layers": True, "objective": "area"}
        return [area, {"layers": True, "objective": "value"}] if env.value_share < 1 else [{"layers": True, "objective": "value"}]
    if 0 < env.planner_layers < 1 and layers:
        return [{"layers": False}, {"layers": True}]
    return [{}]


def validation_episodes(env: FuelBreakEnv, n: int) -> list[tuple[int, dict]]:
    """Fixed validation episodes, each with its own seed.

    Tiles (with room for the budget), scenarios and episode kinds (`episode_kinds`) in turn.
    """
    n_scen = len(env.weather.scenarios)
    kinds = episode_kinds(env)
    tiles = [t for t in range(env.n_tiles) if env.has_room(t)]
    if not tiles:
        raise ConfigError(f"no validation tile has {env.budget} burnable cells for the budget")
    return [
        (VALIDATION_SEED + i, {"tile": tiles[i % len(tiles)], "scenario": i % n_scen, **kinds[i % len(kinds)]})
        for i in range(n)
    ]


def validate(model, envs: Sequence[FuelBreakEnv], episodes, k: int) -> float:
    """Mean relative reduction of the greedy policy on the fixed validation episodes.

    The episodes are independent and what they spend their time in (the fires' compiled code, the
    network's convolutions) runs outside the GIL, so each environment of `envs` plays every
    len(envs)-th episode on its own thread: one environment a core while the training waits. The
    scores are the same as from one environment playing them all in turn.
    """
    model.eval()
    choose = lambda obs, mask: greedy_cells(model, obs, mask, k)  # noqa: E731
    n = len(envs)
    out = [0.0] * len(episodes)

    def play(i: int) -> None:
        for j in range(i, len(episodes), n):
            out[j] = run_episode(envs[i], *episodes[j], choose)

    try:
        with ThreadPoolExecutor(n, thread_name_prefix="fuelbreak-validation") as pool:
            list(pool.map(play, range(n)))
    finally:
        model.train()
    return float(np.mean(out))


def validate_random(env: FuelBreakEnv, episodes, k: int, seed: int) -> float:
    """Mean reduction (percent of the tile) of random plans of `k` cells a step over validation `episodes`."""
    rng = np.random.default_rng(seed)
    chooser = lambda obs, mask: rng.choice(np.flatnonzero(mask), size=k, replace=False)  # noqa: E731
    return float(np.mean([run_episode(env, s, o, chooser) for s, o in episodes]))
