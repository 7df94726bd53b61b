"""The benchmarks run end to end on a tiny budget and report every row they promise (no timing is checked)."""

from fuelbreak.benchmarks.env import format_env_report, run_env_benchmark
from fuelbreak.benchmarks.scale import format_scale_report, run_scale_benchmark


def test_env_benchmark_times_every_vector_env():
    result = run_env_benchmark(seconds=0.3, n_envs=2)
    assert list(result["results"]) == [
        "fuelbreak sync (in process)",
        "fuelbreak async (2 lanes, fires kept in workers)",
        "fuelbreak async (2-worker pool, fires burned again)",
        "gymnasium AsyncVectorEnv (2 workers)",
    ]
    assert all(r["env_steps"] > 0 and r["steps_per_s"] > 0 for r in result["results"].values())
    assert all(r["cpu_ms_per_step"] > 0 for r in result["results"].values())
    report = format_env_report(result)
    assert "gymnasium AsyncVectorEnv" in report and "CPU ms per env step" in report


def test_the_cpu_clock_counts_children_born_during_it_and_those_gone_since():
    """A busy child's CPU time is in the total, also after the child exited."""
    import multiprocessing
    import time

    from fuelbreak.benchmarks.env import CpuClock

    clock = CpuClock()
    child = multiprocessing.get_context("fork").Process(target=_spin_then_sleep, args=(0.5,))
    child.start()
    try:
        time.sleep(0.9)
        while_alive = clock.seconds()
    finally:
        child.kill()
        child.join()
    after = clock.seconds()  # the child is gone: its time up to the last reading stays
    assert while_alive > 0.3 and after >= while_alive


def _spin_then_sleep(seconds: float) -> None:
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    time.sleep(60)


def test_scale_benchmark_measures_the_pool_and_the_lanes():
    result = run_scale_benchmark(workers=(1, 2), seconds=0.2, eval_fires=4, step_ignitions=4, ray=False)
    seen = {(r["executor"], r["workload"], r["workers"]) for r in result["results"]}
    assert seen == {
        (kind, workload, w)
        for kind in ("process", "lanes")
        for workload in ("evaluation tiles", "env steps")
        for w in (1, 2)
    }
    assert all(r["tasks_per_s"] > 0 and r["efficiency"] > 0 for r in result["results"])
    assert "lanes" in format_scale_report(result)


def test_bench_train_overrides_are_checked_before_anything_runs(capsys):
    from fuelbreak.cli import main

    assert main(["bench", "env", "--set", "run.torch_threads=2"]) == 2
    assert "applies to `bench train`" in capsys.readouterr().err
    assert main(["bench", "train", "--set", "dqn.nosuchkey=1"]) == 2
    assert "nosuchkey" in capsys.readouterr().err


def test_bench_fire_flags_are_checked_before_anything_runs(capsys):
    from fuelbreak.cli import main

    assert main(["bench", "fire", "--plan-refine", "2"]) == 2
    assert "--plan-refine must be an odd whole number" in capsys.readouterr().err
    assert main(["bench", "fire", "--plan-workers", "0"]) == 2
    assert "--plan-workers must be at least 1" in capsys.readouterr().err


def test_the_train_report_names_its_overrides():
    from fuelbreak.benchmarks.train import format_train_report

    r = {
        "config": {"n_envs": 4, "executor": "process", "model": "basic", "tiles": 500, "cells_per_step": 1,
                   "overrides": ["run.torch_threads=2"]},
        "seconds": 10.0, "setup_seconds": 1.0, "env_steps_per_s": 1.0, "grad_steps_per_s": 1.0, "episodes": 1,
        "rss_mb_at_25_50_75_100_percent": [1, 2, 3, 4], "rss_growth_mb_second_half": 2.0,
        "peak_rss_mb_learner": 4.0, "peak_rss_mb_largest_worker": 1.0,
    }  # fmt: skip
    assert format_train_report(r).startswith("Default training, with run.torch_threads=2 (basic net")


def test_bench_train_too_short_to_measure_is_a_clear_error(monkeypatch, capsys):
    """One metrics record (the loop logs one every 100 steps) gives no speed: a message, not a ZeroDivisionError."""
    import json
    from pathlib import Path

    import fuelbreak.benchmarks.train as bt
    from fuelbreak.cli import main

    def one_record(cfg, progress, max_loop_seconds):
        run = Path(cfg.run.outdir)
        run.mkdir(parents=True)
        row = {"kind": "train", "env_steps": 100, "grad_steps": 80, "steps_per_s": 20.0, "elapsed_s": 9.0, "rss_mb": 1.0}
        (run / "metrics.jsonl").write_text(json.dumps(row) + "\n")
        return {"seconds": 9.0, "env_steps": 100, "episodes": 0, "best_val_reduction": 0, "val_reduction_random": 0}

    monkeypatch.setattr(bt, "train", one_record)
    assert main(["bench", "train", "--seconds", "5"]) == 2
    err = capsys.readouterr().err
    assert "--seconds 5: the training loop logged 1 record(s)" in err and "give it more seconds" in err


def test_size_benchmark_reports_planning_and_scoring_at_every_size_and_worker_count():
    from fuelbreak.benchmarks.landscape_size import format_size_report, run_size_benchmark

    result = run_size_benchmark(sizes=(24, 48), workers=(1, 2), method="random", fires=6, window=32, halo=4)
    seen = {(r["job"], r["side"], r["workers"]) for r in result["results"]}
    assert seen == {(j, s, w) for j in ("plan", "score") for s in (24, 48) for w in (1, 2)}
    assert all(r["seconds"] > 0 and r["peak_mb"] > 0 for r in result["results"])
    plans = {(r["side"], r["workers"]): r for r in result["results"] if r["job"] == "plan"}
    assert plans[(24, 1)]["windows"] == 1 and plans[(48, 2)]["windows"] == 4
    assert all(r["worker_peak_mb"] > 0 for r in result["results"] if r["workers"] == 2)
    assert "| score | 48 |" in format_size_report(result)
