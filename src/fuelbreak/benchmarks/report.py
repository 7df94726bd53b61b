"""Every results table of the README and the docs, made again on the current code (`fuelbreak bench report`).

Each table knows the commands that print it (`TABLES`, over the command runs in `RUNS`): the report runs
them (`python -m fuelbreak ...`, one process each, progress on stderr), takes the table from the
command's output (its Markdown file or its stdout), and writes it as `NAME.md` with a header line that
names the command, the date, the fuelbreak version and the machine (CPU model, cores, torch and its
threads: `fuelbreak.provenance.machine_record`). The files are written as a set (`--out`, default
`docs/results/` of the repository), then the README and the docs show them: every block between
`<!-- results:NAME ... -->` and `<!-- /results:NAME -->` in `README.md` and `docs/**/*.md` is
replaced by the table's file (GitHub renders the README without includes, so the blocks hold the
table itself, not a reference to it).

A results table in the docs that no command makes (history, a side study, a run whose checkpoint is
not in the repository) carries `<!-- not-generated: WHY -->` on the line before it, and so does a
table that only looks like results (a table of presets with shares in %); `unmarked_tables` finds
the others, and a test fails on them.
"""

from __future__ import annotations

import csv
import datetime
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fuelbreak.errors import ConfigError, FuelbreakError

# Placeholders in a run's commands: the LANDFIRE folder (`--real`) and the dataset tiled from it.
REAL = "{real}"
DATA = "{data}"
DATA_SHOWN = "data/worcester"  # how the docs name the dataset folder in the commands they show
DEFAULT_REAL = "../shared/data/landfire-worcester-vt"

_WORCESTER_TILE = f"data tile --src {REAL} --size 50 --overlap 25 --out {DATA}"
_QUICK_EVAL = "--max-tiles 1 --fires 5 --methods random burn_probability"
_QUICK_FRONTIER = "--max-tiles 1 --fires 5 --methods tree_greedy --frontier-efforts tree_greedy=8"
_QUICK_FRONTIER_ABLATION = (
    "--max-tiles 1 --fires 5 --methods tree_greedy tree_greedy+prune dqn dqn_search "
    "--frontier-efforts tree_greedy=64,256 tree_greedy+prune=256 dqn_search=256,512"
)
# The policy observing N fires against tree-greedy planning on N, on the validation tiles (a choice's ground).
VAL_FIRES = {"dqn": (64, 128, 256, 512), "tree_greedy": (64, 256, 1024)}
_VAL_FIRES = " ".join(
    [
        "evaluate --split val --methods",
        *(f"{m}@{n}" for m, ns in VAL_FIRES.items() for n in ns),
        *(
            f"--option {m}@{n}.{'bp_fires' if m == 'dqn' else 'n_fires'}={n}"
            for m, ns in VAL_FIRES.items()
            for n in ns
        ),
    ]
)
_WORCESTER_FRONTIER = (
    f"evaluate --frontier --data {DATA} --weather WEATHER --max-tiles 12 --methods tree_greedy "
    "tree_greedy+prune dqn dqn_search greedy --frontier-efforts tree_greedy=256,1024 tree_greedy+prune=256 "
    "dqn_search=256,512 greedy=200"
)


@dataclass(frozen=True)
class Run:
    """Commands that print one or more results tables, run once a report however many tables use them.

    Attributes:
        name: the run's name.
        commands: `fuelbreak` command lines (without `fuelbreak`), run in order; `{real}` is the LANDFIRE
            folder, `{data}` a dataset folder in the report's work folder.
        quick: the same at tiny sizes (`--quick`: a test of the machinery, not results).
        minutes: rough cost of `commands` on this project's 2-core machine.
        output: the Markdown file the last command writes in its `--outdir` (which the report appends);
            empty: the tables are in the last command's stdout.
        needs_real: the run cannot be made without the LANDFIRE folder.
    """

    name: str
    commands: tuple[str, ...]
    quick: tuple[str, ...]
    minutes: float
    output: str = ""
    needs_real: bool = False


@dataclass(frozen=True)
class Table:
    """A results table: which runs make it and how it is taken from their output.

    Attributes:
        name: the table's name (`--only NAME`, `<!-- results:NAME -->`, `NAME.md`).
        runs: the runs it needs.
        what: one line on what it shows.
        header: the first table in the (first) run's output whose header line starts with this.
        compose: instead of `header`, a function of the runs' work folders that returns the table.
        image: (a file in the run's `--outdir`, where it goes in the repository): a figure made with it.
    """

    name: str
    runs: tuple[str, ...]
    what: str
    header: str = "| method |"
    compose: Callable[[list[Path]], str] | None = None
    image: tuple[str, str] | None = None


def _eval(name: str, args: str, minutes: float, quick_args: str = "", frontier: bool = False) -> Run:
    quick = _QUICK_FRONTIER if frontier else _QUICK_EVAL
    return Run(
        name,
        (" ".join(f"evaluate {args}".split()),),
        (" ".join(f"evaluate {quick_args or args} {quick}".split()),),
        minutes,
        output="frontier.md" if frontier else "summary.md",
    )


def _worcester(name: str, evaluate: str, minutes: float, quick: str) -> Run:
    return Run(
        name,
        (_WORCESTER_TILE, evaluate),
        (_WORCESTER_TILE, quick),
        minutes,
        output="frontier.md" if "--frontier" in evaluate else "summary.md",
        needs_real=True,
    )


RUNS: dict[str, Run] = {
    r.name: r
    for r in (
        _eval("evaluate", "", 5),
        _eval("evaluate-dry-windy", "--weather dry-windy", 10),
        _eval("evaluate-tiles-seed-1", "--tiles-seed 1", 5),
        _eval(
            "evaluate-value",
            "--synthetic-layers --objective value --methods random burn_probability domirank greedy tree_greedy "
            "tree_greedy@256 dqn dqn_search --option tree_greedy@256.n_fires=256",
            6,
            "--synthetic-layers --objective value",
        ),
        _worcester(
            "evaluate-worcester",
            f"evaluate --data {DATA} --weather dry-windy --max-tiles 12 --methods random domirank "
            "burn_probability tree_greedy greedy dqn",
            5,
            f"evaluate --data {DATA} --weather dry-windy {_QUICK_EVAL}",
        ),
        Run(
            "frontier-50",
            ("evaluate --frontier",),
            (f"evaluate --frontier {_QUICK_FRONTIER_ABLATION}",),  # every planner the ablation names
            20,
            output="frontier.md",
        ),
        Run(
            "evaluate-val-fires",
            (_VAL_FIRES,),
            (f"{_VAL_FIRES} --max-tiles 1 --fires 5",),
            10,
            output="summary.md",
        ),
        _eval("frontier-100", "--frontier --tile-size 100 --max-tiles 8", 25, "--frontier --tile-size 20", frontier=True),
        *(
            _worcester(
                f"frontier-worcester-{weather}",
                _WORCESTER_FRONTIER.replace("WEATHER", weather),
                {"dry-windy": 10, "seed": 5}[weather],
                f"evaluate --frontier --data {DATA} --weather {weather} {_QUICK_FRONTIER}",
            )
            for weather in ("dry-windy", "seed")
        ),
        Run(
            "bench-fire",
            (f"bench fire --real {REAL}",),
            (
                f"bench fire --real {REAL} --tiles 1 --fires 2 --sizes 30 --speed-sizes 30 --plan-tiles 1 0 "
                "--plan-fires 2 --plan-refine 1 --plan-workers 1",
            ),
            5,
        ),
        Run("bench-env", ("bench env",), ("bench env",), 1),
        Run(
            "bench-scale",
            ("bench scale --scale-seconds 5 --landscape-sizes 250 500 1000 2000",),
            ("bench scale --workers 1 --scale-seconds 0.5 --no-ray --landscape-sizes 40",),
            40,
        ),
        Run(
            "bench-train",
            ("bench train --seconds 120",),
            (
                "bench train --seconds 20 --set dqn.demonstrations=0 --set dqn.pretrain_steps=0 "
                "--set env.synthetic_tiles=20 --set dqn.learning_starts=20 --set run.n_envs=2",
            ),
            5,
        ),
    )
}


def _read_summary(folder: Path) -> dict[str, dict]:
    with open(folder / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    first = rows[0]["budget"] if rows else None
    return {r["method"]: r for r in rows if r["budget"] == first}  # the first budget, as the tables show


def _reduction(row: dict | None) -> str:
    if row is None:
        return "—"
    lo, hi = (row[k] or "n/a" for k in ("reduction_ci_low", "reduction_ci_high"))
    fmt = lambda v: v if v == "n/a" else f"{float(v):.1f}"  # noqa: E731
    return f"{float(row['reduction_pct']):.1f} [{fmt(lo)}, {fmt(hi)}]"


NAMES = {"greedy": "greedy (simulation-greedy)", "dqn": "dqn (shipped policy)"}


def headline(folders: list[Path]) -> str:
    """The README's table: each method's reduction under the default and the dry-windy weather, s / plan.

    `folders` are the `fuelbreak evaluate` and `fuelbreak evaluate --weather dry-windy` output folders;
    rows by reduction under the default weather, the shipped policy in bold.
    """
    default, windy = (_read_summary(f) for f in folders)
    lines = [
        "| method | reduction % [95 % CI], `default` weather (4 h) | reduction % [95 % CI], `dry-windy` (24 h) "
        "| s / plan (default) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for method in sorted(default, key=lambda m: float(default[m]["reduction_pct"])):
        cells = [NAMES.get(method, method), _reduction(default[method]), _reduction(windy.get(method))]
        if method == "dqn":
            cells = [f"**{c}**" for c in cells]
        cells.append(format(float(default[method]["plan_seconds"]), ".2g"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def observation_fires(folders: list[Path]) -> str:
    """The policy observing N fires against tree-greedy planning on N fires, by N (the validation tiles).

    `folders[0]` is the output of the `evaluate --split val --methods dqn@N ... tree_greedy@N ...` run: the
    fires of each method are read from its options in `evaluation.json` (`bp_fires`, `n_fires`), the
    reductions from `summary.csv` (its first budget); a cell is blank where the run had no such method.
    """
    import json

    summary = _read_summary(folders[0])
    options = json.loads((folders[0] / "evaluation.json").read_text())["method_options"]
    by = {"dqn": {}, "tree_greedy": {}}
    for method, row in summary.items():
        base = method.partition("@")[0]
        key = {"dqn": "bp_fires", "tree_greedy": "n_fires"}.get(base)
        if key and key in options.get(method, {}):
            by[base][int(options[method][key])] = float(row["reduction_pct"])
    lines = [
        "| fires | policy (`dqn`, observation fires) | tree-greedy (planning fires) | policy minus tree-greedy |",
        "|---:|---:|---:|---:|",
    ]
    for n in sorted(set(by["dqn"]) | set(by["tree_greedy"])):
        dqn, tree = by["dqn"].get(n), by["tree_greedy"].get(n)
        cells = [f"{v:.1f}" if v is not None else "" for v in (dqn, tree)]
        diff = f"{dqn - tree:+.1f}" if dqn is not None and tree is not None else ""
        lines.append(f"| {n} | {cells[0]} | {cells[1]} | {diff} |")
    return "\n".join(lines)


# The ablation's rows: what changes, the frontier point (planner, effort) and the row it is measured over.
ABLATION = (
    ("tree-greedy, 64 fires (the policy's procedure with Q replaced by the bound, the same fires)",
     ("tree_greedy", "64"), None, ""),
    ("the policy as shipped (64 observation fires)", ("dqn", "as shipped"), 1, "what the network learned, at 64 fires"),
    ("tree-greedy, 256 fires", ("tree_greedy", "256"), 1, "more fires"),
    ("tree-greedy + prune and refill, 256 fires", ("tree_greedy+prune", "256"), 3, "prune and refill"),
    ("the search: bound proposes 2, the policy chooses, prune and refill, 256 fires", ("dqn_search", "256"), 4,
     "the network inside the search"),
    ("the search, 512 fires", ("dqn_search", "512"), 5, "more fires for the search"),
)  # fmt: skip


def ablation(folders: list[Path]) -> str:
    """The ablation of the 50x50 frontier: each row one change, with the points and seconds it adds.

    `folders[0]` is the `evaluate --frontier` run's output (its `frontier.csv`, methods only); the last
    column is the row's reduction and seconds a plan minus those of the earlier row it names. A point the
    run did not make shows as "—".
    """
    with open(folders[0] / "frontier.csv", newline="") as f:
        points = {(r["planner"], r["effort"]): r for r in csv.DictReader(f) if r["kind"] == "method"}
    lines = ["| change | reduction % | s / plan | what it adds |", "|---|---:|---:|---|"]
    for i, (change, key, over, what) in enumerate(ABLATION, 1):
        row = points.get(key)
        if row is None:
            lines.append(f"| {i}. {change} | — | — | |")
            continue
        red, sec = float(row["reduction_pct"]), float(row["plan_seconds"])
        added = ""
        base = points.get(ABLATION[over - 1][1]) if over else None
        if base is not None:
            dr, ds = red - float(base["reduction_pct"]), sec - float(base["plan_seconds"])
            added = f"{what}: {dr:+.1f} points for {ds:+.2f} s over row {over}"
        lines.append(f"| {i}. {change} | {red:.1f} | {sec:.2f} | {added} |")
    return "\n".join(lines)


_FIRE = "bench-fire"
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("readme-headline", ("evaluate", "evaluate-dry-windy"), "the README's results: every method under both weathers", compose=headline),
        Table("evaluate-default", ("evaluate",), "every method on the 20 first synthetic test tiles, default weather"),
        Table("evaluate-dry-windy", ("evaluate-dry-windy",), "the same under the dry-windy day"),
        Table("evaluate-tiles-seed-1", ("evaluate-tiles-seed-1",), "the same on tiles of another synthetic seed"),
        Table("evaluate-value", ("evaluate-value",), "every method planning for the value at risk, synthetic test "
              "tiles with their planner layers"),
        Table("evaluate-worcester", ("evaluate-worcester",), "every method on Worcester's 12 first test tiles, dry-windy"),
        Table("frontier-50", ("frontier-50",), "the quality frontier on 50x50 test tiles", "| planner |",
              image=("frontier.png", "docs/images/frontier_50.png")),
        Table("frontier-50-ablation", ("frontier-50",), "the ablation: each change's points and seconds, from frontier-50's run",
              compose=ablation),
        Table("val-observation-fires", ("evaluate-val-fires",), "the policy with N observation fires against tree-greedy "
              "with N planning fires, validation tiles", compose=observation_fires),
        Table("frontier-100", ("frontier-100",), "the quality frontier on 100x100 test tiles", "| planner |",
              image=("frontier.png", "docs/images/frontier_100.png")),
        Table("frontier-worcester-dry-windy", ("frontier-worcester-dry-windy",), "the frontier on Worcester, dry-windy",
              "| planner |", image=("frontier.png", "docs/images/frontier_worcester_dry_windy.png")),
        Table("frontier-worcester-seed", ("frontier-worcester-seed",), "the frontier on Worcester, seed weather",
              "| planner |", image=("frontier.png", "docs/images/frontier_worcester_seed.png")),
        Table("fire-open-land", (_FIRE,), "mtt against the level set on open land: speed and agreement", "| weather (24 h burns"),
        Table("fire-grid", (_FIRE,), "mtt's speed by grid size", "| grid (mtt"),
        Table("fire-new-tile", (_FIRE,), "speed on a new tile, per fire and end to end", "| grid (4 h"),
        Table("fire-plans-windy", (_FIRE,), "plan reductions under each engine, 4 h windy", "| reduction, 4 h"),
        Table("fire-plans-calm", (_FIRE,), "plan reductions under each engine, 24 h calm", "| reduction, 24 h"),
        Table("fire-open-land-ratio", (_FIRE,), "mtt's burned area over the level set's, no plan", "| open land"),
        Table("fire-plan-agreement", (_FIRE,), "how the engines rank plans", "| agreement"),
        Table("env-vector", ("bench-env",), "vector environments: steps a second and CPU a step", "| vector env"),
        Table("env-scale", ("bench-scale",), "executors' scaling with workers", "| executor"),
        Table("scale-sizes", ("bench-scale",), "seconds and peak memory of planning and scoring against landscape "
              "size and workers", "| job |"),
        Table("train-speed", ("bench-train",), "the learner's throughput and memory", "| figure"),
    )
}  # fmt: skip


# --- the blocks in README.md and docs/ ---------------------------------------------------------------

BLOCK = re.compile(r"<!-- results:(?P<name>[a-z0-9-]+)(?P<note>[^>]*?)-->(?P<body>.*?)<!-- /results:(?P=name) -->", re.S)
NOT_GENERATED = re.compile(r"<!-- not-generated: (?P<why>[^>]*\S)\s*-->")
# What makes a Markdown table a results table: a share, a rate or a time among its cells.
RESULT_SIGNS = ("%", "s / plan", "/s |", "/s)", " ms ")


def doc_files(root: Path) -> list[Path]:
    """README.md and every Markdown page of docs/ (but the generated tables under docs/results/)."""
    files = [root / "README.md"] if (root / "README.md").is_file() else []
    docs = root / "docs"
    if docs.is_dir():
        files += sorted(p for p in docs.rglob("*.md") if "results" not in p.relative_to(docs).parts[:-1])
    return files


def blocks(root: Path) -> dict[str, list[Path]]:
    """Each table name with a block in the README or the docs, and the files that hold it."""
    out: dict[str, list[Path]] = {}
    for path in doc_files(root):
        for m in BLOCK.finditer(path.read_text()):
            out.setdefault(m["name"], []).append(path)
    return out


def markdown_tables(text: str) -> list[tuple[int, str]]:
    """The Markdown tables of `text` outside code fences: (line number from 1, the table's lines)."""
    tables, current, start, fenced = [], [], 0, False
    for i, line in enumerate(text.splitlines() + [""], 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("|"):
            if not current:
                start = i
            current.append(line)
            continue
        if len(current) >= 2 and re.match(r"^\|[\s:|-]+\|$", current[1].replace(" ", "")):
            tables.append((start, "\n".join(current)))
        current = []
    return tables


def unmarked_tables(root: Path) -> list[str]:
    """Results-like tables of the README and docs outside any results block and not marked not-generated.

    Each as `FILE:LINE: HEADER`; a table is results-like when a cell holds a share (%), seconds a plan or a
    rate (/s, ms).
    """
    problems = []
    for path in doc_files(root):
        text = path.read_text()
        outside = BLOCK.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # keep the line numbers
        lines = outside.splitlines()
        for start, table in markdown_tables(outside):
            if not any(sign in table for sign in RESULT_SIGNS):
                continue
            before = next((line for line in reversed(lines[: start - 1]) if line.strip()), "")
            if NOT_GENERATED.fullmatch(before.strip()):
                continue
            rel = path.relative_to(root)
            problems.append(f"{rel}:{start}: {table.splitlines()[0]}")
    return problems


def replace_blocks(text: str, made: dict[str, str]) -> tuple[str, list[str]]:
    """`text` with each block of a table in `made` holding that table's Markdown; and the names replaced."""
    replaced = []

    def sub(m: re.Match) -> str:
        if m["name"] not in made:
            return m.group(0)
        replaced.append(m["name"])
        return f"<!-- results:{m['name']}{m['note']}-->\n\n{made[m['name']].strip()}\n\n<!-- /results:{m['name']} -->"

    return BLOCK.sub(sub, text), replaced


# --- running --------------------------------------------------------------------------------------------


def choose(only: Iterable[str] | None) -> list[Table]:
    """The tables named by `--only` (all of them without it), in registry order.

    Raises:
        ConfigError: a name that is not a table.
    """
    if not only:
        return list(TABLES.values())
    unknown = [n for n in only if n not in TABLES]
    if unknown:
        raise ConfigError(
            f"--only {' '.join(unknown)}: no such results table; the tables are {', '.join(TABLES)} "
            "(`fuelbreak bench report --list` shows their commands)"
        )
    return [t for t in TABLES.values() if t.name in set(only)]


def shown(command: str, real: str) -> str:
    """A command as the docs show it: `fuelbreak ...`, with the LANDFIRE folder and dataset named."""
    return "fuelbreak " + command.replace(REAL, real).replace(DATA, DATA_SHOWN)


def listing(root: Path | None = None, real: str = DEFAULT_REAL) -> str:
    """`--list`: every table, its rough cost, where it appears and the commands that make it."""
    where = blocks(root) if root is not None else {}
    lines = []
    for t in TABLES.values():
        runs = [RUNS[r] for r in t.runs]
        minutes = sum(r.minutes for r in runs)
        places = ", ".join(str(p.relative_to(root)) for p in where.get(t.name, [])) if root else ""
        needs = ", needs --real" if any(r.needs_real for r in runs) else ""
        lines.append(f"{t.name}: {t.what} (about {minutes:g} min on 2 cores{needs})")
        if places:
            lines.append(f"    in {places}")
        lines += [f"    {shown(c, real)}" for r in runs for c in r.commands]
    total = sum(r.minutes for r in RUNS.values())
    lines.append(f"All {len(TABLES)} tables: {len(RUNS)} runs (a run shared by tables is made once), about {total / 60:.1f} hours on this project's 2-core machine.")
    return "\n".join(lines)


def _progress(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


class _Runner:
    """Runs the runs' commands in a work folder, each command once (the Worcester tiling is shared)."""

    def __init__(self, work: Path, real: Path, quick: bool, progress: Callable[[str], None]):
        self.work, self.real, self.quick, self.progress = work, real, quick, progress
        self.done: dict[str, str] = {}  # command -> its stdout
        self.folders: dict[str, Path] = {}

    def run(self, run: Run) -> Path:
        if run.name in self.folders:
            return self.folders[run.name]
        folder = self.work / run.name
        commands = run.quick if self.quick else run.commands
        for i, command in enumerate(commands):
            argv = shlex.split(command.replace(REAL, str(self.real)).replace(DATA, str(self.work / "dataset")))
            if run.output and i == len(commands) - 1:
                argv += ["--outdir", str(folder)]
            key = shlex.join(argv)
            if key in self.done:
                continue
            self.progress(f"{run.name}: fuelbreak {key}")
            out = subprocess.run(
                [sys.executable, "-m", "fuelbreak", *argv],
                cwd=self.work,
                stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            if out.returncode != 0:
                raise FuelbreakError(
                    f"`fuelbreak {key}` (run {run.name}) failed with exit code {out.returncode} (its message is "
                    "above); no table was written"
                )
            self.done[key] = out.stdout
        folder.mkdir(exist_ok=True)
        if not run.output:
            (folder / "stdout.md").write_text(self.done[key])
        self.folders[run.name] = folder
        return folder


def take_table(text: str, header: str, where: str) -> str:
    """The first Markdown table of `text` whose header line starts with `header`.

    Raises:
        FuelbreakError: none does (the command's output changed: the registry must follow it).
    """
    for _, table in markdown_tables(text):
        if table.startswith(header):
            return table
    raise FuelbreakError(f"{where} holds no table starting with {header!r}: the report's registry must follow the command")


def header_line(table: Table, commands: list[str], machine: dict, date: str, quick: bool) -> str:
    """The line above a generated table: its commands, the date, the version, the CPU and torch's threads."""
    cmds = " and ".join(f"`{c}`" for c in commands)
    cpu = machine["cpu"]
    flags = f", {' '.join(cpu['flags'])}" if cpu.get("flags") else ""
    quick_note = " at `--quick` sizes (a test of the report, not results)" if quick else ""
    return (
        f"*Made by {cmds}{quick_note} on {date} with fuelbreak {machine['fuelbreak']}, on {cpu['model']} "
        f"({machine['cores']} cores{flags}; torch {machine['torch']}, {machine['torch_threads']} threads by default). "
        f"`fuelbreak bench report --only {table.name}` makes it again.*"
    )


def make_report(
    root: str | os.PathLike = ".",
    out: str | os.PathLike | None = None,
    only: Iterable[str] | None = None,
    quick: bool = False,
    real: str | os.PathLike = DEFAULT_REAL,
    progress: Callable[[str], None] | None = _progress,
) -> dict:
    """Run the commands behind the tables, write the tables as a set and show them in the README and docs.

    Args:
        root: the repository (README.md, docs/); a relative `real` is read from there.
        out: folder for the `NAME.md` files (and the frontier figures as `NAME.png`); default
            `ROOT/docs/results`, and only then are the README's and the docs' blocks and the figures in
            `docs/images` replaced.
        only: table names; default all.
        quick: tiny sizes, for tests; needs `out`.
        real: the LANDFIRE folder of the real-land tables; those are skipped when it is missing (unless
            named in `only`).
        progress: called with a line per command.

    Returns:
        {"tables": {name: path}, "skipped": {name: why}, "docs": [files rewritten]}.

    Raises:
        ConfigError: an unknown table, `--quick` without `--out`, a root without README.md and docs/, or a
            real-land table named without its folder.
        FuelbreakError: a command failed (nothing is written then).
        OutputError: the output folder cannot be written.
    """
    from fuelbreak.atomic import atomic_write_bytes, atomic_write_text
    from fuelbreak.outputs import output_set
    from fuelbreak.provenance import machine_record

    progress = progress or (lambda msg: None)
    tables = choose(only)
    root = Path(root)
    if quick and out is None:
        raise ConfigError("--quick makes tiny tables for tests: give --out FOLDER (they never replace the docs')")
    in_docs = out is None
    if in_docs and not ((root / "README.md").is_file() and (root / "docs").is_dir()):
        raise ConfigError(
            f"--root {root}: no README.md and docs/ there; run from the repository root, give --root, or --out FOLDER"
        )
    real_path = (root / real).resolve()  # relative to the repository, as the docs name it
    skipped = {}
    if not real_path.is_dir():
        needy = [t.name for t in tables if any(RUNS[r].needs_real for r in t.runs)]
        if only and needy:
            raise ConfigError(f"--real {real}: no such folder, and {', '.join(needy)} need(s) it (the LANDFIRE sample)")
        skipped = {n: f"--real {real} is not a folder" for n in needy}
        tables = [t for t in tables if t.name not in skipped]
        for name in skipped:
            progress(f"skipped {name}: --real {real} is not a folder")
    target = Path(out) if out is not None else root / "docs" / "results"
    machine = machine_record()
    date = datetime.date.today().isoformat()
    result = {"tables": {}, "skipped": skipped, "docs": []}
    made: dict[str, str] = {}
    images: list[tuple[bytes, str, str]] = []
    with output_set(target, flag="--out") as tables_out, tempfile.TemporaryDirectory(
        prefix="fuelbreak-report-"
    ) as tmp:
        runner = _Runner(Path(tmp), real_path, quick, progress)
        for table in tables:
            runs = [RUNS[r] for r in table.runs]
            folders = [runner.run(r) for r in runs]
            if table.compose is not None:
                body = table.compose(folders)
            else:
                name = runs[0].output or "stdout.md"
                if not (folders[0] / name).is_file():
                    raise FuelbreakError(f"run {runs[0].name} wrote no {name}: the report's registry must follow the command")
                body = take_table((folders[0] / name).read_text(), table.header, f"{runs[0].name}'s {name}")
            commands = [shown(c, str(real)) for r in runs for c in (r.quick if quick else r.commands)]
            made[table.name] = f"{header_line(table, commands, machine, date, quick)}\n\n{body}\n"
            atomic_write_text(tables_out.path(f"{table.name}.md"), made[table.name])
            if table.image is not None:
                src = folders[0] / table.image[0]
                images.append((src.read_bytes(), table.image[1], table.name))
                if not in_docs:
                    tables_out.path(f"{table.name}.png").write_bytes(images[-1][0])
    for data, dest, _ in images if in_docs else ():  # after the tables' set is in place
        atomic_write_bytes(root / dest, data)
    result["tables"] = {n: target / f"{n}.md" for n in made}
    if in_docs:
        for path in doc_files(root):
            text, replaced = replace_blocks(path.read_text(), made)
            if replaced:
                atomic_write_text(path, text)
                result["docs"].append(path)
    return result
