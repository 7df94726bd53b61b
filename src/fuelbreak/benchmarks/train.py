"""Training throughput and memory: the default configuration for a fixed time, on hundreds of tiles.

Reports environment and gradient steps per second, the resident memory of the learner sampled over
the run (so a leak shows as growth), the peak of the learner and of its worker processes, and the
replay memory's fixed size. The system we replace grew without bound and took about half a second
an environment step (10 level-set fires); the figures here are for the same tiles and budget.
"""

from __future__ import annotations

import json
import resource
import tempfile
from pathlib import Path

from fuelbreak.agents.config import load_config
from fuelbreak.agents.train import train


def run_train_benchmark(seconds: float = 240.0, overrides: tuple[str, ...] = (), progress=None) -> dict:
    """Train with the default config (plus `overrides`) for about `seconds`; its throughput and memory.

    Raises:
        ConfigError: a bad override, or `seconds` too short for the loop to log two records.
    """
    with tempfile.TemporaryDirectory(prefix="fuelbreak-bench-") as tmp:
        cfg = load_config(
            None, [f"run.outdir={Path(tmp) / 'run'}", "run.total_env_steps=1000000", *overrides]
        )
        summary = train(cfg, progress=False, max_loop_seconds=seconds)  # the set-up is not counted
        lines = [json.loads(x) for x in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = [x for x in lines if x["kind"] == "train"]
    if len(rows) < 2 or rows[-1]["env_steps"] == rows[0]["env_steps"]:
        from fuelbreak.errors import ConfigError

        raise ConfigError(
            f"--seconds {seconds:g}: the training loop logged {len(rows)} record(s) (one every 100 environment "
            "steps), too few to measure its speed; give it more seconds"
        )
    # Throughput of the training loop itself; the set-up (demonstrations, pretraining) is reported apart.
    first = rows[0]
    loop_rate = rows[-1]["steps_per_s"]
    loop_seconds = (rows[-1]["env_steps"] - first["env_steps"]) / loop_rate
    setup = rows[-1]["elapsed_s"] - rows[-1]["env_steps"] / loop_rate
    rss = [x["rss_mb"] for x in rows]
    quarter = [rss[min(len(rss) - 1, int(q * (len(rss) - 1)))] for q in (0.25, 0.5, 0.75, 1.0)]
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "config": {
            "n_envs": cfg.run.n_envs,
            "executor": cfg.run.executor,
            "model": cfg.model.type,
            "tiles": cfg.env.synthetic_tiles,
            "cells_per_step": cfg.env.cells_per_step,
            "overrides": list(overrides),
        },  # fmt: skip
        "seconds": summary["seconds"],
        "setup_seconds": setup,
        "env_steps": summary["env_steps"],
        "env_steps_per_s": loop_rate,
        "grad_steps_per_s": (rows[-1]["grad_steps"] - first["grad_steps"]) / loop_seconds,
        "episodes": summary["episodes"],
        "rss_mb_at_25_50_75_100_percent": quarter,
        "rss_growth_mb_second_half": quarter[3] - quarter[1],
        "peak_rss_mb_learner": self_peak,
        "peak_rss_mb_largest_worker": child_peak,
        "best_val_reduction": summary["best_val_reduction"],
        "val_reduction_random": summary["val_reduction_random"],
    }


def format_train_report(r: dict) -> str:
    """`run_train_benchmark`'s result as Markdown."""
    c = r["config"]
    q = ", ".join(f"{v:.0f}" for v in r["rss_mb_at_25_50_75_100_percent"])
    changed = f", with {' '.join(c['overrides'])}" if c.get("overrides") else ""
    return "\n".join(
        [
            f"Default training{changed} ({c['model']} net, {c['n_envs']} envs on the {c['executor']} executor, "
            f"{c['tiles']} synthetic tiles, {c['cells_per_step']} cells a step), {r['seconds']:.0f} s:",
            "",
            "| figure | value |",
            "| --- | ---: |",
            f"| set-up: demonstrations and pretraining, s | {r['setup_seconds']:.0f} |",
            f"| environment steps/s (training loop) | {r['env_steps_per_s']:.1f} |",
            f"| gradient steps/s (training loop) | {r['grad_steps_per_s']:.1f} |",
            f"| episodes | {r['episodes']} |",
            f"| learner RSS at 25/50/75/100 % of the run, MB | {q} |",
            f"| RSS growth over the second half, MB | {r['rss_growth_mb_second_half']:+.0f} |",
            f"| peak RSS, learner / largest worker, MB | {r['peak_rss_mb_learner']:.0f} / {r['peak_rss_mb_largest_worker']:.0f} |",
        ]
    )
