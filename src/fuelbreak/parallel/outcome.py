"""What a task came to (`Outcome`), the executor interface, and the retry rules all executors share.

A task is a module-level function and a tuple of picklable arguments. An executor runs a batch of
tasks and returns one `Outcome` per task, in order. A failed task never gets a made-up value: its
`value` is None and `error` says why (timeout, worker death or the exception it raised).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from fuelbreak.errors import ConfigError, SimulationError
from fuelbreak.parallel.cache import call_shared, has_shared, shared_keys, to_refs

STAT_KEYS = (
    "tasks",
    "timeouts",
    "crashes",
    "exceptions",
    "retries",
    "workers_replaced",
    "pool_restarts",
    "state_resends",  # tasks sent again with their shared state, to a worker that lacked it
)

# Shared keys remembered as sent (beyond, a key counts as new and goes whole once more).
SENT_KEYS = 1024

# Kinds of failed attempt. Timeouts and crashes are retried (a fresh worker may succeed); an
# exception is retried only on request, as a deterministic error would only repeat.
TIMEOUT, CRASH, EXCEPTION = "timeout", "crash", "exception"
_STAT_OF_KIND = {TIMEOUT: "timeouts", CRASH: "crashes", EXCEPTION: "exceptions"}


@dataclass(frozen=True)
class Outcome:
    """One task's fate: its result when `ok`, else None and the reason in `error`."""

    ok: bool
    value: object = None
    error: str = ""
    attempts: int = 1


def describe_exception(exc: BaseException) -> str:
    """'raised ValueError: message', the form every executor reports an exception in."""
    text = str(exc)
    return f"raised {type(exc).__name__}: {text}" if text else f"raised {type(exc).__name__}"


def task_name(fn: Callable) -> str:
    """The module-qualified name of `fn`, for messages."""
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


@dataclass(eq=False)
class Task:
    """One task of a batch and the record of its attempts."""

    index: int
    fn: Callable
    args: tuple
    timeout: float | None
    attempts: int = 0
    reasons: list[str] = field(default_factory=list)
    outcome: Outcome | None = None
    shared: bool = False  # its arguments hold `Shared` state, sent once per worker
    full: bool = False  # send the shared state itself (a worker lacked it)
    affinity: Hashable = None  # tasks with equal keys run in one process, where the executor can


@dataclass(eq=False)
class Batch:
    """A submitted batch: hand it to the executor's `collect` to get its outcomes."""

    executor: Executor
    fn: Callable
    tasks: list[Task]
    pending: dict = field(default_factory=dict)  # executor handle (future, ref) -> Task
    collected: bool = False


def check_timeout(timeout: float | None, name: str = "timeout", allow_none: bool = True) -> float | None:
    """`timeout` (seconds) as a float, or None where `allow_none`.

    Raises:
        ConfigError: not a positive finite number; the message names `name`.
    """
    if timeout is None and allow_none:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ConfigError(f"{name} must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def check_count(value: int, name: str, minimum: int) -> int:
    """`value`, an int at least `minimum`.

    Raises:
        ConfigError: not an int (bools refused) or below `minimum`; the message names `name`.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class Executor(ABC):
    """Runs pure tasks; see the module docstring of `fuelbreak.parallel` for the contract.

    Subclasses implement `_start(batch)` (begin running a batch's tasks), `_wait(batch)` (return
    when every task has an outcome) and `_shutdown()`.
    """

    kind = "base"
    # Whether tasks given the same affinity key run in the same process (so that state a task holds
    # there, `fuelbreak.held.hold`, is found by the next one). Otherwise keys are ignored.
    keeps_affinity = False

    def __init__(self, timeout: float | None, retries: int, retry_exceptions: bool):
        self.timeout = check_timeout(timeout)
        self.retries = check_count(retries, "retries", 0)
        self.retry_exceptions = bool(retry_exceptions)
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self._sent_keys: OrderedDict = OrderedDict()  # shared keys sent whole at least once
        self.closed = False

    # -- the interface -------------------------------------------------------------------------
    def submit_batch(
        self,
        fn: Callable,
        args_list: Sequence[tuple],
        timeout: float | None = None,
        affinity: Sequence[Hashable] | None = None,
    ) -> Batch:
        """Start running `fn(*args)` for each args tuple; return at once with a handle for `collect`.

        `timeout` (seconds) overrides the executor's for this batch. A failed attempt is run again
        when `collect` finds it, so retries happen while the caller waits. `affinity`, one key per
        task (None: any process), sends tasks with equal keys to one process where the executor
        `keeps_affinity`; a task must still give the right result wherever it runs.
        """
        if self.closed:
            raise SimulationError(f"the {self.kind} executor is closed; make a new one")
        if not callable(fn):
            raise ConfigError(f"a task must be a module-level function, got {fn!r}")
        limit = self.timeout if timeout is None else check_timeout(timeout)
        if affinity is not None and len(affinity) != len(args_list):
            raise ConfigError(f"affinity needs one key per task ({len(args_list)}), got {len(affinity)}")
        tasks = []
        for i, args in enumerate(args_list):
            if not isinstance(args, tuple | list):
                raise ConfigError(f"task {i}: arguments must be a tuple, got {type(args).__name__}")
            key = None if affinity is None else affinity[i]
            tasks.append(Task(i, fn, tuple(args), limit, shared=has_shared(args), affinity=key))
        self.stats["tasks"] += len(tasks)
        batch = Batch(self, fn, tasks)
        self._start(batch)
        return batch

    def collect(self, batch: Batch) -> list[Outcome]:
        """Wait for a submitted batch; return its outcomes in task order."""
        if batch.executor is not self:
            raise ConfigError("this batch was submitted to another executor")
        if batch.collected:
            raise ConfigError("this batch was already collected")
        if self.closed:
            raise SimulationError(f"the {self.kind} executor was closed before the batch was collected")
        self._wait(batch)
        batch.collected = True
        return [t.outcome for t in batch.tasks]

    def run_batch(
        self,
        fn: Callable,
        args_list: Sequence[tuple],
        timeout: float | None = None,
        affinity: Sequence[Hashable] | None = None,
    ) -> list[Outcome]:
        """Run every task; one `Outcome` per task, in order. Failures are outcomes, not exceptions."""
        return self.collect(self.submit_batch(fn, args_list, timeout, affinity))

    def map(self, fn: Callable, args_list: Sequence[tuple], timeout: float | None = None) -> list:
        """Values of every task, in order; raise `SimulationError` naming the first task that failed."""
        outcomes = self.run_batch(fn, args_list, timeout)
        raise_for_failures(fn, outcomes)
        return [o.value for o in outcomes]

    def close(self) -> None:
        """Stop every worker, pending tasks included; safe to call twice."""
        if not self.closed:
            self.closed = True
            self._shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what a worker is sent ------------------------------------------------------------------
    def _wire(self, task: Task) -> tuple[Callable, tuple]:
        """The function and arguments that go to a worker: shared state by key, unless `task.full`.

        The first task with a key this executor never sent goes full, so that one worker has it
        without a miss; a worker that lacks it later answers StateMissing and gets it then.
        """
        if not task.shared:
            return task.fn, task.args
        keys = shared_keys(task.args)
        if not task.full and any(k not in self._sent_keys for k in keys):
            task.full = True
        if not task.full:
            return call_shared, (task.fn, to_refs(task.args))
        for k in keys:
            self._sent_keys[k] = None
            self._sent_keys.move_to_end(k)
        while len(self._sent_keys) > SENT_KEYS:
            self._sent_keys.popitem(last=False)
        return call_shared, (task.fn, task.args)

    # -- shared retry rules --------------------------------------------------------------------
    def _succeeded(self, task: Task, value: object) -> None:
        task.attempts += 1
        task.outcome = Outcome(True, value, "", task.attempts)

    def _failed(self, task: Task, kind: str, reason: str, final: bool = False) -> bool:
        """Record a failed attempt; return True when the task should run again (never when `final`)."""
        task.attempts += 1
        task.reasons.append(reason)
        self.stats[_STAT_OF_KIND[kind]] += 1
        retry = not final and task.attempts <= self.retries and (kind != EXCEPTION or self.retry_exceptions)
        if retry:
            self.stats["retries"] += 1
        else:
            task.outcome = Outcome(False, None, failure_text(task), task.attempts)
        return retry

    @abstractmethod
    def _start(self, batch: Batch) -> None: ...

    @abstractmethod
    def _wait(self, batch: Batch) -> None: ...

    @abstractmethod
    def _shutdown(self) -> None: ...


def failure_text(task: Task) -> str:
    """The last reason, and the earlier ones when the task ran more than once."""
    last = task.reasons[-1]
    if len(task.reasons) == 1:
        return last
    if len(set(task.reasons)) == 1:
        return f"{last} (each of {task.attempts} attempts)"
    return f"{last} (attempts: {'; '.join(task.reasons)})"


def raise_for_failures(fn: Callable, outcomes: Sequence[Outcome]) -> None:
    """Raise for the first failed outcome of a batch of `fn`, if any.

    Raises:
        SimulationError: naming the first failed task, its attempts and error, and how many others failed.
    """
    failed = [i for i, o in enumerate(outcomes) if not o.ok]
    if not failed:
        return
    first = failed[0]
    others = f"; {len(failed) - 1} other task(s) failed too" if len(failed) > 1 else ""
    raise SimulationError(
        f"task {first} of {len(outcomes)} ({task_name(fn)}) failed after {outcomes[first].attempts} "
        f"attempt(s): {outcomes[first].error}{others}"
    )
