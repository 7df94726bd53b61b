"""`RayExecutor`: the executor interface on Ray, for a cluster or a local Ray (optional extra `ray`)."""

from __future__ import annotations

import time
from collections import deque

from fuelbreak.errors import ConfigError
from fuelbreak.parallel.outcome import (
    CRASH,
    EXCEPTION,
    TIMEOUT,
    Batch,
    Executor,
    Task,
    check_count,
    check_timeout,
    describe_exception,
)

POLL_S = 0.25


def import_ray():
    """Ray, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"the ray executor needs Ray ({exc}); pip install fuelbreak[ray]") from exc
    return ray


def _call(fn, args: tuple):
    """What every Ray task runs: the pure task itself."""
    return fn(*args)


class RayExecutor(Executor):
    """Runs tasks as Ray remote tasks, each given one CPU, with timeouts and retries done here.

    `address=None` starts a local Ray with `num_cpus` CPUs (all by default) that `close()` shuts
    down; an address ("auto", "ray://host:10001") joins a running cluster and leaves it running.
    If Ray is already initialised in this process, that connection is used and left open.
    At most one task per cluster CPU is in flight, so a task starts when it is sent and its
    timeout counts from then, including the start of a fresh worker (about a second): choose the
    timeout with that margin. A task past its timeout is cancelled with `ray.cancel(force=True)`,
    which kills its worker, and runs again; a worker that dies surfaces as Ray's
    WorkerCrashedError and is retried the same way. Ray's own retries are off.
    """

    kind = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        retry_exceptions: bool = False,
        runtime_env: dict | None = None,
    ):
        super().__init__(check_timeout(timeout, allow_none=False), retries, retry_exceptions)
        if num_cpus is not None:
            check_count(num_cpus, "num_cpus", 1)
            if address is not None:
                raise ConfigError("num_cpus applies to a local Ray only; a cluster at an address has its own")
        ray = self._ray = import_ray()
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(
                address=address,
                num_cpus=num_cpus,
                include_dashboard=False,
                logging_level="warning",
                runtime_env=runtime_env,
            )
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_call)
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._queue: deque[tuple[Batch, Task]] = deque()
        self._running: dict = {}  # ObjectRef -> (batch, task, time sent)

    def _start(self, batch: Batch) -> None:
        self._queue.extend((batch, task) for task in batch.tasks)
        self._fill()

    def _fill(self) -> None:
        while self._queue and len(self._running) < self.slots:
            batch, task = self._queue.popleft()
            ref = self._remote.remote(task.fn, task.args)
            self._running[ref] = (batch, task, time.monotonic())
            batch.pending[ref] = task

    def _wait(self, batch: Batch) -> None:
        try:
            while any(t.outcome is None for t in batch.tasks):
                self._step()
        except BaseException:  # Ctrl-C, or a bug: cancel everything
            self.close()
            raise

    def _step(self) -> None:
        """Wait a little for results, settle what finished, cancel what ran out of time, refill."""
        ray = self._ray
        self._fill()
        if not self._running:
            return
        now = time.monotonic()
        first_deadline = min(sent + task.timeout for _, task, sent in self._running.values())
        ready, _ = ray.wait(
            list(self._running), num_returns=1, timeout=max(0.0, min(POLL_S, first_deadline - now))
        )
        if ready:
            ready, _ = ray.wait(list(self._running), num_returns=len(self._running), timeout=0)
        for ref in ready:
            self._settle(ref)
        now = time.monotonic()
        for ref, (_batch, task, sent) in list(self._running.items()):
            if now - sent > task.timeout:
                ray.cancel(ref, force=True)
                self.stats["workers_replaced"] += 1
                self._finish(ref, TIMEOUT, f"timeout after {task.timeout:g} s")
        self._fill()

    def _settle(self, ref) -> None:
        exc_types = self._ray.exceptions
        try:
            value = self._ray.get(ref)
        except exc_types.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            self._finish(ref, EXCEPTION, describe_exception(cause))
        except exc_types.WorkerCrashedError:
            self.stats["workers_replaced"] += 1
            self._finish(ref, CRASH, "worker died (Ray WorkerCrashedError)")
        except exc_types.RayError as exc:
            self._finish(ref, CRASH, f"ray failed: {describe_exception(exc).splitlines()[0]}")
        else:
            batch, task, _ = self._running.pop(ref)
            del batch.pending[ref]
            self._succeeded(task, value)

    def _finish(self, ref, kind: str, reason: str) -> None:
        batch, task, _ = self._running.pop(ref)
        del batch.pending[ref]
        if self._failed(task, kind, reason):
            self._queue.appendleft((batch, task))

    def _shutdown(self) -> None:
        for ref in self._running:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort: the shutdown below stops everything anyway
                pass
        self._running.clear()
        self._queue.clear()
        if self._owns_ray:
            self._ray.shutdown()
