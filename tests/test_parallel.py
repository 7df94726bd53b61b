"""Executors: each fault injected into a worker (hang, SIGKILL, exception, slow task) and its outcome."""

from __future__ import annotations

import json
import operator
import os
import pickle
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from fuelbreak.errors import ConfigError, SimulationError
from fuelbreak.fire import MTTEngine, Scenario
from fuelbreak.landscape.core import Landscape
from fuelbreak.parallel import Outcome, ProcessExecutor, SerialExecutor, make_executor
from fuelbreak.parallel import local as local_module
from fuelbreak.parallel.cache import Shared, SharedRef, StateMissing, call_shared
from tests import parallel_tasks as tasks

MARGIN = 3.0  # seconds allowed beyond a bound, for a loaded 2-core machine


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture
def pool(no_leftovers):
    with ProcessExecutor(workers=2, timeout=1.0, retries=2) as ex:
        yield ex


# -- serial --------------------------------------------------------------------------------------


def test_serial_outcomes_match_process_semantics():
    with SerialExecutor() as ex:
        out = ex.run_batch(tasks.fail, [("boom",)])
        assert out == [Outcome(False, None, "raised ValueError: boom", 1)]
        assert ex.run_batch(operator.add, [(1, 2), (3, 4)]) == [
            Outcome(True, 3, "", 1),
            Outcome(True, 7, "", 1),
        ]
        assert ex.stats["exceptions"] == 1 and ex.stats["retries"] == 0 and ex.stats["tasks"] == 3
    with SerialExecutor(retries=2, retry_exceptions=True) as ex:
        (out,) = ex.run_batch(tasks.fail, [("boom",)])
        assert not out.ok and out.attempts == 3 and "raised ValueError: boom" in out.error
        assert ex.stats["retries"] == 2


def test_serial_submit_collect_and_map():
    with SerialExecutor() as ex:
        batch = ex.submit_batch(operator.mul, [(2, 3), (4, 5)])
        assert [o.value for o in ex.collect(batch)] == [6, 20]
        with pytest.raises(ConfigError, match="already collected"):
            ex.collect(batch)
        with pytest.raises(
            SimulationError, match=r"task 1 of 2 \(tests.parallel_tasks.fail_if\).*raised ValueError: bad"
        ):
            ex.map(tasks.fail_if, [(False, "fine"), (True, "bad")])


# -- process pool: normal work -------------------------------------------------------------------


def test_process_map_returns_values_in_order(pool):
    assert pool.map(operator.mul, [(i, i) for i in range(20)]) == [i * i for i in range(20)]
    assert pool.stats["tasks"] == 20 and pool.stats["retries"] == 0


def test_submit_batch_returns_before_the_tasks_finish(pool, tmp_path):
    flag = tmp_path / "go"
    batch = pool.submit_batch(tasks.wait_for_file, [(str(flag), 0.8)])
    flag.touch()  # only reached when submit_batch did not wait for the task
    assert [o.value for o in pool.collect(batch)] == [True]


def test_two_batches_in_flight_are_collected_in_any_order(pool):
    first = pool.submit_batch(tasks.sleep_then, [(0.2, "a"), (0.2, "b")])
    second = pool.submit_batch(operator.add, [(1, 1)])
    assert [o.value for o in pool.collect(second)] == [2]
    assert [o.value for o in pool.collect(first)] == ["a", "b"]


def test_slow_task_just_under_the_timeout_is_not_killed(no_leftovers):
    with ProcessExecutor(workers=2, timeout=1.5, retries=2) as ex:
        out = ex.run_batch(tasks.sleep_then, [(1.0, "done"), (1.0, "too")])
        assert out == [Outcome(True, "done", "", 1), Outcome(True, "too", "", 1)]
        assert ex.stats["timeouts"] == 0 and ex.stats["workers_replaced"] == 0


# -- process pool: faults ------------------------------------------------------------------------


def test_hung_task_is_killed_retried_then_failed(pool):
    start = time.monotonic()
    out = pool.run_batch(tasks.hang, [()])[0]
    elapsed = time.monotonic() - start
    assert not out.ok and out.value is None and out.attempts == 3
    assert out.error.startswith("timeout after 1 s")
    assert elapsed < 1.0 * 3 + MARGIN
    assert pool.stats["timeouts"] == 3 and pool.stats["retries"] == 2 and pool.stats["workers_replaced"] == 3
    assert pool.map(operator.add, [(2, 2)]) == [4]  # the replaced workers work


def test_hung_task_does_not_hold_up_the_others(pool):
    out = pool.run_batch(tasks.sleep_then, [(1e6, None), (0.0, "x"), (0.0, "y")])
    assert [o.ok for o in out] == [False, True, True] and [o.value for o in out[1:]] == ["x", "y"]


def test_killed_worker_is_replaced_and_the_task_fails_after_its_retries(pool):
    out = pool.run_batch(tasks.die, [()])[0]
    assert not out.ok and out.value is None and out.attempts == 3
    assert out.error.startswith(f"worker died (exit {-signal.SIGKILL})")
    assert pool.stats["crashes"] == 3 and pool.stats["workers_replaced"] >= 3
    assert pool.map(operator.add, [(1, 2), (3, 4)]) == [3, 7]


def test_task_that_dies_once_succeeds_on_its_second_attempt(pool, tmp_path):
    out = pool.run_batch(tasks.die_once, [(str(tmp_path / "marker"), 42)])
    assert out == [Outcome(True, 42, "", 2)]
    assert pool.stats["crashes"] == 1 and pool.stats["retries"] == 1


def test_exception_fails_at_once_unless_retries_are_asked_for(pool, no_leftovers):
    out = pool.run_batch(tasks.fail, [("boom",)])
    assert out == [Outcome(False, None, "raised ValueError: boom", 1)]
    assert pool.stats["exceptions"] == 1 and pool.stats["retries"] == 0
    with ProcessExecutor(workers=1, timeout=5.0, retries=1, retry_exceptions=True) as ex:
        (out,) = ex.run_batch(tasks.fail, [("boom",)])
        assert not out.ok and out.attempts == 2 and ex.stats["exceptions"] == 2


def test_map_raises_a_simulation_error_naming_the_failed_task(pool):
    message = (
        r"task 1 of 3 \(tests.parallel_tasks.sleep_then\) failed after 3 attempt\(s\): timeout after 0.5 s"
    )
    with pytest.raises(SimulationError, match=message):
        pool.map(tasks.sleep_then, [(0.0, 1), (1e6, None), (0.0, 3)], timeout=0.5)


def test_task_that_cannot_be_sent_fails_with_a_clear_reason(pool):
    (out,) = pool.run_batch(lambda: 1, [()])
    assert not out.ok and out.attempts == 1 and out.error.startswith("could not be sent to a worker")


def test_worker_killed_while_idle_does_not_break_the_executor(pool):
    before = children()
    assert pool.map(operator.add, [(1, 1)] * 4) == [2] * 4  # the pool starts its workers on first use
    workers = children() - before
    assert len(workers) == 2
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)  # let the pool notice
    assert pool.map(operator.add, [(1, 1)] * 4) == [2] * 4
    assert pool.stats["pool_restarts"] == 1


def test_stalled_pool_is_rebuilt(monkeypatch, no_leftovers):
    """A pool that stops killing overdue tasks (a pebble deadlock) is detected and rebuilt."""
    import pebble.pool.process as pebble_process

    monkeypatch.setattr(pebble_process.TaskManager, "timeout", staticmethod(lambda task: False))
    monkeypatch.setattr(local_module, "STALL_MARGIN_S", 0.5)
    with ProcessExecutor(workers=1, timeout=0.5, retries=1) as ex:
        (out,) = ex.run_batch(tasks.hang, [()])
        assert not out.ok and out.attempts == 2 and "pool stalled" in out.error
        assert ex.stats["pool_restarts"] == 2 and ex.stats["timeouts"] == 2


# -- shutting down -------------------------------------------------------------------------------


def test_close_returns_promptly_with_hung_tasks_pending(no_leftovers):
    ex = ProcessExecutor(workers=2, timeout=60.0)
    ex.submit_batch(tasks.hang_ignoring_sigterm, [(), (), ()])
    time.sleep(0.5)  # both workers are inside the task
    start = time.monotonic()
    ex.close()
    assert time.monotonic() - start < 2.0
    ex.close()  # twice is fine
    with pytest.raises(SimulationError, match="closed"):
        ex.submit_batch(operator.add, [(1, 1)])


def test_ctrl_c_while_waiting_shuts_everything_down(no_leftovers):
    # Python's own SIGINT handler, re-installed at the C level: in a full test run a library loaded
    # earlier can take SIGINT over (sigaction) without Python's handler table knowing it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ex = ProcessExecutor(workers=2, timeout=60.0)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ex.run_batch(tasks.hang, [(), ()])
    finally:
        timer.cancel()
    assert ex.closed


# -- per-worker cache ----------------------------------------------------------------------------


def test_worker_cache_keeps_state_between_tasks_until_the_worker_is_replaced(no_leftovers):
    with ProcessExecutor(workers=1, timeout=5.0, retries=0) as ex:
        (pid1, hit1), (pid2, hit2) = ex.map(tasks.cache_probe, [("tile-a",), ("tile-a",)])
        assert pid1 == pid2 and (hit1, hit2) == (False, True)
        ex.run_batch(tasks.die, [()])
        ((pid3, hit3),) = ex.map(tasks.cache_probe, [("tile-a",)])
        assert pid3 != pid1 and not hit3


# -- shared state, sent once per worker ----------------------------------------------------------


BIG = np.arange(250_000, dtype=np.float64)  # 2 MB: far heavier than a task's own arguments


def shared_args(n: int, key: str = "big") -> list[tuple]:
    return [(Shared(key, BIG), float(i)) for i in range(n)]


def test_shared_state_goes_to_a_worker_once_then_only_its_key_travels(no_leftovers):
    expected = [float(BIG.sum()) + i for i in range(4)]
    with ProcessExecutor(workers=1, timeout=10.0, retries=0) as ex:
        out = ex.map(tasks.shared_sum, shared_args(4))
        assert [v for _, v in out] == expected
        assert ex.stats["state_resends"] == 0  # the first task carried the state; the others hit
        out = ex.map(tasks.shared_sum, shared_args(4))  # hits: the worker kept it
        assert [v for _, v in out] == expected and ex.stats["state_resends"] == 0
        task = ex.submit_batch(tasks.shared_sum, shared_args(1))
        ex.collect(task)
        light = pickle.dumps(ex._wire(task.tasks[0]))
        assert len(light) < 2_000 < BIG.nbytes  # the key and the task's own arguments, not the array
        # another key is another state, also sent once
        assert ex.map(tasks.shared_sum, shared_args(3, key="other"))[2][1] == expected[2]
        assert ex.stats["state_resends"] == 0 and ex.stats["exceptions"] == 0


def test_each_worker_gets_the_state_at_most_once(no_leftovers):
    with ProcessExecutor(workers=2, timeout=10.0, retries=0) as ex:
        for _ in range(5):
            out = ex.map(tasks.shared_sum, shared_args(6))
            assert [v for _, v in out] == [float(BIG.sum()) + i for i in range(6)]
        # the first task took it to one worker; the other misses until a resend lands on it, so how many
        # of its tasks miss depends on scheduling (6 in most runs, 7 seen in a full run): far fewer than
        # the 30 tasks, which would each carry the state without the cache
        assert ex.stats["state_resends"] <= 15 and ex.stats["exceptions"] == 0


@pytest.mark.parametrize("how", ["task", "signal"])
def test_a_replaced_worker_gets_the_state_again_and_results_stay_right(how, no_leftovers):
    with ProcessExecutor(workers=1, timeout=10.0, retries=1) as ex:
        ((pid1, v1),) = ex.map(tasks.shared_sum, shared_args(1))
        assert ex.stats["state_resends"] == 0
        if how == "task":
            ex.run_batch(tasks.die, [()])  # the worker holding the state dies inside a task
        else:
            os.kill(pid1, signal.SIGKILL)  # ... or is killed while idle
            time.sleep(0.3)
        ((pid2, v2),) = ex.map(tasks.shared_sum, shared_args(1))
        assert pid2 != pid1 and v2 == v1 == float(BIG.sum())
        assert ex.stats["state_resends"] == 1  # the new worker missed, and was sent the state


def test_serial_executor_passes_the_shared_value_itself():
    with SerialExecutor() as ex:
        assert ex.map(tasks.shared_sum, shared_args(2))[1][1] == float(BIG.sum()) + 1


def test_a_shared_ref_without_its_state_is_a_clear_miss():
    with pytest.raises(StateMissing, match="'nowhere' is not in this worker's cache"):
        call_shared(tasks.shared_sum, (SharedRef("nowhere"), 0.0))


# -- a real fire task ----------------------------------------------------------------------------


def test_pool_computes_the_same_burned_areas_as_in_process(pool):
    breaks = np.zeros((20, 20), dtype=bool)
    breaks[10, 2:18] = True
    tile = Landscape.uniform(shape=(20, 20), fuel=102, name="parallel-test")
    tile = tile.with_breaks(np.eye(20, dtype=bool))
    scenario = Scenario(wind_speed=15.0, wind_direction=225.0)
    ignitions = [np.array([21, 105, 390]), np.array([250, 399])]
    engine = MTTEngine(tile, scenario)
    expected = [engine.burn(ign, breaks).area for ign in ignitions]
    got = pool.map(tasks.burned_areas, [(tile, scenario, ign, breaks) for ign in ignitions])
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g, e)
    assert sum(int(e.sum()) for e in expected) > 0


def test_simulate_on_the_process_pool_gives_the_serial_figures(tmp_path, capsys, no_leftovers):
    from fuelbreak.cli import main

    figures = []
    for extra in ([], ["--executor", "process", "--workers", "2"]):
        argv = [
            "simulate",
            "--tile-size",
            "30",
            "--ignitions",
            "40",
            "--json",
            "--out",
            str(tmp_path / "bp.tif"),
        ]
        assert main([*argv, *extra]) == 0
        figures.append(json.loads(capsys.readouterr().out))
    for f in figures:
        f.pop("seconds")
    assert figures[0] == figures[1] and figures[0]["expected_burned_cells"] > 0
    assert main(["simulate", "--ray-address", "127.0.0.1:1", "--out", str(tmp_path / "x.tif")]) == 2
    assert "--ray-address applies to --executor ray, not serial" in capsys.readouterr().err


# -- configuration -------------------------------------------------------------------------------


def test_make_executor_by_name_and_bad_configuration(no_leftovers):
    assert isinstance(make_executor("serial"), SerialExecutor)
    with make_executor("process", workers=1, timeout=2.0) as ex:
        assert isinstance(ex, ProcessExecutor) and ex.workers == 1
    with pytest.raises(ConfigError, match="unknown executor 'threads'"):
        make_executor("threads")
    with pytest.raises(ConfigError, match="executor 'serial'.*workers"):
        make_executor("serial", workers=2)
    with pytest.raises(ConfigError, match="workers must be an integer >= 1"):
        ProcessExecutor(workers=0)
    with pytest.raises(ConfigError, match="timeout must be a positive number"):
        ProcessExecutor(timeout=None)
    with pytest.raises(ConfigError, match="start_method"):
        ProcessExecutor(start_method="telepathy")
    with SerialExecutor() as ex, pytest.raises(ConfigError, match="task 1: arguments must be a tuple"):
        ex.run_batch(operator.add, [(1, 2), 3])


# -- Ray -----------------------------------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.slow
def test_ray_runs_tasks_and_times_out_a_hung_one(monkeypatch, no_leftovers):
    pytest.importorskip("ray")
    from fuelbreak.parallel import RayExecutor

    # Ray workers import the task module by name (tests.parallel_tasks), so they need the repository on their path.
    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    with RayExecutor(num_cpus=2, timeout=3.0, retries=1) as ex:
        assert ex.map(operator.add, [(1, 2), (3, 4)]) == [3, 7]
        # sleep_then(-1) raises ValueError (negative sleep length)
        hung, ok, failed = ex.run_batch(tasks.sleep_then, [(1e6, None), (0.0, "x"), (-1.0, None)])
        assert (
            not hung.ok
            and hung.value is None
            and hung.attempts == 2
            and hung.error.startswith("timeout after 3 s")
        )
        assert ok == Outcome(True, "x", "", 1)
        assert not failed.ok and failed.attempts == 1 and failed.error.startswith("raised ValueError")
        assert ex.stats["timeouts"] == 2 and ex.stats["exceptions"] == 1
        # shared state goes to the object store once; tasks carry its reference
        out = ex.map(tasks.shared_sum, shared_args(4), timeout=60)  # fresh workers start slowly
        assert [v for _, v in out] == [float(BIG.sum()) + i for i in range(4)]
        assert list(ex._store) == ["big"] and ex.stats["state_resends"] == 0
        batch = ex.submit_batch(tasks.shared_sum, shared_args(1), timeout=60)
        assert len(pickle.dumps(ex._wire(batch.tasks[0]))) < 2_000
        ex.collect(batch)
        # the head stops answering: the next use is a ClusterError within seconds, and so is any later one
        from fuelbreak.errors import ClusterError
        from fuelbreak.parallel import ray_executor

        monkeypatch.setattr(ray_executor, "probe", lambda hp, timeout: "Connection refused")
        ex._next_health = 0.0
        t0 = time.monotonic()
        with pytest.raises(ClusterError, match="lost the private local Ray: its head .* stopped answering"):
            ex.map(tasks.sleep_then, [(30.0, None)])
        with pytest.raises(ClusterError, match="lost the private local Ray"):
            ex.map(tasks.add, [(1, 2)])
        ex.close()
        assert time.monotonic() - t0 < 10


@pytest.mark.ray
def test_ray_address_where_no_cluster_answers_is_a_clear_error(monkeypatch, no_leftovers):
    pytest.importorskip("ray")
    from fuelbreak.errors import ClusterError
    from fuelbreak.parallel import RayExecutor

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free: nothing listens there
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    t0 = time.monotonic()
    with pytest.raises(
        ClusterError, match=rf"no Ray cluster answers at 127.0.0.1:{port} \(from RAY_ADDRESS\)"
    ):
        RayExecutor(timeout=5.0)
    assert time.monotonic() - t0 < 15
    with pytest.raises(ConfigError, match="num_cpus .* private local Ray only"):
        RayExecutor(num_cpus=2)
