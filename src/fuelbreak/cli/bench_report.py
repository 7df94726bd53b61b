"""`fuelbreak bench report`: every results table of the README and the docs, made again (thin over `fuelbreak.benchmarks.report`)."""

from __future__ import annotations

import argparse
import sys

REPORT_FLAGS = ("only", "list", "quick", "out", "root")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the report's flags to `fuelbreak bench`'s parser `p`."""
    g = p.add_argument_group("report (fuelbreak bench report)")
    g.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="report: only these tables (and the commands they need); --list names them",
    )
    g.add_argument("--list", action="store_true", help="report: list the tables, their commands and rough cost; run nothing")
    g.add_argument(
        "--quick",
        action="store_true",
        help="report: tiny sizes, to test the report itself (needs --out; never replaces the docs' tables)",
    )
    g.add_argument(
        "--out",
        metavar="FOLDER",
        help="report: write the tables (NAME.md) here instead of docs/results/, and leave the README and docs as "
        "they are; flammap: write the difference maps as OUT.tif and OUT.png",
    )
    g.add_argument(
        "--root",
        default=".",
        metavar="FOLDER",
        help="report: the repository whose README.md and docs/ show the tables (default: the current folder)",
    )


def refuse_report_flags(args: argparse.Namespace, allowed: tuple[str, ...] = ()) -> None:
    """Refuse the report's flags on another benchmark (but those `allowed`, which it takes too).

    Raises:
        ConfigError: one was given.
    """
    from fuelbreak.errors import ConfigError

    given = [f"--{name}" for name in REPORT_FLAGS if name not in allowed and getattr(args, name) not in (None, False, ".")]
    if given:
        raise ConfigError(f"{', '.join(given)} belong(s) to `bench report`, not `bench {args.what}`")


def run(args: argparse.Namespace) -> int:
    """Run `fuelbreak bench report`; returns the exit code.

    Raises:
        ConfigError: an unknown table, --quick without --out, a root that is not the repository.
    """
    from pathlib import Path

    from fuelbreak.benchmarks import report

    if args.list:
        root = Path(args.root)
        print(report.listing(root if (root / "README.md").is_file() else None, args.real))
        return 0
    result = report.make_report(args.root, args.out, args.only, args.quick, args.real)
    for name, path in result["tables"].items():
        print(f"{name}: {path}")
    for name, why in result["skipped"].items():
        print(f"{name}: skipped ({why})", file=sys.stderr)
    if result["docs"]:
        print("replaced the tables in " + ", ".join(str(p) for p in result["docs"]))
    return 0
