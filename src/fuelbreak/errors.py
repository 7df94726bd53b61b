"""Errors that carry an exit code, so the CLI can report bad input clearly and exit non-zero.

Every error raised for bad input names what is wrong: the file, the layer or the flag.
"""

from __future__ import annotations


class FuelbreakError(Exception):
    """Base class: a problem a user can fix. The CLI prints the message and exits with `exit_code`."""

    exit_code = 1


class InputError(FuelbreakError, ValueError):
    """Bad input data: a missing file, a wrong shape, NaN, an unknown fuel code."""

    exit_code = 2


class ConfigError(FuelbreakError, ValueError):
    """A bad flag or configuration value."""

    exit_code = 2


class CheckpointError(FuelbreakError):
    """A checkpoint that is corrupt, incomplete, unsafe or of another model."""

    exit_code = 3


class SimulationError(FuelbreakError, RuntimeError):
    """A simulation task that kept failing (crash, hang or exception) after its retries."""

    exit_code = 4


class FetchError(FuelbreakError):
    """Data that could not be fetched: a box outside a source's coverage, a server down, a truncated file."""

    exit_code = 6


class ClusterError(FuelbreakError, RuntimeError):
    """A Ray cluster that cannot be reached at the address given, or that went away during a run."""

    exit_code = 6
