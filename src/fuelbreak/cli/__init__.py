"""The `fuelbreak` command: one subcommand per job (data, simulate, train, evaluate, visualize, plan, bench).

Each subcommand lives in its own module with `register(subparsers)`, which adds its parser and sets
`func(args) -> int`. Errors a user can fix (`FuelbreakError`) are printed as one line naming the
file, layer or flag, and the process exits with the error's code (`fuelbreak.errors.EXIT_CODES`,
listed by `fuelbreak --help`); Ctrl-C exits with 130, SIGTERM with 143, after saying what was kept.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

from fuelbreak import __version__
from fuelbreak.errors import FuelbreakError, Terminated

# Subcommand modules, in the order `fuelbreak --help` lists them.
COMMANDS = ("data", "simulate", "train", "evaluate", "visualize", "plan", "policy", "bench")


def exit_codes_text() -> str:
    """The epilog that lists the exit codes (`fuelbreak.errors.EXIT_CODES`)."""
    import textwrap

    from fuelbreak.errors import EXIT_CODES

    return "exit codes:\n" + "\n".join(
        textwrap.fill(text, width=100, initial_indent=f"  {code:>3}  ", subsequent_indent=" " * 7)
        for code, text in EXIT_CODES.items()
    )


def build_parser() -> argparse.ArgumentParser:
    """The `fuelbreak` command's parser, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="fuelbreak",
        description="Learn where to put wildfire fuel breaks.",
        epilog=exit_codes_text()
        + "\n\nMore on each code and the common mistakes: docs/troubleshooting.md in the repository.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fuelbreak {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"fuelbreak.cli.{name}").register(sub)
    return parser


_MAIN_PID = os.getpid()


def _on_sigterm(signum, frame):
    """SIGTERM in the command's own process raises Terminated (cleaned up like Ctrl-C).

    A worker forked from it (a process pool stops its workers with SIGTERM) inherits this handler: there,
    SIGTERM keeps its default meaning and ends the worker at once.
    """
    if os.getpid() != _MAIN_PID:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (see `fuelbreak --help`).

    Never lets a traceback out: a FuelbreakError prints its one-line message, anything else is reported as an
    internal error (exit 70; FUELBREAK_DEBUG=1 re-raises it).
    """
    from fuelbreak.outputs import take_notes

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    global _MAIN_PID
    old_term = None
    if threading.current_thread() is threading.main_thread():
        _MAIN_PID = os.getpid()
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    take_notes()
    name = " ".join(x for x in (args.command, getattr(args, "data_command", None), getattr(args, "action", None)) if x)
    try:
        return int(args.func(args) or 0)
    except FuelbreakError as exc:
        print(f"fuelbreak {name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        how, code = ("stopped by SIGTERM", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        print(f"fuelbreak {name}: {how}", file=sys.stderr)
        for note in take_notes():
            print(f"  {note}", file=sys.stderr)
        return code
    except Exception as exc:  # a bug: one line, not a traceback, unless asked for
        if os.environ.get("FUELBREAK_DEBUG"):
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(
            f"fuelbreak {name}: internal error (a bug, please report it): {type(exc).__name__}: {exc} "
            f"[{Path(where.filename).name}:{where.lineno}]; rerun with FUELBREAK_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return 70
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(main())
