"""Module-level tasks that tests send to executor workers (a worker imports them by name).

Each one models a way a simulation can behave: return, run slowly, hang, raise, or kill its worker.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from fuelbreak.fire import MTTEngine
from fuelbreak.parallel import array_digest, cached, worker_cache


def add(a, b):
    return a + b


def sleep_then(seconds: float, value):
    time.sleep(seconds)
    return value


def hang():
    """Never returns (until its worker is killed)."""
    while True:
        time.sleep(3600)


def hang_ignoring_sigterm():
    """Never returns and ignores SIGTERM, like a worker stuck in compiled code: only SIGKILL stops it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    hang()


def die():
    """Kill this worker with SIGKILL, as a segfault or the out-of-memory killer would."""
    os.kill(os.getpid(), signal.SIGKILL)


def die_once(marker: str, value):
    """Die on the first attempt only (the marker file remembers it), then return `value`."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died once")
        die()
    return value


def fail(message: str):
    raise ValueError(message)


def fail_if(should: bool, message: str) -> str:
    if should:
        raise ValueError(message)
    return message


def wait_for_file(path: str, limit: float) -> bool:
    """True once `path` exists; False if it did not appear within `limit` seconds."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if Path(path).exists():
            return True
        time.sleep(0.01)
    return False


def cache_probe(key: str) -> tuple[int, bool]:
    """(worker pid, whether `key` was already in this worker's cache); caches it for next time."""
    hit = key in worker_cache()
    cached(key, os.getpid)
    return os.getpid(), hit


def burned_areas(landscape, scenario, ignitions, breaks=None):
    """Burned cells per ignition; the engine is built once per worker for each (tile, scenario)."""
    key = ("mtt", array_digest(*landscape.layers.values()), landscape.cell_size, scenario)
    engine = cached(key, lambda: MTTEngine(landscape, scenario))
    return engine.burn(ignitions, breaks).area


def shared_sum(array, offset: float) -> tuple[int, float]:
    """(worker pid, array.sum() + offset): the array arrives as `Shared` state."""
    return os.getpid(), float(array.sum()) + offset


def count_held(key) -> tuple[int, int]:
    """(worker pid, how many tasks of `key` this worker ran in a row): a counter held between tasks."""
    from fuelbreak.held import hold, take_held

    n = (take_held(("count", key)) or 0) + 1
    hold(("count", key), n)
    return os.getpid(), n


def count_held_then_die(key):
    """Take the held counter of `key`, then die before putting it back (a worker lost mid-task)."""
    from fuelbreak.held import take_held

    take_held(("count", key))
    die()


def pid() -> int:
    return os.getpid()


def array_sum(array) -> float:
    return float(array.sum())


def unpicklable_result():
    """Returns what cannot be pickled (a lambda), so the worker cannot send it back."""
    return lambda: None


def propose_or_die_once(marker: str, *args):
    """A window's proposal (`fuelbreak.planning.windows.propose`); the first attempt kills its worker."""
    from fuelbreak.planning.windows import propose

    path = Path(marker)
    if not path.exists():
        path.write_text("died once")
        die()
    return propose(*args)
