"""Scaling with landscape size: seconds and peak memory of planning and of scoring a whole landscape.

For each side (cells) and worker count, two fresh Python processes each build a synthetic landscape of
that side (`synthetic_tile`, seed 0) and time one job:

- plan: `fuelbreak.planning.plan_landscape` of `method` at `budget` (windows of `window` cells with a
  halo of `halo`, on a process pool of that many workers, serial for 1);
- score: `fuelbreak.planning.score_plan` of a random plan of the same budget on `fires` fires burned
  on the whole landscape, in chunks.

Peak memory is the operating system's own accounting of each process (`ru_maxrss`): the largest of
the job's own process and, apart, of any of its workers (a worker's peak is per process: the pool's
total can be up to workers x that). The landscape's own build is counted in; its time is not.
"""

from __future__ import annotations

import json
import subprocess
import sys

JOB = r"""
import json, resource, sys, time
import numpy as np
from fuelbreak.fire.presets import PRESETS
from fuelbreak.landscape.synthetic import synthetic_tile
from fuelbreak.parallel import make_executor
from fuelbreak.planning.landscape import draw_groups, plan_landscape, score_plan

job, side, workers, method, budget, fires, window, halo, weather = json.loads(sys.argv[1])
land = synthetic_tile(side, seed=0)
weather = PRESETS[weather][0]()
cells = max(1, round(budget * land.n_cells))
ex = make_executor("serial") if workers == 1 else make_executor("process", workers=workers, timeout=7200)
t = time.perf_counter()
with ex:
    if job == "plan":
        plan = plan_landscape(method, land, weather, cells, 0, {}, window=window, halo=halo, executor=ex)
        extra = {"windows": plan.windows}
    else:
        rng = np.random.default_rng(0)
        plan = rng.choice(np.flatnonzero(land.treatable.ravel()), cells, replace=False)
        groups = draw_groups(land, weather, fires, 1)
        s = score_plan(land, groups, plan, ex)
        extra = {"reduction": float(1 - s.areas_after.mean() / s.areas_before.mean())}
seconds = time.perf_counter() - t
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": own, "worker_peak_mb": child, **extra}))
"""


def run_size_benchmark(
    sizes=(250, 500),
    workers=(1, 2),
    method: str = "tree_greedy",
    budget: float = 0.02,
    fires: int = 200,
    window: int = 256,
    halo: int = 32,
    weather: str = "default",
    progress=None,
    timeout: float = 7200,
) -> dict:
    """Seconds and peak memory of planning and scoring at each side and worker count (see the module)."""
    from fuelbreak.errors import ConfigError, SimulationError

    if any(s < 8 for s in sizes) or any(w < 1 for w in workers):
        raise ConfigError(f"sides must be >= 8 and workers >= 1, got {list(sizes)} and {list(workers)}")
    rows = []
    for side in sizes:
        for w in workers:
            for job in ("plan", "score"):
                args = json.dumps([job, side, w, method, budget, fires, window, halo, weather])
                done = subprocess.run(
                    [sys.executable, "-c", JOB, args], capture_output=True, text=True, timeout=timeout
                )
                if done.returncode != 0:
                    raise SimulationError(f"bench scale, {job} at {side} cells a side: {done.stderr.strip()[-800:]}")
                r = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append({"job": job, "side": side, "cells": side * side, "workers": w, **r})
                if progress:
                    progress(f"{job} {side}x{side}, {w} worker(s): {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB")
    return {
        "workload": {
            "method": method,
            "budget": budget,
            "fires": fires,
            "window": window,
            "halo": halo,
            "weather": weather,
        },
        "results": rows,
    }


def format_size_report(result: dict) -> str:
    """`run_size_benchmark`'s result as a Markdown table."""
    w = result["workload"]
    lines = [
        f"Landscape size: synthetic landscapes, {w['method']} at {100 * w['budget']:g} % in windows of "
        f"{w['window']} cells (halo {w['halo']}); scoring: {w['fires']} fires on the whole landscape; "
        f"weather {w['weather']}. Peak: the job's process / its largest worker (ru_maxrss).",
        "",
        "| job | side | cells | workers | seconds | peak MB | worker peak MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["results"]:
        lines.append(
            f"| {r['job']} | {r['side']} | {r['cells']:,} | {r['workers']} | {r['seconds']:.1f} | "
            f"{r['peak_mb']:.0f} | {r['worker_peak_mb']:.0f} |"
        )
    return "\n".join(lines)
