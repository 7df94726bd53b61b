"""`LaneExecutor`: tasks pinned to a worker by key, state held between them, and the pool's guarantees."""

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from fuelbreak.errors import ConfigError
from fuelbreak.parallel import LaneExecutor, ProcessExecutor, SerialExecutor, Shared
from fuelbreak.parallel.lanes import PIPELINE_BYTES, PIPELINE_TASKS
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


def test_many_tasks_on_one_lane_wait_in_its_pipe_and_keep_their_order(no_leftovers):
    big = np.arange(PIPELINE_BYTES // 4, dtype=np.float64)  # twice what may wait in a pipe
    args = [(i, 1000) for i in range(3 * PIPELINE_TASKS)]
    with LaneExecutor(workers=1, timeout=10.0) as ex:
        out = ex.run_batch(tasks.add, args)
        assert [o.value for o in out] == [i + 1000 for i in range(3 * PIPELINE_TASKS)]
        sums = ex.run_batch(tasks.array_sum, [(big,), (big[:10],), (big,), (big[:10],)])
        assert [o.value for o in sums] == [big.sum(), big[:10].sum(), big.sum(), big[:10].sum()]
        # shared state goes whole once, and by key after that, also to tasks waiting in the pipe
        shared = ex.run_batch(tasks.shared_sum, [(Shared("big", big), float(i)) for i in range(6)])
        assert [o.value[1] for o in shared] == [big.sum() + i for i in range(6)]
        assert ex.stats["state_resends"] == 0


def test_tasks_behind_one_that_kills_the_worker_run_once_uncharged(no_leftovers):
    with LaneExecutor(workers=1, timeout=10.0, retries=0) as ex:
        (old,) = ex.map(tasks.pid, [()])
        died, *behind = ex.run_batch(tasks.die, [()]) + ex.run_batch(tasks.pid, [(), ()])
        assert not died.ok and "worker died (exit -9)" in died.error
        batch = ex.submit_batch(tasks.die, [()])  # dies with tasks already waiting in its pipe
        queued = ex.submit_batch(tasks.pid, [(), ()])
        (lost,) = ex.collect(batch)
        after = ex.collect(queued)
    assert not lost.ok and all(o.ok and o.attempts == 1 for o in behind + after)
    assert len({old, behind[0].value, after[0].value}) == 3  # a new worker each time one died
    assert ex.stats["crashes"] == 2 and ex.stats["workers_replaced"] == 2


def test_a_task_waiting_behind_a_slow_one_has_its_full_timeout(no_leftovers):
    """A task's time counts from when the one before it finished, not from when it was sent."""
    with LaneExecutor(workers=1, timeout=1.0, retries=0) as ex:
        out = ex.run_batch(tasks.sleep_then, [(0.7, "a"), (0.7, "b")])
    assert [o.value for o in out] == ["a", "b"] and ex.stats["timeouts"] == 0


def test_an_exception_fails_only_its_task_and_the_worker_lives_on(no_leftovers):
    with LaneExecutor(workers=1, timeout=10.0) as ex:
        (before,) = ex.map(tasks.pid, [()])
        failed, ok = ex.run_batch(tasks.fail_if, [(True, "bad row"), (False, "fine")])
        (after,) = ex.map(tasks.pid, [()])
    assert not failed.ok and failed.error == "raised ValueError: bad row" and ok.value == "fine"
    assert before == after and ex.stats["workers_replaced"] == 0


def test_what_cannot_be_pickled_fails_with_its_reason(no_leftovers):
    with LaneExecutor(workers=1, timeout=10.0) as ex:
        (sent,) = ex.run_batch(tasks.add, [(lambda: 1, 2)])
        (back,) = ex.run_batch(tasks.unpicklable_result, [()])
        assert ex.map(tasks.add, [(1, 2)]) == [3]
    assert not sent.ok and "could not be sent to a worker" in sent.error
    assert not back.ok and "could not be sent back" in back.error


def test_lanes_start_their_workers_with_any_start_method():
    """Run in a separate interpreter: spawn starts multiprocessing's resource tracker, which lives
    until the interpreter exits and would count as a process left behind by the later tests."""
    import subprocess
    import sys

    script = (
        "from fuelbreak.parallel import LaneExecutor\n"
        "from tests import parallel_tasks as t\n"
        "with LaneExecutor(workers=1, timeout=30.0, start_method='spawn') as ex:\n"
        "    out = ex.run_batch(t.count_held, [('k',), ('k',)], affinity=['k', 'k'])\n"
        "print([o.value[1] for o in out])\n"
    )
    root = Path(__file__).resolve().parents[1]  # `tests` is imported from the repository root, whatever the cwd
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1, 2]"
    with pytest.raises(ConfigError, match="start_method"):
        LaneExecutor(workers=1, start_method="teleport")

