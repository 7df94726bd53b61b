"""`LaneExecutor`: tasks pinned to a worker by key, state held between them, and the pool's guarantees."""

import os
import signal
import threading

import pytest

from fuelbreak.errors import ConfigError
from fuelbreak.parallel import LaneExecutor, ProcessExecutor, SerialExecutor
from tests import parallel_tasks as tasks


def test_tasks_with_the_same_key_run_in_the_same_worker_and_find_what_it_held(no_leftovers):
    with LaneExecutor(workers=2, timeout=10.0) as ex:
        assert ex.keeps_affinity and ex.kind == "process"
        rounds = [ex.run_batch(tasks.count_held, [("a",), ("b",)], affinity=["a", "b"]) for _ in range(4)]
    for i, key in enumerate("ab"):
        seen = [r[i].value for r in rounds]
        assert len({pid for pid, _ in seen}) == 1, f"key {key} moved between workers"
        assert [n for _, n in seen] == [1, 2, 3, 4]  # each task found the count the previous one held


def test_int_keys_take_the_lane_of_their_value_and_outcomes_keep_task_order(no_leftovers):
    with LaneExecutor(workers=2, timeout=10.0) as ex:
        assert [ex.lane_of(i) for i in range(4)] == [0, 1, 0, 1]
        out = ex.run_batch(tasks.add, [(i, 100) for i in range(5)], affinity=[4, 3, 2, 1, 0])
        assert [o.value for o in out] == [100, 101, 102, 103, 104]
        pids = ex.map(tasks.count_held, [(k,) for k in range(4)])
        runs = [ex.run_batch(tasks.count_held, [(k,) for k in range(4)], affinity=range(4)) for _ in range(3)]
    for k in range(4):
        assert [r[k].value[1] for r in runs][-2:] == [runs[0][k].value[1] + 1, runs[0][k].value[1] + 2]
    assert runs[0][0].value[0] == runs[0][2].value[0] != runs[0][1].value[0] == runs[0][3].value[0]
    assert len(pids) == 4


def test_a_worker_lost_mid_task_loses_its_held_state_and_its_key_starts_again(no_leftovers):
    with LaneExecutor(workers=2, timeout=10.0, retries=0) as ex:
        first = ex.run_batch(tasks.count_held, [(0,), (1,)], affinity=[0, 1])
        second = ex.run_batch(tasks.count_held, [(0,), (1,)], affinity=[0, 1])
        assert [o.value[1] for o in second] == [2, 2]
        (lost,) = ex.run_batch(tasks.count_held_then_die, [(0,)], affinity=[0])
        assert not lost.ok and "worker died" in lost.error
        third = ex.run_batch(tasks.count_held, [(0,), (1,)], affinity=[0, 1])
        assert third[0].value[0] != first[0].value[0] and third[0].value[1] == 1  # a new worker, nothing held
        assert third[1].value == (first[1].value[0], 3)  # the other lane kept its worker and state
        assert ex.stats["crashes"] == 1 and ex.stats["tasks"] == 7


def test_timeouts_and_retries_work_in_each_lane(no_leftovers):
    with LaneExecutor(workers=2, timeout=0.5, retries=1) as ex:
        out = ex.run_batch(tasks.hang, [(), ()], affinity=[0, 1])
        assert all(not o.ok and "timeout" in o.error and o.attempts == 2 for o in out)
        assert ex.stats["timeouts"] == 4 and ex.stats["retries"] == 2
        assert ex.map(tasks.add, [(1, 2)]) == [3]  # lanes work on after their workers were replaced


def test_ctrl_c_while_waiting_closes_every_lane(no_leftovers):
    signal.signal(signal.SIGINT, signal.default_int_handler)  # see test_parallel's test of the pool
    ex = LaneExecutor(workers=2, timeout=60.0)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ex.run_batch(tasks.hang, [(), ()], affinity=[0, 1])
    finally:
        timer.cancel()
    assert ex.closed


def test_bad_options_and_affinity_are_config_errors(no_leftovers):
    with pytest.raises(ConfigError, match="workers"):
        LaneExecutor(workers=0)
    with pytest.raises(ConfigError, match="timeout"):
        LaneExecutor(workers=1, timeout=-1)
    with LaneExecutor(workers=1, timeout=5.0) as ex, pytest.raises(ConfigError, match="one key per task"):
        ex.run_batch(tasks.add, [(1, 2), (3, 4)], affinity=[0])


def test_which_executors_keep_affinity():
    assert SerialExecutor.keeps_affinity and LaneExecutor.keeps_affinity
    assert not ProcessExecutor.keeps_affinity
