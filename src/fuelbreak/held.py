"""State a process holds between tasks: mutable, taken out while a task uses it, put back after.

A task that updates something step by step (an episode's fires, one break at a time) takes it
out of its process with `take_held(key)` and puts it back with `hold(key, value)` once it
succeeded. A task that raises or dies leaves nothing half-updated behind: the state is simply
missing, and the next task that needs it rebuilds it from its own arguments, so a task gives the
same result wherever it runs. Holding pays only where an executor sends a key's tasks to the same
process (`fuelbreak.parallel.Executor.keeps_affinity`: in process, or `LaneExecutor`).

This module sits below every layer (like `fuelbreak.errors`): the environment's tasks hold state
with it, and the parallel layer routes tasks to it, without either importing the other.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

# States a process holds at most (an episode's fires on a 50x50 tile are about 2-3 MB); the oldest
# go first, so an episode abandoned mid-way (a failed step, a closed environment) is dropped in time.
HELD_ENTRIES = 16

_HELD: OrderedDict = OrderedDict()


def take_held(key: Hashable) -> object | None:
    """The state held under `key` in this process, removed from it (None when there is none)."""
    return _HELD.pop(key, None)


def hold(key: Hashable, value: object, max_entries: int = HELD_ENTRIES) -> None:
    """Hold `value` under `key` in this process for a later task; the oldest beyond `max_entries` go."""
    _HELD[key] = value
    _HELD.move_to_end(key)
    while len(_HELD) > max_entries:
        _HELD.popitem(last=False)


def held_keys() -> list:
    """Keys of the states this process holds, oldest first."""
    return list(_HELD)
