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


class OutputError(FuelbreakError):
    """An output that cannot be written: a read-only folder, a file where a folder goes (or the reverse)."""

    exit_code = 7


class OutputBusyError(OutputError):
    """Another fuelbreak run is writing the same output (its lock is held)."""

    exit_code = 8


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every clean-up for Ctrl-C runs; the CLI exits with 143."""


# Exit codes of the `fuelbreak` command (documented in `fuelbreak --help` and docs/troubleshooting.md).
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "another error fuelbreak reports (a problem a user can fix that fits no code below)",
    2: "bad input or flag: a missing, truncated or malformed file, a wrong shape, NaN, an unknown fuel code, "
    "a value out of range (argparse's usage errors too)",
    3: "a checkpoint that is corrupt, incomplete, unsafe, of another model or with non-finite weights",
    4: "simulations that kept failing (crash, hang or exception) after their retries; no plan could be scored",
    5: "train --supervise gave up after --max-restarts restarts",
    6: "data could not be fetched (server down, too slow for --timeout, box outside or partly outside the "
    "data) or a Ray cluster could not be reached",
    7: "an output cannot be written: a read-only folder, a file where a folder goes or the reverse, a full disk",
    8: "another fuelbreak run is writing the same output (its lock is held); nothing was written",
    70: "an internal error (a bug): please report it; FUELBREAK_DEBUG=1 shows the traceback",
    130: "interrupted by Ctrl-C (SIGINT); the message says what was kept",
    143: "stopped by SIGTERM; the message says what was kept",
}
