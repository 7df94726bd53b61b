"""Flags of a whole-landscape plan (windows, workers, executor, resume) and the executor they choose.

Shared by `fuelbreak plan` and whatever else plans a whole landscape (`fuelbreak.planning.landscape`).
"""

from __future__ import annotations

import argparse

from fuelbreak.cli.common import count_int, positive_float
from fuelbreak.errors import ConfigError

EXECUTOR_CHOICES = ("auto", "serial", "process", "ray")
# A landscape of at least this many cells is scored on a process pool by --executor auto (and every
# landscape split into windows is planned on one); a smaller one runs in this process.
POOL_CELLS = 250_000


def add_landscape_args(parser: argparse.ArgumentParser) -> None:
    """--window, --halo, --executor, --workers, --ray-address, --task-timeout, --resume, --state."""
    from fuelbreak.planning.landscape import HALO, OVERSUPPLY, WINDOW

    g = parser.add_argument_group("large landscapes (windows, workers, resume)")
    g.add_argument(
        "--window",
        type=count_int(8),
        default=WINDOW,
        metavar="CELLS",
        help=f"a landscape wider or taller than this is planned in windows of CELLS x CELLS cells with a halo, "
        f"the budget shared where it saves most; scoring fires always burn on the whole landscape (default {WINDOW})",
    )
    g.add_argument(
        "--halo",
        type=count_int(0),
        default=HALO,
        metavar="CELLS",
        help=f"cells around a window that its planning fires burn through (default {HALO})",
    )
    g.add_argument(
        "--oversupply",
        type=oversupply_float,
        metavar="SHARES",
        help="each window first proposes SHARES times its fair share of the budget; a window whose whole "
        f"proposal is taken is asked for twice as many (default {OVERSUPPLY:g})",
    )
    g.add_argument(
        "--executor",
        choices=EXECUTOR_CHOICES,
        default="auto",
        help="where windows and scoring fires run: auto (a process pool on every CPU this process may use for "
        "a landscape split into windows or of 250,000 cells or more, else this process), serial, process or "
        "ray (default auto)",
    )
    g.add_argument(
        "--workers",
        type=count_int(1),
        help="processes of --executor process or of a private local Ray (default: the CPUs this process may use)",
    )
    g.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="with --executor ray: the Ray cluster to join (default: RAY_ADDRESS, else a private local Ray)",
    )
    g.add_argument(
        "--task-timeout",
        type=positive_float,
        default=3600.0,
        help="seconds a window or a chunk of scoring fires may take before its worker is replaced (default 3600)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted windowed plan from its state folder (--state); without it the folder "
        "is started afresh",
    )
    g.add_argument(
        "--state",
        metavar="DIR",
        help="folder that keeps a windowed plan's finished windows until the plan is written "
        "(default: PREFIX.state beside --out)",
    )


def oversupply_float(text: str) -> float:
    """--oversupply: a finite number >= 1."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}") from None
    if not math.isfinite(value) or value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}")
    return value


def executor_from_args(args: argparse.Namespace, n_cells: int, split: bool):
    """The executor of the flags; --executor auto: a process pool on every CPU for a large or split landscape."""
    from fuelbreak.parallel import make_executor
    from fuelbreak.planning.landscape import available_cpus

    kind = args.executor
    if args.ray_address and kind != "ray":
        raise ConfigError(f"--ray-address applies to --executor ray, not {kind}")
    workers = args.workers if args.workers is not None else available_cpus()
    if kind == "auto":
        kind = "process" if workers > 1 and (split or n_cells >= POOL_CELLS) else "serial"
    if kind == "serial":
        if args.workers is not None and args.executor == "serial":
            raise ConfigError("--workers applies to --executor process or ray, not serial")
        return make_executor("serial")
    if kind == "process":
        return make_executor("process", workers=workers, timeout=args.task_timeout)
    from fuelbreak.cli.common import ray_executor_from_args

    return ray_executor_from_args(args, workers)
