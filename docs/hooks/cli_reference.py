"""MkDocs hook: the CLI reference page, generated at build time from `fuelbreak.cli`'s own parsers.

`mkdocs.yml` names this file under `hooks:`. On every build it walks `fuelbreak.cli.build_parser()`
(the parser `fuelbreak` itself runs), writes each command's `--help` text and the exit codes of
`fuelbreak.errors` into `reference/cli.md`, and adds that page to the site. Nothing is written to
`docs/`: the page cannot drift from the code, and a flag added to a parser appears on the next build.
"""

from __future__ import annotations

import argparse
import inspect
import os
from collections.abc import Iterator

PAGE = "reference/cli.md"
WIDTH = 100  # columns of the help text, fixed so that the page does not depend on the terminal


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand of `parser`, in the order `--help` lists them."""
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def help_text(parser: argparse.ArgumentParser) -> str:
    """The parser's `--help` output at a fixed width."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def command_sections(parser: argparse.ArgumentParser, level: int = 2) -> Iterator[str]:
    """A Markdown section per command, depth first: heading, one-line help, `--help` in a code block."""
    for _name, summary, sub in subcommands(parser):
        yield f"{'#' * level} `{sub.prog}`\n"
        if summary:
            summary = summary.replace("%%", "%")  # help strings escape % for argparse
            yield f"{summary[0].upper()}{summary[1:]}.\n"
        yield f"```text\n{help_text(sub)}\n```\n"
        yield from command_sections(sub, level + 1)


def exit_codes() -> str:
    """A table of the exit codes of `fuelbreak.errors`' classes, as the CLI uses them."""
    from fuelbreak import errors

    rows = [
        f"| {cls.exit_code} | `{name}` | {inspect.getdoc(cls).splitlines()[0]} |"
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.FuelbreakError)
    ]
    rows.sort(key=lambda row: int(row.split("|")[1]))
    return "\n".join(
        [
            "| exit code | error | when |",
            "| ---: | --- | --- |",
            "| 0 | | success |",
            *rows,
            "| 5 | | `fuelbreak train --supervise` gave up after `--max-restarts` restarts |",
            "| 130 | | interrupted (Ctrl-C) |",
        ]
    )


def cli_reference() -> str:
    """The whole page."""
    from fuelbreak import __version__
    from fuelbreak.cli import build_parser

    parser = build_parser()
    parts = [
        "# Command-line reference\n",
        f"Generated from the parsers of fuelbreak {__version__} when this site was built "
        "(`docs/hooks/cli_reference.py`), so it is exactly what `--help` prints. Every command "
        "prints the same with `--help`.\n",
        f"```text\n{help_text(parser)}\n```\n",
        "## Exit codes\n",
        "Bad input stops a command with one line naming the file, layer, row, column or flag, "
        "and one of these exit codes (never a traceback):\n",
        exit_codes() + "\n",
        *command_sections(parser),
    ]
    return "\n".join(parts)


def on_files(files, config):
    """Add the generated page to the site's files (mkdocs calls this before it builds the nav)."""
    from mkdocs.structure.files import File  # here, so that tests can import this file without mkdocs

    files.append(File.generated(config, PAGE, content=cli_reference()))
    return files
