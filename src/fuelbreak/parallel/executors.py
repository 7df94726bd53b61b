"""`make_executor`: an executor by name, so that configuration files and flags can choose one."""

from __future__ import annotations

import inspect

from fuelbreak.errors import ConfigError
from fuelbreak.parallel.local import ProcessExecutor, SerialExecutor
from fuelbreak.parallel.outcome import Executor

EXECUTORS = ("serial", "process", "ray")


def _executor_class(kind: str) -> type[Executor]:
    if kind == "serial":
        return SerialExecutor
    if kind == "process":
        return ProcessExecutor
    if kind == "ray":
        from fuelbreak.parallel.ray_executor import RayExecutor  # Ray is imported only when asked for

        return RayExecutor
    raise ConfigError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")


def make_executor(kind: str, **options) -> Executor:
    """An executor of the given kind ('serial', 'process' or 'ray') built with its keyword options.

    An option the kind does not take is a ConfigError naming it and the options it does take.
    """
    cls = _executor_class(kind)
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        accepted = ", ".join(inspect.signature(cls).parameters)
        raise ConfigError(f"executor {kind!r}: {exc}; it takes {accepted}") from None
    return cls(**options)
