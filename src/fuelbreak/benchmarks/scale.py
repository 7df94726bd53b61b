"""Scaling: tasks/s and efficiency against 1 worker, on the process pool, lanes and Ray, in one run.

Two workloads, each timed for about `seconds` at every worker count:

- evaluation tiles: `evaluate_tile` on synthetic 50x50 tiles (random and burn-probability plans,
  budget 5 %, `eval_fires` fires), one task per tile, 2 tasks per worker in each batch;
- env steps: the async vector env with 2 environments per worker, `step_ignitions` ignitions a
  step (a heavier step than `bench env`'s 10), random legal cells; a task is one env step.

Lanes (`LaneExecutor`, what training uses) keep each environment's tasks in one worker, which keeps
its episode's fires between steps; the pool and Ray burn them again every step.

Efficiency at w workers is (tasks/s at w) / (w x tasks/s at 1). Ray runs on a private local Ray
with as many CPUs as the largest worker count, or on the cluster at `ray_address` (RAY_ADDRESS),
with at most w tasks in flight. On a machine that runs other work the figures are distorted.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from fuelbreak.env.fuelbreak_env import FuelBreakEnv
from fuelbreak.evaluation.tile import evaluate_tile
from fuelbreak.fire.scenario import default_weather
from fuelbreak.landscape.dataset import open_dataset
from fuelbreak.parallel.lanes import LaneExecutor
from fuelbreak.parallel.local import ProcessExecutor
from fuelbreak.parallel.vector_env import FuelBreakVectorEnv

TILE_SIZE = 50


def _time_eval(executor, workers: int, seconds: float, eval_fires: int, dataset) -> dict:
    weather = default_weather()
    methods, budgets = ("random", "burn_probability"), (0.05,)
    opts = {"random": {}, "burn_probability": {}}
    n, i, t0 = 0, 0, time.perf_counter()
    executor.map(
        evaluate_tile, [(0, dataset[0], weather, methods, budgets, eval_fires, 0, "mtt", opts)]
    )  # warm
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        args = []
        for _ in range(2 * workers):
            args.append((i, dataset[i % len(dataset)], weather, methods, budgets, eval_fires, 0, "mtt", opts))
            i += 1
        executor.map(evaluate_tile, args)
        n += len(args)
    elapsed = time.perf_counter() - t0
    return {"tasks": n, "seconds": elapsed, "tasks_per_s": n / elapsed}


def _time_env(executor, workers: int, seconds: float, ignitions: int) -> dict:
    make = functools.partial(
        FuelBreakEnv, split="train", n_tiles=100, tile_size=TILE_SIZE, budget=0.05, n_ignitions=ignitions
    )
    venv = FuelBreakVectorEnv([make] * (2 * workers), executor=executor, own_executor=False)
    try:
        rng = np.random.default_rng(0)
        _, info = venv.reset(seed=0)
        for _ in range(3):  # warm up: every worker has compiled code and the first engines
            _, _, _, _, info = venv.step([rng.choice(np.flatnonzero(m)) for m in info["action_mask"]])
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            _, _, _, _, info = venv.step([rng.choice(np.flatnonzero(m)) for m in info["action_mask"]])
            n += venv.num_envs
        elapsed = time.perf_counter() - t0
    finally:
        venv.close()
    return {"tasks": n, "seconds": elapsed, "tasks_per_s": n / elapsed}


def run_scale_benchmark(
    workers: tuple[int, ...] = (1, 2),
    seconds: float = 10.0,
    eval_fires: int = 50,
    step_ignitions: int = 100,
    ray: bool = True,
    ray_address: str | None = None,
    progress=None,
) -> dict:
    """Tasks per second of evaluation and env steps on each executor for each number of `workers`.

    About `seconds` each; with `ray`, Ray too (on `ray_address`, or a private local cluster).
    """
    dataset = open_dataset(None, n=64, size=TILE_SIZE, seed=0)
    rows = []

    def measure(kind: str, make_executor) -> None:
        for w in workers:
            for workload in ("evaluation tiles", "env steps"):
                with make_executor(w) as ex:
                    if workload == "evaluation tiles":
                        r = _time_eval(ex, w, seconds, eval_fires, dataset)
                    else:
                        r = _time_env(ex, w, seconds, step_ignitions)
                rows.append({"executor": kind, "workload": workload, "workers": w, **r})
                if progress:
                    progress(f"{kind} {workload} {w} worker(s): {r['tasks_per_s']:.1f} tasks/s")

    measure("process", lambda w: ProcessExecutor(workers=w, timeout=600))
    measure("lanes", lambda w: LaneExecutor(workers=w, timeout=600))
    if ray:
        import ray as ray_module

        from fuelbreak.parallel.ray_executor import RayExecutor, resolve_address

        address, _ = resolve_address(ray_address)
        if address is None:  # one private local Ray for every worker count
            ray_module.init(
                address="local", num_cpus=max(workers), include_dashboard=False, logging_level="warning"
            )
        else:
            RayExecutor(address=address).close()  # a clear error if no cluster answers there
            ray_module.init(address=address, logging_level="warning")
        try:
            kind = "ray (local)" if address is None else f"ray ({address})"
            measure(kind, lambda w: RayExecutor(timeout=600, max_in_flight=w))
        finally:
            ray_module.shutdown()
    base = {(r["executor"], r["workload"]): r["tasks_per_s"] for r in rows if r["workers"] == workers[0]}
    for r in rows:
        one = base[(r["executor"], r["workload"])] / workers[0]
        r["efficiency"] = r["tasks_per_s"] / (r["workers"] * one)
    return {
        "workload": {
            "tile_size": TILE_SIZE,
            "eval_fires": eval_fires,
            "eval_methods": ["random", "burn_probability"],
            "step_ignitions": step_ignitions,
            "envs_per_worker": 2,
            "seconds": seconds,
        },
        "results": rows,
    }


def format_scale_report(result: dict) -> str:
    """`run_scale_benchmark`'s result as a Markdown table with its workload."""
    w = result["workload"]
    lines = [
        f"Evaluation tiles: {w['tile_size']}x{w['tile_size']}, random + burn-probability plans at 5 %, "
        f"{w['eval_fires']} fires a tile. Env steps: async vector env, {w['envs_per_worker']} envs a worker, "
        f"{w['step_ignitions']} ignitions a step. About {w['seconds']:g} s each.",
        "",
        "| executor | workload | workers | tasks/s | efficiency vs 1 worker |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in result["results"]:
        lines.append(
            f"| {r['executor']} | {r['workload']} | {r['workers']} | {r['tasks_per_s']:,.1f} | {r['efficiency']:.2f} |"
        )
    return "\n".join(lines)
