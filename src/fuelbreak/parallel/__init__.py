"""Running pure simulation tasks: in-process, on a local process pool, or on Ray.

A task is a module-level function and a tuple of picklable arguments; it computes and returns,
and holds no state a retry could lose. Every executor offers:

    run_batch(fn, args_list, timeout=None) -> list[Outcome]   one per task, in order
    map(fn, args_list, timeout=None) -> list                  values; SimulationError on a failure
    submit_batch(fn, args_list, timeout=None) -> Batch        start, return at once ...
    collect(batch) -> list[Outcome]                           ... and wait (step_async / step_wait)
    stats                                                     tasks, timeouts, crashes, exceptions,
                                                              retries, workers_replaced, pool_restarts
    close()                                                   prompt, pending tasks and all; also `with`

An `Outcome` is `ok`, `value` (None when failed, never a made-up value), `error` (why it failed:
"timeout after 2 s", "worker died (exit -9)", "raised ValueError: ...") and `attempts`.
Timeouts and worker deaths are retried up to `retries` times on a fresh worker; an exception is
not (unless `retry_exceptions=True`), since a deterministic error would only repeat.

Heavy immutable state (a fire engine per tile) goes to each worker once when a task argument is
wrapped as `Shared(key, value)`: tasks then carry the key (on Ray, an object-store reference), and a
worker that lacks the value gets it again. A task can also keep what it built with
`cached(key, build)` (see `fuelbreak.parallel.cache`), or hold mutable state for the next task of
the same key with `fuelbreak.held`. `submit_batch(..., affinity=keys)` sends tasks with
equal keys to one process on executors that `keeps_affinity` (in process, and `LaneExecutor`: one
worker process per lane, each spoken to over its own pipe).

`RayExecutor` joins the cluster named by its address or RAY_ADDRESS (or starts a private local
Ray); a cluster that is not there or goes away is a `ClusterError` (exit code 6), never a hang.
"""

from fuelbreak.parallel.cache import Shared, array_digest, cached, worker_cache
from fuelbreak.parallel.executors import EXECUTORS, make_executor
from fuelbreak.parallel.lanes import LaneExecutor
from fuelbreak.parallel.local import ProcessExecutor, SerialExecutor
from fuelbreak.parallel.outcome import Batch, Executor, Outcome

__all__ = [
    "EXECUTORS",
    "Batch",
    "Executor",
    "LaneExecutor",
    "Outcome",
    "ProcessExecutor",
    "RayExecutor",
    "SerialExecutor",
    "Shared",
    "array_digest",
    "cached",
    "make_executor",
    "worker_cache",
]


def __getattr__(name: str):
    if name == "RayExecutor":  # imported on first use, so that Ray stays optional
        from fuelbreak.parallel.ray_executor import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'fuelbreak.parallel' has no attribute {name!r}")
