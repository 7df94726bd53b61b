"""The vector env under faults: a step that hangs, a worker killed, a task that raises, a slow step."""

import functools
import os
import signal
import threading
import time

import numpy as np
import psutil
import pytest

from fuelbreak.env import FuelBreakEnv
from fuelbreak.env.observation import CHANNEL_INDEX
from fuelbreak.errors import ConfigError
from fuelbreak.fire import Scenario, Weather
from fuelbreak.landscape import Landscape
from fuelbreak.parallel import LaneExecutor, ProcessExecutor, SerialExecutor
from fuelbreak.parallel.vector_env import FuelBreakVectorEnv
from tests.faulty_env import FaultyEnv

TIMEOUT, RETRIES, MARGIN = 1.0, 1, 4.0
KW = dict(
    data=[Landscape.uniform((20, 20), fuel=102), Landscape.uniform((20, 20), fuel=122)],
    split="all",
    weather=Weather.single(Scenario(wind_speed=15, duration=240)),
    budget=6,
    n_ignitions=5,
    bp_fires=8,
)


@pytest.fixture(autouse=True, scope="module")
def compiled_in_parent():
    """Compile (or load) the fire code once here: forked workers inherit it, so that a worker's
    first reset takes milliseconds, not the second or more that would exceed the 1 s test timeout
    on a loaded machine."""
    FuelBreakEnv(**KW).reset(seed=0)


def children():
    return [p for p in psutil.Process().children(recursive=True) if p.is_running() and p.status() != "zombie"]


def legal_actions(info):
    return [int(np.flatnonzero(m)[0]) for m in info["action_mask"]]


def make(fault=None, at_step=2, executor=None, lanes=False):
    fns = [functools.partial(FuelBreakEnv, **KW)]
    fns.append(
        functools.partial(FaultyEnv, fault, at_step, **KW) if fault else functools.partial(FuelBreakEnv, **KW)
    )
    pool = LaneExecutor if lanes else ProcessExecutor
    ex = executor or pool(workers=2, timeout=TIMEOUT, retries=RETRIES)
    return FuelBreakVectorEnv(fns, executor=ex)


@pytest.mark.parametrize("lanes", [False, True], ids=["pool", "lanes"])
@pytest.mark.parametrize(
    "fault,reason", [("hang", "timeout"), ("kill", "worker died"), ("raise", "RuntimeError")]
)
def test_a_failed_step_truncates_that_episode_only_and_training_goes_on(fault, reason, lanes):
    venv = make(fault, lanes=lanes)
    assert venv.held == lanes  # on lanes, each worker keeps its episode's fires
    try:
        _, info = venv.reset(seed=0)
        _, _, _, _, info = venv.step(legal_actions(info))
        t0 = time.monotonic()
        _, rewards, term, trunc, info = venv.step(legal_actions(info))
        elapsed = time.monotonic() - t0
        assert elapsed < TIMEOUT * (RETRIES + 1) + MARGIN
        assert info["sim_failed"].tolist() == [False, True]
        assert reason in info["error"][1]
        assert trunc.tolist() == [False, True] and rewards[1] == 0.0  # no made-up reward
        assert venv.failures == 1
        # the failed environment started a new episode and both keep stepping
        assert venv.envs[1].placed == []
        _, _, _, _, info = venv.step(legal_actions(info))
        assert not info["sim_failed"].any()
        stats = venv.executor.stats
        assert {"hang": stats["timeouts"], "kill": stats["crashes"], "raise": stats["exceptions"]}[fault] >= 1
    finally:
        venv.close()
    assert not children()


def test_a_slow_step_under_the_timeout_is_not_killed():
    ex = ProcessExecutor(workers=2, timeout=1.5, retries=0)
    venv = make("slow", executor=ex)
    try:
        _, info = venv.reset(seed=0)
        for _ in range(2):
            _, _, _, trunc, info = venv.step(legal_actions(info))
            assert not info["sim_failed"].any() and not trunc.any()
        assert ex.stats["timeouts"] == 0 and venv.failures == 0
    finally:
        venv.close()


def test_close_returns_promptly_with_a_hung_step_pending():
    venv = make("hang", at_step=1)
    _, info = venv.reset(seed=0)
    venv.step_async(legal_actions(info))
    time.sleep(0.2)
    t0 = time.monotonic()
    venv.close()
    assert time.monotonic() - t0 < 3.0
    assert not children()


def test_ctrl_c_while_waiting_shuts_everything_down():
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in test_parallel: Python's, at the C level
    venv = make("hang", at_step=1)
    _, info = venv.reset(seed=0)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        try:
            venv.step(legal_actions(info))
        finally:
            venv.close()
    assert not children()


def test_sync_and_async_give_the_same_episodes():
    results = []
    for ex in (SerialExecutor(), ProcessExecutor(workers=2, timeout=30), LaneExecutor(workers=2, timeout=30)):
        venv = make(executor=ex)
        try:
            _, info = venv.reset(seed=4)
            trace = []
            for _ in range(8):  # past the budget of 6: autoreset included
                obs, r, term, trunc, info = venv.step(legal_actions(info))
                trace.append((r.copy(), term.copy(), obs.sum()))
            results.append(trace)
        finally:
            venv.close()
    for other in results[1:]:
        for (ra, ta, oa), (rb, tb, ob) in zip(results[0], other, strict=True):
            assert np.array_equal(ra, rb) and np.array_equal(ta, tb) and oa == ob


@pytest.mark.parametrize("lanes", [False, True], ids=["pool", "lanes"])
def test_workers_killed_while_holding_engines_cost_nothing_and_change_nothing(lanes):
    """Engines go to each worker once (and on lanes, each episode's fires stay in its worker);
    SIGKILL of the workers that hold them between steps loses no step: the replacements miss, get
    the engine again, burn the fires again from the breaks, and give the same episodes."""
    results = []
    pool = (LaneExecutor if lanes else ProcessExecutor)(workers=2, timeout=30, retries=1)
    for ex in (SerialExecutor(), pool):
        venv = make(executor=ex)
        try:
            _, info = venv.reset(seed=4)
            trace = []
            for step in range(8):  # past the budget of 6: autoreset included
                if ex is pool and step in (2, 5):
                    for p in children():
                        p.kill()
                    time.sleep(0.3)
                obs, r, term, trunc, info = venv.step(legal_actions(info))
                assert not info["sim_failed"].any()
                trace.append((r.copy(), term.copy(), obs.sum()))
            results.append(trace)
            if ex is pool:
                # steps carry the engine's key only; each (new) worker was sent each engine once
                assert 1 <= ex.stats["state_resends"] <= 3 * 2 * 2 and venv.failures == 0
        finally:
            venv.close()
    for (ra, ta, oa), (rb, tb, ob) in zip(*results, strict=True):
        assert np.array_equal(ra, rb) and np.array_equal(ta, tb) and oa == pytest.approx(ob)
    assert not children()


def test_autoreset_reports_the_final_observation():
    venv = make(executor=SerialExecutor())
    _, info = venv.reset(seed=1)
    for _ in range(6):
        obs, _, term, _, info = venv.step(legal_actions(info))
    assert term.all()
    assert all(f is not None for f in info["final_obs"])
    breaks = CHANNEL_INDEX["breaks"]
    assert info["final_obs"][0][breaks].sum() == 6  # the break channel of the finished episode
    assert obs[0][breaks].sum() == 0  # the new episode starts without breaks
    venv.close()


def test_misuse_is_an_error():
    venv = make(executor=SerialExecutor())
    venv.reset(seed=0)
    with pytest.raises(ConfigError, match="one action per environment"):
        venv.step([0])
    with pytest.raises(ConfigError, match="step_wait"):
        venv.step_wait()
    venv.close()
