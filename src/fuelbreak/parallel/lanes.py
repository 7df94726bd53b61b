"""`LaneExecutor`: one worker process per lane, tasks pinned to a lane by key, for state kept between tasks.

A pool's workers take tasks from one queue, so an episode's next step lands on whichever worker is
free, and what the previous step left in its worker (`fuelbreak.held`) is found only by chance. A
`LaneExecutor` is `workers` lanes, each one process that this one talks to over its own pipe: a
task with an affinity key always goes to the lane of that key, so the vector environment's
episodes each keep their fires in one worker. Tasks without a key are dealt to the lanes in turn
(this does not balance uneven tasks; it suits batches of similar tasks, one step per episode).

The lanes keep the process pool's guarantees, each on its own: a task that runs past its timeout
has its worker killed (SIGKILL) and replaced and runs again, up to `retries` more times; a worker
that dies (segfault, SIGKILL, out of memory) is replaced the same way; there the state the task
expected is missing, and the task rebuilds it from its arguments. An exception raised by a task
fails it at once (retried only with `retry_exceptions`), and its worker lives on. Ctrl-C or a bug
while waiting closes every lane. Workers ignore SIGINT.

This replaced a one-worker pebble pool per lane, where a task passed through two helper threads and
a queue in this process. Here a task is one pickled message on a pipe each way, this process runs
no helper thread and waits on every lane's pipe and process at once
(`multiprocessing.connection.wait`). On a 2-core machine the throughput is about the same (both are
bound by the CPU; see `fuelbreak bench env`), with fewer moving parts. A few small tasks may wait
in a lane's pipe behind the one running (at most `PIPELINE_TASKS`, `PIPELINE_BYTES` in all), so
that a worker starts its next task without waiting for this process to read the last result; a
task's timeout counts from when this process saw the task before it finish (never earlier than the
task really started).
"""

from __future__ import annotations

import pickle
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_ready

from fuelbreak.parallel.cache import StateMissing
from fuelbreak.parallel.local import POLL_S, mp_context
from fuelbreak.parallel.outcome import (
    CRASH,
    EXCEPTION,
    TIMEOUT,
    Batch,
    Executor,
    check_count,
    check_timeout,
    describe_exception,
)

# Tasks queued in a lane's pipe behind the one it runs: at most this many, and this many bytes in
# all (well below a Unix socket's buffer, so that sending never blocks on a busy worker).
PIPELINE_TASKS = 4
PIPELINE_BYTES = 64 * 1024

_OK, _MISSING, _RAISED = 0, 1, 2


def _serve(conn, parent_end) -> None:
    """A lane's worker: run each task received on `conn`, answer (status, value or reason)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent_end is not None:
        parent_end.close()
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not data:  # the executor closes the lane
            return
        try:
            fn, args = pickle.loads(data)
            reply = (_OK, fn(*args))
        except StateMissing as exc:
            reply = (_MISSING, exc.key)
        except Exception as exc:
            reply = (_RAISED, describe_exception(exc))
        try:
            out = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            out = pickle.dumps((_RAISED, f"its result could not be sent back: {describe_exception(exc)}"))
        conn.send_bytes(out)


@dataclass(eq=False)
class _Lane:
    """One worker process and its pipe; tasks waiting to be sent and tasks sent, oldest first."""

    context: object
    process: object = None
    conn: object = None
    waiting: deque = field(default_factory=deque)  # (batch, task, pickled message or None)
    sent: deque = field(default_factory=deque)  # (batch, task, bytes): the first one runs
    head_since: float = 0.0  # when the running task started, at the latest

    def start(self) -> None:
        parent, child = self.context.Pipe()
        process = self.context.Process(
            target=_serve, args=(child, parent), daemon=True, name="fuelbreak-lane"
        )
        process.start()
        child.close()
        self.process, self.conn = process, parent

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.conn.close()
            self.process = self.conn = None

    def queued_bytes(self) -> int:
        return sum(size for _, _, size in list(self.sent)[1:])


class LaneExecutor(Executor):
    """`workers` worker processes; tasks with equal affinity keys go to the same one.

    Options as `ProcessExecutor`'s. Use it from one thread, and close it (or use `with`).
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
        self.start_method = start_method
        context = mp_context(start_method)
        self._lanes = [_Lane(context) for _ in range(self.workers)]
        try:
            for lane in self._lanes:
                lane.start()
        except BaseException:
            self._shutdown()
            raise
        self._next = 0  # the lane of the next task without a key

    def lane_of(self, key) -> int:
        """The lane (0 .. workers - 1) that runs tasks with affinity `key`."""
        return hash(key) % self.workers

    # -- Executor ------------------------------------------------------------------------------
    def _start(self, batch: Batch) -> None:
        for task in batch.tasks:
            if task.affinity is None:
                lane, self._next = self._next, (self._next + 1) % self.workers
            else:
                lane = self.lane_of(task.affinity)
            self._lanes[lane].waiting.append((batch, task, None))
        try:
            self._send_waiting()
        except BaseException:
            self.close()
            raise

    def _wait(self, batch: Batch) -> None:
        try:
            while any(task.outcome is None for task in batch.tasks):
                self._send_waiting()
                busy = [lane for lane in self._lanes if lane.sent]
                if not busy:  # cannot happen: a task without an outcome waits or was sent
                    raise RuntimeError("lanes idle while a batch has tasks without outcomes")
                due = min(lane.head_since + lane.sent[0][1].timeout for lane in busy)
                ready = wait_ready(
                    [lane.conn for lane in busy] + [lane.process.sentinel for lane in busy],
                    timeout=max(0.0, min(POLL_S, due - time.monotonic())),
                )
                if ready or time.monotonic() >= due:
                    for lane in busy:
                        self._service(lane)
        except BaseException:  # Ctrl-C, or a bug: never leave workers behind
            self.close()
            raise

    def _shutdown(self) -> None:
        for lane in self._lanes:
            lane.kill()

    # -- lanes ---------------------------------------------------------------------------------
    def _send_waiting(self) -> None:
        """Send each lane's waiting tasks, as many as its pipe may hold."""
        for lane in self._lanes:
            while lane.waiting and len(lane.sent) <= PIPELINE_TASKS:
                batch, task, data = lane.waiting.popleft()
                if data is None:
                    fn, args = self._wire(task)
                    try:
                        data = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
                    except Exception as exc:
                        reason = f"could not be sent to a worker: {describe_exception(exc)}"
                        self._failed(task, EXCEPTION, reason, final=True)
                        continue
                if lane.sent and lane.queued_bytes() + len(data) > PIPELINE_BYTES:
                    lane.waiting.appendleft((batch, task, data))  # goes when the lane is free
                    break
                try:
                    lane.conn.send_bytes(data)
                except OSError:  # the worker is gone: put the task back; _service replaces it
                    lane.waiting.appendleft((batch, task, data))
                    if not lane.sent:
                        self._replace(lane)
                        continue
                    break
                if not lane.sent:
                    lane.head_since = time.monotonic()
                lane.sent.append((batch, task, len(data)))

    def _service(self, lane: _Lane) -> None:
        """Take the lane's results; replace its worker if it died or its running task timed out."""
        alive = True
        while lane.sent and lane.conn.poll():
            try:
                status, value = pickle.loads(lane.conn.recv_bytes())
            except (EOFError, OSError):
                alive = False
                break
            batch, task, _ = lane.sent.popleft()
            lane.head_since = time.monotonic()
            if status == _OK:
                self._succeeded(task, value)
            elif status == _MISSING:  # a worker without the task's shared state: send it along
                task.full = True
                self.stats["state_resends"] += 1
                lane.waiting.appendleft((batch, task, None))
            elif self._failed(task, EXCEPTION, value):
                lane.waiting.appendleft((batch, task, None))
        if not lane.sent:
            return
        if not alive or not lane.process.is_alive():
            lane.process.join(timeout=5.0)  # it closed its pipe: it is exiting (for its exit code)
            self._lose_head(lane, CRASH, f"worker died (exit {lane.process.exitcode})")
        elif time.monotonic() >= lane.head_since + lane.sent[0][1].timeout:
            self._lose_head(lane, TIMEOUT, f"timeout after {lane.sent[0][1].timeout:g} s")

    def _lose_head(self, lane: _Lane, kind: str, reason: str) -> None:
        """The running task failed with its worker.

        Replace the worker; the task runs again if allowed, the tasks queued behind it (which never started)
        go again as they were.
        """
        (batch, task, _), behind = lane.sent[0], list(lane.sent)[1:]
        lane.sent.clear()
        for entry in reversed(behind):
            lane.waiting.appendleft((entry[0], entry[1], None))
        if self._failed(task, kind, reason):
            lane.waiting.appendleft((batch, task, None))
        self._replace(lane)

    def _replace(self, lane: _Lane) -> None:
        lane.kill()
        self.stats["workers_replaced"] += 1
        lane.start()
