"""`RayExecutor`: the executor interface on Ray, for a cluster or a private local Ray (optional extra `ray`)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import OrderedDict, deque

from fuelbreak.errors import ClusterError, ConfigError
from fuelbreak.parallel.cache import Shared, call_shared, to_refs
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
# Seconds between checks that the cluster's head still answers, while the executor is used.
HEALTH_S = 2.0
# Failed connects in a row (0.5 s apart) before the cluster counts as lost.
HEALTH_FAILURES = 3
# Seconds between looks at the cluster's size (its CPUs bound the tasks in flight).
RESIZE_S = 10.0
# Shared values kept in the object store at once (least recently used dropped first).
STORE_ENTRIES = 64


def import_ray():
    """Ray, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"the ray executor needs Ray ({exc}); pip install fuelbreak[ray]") from exc
    return ray


def auth_hint(exc: BaseException) -> str:
    """What to check when a join fails as a refused token does.

    Ray 2.60 answers a join whose token the cluster refuses with a plain "Failed to connect" (its own
    log says InvalidAuthToken); a token left in ~/.ray/auth_token by an earlier Ray is the usual cause.
    """
    text = str(exc)
    if "InvalidAuthToken" in text or "auth" in text.lower() or "Failed to connect" in text:
        return (
            "; if the cluster uses token authentication, the token may have been refused (Ray's log then "
            "says InvalidAuthToken): this machine's token (~/.ray/auth_token, or RAY_AUTH_TOKEN) must be "
            "the cluster's, or remove a stale ~/.ray/auth_token left by an earlier Ray"
        )
    return ""


def resolve_address(address: str | None) -> tuple[str | None, str]:
    """The cluster to join and where its name came from: `address`, else RAY_ADDRESS, else none."""
    if address:
        return address, "--ray-address / run.ray_address"
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if env:
        return env, "RAY_ADDRESS"
    return None, ""


def host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of 'host:port' or 'ray://host:port'; None for 'auto' and the like."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def probe(hp: tuple[str, int], timeout: float) -> str | None:
    """None when something accepts a TCP connection at (host, port), else why not."""
    try:
        with socket.create_connection(hp, timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def _call(fn, args: tuple):
    """What every Ray task runs: the pure task itself."""
    return fn(*args)


class RayExecutor(Executor):
    """Runs tasks as Ray remote tasks, each given one CPU, with timeouts and retries done here.

    The cluster: `address` ("HOST:6379", "ray://HOST:10001", "auto"), else the RAY_ADDRESS
    environment variable, is joined and left running (its resources are its own: `num_cpus` is
    then an error); with neither, a private local Ray with `num_cpus` CPUs (all by default) is
    started, which `close()` shuts down. An address where nothing answers within
    `connect_timeout` seconds is a ClusterError naming it. If Ray is already initialised in this
    process, that connection is used and left open. A cluster that goes away during a run (its
    head stops answering) is a ClusterError within a few seconds, never a hang.

    At most one task per cluster CPU (or `max_in_flight`, to use part of a cluster) is in flight, so a task starts when it is sent and its
    timeout counts from then, including the start of a fresh worker (about a second): choose the
    timeout with that margin. A task past its timeout is cancelled with `ray.cancel(force=True)`,
    which kills its worker, and runs again; a worker that dies surfaces as Ray's
    WorkerCrashedError and is retried the same way. Ray's own retries are off.

    `Shared` task arguments are put in the object store once per key; tasks carry the reference
    and each worker fetches the value once (see `fuelbreak.parallel.cache`).
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
        connect_timeout: float = 10.0,
        max_in_flight: int | None = None,
    ):
        super().__init__(check_timeout(timeout, allow_none=False), retries, retry_exceptions)
        connect_timeout = check_timeout(connect_timeout, "connect_timeout", allow_none=False)
        address, source = resolve_address(address)
        self.address = address
        if num_cpus is not None:
            check_count(num_cpus, "num_cpus", 1)
            if address is not None:
                raise ConfigError(
                    f"num_cpus (--workers) applies to a private local Ray only; the cluster at {address} "
                    f"(from {source}) has its own CPUs"
                )
        ray = self._ray = import_ray()
        self._owns_ray = not ray.is_initialized()
        self._lost: str | None = None
        self._hp = None
        if self._owns_ray:
            if address is None:
                ray.init(
                    address="local",  # never an existing cluster found on this machine
                    num_cpus=num_cpus,
                    include_dashboard=False,
                    logging_level="warning",
                    runtime_env=runtime_env,
                )
            else:
                self._join(ray, address, source, connect_timeout, runtime_env)
        try:
            gcs = ray.get_runtime_context().gcs_address
            self._hp = host_port(gcs) if gcs else None
        except Exception:  # noqa: BLE001 - Ray client connections have no GCS address: use the one given
            self._hp = host_port(address) if address else None
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_call)
        if max_in_flight is not None:
            check_count(max_in_flight, "max_in_flight", 1)
        self.max_in_flight = max_in_flight
        self.slots = self._cluster_cpus()
        self._store: OrderedDict = OrderedDict()  # shared key -> ObjectRef
        self._queue: deque[tuple[Batch, Task]] = deque()
        self._running: dict = {}  # ObjectRef -> (batch, task, time sent)
        self._last_result = time.monotonic()
        self._next_health = 0.0
        self._next_resize = time.monotonic() + RESIZE_S

    def _join(self, ray, address: str, source: str, connect_timeout: float, runtime_env) -> None:
        where = f"{address} (from {source})"
        hp = host_port(address)
        if hp is not None:
            why = probe(hp, connect_timeout)
            if why is not None:
                raise ClusterError(
                    f"no Ray cluster answers at {where}: {why} (waited up to {connect_timeout:g} s); start one "
                    "with `ray start --head` or correct the address"
                )
        try:
            ray.init(address=address, logging_level="warning", runtime_env=runtime_env)
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds here (connection, authentication, version)
            raise ClusterError(
                f"could not join the Ray cluster at {where}: {describe_exception(exc)}{auth_hint(exc)}"
            ) from None

    def _cluster_cpus(self) -> int:
        cpus = max(1, int(self._ray.cluster_resources().get("CPU", 1)))
        return min(cpus, self.max_in_flight) if self.max_in_flight else cpus

    def _where(self) -> str:
        return f"the Ray cluster at {self.address}" if self.address else "the private local Ray"

    # -- shared state --------------------------------------------------------------------------
    def _put(self, shared: Shared):
        ref = self._store.get(shared.key)
        if ref is None:
            ref = self._store[shared.key] = self._ray.put(shared.value)
            while len(self._store) > STORE_ENTRIES:
                self._store.popitem(last=False)
        else:
            self._store.move_to_end(shared.key)
        return ref

    def _wire(self, task: Task):
        if not task.shared:
            return task.fn, task.args
        return call_shared, (task.fn, to_refs(task.args, self._put))

    # -- Executor ------------------------------------------------------------------------------
    def _start(self, batch: Batch) -> None:
        self._check_lost()
        self._check_health()
        if time.monotonic() > self._next_resize:  # nodes may have joined or left the cluster
            self._next_resize = time.monotonic() + RESIZE_S
            self._check_health(force=True)  # asking a lost head for its size would block
            try:
                self.slots = self._cluster_cpus()
            except Exception as exc:  # noqa: BLE001 - the head does not answer: the cluster is gone
                self._lose(f"lost {self._where()}: {describe_exception(exc)}")
        self._queue.extend((batch, task) for task in batch.tasks)
        self._fill()

    def _check_lost(self) -> None:
        if self._lost:
            raise ClusterError(self._lost)

    def _fill(self) -> None:
        while self._queue and len(self._running) < self.slots:
            batch, task = self._queue.popleft()
            ref = self._remote.remote(*self._wire(task))
            self._running[ref] = (batch, task, time.monotonic())
            batch.pending[ref] = task

    def _wait(self, batch: Batch) -> None:
        try:
            while any(t.outcome is None for t in batch.tasks):
                self._step()
        except BaseException:  # Ctrl-C, a lost cluster, or a bug: cancel everything
            self.close()
            raise

    def _step(self) -> None:
        """Wait a little for results, settle what finished, cancel what ran out of time, refill."""
        ray = self._ray
        self._check_lost()
        try:
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
                self._last_result = time.monotonic()
            for ref in ready:
                self._settle(ref)
            now = time.monotonic()
            for ref, (_batch, task, sent) in list(self._running.items()):
                if now - sent > task.timeout:
                    ray.cancel(ref, force=True)
                    self.stats["workers_replaced"] += 1
                    self._finish(ref, TIMEOUT, f"timeout after {task.timeout:g} s")
            self._fill()
        except ClusterError:
            raise
        except (ConnectionError, OSError, ray.exceptions.RaySystemError) as exc:
            self._lose(f"lost {self._where()}: {describe_exception(exc)}")
        self._check_health()

    def _check_health(self, force: bool = False) -> None:
        """Every HEALTH_S seconds of use (or now, with `force`), check that the cluster's head still answers a TCP connect.

        A head that fails HEALTH_FAILURES tries in a row is lost.

        Tasks may go on finishing on live nodes for a while after the head is gone, and calls that
        need the head (the cluster's size) would then block for a minute before Ray ends the
        process, so this neither waits for results to stop nor relies on those calls.
        """
        now = time.monotonic()
        if self._hp is None or (not force and now < self._next_health):
            return
        self._next_health = now + HEALTH_S
        for attempt in range(HEALTH_FAILURES):
            why = probe(self._hp, 1.0)
            if why is None:
                return
            if attempt + 1 < HEALTH_FAILURES:
                time.sleep(0.5)
        host, port = self._hp
        self._lose(
            f"lost {self._where()}: its head ({host}:{port}) stopped answering ({why}); "
            f"{len(self._running)} task(s) were in flight"
        )

    def _lose(self, reason: str) -> None:
        self._lost = reason
        raise ClusterError(reason)

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
        if not self._lost:
            for ref in self._running:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - best effort: the shutdown below stops everything anyway
                    pass
        self._running.clear()
        self._queue.clear()
        self._store.clear()
        if self._owns_ray:
            # On a lost cluster, disconnecting may wait on the dead head: never longer than a few seconds.
            t = threading.Thread(target=self._ray.shutdown, daemon=True)
            t.start()
            t.join(5.0 if self._lost else 60.0)
