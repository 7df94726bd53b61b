"""`fuelbreak bench report`: every results table of the README and the docs is made by a registered command.

The registry covers every results block and every results-like table is in a block or marked
not-generated; `--quick` writes the tables with the machine's header; the report replaces only its
blocks; a bad name, a missing `--out` or a failed command stops it before anything is written.
"""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from fuelbreak.benchmarks import report
from fuelbreak.cli import main
from fuelbreak.errors import ConfigError, FuelbreakError
from fuelbreak.provenance import machine_record

ROOT = Path(__file__).resolve().parents[1]


def test_every_results_table_of_the_readme_and_docs_is_generated_or_marked_not_generated():
    assert report.unmarked_tables(ROOT) == []


def test_every_block_names_a_registered_table_and_every_table_has_a_block():
    where = report.blocks(ROOT)
    assert set(where) == set(report.TABLES), set(where) ^ set(report.TABLES)
    assert "readme-headline" in where and ROOT / "README.md" in where["readme-headline"]
    for table in report.TABLES.values():
        assert table.runs and all(r in report.RUNS for r in table.runs), table.name
    for run in report.RUNS.values():  # the quick commands are the same jobs, smaller
        assert len(run.quick) == len(run.commands), run.name
        for quick, full in zip(run.quick, run.commands, strict=True):
            job = 2 if full.split()[0] in ("data", "bench") else 1  # `data tile`, `bench fire`, `evaluate`
            assert quick.split()[:job] == full.split()[:job], run.name
            assert ("--frontier" in quick) == ("--frontier" in full), run.name
    for run in report.RUNS.values():  # every command of the registry parses with the real parser
        from fuelbreak.cli import build_parser

        for command in (*run.commands, *run.quick):
            argv = report.shown(command, "land").split()[1:]
            assert callable(build_parser().parse_args(argv).func), command


def _write(root: Path, readme: str, page: str = "# Page\n") -> None:
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text(readme)
    (root / "docs" / "page.md").write_text(page)


RESULTS = "| method | reduction % |\n| --- | ---: |\n| random | 13.2 |\n"


def test_an_unmarked_results_table_is_found_and_a_marked_one_is_not(tmp_path):
    _write(tmp_path, "# R\n\n" + RESULTS, "# P\n\n| job | command |\n| --- | --- |\n| data | `x` |\n")
    assert report.unmarked_tables(tmp_path) == ["README.md:3: | method | reduction % |"]
    (tmp_path / "README.md").write_text("# R\n\n<!-- not-generated: history -->\n\n" + RESULTS)
    assert report.unmarked_tables(tmp_path) == []
    (tmp_path / "README.md").write_text("# R\n\n<!-- results:x -->\n\n" + RESULTS + "\n<!-- /results:x -->\n")
    assert report.unmarked_tables(tmp_path) == []
    (tmp_path / "README.md").write_text("# R\n\n```\n" + RESULTS + "```\n")  # a code block is no table
    assert report.unmarked_tables(tmp_path) == []
    (tmp_path / "docs" / "page.md").write_text("| rate | fires/s |\n| --- | ---: |\n| a | 3 |\n")
    assert report.unmarked_tables(tmp_path) == ["docs/page.md:1: | rate | fires/s |"]


def test_replace_blocks_replaces_only_the_tables_made_and_keeps_the_rest():
    text = (
        "intro\n<!-- results:a: note -->\nold a\n<!-- /results:a -->\nmiddle\n"
        "<!-- results:b -->\nold b\n<!-- /results:b -->\nend\n"
    )
    new, replaced = report.replace_blocks(text, {"a": "*header*\n\n| t |\n| --- |\n"})
    assert replaced == ["a"]
    assert new == (
        "intro\n<!-- results:a: note -->\n\n*header*\n\n| t |\n| --- |\n\n<!-- /results:a -->\nmiddle\n"
        "<!-- results:b -->\nold b\n<!-- /results:b -->\nend\n"
    )
    assert report.replace_blocks(new, {"a": "*header*\n\n| t |\n| --- |\n"})[0] == new  # idempotent


def test_only_with_an_unknown_name_is_a_clear_config_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"--only nope: no such results table; the tables are readme-headline"):
        report.make_report(ROOT, tmp_path / "out", only=["evaluate-default", "nope"])
    assert main(["bench", "report", "--only", "nope", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "--only nope: no such results table" in err and "fire-grid" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_quick_needs_out_and_the_report_flags_belong_to_report(tmp_path, capsys):
    assert main(["bench", "report", "--quick", "--root", str(tmp_path)]) == 2
    assert "--quick makes tiny tables for tests: give --out" in capsys.readouterr().err
    assert main(["bench", "env", "--only", "env-vector"]) == 2
    assert "--only belong(s) to `bench report`, not `bench env`" in capsys.readouterr().err
    assert main(["bench", "report", "--root", str(tmp_path)]) == 2  # not a repository
    assert f"--root {tmp_path}: no README.md and docs/ there" in capsys.readouterr().err


def test_a_real_land_table_named_without_its_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="--real .*nowhere: no such folder, and evaluate-worcester need"):
        report.make_report(ROOT, tmp_path / "out", only=["evaluate-worcester"], real=tmp_path / "nowhere")


def test_list_names_every_table_its_commands_and_where_it_is_shown(capsys):
    assert main(["bench", "report", "--list", "--root", str(ROOT)]) == 0
    out = capsys.readouterr().out
    for name in report.TABLES:
        assert f"\n{name}: " in "\n" + out, name
    assert "    fuelbreak evaluate --weather dry-windy\n" in out
    assert "    in README.md\n" in out and "docs/how-it-works/fire-engine.md" in out


def _env(tmp_path: Path) -> dict:
    import os

    return {**os.environ, "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(tmp_path / "mpl")}


@pytest.mark.slow
def test_quick_writes_each_table_under_a_header_naming_command_date_version_and_machine(tmp_path):
    readme = (ROOT / "README.md").read_text()
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "fuelbreak", "bench", "report", "--quick", "--out", str(out), "--root", str(ROOT),
         "--only", "evaluate-default", "readme-headline", "fire-grid"],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["evaluate-default.md", "fire-grid.md", "readme-headline.md"]
    m = machine_record()
    threads = subprocess.run(  # what a fresh process gets (this one's tests may set their own)
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=_env(tmp_path),
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    today = datetime.date.today().isoformat()
    for name in ("evaluate-default", "readme-headline", "fire-grid"):
        header, blank, *table = (out / f"{name}.md").read_text().splitlines()
        assert blank == "" and table[0].startswith("| ") and set(table[1]) <= set("|-: "), name
        for part in (
            today, f"fuelbreak {m['fuelbreak']}", m["cpu"]["model"], f"{m['cores']} cores",
            f"torch {m['torch']}, {threads} threads by default", f"`fuelbreak bench report --only {name}`",
            "at `--quick` sizes",
        ):  # fmt: skip
            assert part in header, (name, part)
    assert "`fuelbreak evaluate --max-tiles 1 --fires 5" in (out / "evaluate-default.md").read_text()
    assert "`fuelbreak bench fire " in (out / "fire-grid.md").read_text()
    headline = (out / "readme-headline.md").read_text()
    assert "| random |" in headline and "| burn_probability |" in headline and "dry-windy" in headline
    assert (ROOT / "README.md").read_text() == readme  # --out leaves the docs alone


@pytest.mark.slow
def test_a_report_into_the_docs_replaces_their_blocks_and_writes_the_tables_as_a_set(tmp_path, monkeypatch):
    """Into a copy of a repository, with the fire bench at quick sizes standing in for the full run."""
    run = report.RUNS["bench-fire"]
    monkeypatch.setitem(report.RUNS, "bench-fire", dataclasses.replace(run, commands=run.quick))
    page = (
        "# Fire\n\ntext before\n\n<!-- results:fire-grid: made by `fuelbreak bench report` -->\n\n*by hand*\n\n"
        "| grid | fires/s |\n| --- | ---: |\n| 100x100 | 1 |\n\n<!-- /results:fire-grid -->\n\ntext after\n\n"
        "<!-- results:env-vector -->\nkept\n<!-- /results:env-vector -->\n"
    )
    _write(tmp_path, "# R\n\n<!-- results:fire-grid -->\nold\n<!-- /results:fire-grid -->\n", page)
    result = report.make_report(tmp_path, only=["fire-grid"], real=tmp_path / "none", progress=None)
    assert result["tables"] == {"fire-grid": tmp_path / "docs" / "results" / "fire-grid.md"}
    made = (tmp_path / "docs" / "results" / "fire-grid.md").read_text()
    assert made.startswith("*Made by `fuelbreak bench fire ") and "| grid (mtt, 20 km/h, 24 h) |" in made
    assert sorted(result["docs"]) == [tmp_path / "README.md", tmp_path / "docs" / "page.md"]
    new = (tmp_path / "docs" / "page.md").read_text()
    assert made.strip() in new and "*by hand*" not in new and "| 100x100 | 1 |" not in new
    assert new.startswith("# Fire\n\ntext before\n\n<!-- results:fire-grid: made by `fuelbreak bench report` -->\n")
    assert "\n\ntext after\n\n<!-- results:env-vector -->\nkept\n<!-- /results:env-vector -->\n" in new
    assert made.strip() in (tmp_path / "README.md").read_text()
    assert report.blocks(tmp_path) == {
        "fire-grid": [tmp_path / "README.md", tmp_path / "docs" / "page.md"],
        "env-vector": [tmp_path / "docs" / "page.md"],
    }  # the generated file under docs/results/ is no page of its own


def test_a_failed_command_writes_nothing(tmp_path, monkeypatch):
    bad = dataclasses.replace(report.RUNS["bench-fire"], quick=("bench fire --plan-refine 2",))
    monkeypatch.setitem(report.RUNS, "bench-fire", bad)
    with pytest.raises(FuelbreakError, match=r"`fuelbreak bench fire --plan-refine 2` \(run bench-fire\) failed "
                       r"with exit code 2 \(its message is above\); no table was written"):  # fmt: skip
        report.make_report(ROOT, tmp_path / "out", only=["fire-grid", "fire-new-tile"], quick=True, progress=None)
    assert not (tmp_path / "out").exists()


def _frontier_csv(folder: Path, points: list[tuple[str, str, float, float]]) -> None:
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "frontier.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "planner", "effort", "kind", "tiles", "reduction_pct", "reduction_ci_low",
                    "reduction_ci_high", "plan_seconds"])  # fmt: skip
        for planner, effort, red, sec in points:
            kind = "reference" if effort == "in-sample" else "method"
            w.writerow([planner, planner, effort, kind, 20, red, "", "", sec])


def test_the_ablation_is_computed_from_the_frontier_run_each_row_over_the_row_it_names(tmp_path):
    _frontier_csv(tmp_path / "f", [
        ("tree_greedy", "64", 53.5, 0.212), ("dqn", "as shipped", 58.7, 0.371), ("tree_greedy", "256", 64.5, 0.586),
        ("tree_greedy+prune", "256", 66.6, 1.41), ("dqn_search", "256", 67.0, 1.75), ("dqn_search", "512", 68.6, 2.7),
        ("tree_greedy", "in-sample", 99.0, 0.1),  # a reference is never a row of the ablation
    ])  # fmt: skip
    table = report.ablation([tmp_path / "f"]).splitlines()
    assert table[0] == "| change | reduction % | s / plan | what it adds |"
    assert len(table) == 2 + len(report.ABLATION)
    assert table[2].startswith("| 1. tree-greedy, 64 fires") and table[2].endswith("| 53.5 | 0.21 |  |")
    assert table[3].endswith("| 58.7 | 0.37 | what the network learned, at 64 fires: +5.2 points for +0.16 s over row 1 |")
    assert table[4].endswith("| 64.5 | 0.59 | more fires: +11.0 points for +0.37 s over row 1 |")
    assert table[5].endswith("| 66.6 | 1.41 | prune and refill: +2.1 points for +0.82 s over row 3 |")
    assert table[6].endswith("| 67.0 | 1.75 | the network inside the search: +0.4 points for +0.34 s over row 4 |")
    assert table[7].endswith("| 68.6 | 2.70 | more fires for the search: +1.6 points for +0.95 s over row 5 |")
    _frontier_csv(tmp_path / "g", [("tree_greedy", "64", 50.0, 0.2), ("tree_greedy", "256", 60.0, 0.5)])
    rows = report.ablation([tmp_path / "g"]).splitlines()
    assert rows[3].endswith("| — | — | |")  # a point the run did not make
    assert rows[4].endswith("| 60.0 | 0.50 | more fires: +10.0 points for +0.30 s over row 1 |")


def test_the_observation_fires_table_reads_each_methods_fires_from_its_options(tmp_path):
    import csv
    import json

    values = {"dqn@a": (64, 61.9), "dqn@b": (256, 67.9), "tree_greedy@x": (64, 54.7), "tree_greedy@y": (1024, 69.3)}
    with open(tmp_path / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["budget", "method", "reduction_pct"])
        for method, (_, red) in values.items():
            w.writerow([0.05, method, red])
        w.writerow([0.1, "dqn@a", 99.0])  # another budget: not shown
    options = {m: {"bp_fires" if m.startswith("dqn") else "n_fires": n} for m, (n, _) in values.items()}
    (tmp_path / "evaluation.json").write_text(json.dumps({"method_options": options}))
    assert report.observation_fires([tmp_path]).splitlines()[2:] == [
        "| 64 | 61.9 | 54.7 | +7.2 |", "| 256 | 67.9 |  |  |", "| 1024 |  | 69.3 |  |",
    ]  # fmt: skip
    full = report.RUNS["evaluate-val-fires"].commands[0]  # the registered run sets the fires each label names
    for method, ns in report.VAL_FIRES.items():
        for n in ns:
            assert f" {method}@{n} " in full and f"--option {method}@{n}." in full and f"={n}" in full
