"""Heavy immutable state (a fire engine per tile) kept in workers, so that tasks need not carry it.

Two layers:

- `cached(key, build)`: a per-process cache. A worker process lives across many tasks, so a task can
  keep what it built for the next task that needs the same thing. The cache belongs to the process
  the task runs in: each pool worker has its own (workers started with 'fork' begin with a copy of
  the parent's), it is lost when a worker is replaced, and the serial executor shares the main
  process's. Nothing checks that a key still matches its value: the key must name the content (for
  arrays, include `array_digest` of them), and cached values must not be mutated by tasks. The
  oldest entries are dropped beyond `max_entries`, so memory stays bounded.

- `Shared(key, value)`: an argument of a task (at any depth of its tuples and lists) that an
  executor ships once per worker rather than with every task. The first task with a new key goes
  whole; later ones carry a `SharedRef` (the key alone) in its place, which the worker looks up in
  its cache. On the process pool a worker that lacks it (another, a fresh or a replaced worker)
  answers `StateMissing`, and the executor sends that task again with the value, which the worker
  then caches. On Ray the value is put in the
  object store once per key and the reference travels with the task: a worker that lacks it
  fetches it from the store (from any node). The task function always receives the plain value.

Mutable state a task keeps for the next task of the same key (an episode's fires) is held with
`fuelbreak.held`; executors that `keep_affinity` send such tasks to the process that holds it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

_CACHE: OrderedDict = OrderedDict()

# Shared values a worker keeps at most (fire engines of 50x50 tiles are about 0.2 MB each).
SHARED_ENTRIES = 16


def worker_cache() -> OrderedDict:
    """This process's cache (key -> value), oldest first."""
    return _CACHE


def cached(key: Hashable, build: Callable[[], object], max_entries: int = 32) -> object:
    """The value cached under `key` in this process, built with `build()` on a miss."""
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
        from fuelbreak.errors import ConfigError

        raise ConfigError(f"max_entries must be an integer >= 1, got {max_entries!r}")
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = build()
    _CACHE[key] = value
    while len(_CACHE) > max_entries:
        _CACHE.popitem(last=False)
    return value


def array_digest(*arrays) -> str:
    """A short content hash of arrays (values, dtype and shape), to key cached state by content."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.view(np.uint8).reshape(-1) if a.size else b"")
    return h.hexdigest()


# ---------------------------------------------------------------------------------------- shared state
@dataclass(frozen=True, eq=False)
class Shared:
    """A heavy, immutable task argument named by `key`, a name of its content (e.g. a digest)."""

    key: Hashable
    value: object


@dataclass(frozen=True)
class SharedRef:
    """What travels in place of a `Shared` value: its key, and on Ray the object-store reference."""

    key: Hashable
    ref: object = None


class StateMissing(Exception):
    """Raised in a worker that was sent a `SharedRef` whose key it does not hold."""

    def __init__(self, key):
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"shared state {self.key!r} is not in this worker's cache"


def _map(obj, leaf: Callable):
    """`obj` with every Shared/SharedRef inside its tuples and lists replaced by `leaf(item)`."""
    if isinstance(obj, Shared | SharedRef):
        return leaf(obj)
    if type(obj) is tuple or type(obj) is list:
        out = [_map(x, leaf) for x in obj]
        return tuple(out) if type(obj) is tuple else out
    return obj


def shared_keys(args) -> list:
    """Keys of the Shared/SharedRef items in `args`, in order."""
    found: list = []
    _map(args, lambda s: found.append(s.key) or s)
    return found


def has_shared(args) -> bool:
    """Whether `args` holds any `Shared` or `SharedRef` item."""
    return bool(shared_keys(args))


def unwrap_shared(args):
    """`args` with every `Shared` replaced by its value (for running in this process)."""
    return _map(args, lambda s: s.value)


def to_refs(args, put: Callable[[Shared], object] | None = None):
    """`args` with every `Shared` replaced by a light `SharedRef` (with `put(shared)` as its ref)."""
    return _map(args, lambda s: SharedRef(s.key, put(s) if put else None) if isinstance(s, Shared) else s)


def _resolve(item):
    if isinstance(item, Shared):  # sent whole: keep it for the next tasks
        _CACHE.pop(item.key, None)
        return cached(item.key, lambda: item.value, max_entries=max(SHARED_ENTRIES, 1))
    if item.key in _CACHE:
        _CACHE.move_to_end(item.key)
        return _CACHE[item.key]
    if item.ref is None:
        raise StateMissing(item.key)
    import ray  # a Ray worker: fetch it from the object store once

    value = ray.get(item.ref)
    return cached(item.key, lambda: value, max_entries=SHARED_ENTRIES)


def call_shared(fn: Callable, args: tuple):
    """The worker side: `fn(*args)` with each Shared/SharedRef replaced by its value."""
    return fn(*_map(args, _resolve))
