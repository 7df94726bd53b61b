"""Executors on this machine: in-process (`SerialExecutor`) and a pebble process pool (`ProcessExecutor`)."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import pebble

from fuelbreak.errors import ConfigError
from fuelbreak.parallel.cache import StateMissing, unwrap_shared
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

# pebble stops a worker with SIGTERM and waits this long before SIGKILL, one worker after another.
# Its default (3 s) is spent in full on a worker stuck in compiled code (numba), which ignores
# SIGTERM until it returns; our tasks hold nothing a SIGTERM handler would need to release, so the
# wait is kept short (an idle worker exits on SIGTERM in milliseconds). This sets pebble.CONSTS,
# which is process-wide.
KILL_GRACE_S = 0.1
# A healthy pool finishes or kills a started task within its timeout plus this margin (the pool's
# 0.1 s polling, the kill grace and a worker's restart); beyond it the pool is declared stalled.
STALL_MARGIN_S = 5.0
# The longest single wait for a result, so that stalls are noticed and Ctrl-C is answered at once.
POLL_S = 0.25
# A batch gives up when the pool had to be rebuilt this many times in a row without any result.
MAX_BARREN_RESTARTS = 3


def mp_context(start_method: str):
    """The multiprocessing context of `start_method`; one this platform lacks is a ConfigError."""
    if start_method not in multiprocessing.get_all_start_methods():
        methods = ", ".join(multiprocessing.get_all_start_methods())
        raise ConfigError(f"start_method {start_method!r} is not available here; choose one of {methods}")
    return multiprocessing.get_context(start_method)


class SerialExecutor(Executor):
    """Runs tasks one after another in this process, at `collect` time.

    Same outcomes as the pool for tasks that return or raise, but no timeout is enforced (code
    running in this process cannot be stopped safely), and a task that crashes the process or
    never returns takes the caller with it. For debugging, tests and single-core runs.
    """

    kind = "serial"
    keeps_affinity = True  # one process runs everything

    def __init__(self, timeout: float | None = None, retries: int = 2, retry_exceptions: bool = False):
        super().__init__(timeout, retries, retry_exceptions)

    def _start(self, batch: Batch) -> None:
        pass

    def _wait(self, batch: Batch) -> None:
        for task in batch.tasks:
            while task.outcome is None:
                try:
                    value = task.fn(*(unwrap_shared(task.args) if task.shared else task.args))
                except Exception as exc:
                    self._failed(task, EXCEPTION, describe_exception(exc))
                else:
                    self._succeeded(task, value)

    def _shutdown(self) -> None:
        pass


@dataclass(eq=False)
class _Running:
    """Where a scheduled attempt lives: its batch, its task and the pool generation it went to."""

    batch: Batch
    task: Task
    generation: int


class ProcessExecutor(Executor):
    """A local pool of `workers` processes (pebble) that never waits on a task past its timeout.

    A task running longer than `timeout` seconds (counted from when a worker takes it) has its
    worker killed and replaced, and runs again, up to `retries` more times; a worker that dies
    (segfault, SIGKILL, out of memory) is replaced the same way. An exception raised by a task
    fails it at once (retried only with `retry_exceptions=True`). Should the pool itself break or
    stall (no result for `timeout` + 5 s while tasks run), it is rebuilt and the tasks re-sent.

    Workers start with 'fork' by default: fast (a replaced worker is ready in milliseconds),
    inherits imported modules and compiled numba code, and leaves no helper process behind.
    'forkserver' or 'spawn' avoid forking a threaded parent (torch) at the cost of a slow start
    and a helper process (resource tracker, fork server) that lives until the program exits.
    Workers ignore SIGINT: Ctrl-C reaches only this process, whose waiting call then closes the
    pool (killing every worker) before the KeyboardInterrupt propagates. Use it from one thread,
    and close it (or use `with`): workers left open are killed only when the interpreter exits.
    Per-task overhead is a fraction of a millisecond (about 0.2 ms for a trivial task's round trip
    on a 2-core machine), plus pickling the arguments and the result.
    """

    kind = "process"

    def __init__(
        self,
        workers: int = 2,
        timeout: float = 60.0,
        retries: int = 2,
        retry_exceptions: bool = False,
        start_method: str = "fork",
    ):
        super().__init__(check_timeout(timeout, allow_none=False), retries, retry_exceptions)
        self.workers = check_count(workers, "workers", 1)
        self.start_method = start_method
        self._mp_context = mp_context(start_method)
        pebble.CONSTS.term_timeout = min(pebble.CONSTS.term_timeout, KILL_GRACE_S)
        self._generation = 0
        self._pool = self._new_pool()
        self._running: dict[Future, _Running] = {}
        self._last_result = time.monotonic()

    # -- pool management -----------------------------------------------------------------------
    def _new_pool(self) -> pebble.ProcessPool:
        return pebble.ProcessPool(max_workers=self.workers, context=self._mp_context)

    @staticmethod
    def _stop(pool: pebble.ProcessPool) -> None:
        """Kill the pool's workers without running what is queued; pending futures are left unset."""
        pool.stop()
        pool.join()

    def _restart_pool(self) -> list[_Running]:
        """Replace the pool; return the attempts that were still pending in the old one."""
        old, self._pool = self._pool, self._new_pool()
        self._generation += 1
        self.stats["pool_restarts"] += 1
        self.stats["workers_replaced"] += self.workers
        stranded = []
        for future, entry in list(self._running.items()):
            if entry.generation < self._generation and not future.done():
                del self._running[future]
                del entry.batch.pending[future]
                stranded.append((entry, future.running()))
                future.cancel()
        self._stop(old)
        return stranded

    def _schedule(self, batch: Batch, task: Task) -> None:
        fn, args = self._wire(task)
        try:
            future = self._pool.schedule(fn, args=args, timeout=task.timeout)
        except RuntimeError:  # the pool broke since the last look: rebuild it and try once more
            self._resend(self._restart_pool())
            future = self._pool.schedule(fn, args=args, timeout=task.timeout)
        future.add_done_callback(self._note_result)
        self._running[future] = _Running(batch, task, self._generation)
        batch.pending[future] = task

    def _resend(self, stranded) -> None:
        for entry, _ in stranded:
            self._schedule(entry.batch, entry.task)

    def _note_result(self, _future: Future) -> None:
        self._last_result = time.monotonic()

    # -- Executor ------------------------------------------------------------------------------
    def _start(self, batch: Batch) -> None:
        try:
            for task in batch.tasks:
                self._schedule(batch, task)
        except BaseException:
            self.close()
            raise

    def _wait(self, batch: Batch) -> None:
        try:
            self._wait_all(batch)
        except BaseException:  # Ctrl-C, or a bug: never leave workers behind
            self.close()
            raise

    def _wait_all(self, batch: Batch) -> None:
        started = time.monotonic()
        barren_restarts = 0
        while batch.pending:
            done, _ = wait(list(batch.pending), timeout=POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                if self._settle(batch, future):
                    barren_restarts = 0
            if done or not self._stalled(started):
                continue
            barren_restarts += 1
            started = time.monotonic()
            self._recover_from_stall(barren_restarts)

    def _stalled(self, since: float) -> bool:
        limit = max(e.task.timeout for e in self._running.values()) + STALL_MARGIN_S
        return time.monotonic() - max(since, self._last_result) > limit

    def _recover_from_stall(self, barren_restarts: int) -> None:
        """Rebuild a pool that gave no result for too long; charge the attempts it was running."""
        limit = max(e.task.timeout for e in self._running.values()) + STALL_MARGIN_S
        for entry, was_running in self._restart_pool():
            if barren_restarts >= MAX_BARREN_RESTARTS:
                reason = f"process pool gave no result in {barren_restarts} tries"
                self._failed(entry.task, CRASH, reason, final=True)
            elif not was_running or self._failed(
                entry.task, TIMEOUT, f"no result within {limit:g} s (pool stalled)"
            ):
                self._schedule(entry.batch, entry.task)

    def _settle(self, batch: Batch, future: Future) -> bool:
        """Record one finished attempt, re-sending it when allowed; True when it returned a value."""
        task = batch.pending.pop(future)
        entry = self._running.pop(future)
        try:
            value = future.result()
        except FutureTimeout:
            self.stats["workers_replaced"] += 1
            kind, reason = TIMEOUT, f"timeout after {task.timeout:g} s"
        except pebble.ProcessExpired as exc:
            self.stats["workers_replaced"] += 1
            kind, reason = CRASH, f"worker died (exit {exc.exitcode})"
        except BrokenProcessPool:
            if entry.generation == self._generation:
                self._resend(self._restart_pool())
            kind, reason = CRASH, "worker died (the process pool broke and was rebuilt)"
        except CancelledError:
            kind, reason = CRASH, "cancelled"
        except StateMissing:  # a worker without the task's shared state: send it along this time
            task.full = True
            self.stats["state_resends"] += 1
            self._schedule(batch, task)
            return False
        except Exception as exc:
            sent = hasattr(exc, "traceback")  # pebble attaches the worker's traceback to what a task raised
            kind = EXCEPTION
            reason = (
                describe_exception(exc)
                if sent
                else f"could not be sent to a worker: {describe_exception(exc)}"
            )
        else:
            self._succeeded(task, value)
            return True
        if self._failed(task, kind, reason):
            self._schedule(batch, task)
        return False

    def _shutdown(self) -> None:
        for future in self._running:
            future.cancel()
        self._running.clear()
        self._stop(self._pool)
