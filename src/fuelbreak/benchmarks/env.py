"""Environment steps per second: our sync and async vector envs against gymnasium's AsyncVectorEnv.

Our async env runs on lanes (each environment's tasks in one worker, which keeps its episode's
fires between steps) and, for comparison, on a plain pool (any worker; every step burns the fires
again). gymnasium's AsyncVectorEnv keeps each environment in its own process, so its steps update
the kept fires too (`FuelBreakEnv.step`).

Same workload for all three: FuelBreakEnv on synthetic 50x50 tiles, 10 ignitions a step, budget 5 %,
one cell per step (125 steps an episode, resets included), random legal actions from a fixed seed.
"""

from __future__ import annotations

import functools
import time

import gymnasium as gym
import numpy as np
import psutil

from fuelbreak.env.fuelbreak_env import FuelBreakEnv
from fuelbreak.parallel.lanes import LaneExecutor
from fuelbreak.parallel.local import ProcessExecutor, SerialExecutor
from fuelbreak.parallel.vector_env import FuelBreakVectorEnv

WORKLOAD = dict(split="train", n_tiles=100, tile_size=50, budget=0.05, cells_per_step=1, n_ignitions=10)


def _legal_actions(masks, rng) -> np.ndarray:
    return np.array([rng.choice(np.flatnonzero(m)) for m in masks])


class CpuClock:
    """CPU seconds (user + system) this process and its children used since the clock started.

    Children alive at the start count from there, children born later from their birth; each is
    read at every `seconds()` call, so one that exits later still counts up to its last reading.
    """

    def __init__(self) -> None:
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        for pid, cpu in self._read().items():
            self._start[pid] = self._last[pid] = cpu

    @staticmethod
    def _read() -> dict[int, float]:
        me = psutil.Process()
        out = {}
        for p in [me, *me.children(recursive=True)]:
            try:
                t = p.cpu_times()
            except psutil.Error:  # gone between listing and reading
                continue
            out[p.pid] = t.user + t.system
        return out

    def seconds(self) -> float:
        """CPU seconds the watched processes have used since the start."""
        self._last.update(self._read())
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())


def _time_steps(venv, seconds: float, seed: int, masks_of) -> dict:
    """Step with random legal actions for about `seconds`.

    Env steps per second, and the CPU time an env step costs in all processes together (this one and its
    workers).
    """
    rng = np.random.default_rng(seed)
    _, info = venv.reset(seed=seed)
    masks = masks_of(venv, info)
    clock = CpuClock()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, _, _, info = venv.step(_legal_actions(masks, rng))
        masks = masks_of(venv, info)
        steps += venv.num_envs
    elapsed = time.perf_counter() - t0
    cpu = clock.seconds()
    return {
        "env_steps": steps,
        "seconds": elapsed,
        "steps_per_s": steps / elapsed,
        "cpu_ms_per_step": 1e3 * cpu / steps,
    }


def _our_masks(venv, info):
    return info["action_mask"]


def _gym_masks(venv, info):
    # gymnasium's AsyncVectorEnv stacks info entries into arrays, with NEXT_STEP autoreset semantics
    return np.asarray(info["action_mask"])


def run_env_benchmark(seconds: float = 10.0, n_envs: int = 2, seed: int = 0, progress=None) -> dict:
    """Env steps per second and CPU time per env step of each vector env for about `seconds` each.

    `progress` (a callable of one string), when given, is told as each one is done.
    """
    make = functools.partial(FuelBreakEnv, **WORKLOAD)
    out = {}
    venv = FuelBreakVectorEnv([make] * n_envs, executor=SerialExecutor())
    out["fuelbreak sync (in process)"] = _time_steps(venv, seconds, seed, _our_masks)
    venv.close()
    if progress:
        progress("sync done")
    venv = FuelBreakVectorEnv([make] * n_envs, executor=LaneExecutor(workers=2, timeout=60))
    out["fuelbreak async (2 lanes, fires kept in workers)"] = _time_steps(venv, seconds, seed, _our_masks)
    venv.close()
    if progress:
        progress("async (lanes) done")
    venv = FuelBreakVectorEnv([make] * n_envs, executor=ProcessExecutor(workers=2, timeout=60))
    out["fuelbreak async (2-worker pool, fires burned again)"] = _time_steps(venv, seconds, seed, _our_masks)
    venv.close()
    if progress:
        progress("async (pool) done")
    gvenv = gym.vector.AsyncVectorEnv([make] * n_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    try:
        out["gymnasium AsyncVectorEnv (2 workers)"] = _time_steps(gvenv, seconds, seed, _gym_masks)
    finally:
        gvenv.close(terminate=True)
    if progress:
        progress("gymnasium done")
    return {"workload": {**WORKLOAD, "n_envs": n_envs}, "results": out}


def format_env_report(result: dict) -> str:
    """`run_env_benchmark`'s result as a Markdown table with its workload and machine."""
    w = result["workload"]
    lines = [
        f"Workload: {w['n_envs']} envs, {w['tile_size']}x{w['tile_size']} synthetic tiles, {w['n_ignitions']} ignitions "
        f"a step, budget {w['budget']:.0%}, {w['cells_per_step']} cell a step (resets included).",
        "",
        "| vector env | env steps/s | CPU ms per env step (all processes) | steps timed |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, r in result["results"].items():
        lines.append(f"| {name} | {r['steps_per_s']:,.0f} | {r['cpu_ms_per_step']:.2f} | {r['env_steps']:,} |")
    cores = psutil.cpu_count(logical=True) or 1
    lines += [
        "",
        f"{cores} CPU cores here: a vector env cannot pass {cores} x 1000 / (CPU ms per env step) env steps/s.",
    ]
    return "\n".join(lines)
