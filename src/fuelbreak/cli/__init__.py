"""The `fuelbreak` command: one subcommand per job (data, simulate, train, evaluate, visualize, plan, bench).

Each subcommand lives in its own module with `register(subparsers)`, which adds its parser and sets
`func(args) -> int`. Errors a user can fix (`FuelbreakError`) are printed as one line naming the
file, layer or flag, and the process exits with the error's code; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from fuelbreak import __version__
from fuelbreak.errors import FuelbreakError

# Subcommand modules, in the order `fuelbreak --help` lists them.
COMMANDS = ("data", "simulate", "train", "evaluate", "visualize", "plan", "policy", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fuelbreak",
        description="Learn where to put wildfire fuel breaks.",
    )
    parser.add_argument("--version", action="version", version=f"fuelbreak {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"fuelbreak.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FuelbreakError as exc:
        print(f"fuelbreak {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"fuelbreak {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
