"""A per-process cache for heavy immutable state that tasks rebuild otherwise (a fire engine per tile).

A worker process lives across many tasks, so a task can keep what it built for the next task that
needs the same thing: `cached(key, build)` returns the cached value or builds and stores it. The
cache belongs to the process the task runs in: each pool worker has its own (workers started with
'fork' begin with a copy of the parent's), it is lost when a worker is replaced, and the serial
executor shares the main process's. Nothing checks that a key still matches its value: the key
must name the content (for arrays, include `array_digest` of them), and cached values must not be
mutated by tasks. The oldest entries are dropped beyond `max_entries`, so memory stays bounded.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

from fuelbreak.parallel.outcome import check_count

_CACHE: OrderedDict = OrderedDict()


def worker_cache() -> OrderedDict:
    """This process's cache (key -> value), oldest first."""
    return _CACHE


def cached(key: Hashable, build: Callable[[], object], max_entries: int = 32) -> object:
    """The value cached under `key` in this process, built with `build()` on a miss."""
    check_count(max_entries, "max_entries", 1)
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
