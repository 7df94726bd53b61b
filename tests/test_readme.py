"""The README's commands run as written: every `fuelbreak` command in it parses with the real parser,
the quick ones run in a fresh folder, the long ones are named below with the reason they are not run,
and `.ci/run` runs its set-up and test commands exactly. Also: its links point at files in the
repository, and `fuelbreak --version` names the installed version."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from fuelbreak.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Set-up: .ci/run runs these on a fresh machine (checked below), not this test.
SETUP = ("python3 -m venv .venv && . .venv/bin/activate", 'pip install -e ".[dev,ray]"')
# Commands too long for a test, with why; each still parses with the real parser (fuelbreak ones).
LONG = {
    "fuelbreak train": "the main job: 12-19 minutes",
    "pytest -q": "the test suite itself",
    "pytest -q -m cluster": "the cluster tests; .ci/run runs them",
    "fuelbreak evaluate": "every method on 20 tiles: minutes",
    "fuelbreak evaluate --weather dry-windy": "every method on 20 tiles under 24 h fires: minutes",
    "fuelbreak train --data data/demo --outdir runs/demo": "a full training run",
    "fuelbreak visualize --gif --outdir viz_out": "about a minute: a Q map and a frame per placed cell",
    "fuelbreak bench fire": "about 3 minutes of timing",
    "fuelbreak bench report": "every results table made again: hours",
    "fuelbreak bench report --only readme-headline": "the README's table: two evaluations, about 15 minutes",
    "fuelbreak evaluate --frontier": "every planner at several efforts on 20 tiles: about 15 minutes",
    "fuelbreak plan --ckpt src/fuelbreak/policies/default.pt --raster-idx 7 --out plan": (
        "the figure's command, run from the repository root; the tour's `plan --method dqn` runs the same"
    ),
}


def readme_commands() -> list[str]:
    """Commands of the README in reading order: lines of ```bash blocks, then inline `fuelbreak ...`
    and `pytest ...` spans outside the blocks (comments dropped, duplicates kept once)."""
    text = README.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    lines = [re.sub(r"(^|\s)#.*$", "", line).strip() for b in blocks for line in b.splitlines()]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    spans = [" ".join(c.split()) for c in re.findall(r"`([^`]+)`", prose)]  # a span may wrap a line
    inline = [c for c in spans if c.startswith(("fuelbreak ", "pytest"))]
    out: list[str] = []
    for cmd in [line for line in lines if line] + inline:
        if cmd not in out:
            out.append(cmd)
    return out


def set_up_lines() -> list[str]:
    """The raw lines of the README's first bash block (its set-up)."""
    block = re.search(r"## Set up.*?```bash\n(.*?)```", README.read_text(), re.S)
    assert block, "the README has no set-up block under '## Set up'"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def fuelbreak_argv(cmd: str) -> list[str]:
    return shlex.split(cmd)[1:]


def test_the_readme_is_short_and_starts_with_set_up_the_main_job_and_the_tests():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[:3] == ["Set up", "Run", "Test"], headings
    assert set_up_lines() == list(SETUP)
    run = re.search(r"## Run.*?```bash\n(.*?)```", text, re.S).group(1).strip()
    tests = re.search(r"## Test.*?```bash\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert run == "fuelbreak train"
    assert tests == ["pytest -q", "pytest -q -m cluster"]


def test_ci_runs_the_readme_set_up_and_test_commands_and_builds_the_docs():
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    for line in ['pip install -e ".[dev,ray]"', "pytest -q", "pytest -q -m cluster"]:
        assert line in ci, line
    assert "python3 -m venv .venv" in ci and ". .venv/bin/activate" in ci
    assert any(line.startswith("mkdocs build --strict") for line in ci)
    assert "ruff check src tests scripts docs" in ci  # lint and docstrings (pydocstyle)


def test_every_long_command_is_still_in_the_readme():
    commands = readme_commands()
    for cmd in LONG:  # a command dropped from the README must leave this list too
        assert cmd in commands, cmd


def test_every_fuelbreak_command_in_the_readme_parses():
    parser = build_parser()
    commands = [c for c in readme_commands() if c.startswith("fuelbreak ")]
    assert len(commands) >= 10
    for cmd in commands:
        try:
            args = parser.parse_args(fuelbreak_argv(cmd))
        except SystemExit as exc:  # argparse exits 2 on an unknown flag or a bad value
            pytest.fail(f"README command does not parse: {cmd} (exit {exc.code})")
        assert callable(args.func), cmd


def test_every_readme_command_is_run_here_or_named_as_long():
    for cmd in readme_commands():
        assert cmd.startswith(("fuelbreak ", "pytest")) or cmd in SETUP, f"unknown kind of command: {cmd}"


def run_fuelbreak(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cache = cwd / ".cache"  # caches a command may fill stay in the test's folder
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(cache / "mpl"),
        "XDG_CACHE_HOME": str(cache),
    }
    return subprocess.run(
        [sys.executable, "-m", "fuelbreak", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_the_quick_readme_commands_run_as_written(tmp_path):
    """In README order, in a fresh folder, so that a command may use what an earlier one wrote."""
    quick = [c for c in readme_commands() if c.startswith("fuelbreak ") and c not in LONG]
    slow_kinds = ("fuelbreak train", "fuelbreak bench")  # never run here, whatever their flags
    assert not [c for c in quick if c.startswith(slow_kinds)], "name these in LONG"
    assert any(c.startswith("fuelbreak data synth") for c in quick)
    for cmd in quick:
        out = run_fuelbreak(fuelbreak_argv(cmd), tmp_path)
        assert out.returncode == 0, f"{cmd}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        assert "Traceback" not in out.stderr, cmd
    written = {p.name for p in tmp_path.iterdir()}
    assert {"data", "plan.tif", "plan.geojson", "plan.png"} <= written, written


def test_version_names_the_installed_distribution(tmp_path):
    out = run_fuelbreak(["--version"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"fuelbreak {importlib.metadata.version('fuelbreak')}"


def test_the_readme_links_only_to_files_in_the_repository():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets
    for target in targets:
        assert "://" not in target and not target.startswith("/"), f"link outside the repository: {target}"
        path = target.split("#")[0]
        assert (ROOT / path).exists(), f"README links to a missing file: {target}"


def test_the_cli_reference_page_holds_every_command_and_flag():
    """docs/hooks/cli_reference.py writes the site's CLI page from the parsers: nothing is left out."""
    import argparse
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "docs" / "hooks" / "cli_reference.py"
    )
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = hook.cli_reference()

    def walk(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from walk(sub)

    parsers = list(walk(build_parser()))
    assert len(parsers) > 10
    for parser in parsers:
        assert f"`{parser.prog}`" in page or parser.prog == "fuelbreak", parser.prog
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in page, f"{parser.prog} {flag}"
    assert "| 3 | `CheckpointError` |" in page and "| 6 | `ClusterError` |" in page
    assert "%%" not in page
