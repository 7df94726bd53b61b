"""`LaneExecutor`: a process pool whose tasks can be pinned to a worker, for state kept between tasks.

A pool's workers take tasks from one queue, so an episode's next step lands on whichever worker is
free, and what the previous step left in its worker (`fuelbreak.parallel.cache.hold`) is found
only by chance. A `LaneExecutor` is `workers` lanes, each a one-worker `ProcessExecutor`: a task
with an affinity key always goes to the lane of that key, so the vector environment's episodes
each keep their fires in one worker. Each lane keeps the pool's guarantees on its own: a task that
hangs or dies has its worker replaced and runs again (there, the state it expected is missing, and
the task rebuilds it from its arguments), and Ctrl-C or a failure closes every lane.

Tasks without a key are dealt to the lanes in turn. Unlike a shared queue this does not balance
uneven tasks; it suits batches of similar tasks (an environment step for each episode).
"""

from __future__ import annotations

from dataclasses import dataclass

from fuelbreak.parallel.local import ProcessExecutor
from fuelbreak.parallel.outcome import STAT_KEYS, Batch, Executor, check_count, check_timeout


@dataclass(eq=False)
class _LaneBatch:
    """One lane's part of a batch: the batch it was given and the indices of its tasks."""

    lane: ProcessExecutor
    batch: Batch
    tasks: list


class LaneExecutor(Executor):
    """`workers` one-worker process pools; tasks with equal affinity keys go to the same worker.

    The options are `ProcessExecutor`'s, each lane built with them. Use it from one thread, and
    close it (or use `with`).
    """

    kind = "process"
    keeps_affinity = True

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
        self._lanes: list[ProcessExecutor] = []
        try:
            for _ in range(self.workers):
                self._lanes.append(ProcessExecutor(1, timeout, retries, retry_exceptions, start_method))
        except BaseException:
            self._shutdown()
            raise
        self._next = 0  # the lane of the next task without a key

    def lane_of(self, key) -> int:
        """The lane (0 .. workers - 1) that runs tasks with affinity `key`."""
        return hash(key) % self.workers

    # -- Executor ------------------------------------------------------------------------------
    def _start(self, batch: Batch) -> None:
        by_lane: dict[int, list] = {}
        for task in batch.tasks:
            if task.affinity is None:
                lane, self._next = self._next, (self._next + 1) % self.workers
            else:
                lane = self.lane_of(task.affinity)
            by_lane.setdefault(lane, []).append(task)
        try:
            for lane, tasks in by_lane.items():
                executor = self._lanes[lane]
                part = executor.submit_batch(batch.fn, [t.args for t in tasks], tasks[0].timeout)
                batch.pending[lane] = _LaneBatch(executor, part, tasks)
        except BaseException:
            self.close()
            raise

    def _wait(self, batch: Batch) -> None:
        try:
            for lane in list(batch.pending):
                part = batch.pending.pop(lane)
                for task, outcome in zip(part.tasks, part.lane.collect(part.batch), strict=True):
                    task.attempts = outcome.attempts
                    task.outcome = outcome
        except BaseException:  # Ctrl-C, or a bug: never leave workers behind
            self.close()
            raise
        finally:
            self._sum_stats()

    def _sum_stats(self) -> None:
        for key in STAT_KEYS:
            if key != "tasks":  # counted once, by submit_batch
                self.stats[key] = sum(lane.stats[key] for lane in self._lanes)

    def _shutdown(self) -> None:
        for lane in self._lanes:
            lane.close()
