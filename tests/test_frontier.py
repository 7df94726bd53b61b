"""`fuelbreak evaluate --frontier` (`fuelbreak.evaluation.frontier`): planners at several efforts, with
in-sample references labelled as such."""

from __future__ import annotations

import csv

import pytest

from fuelbreak.cli import main
from fuelbreak.errors import ConfigError
from fuelbreak.evaluation.frontier import frontier_methods, frontier_rows, parse_efforts


def test_frontier_methods_name_each_effort_and_the_references():
    methods, options = frontier_methods(["tree_greedy", "dqn", "dqn_search"], {"tree_greedy": (8, 16)})
    assert methods == [
        "tree_greedy@8", "tree_greedy@16", "dqn", "dqn_search@256", "dqn_search@512", "dqn_search@1024",
        "tree_greedy@in-sample", "dqn_search@in-sample",
    ]  # fmt: skip
    assert options["tree_greedy@16"] == {"n_fires": 16}
    assert options["tree_greedy@in-sample"] == {"in_sample": True} == options["dqn_search@in-sample"]
    assert "dqn" not in options
    assert frontier_methods(["greedy"], references=False)[0] == ["greedy@50", "greedy@200"]
    labels, opts = frontier_methods(["tree_greedy+prune"], {"tree_greedy+prune": (8,)}, references=False)
    assert labels == ["tree_greedy@8+prune"] and opts["tree_greedy@8+prune"] == {"n_fires": 8, "prune_rounds": 3}
    with pytest.raises(ConfigError, match="no frontier for domirank"):
        frontier_methods(["domirank"])


@pytest.mark.parametrize("bad", ["tree_greedy", "tree_greedy=", "tree_greedy=0", "dqn=4", "nope=3", "greedy=a"])
def test_bad_efforts_are_config_errors(bad):
    with pytest.raises(ConfigError, match="frontier-efforts"):
        parse_efforts([bad])


def test_frontier_rows_mark_references():
    summary = [
        {"budget": 0.05, "method": m, "tiles": 2, "reduction_pct": r, "reduction_ci_low": r - 1,
         "reduction_ci_high": r + 1, "plan_seconds": s}
        for m, r, s in [("tree_greedy@8", 40.0, 0.1), ("tree_greedy@in-sample", 60.0, 0.2), ("dqn", 50.0, 0.3),
                        ("tree_greedy@8+prune", 45.0, 0.2)]
    ]  # fmt: skip
    rows = frontier_rows(summary, {"tree_greedy@in-sample": {"in_sample": True}, "tree_greedy@8": {"n_fires": 8}})
    kinds = {r["label"]: (r["kind"], r["effort"]) for r in rows}
    assert kinds == {
        "tree_greedy@8": ("method", "8"),
        "tree_greedy@in-sample (reference, not a method)": ("reference", "in-sample"),
        "dqn": ("method", "as shipped"),
        "tree_greedy@8+prune": ("method", "8"),
    }
    assert [r["planner"] for r in rows][-1] == "tree_greedy+prune"


def test_a_small_frontier_run_writes_its_table_and_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FUELBREAK_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "frontier"
    code = main([
        "evaluate", "--frontier", "--methods", "tree_greedy", "dqn", "dqn_search",
        "--frontier-efforts", "tree_greedy=4,16", "dqn_search=8",
        "--n-tiles", "30", "--tile-size", "20", "--max-tiles", "2", "--fires", "12", "--budget", "10",
        "--executor", "serial", "--no-progress", "--outdir", str(out),
    ])  # fmt: skip
    assert code == 0
    for name in ("frontier.csv", "frontier.md", "frontier.png", "summary.csv", "tiles.csv"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "frontier.csv").open()))
    by = {r["label"]: r for r in rows}
    assert set(by) == {
        "tree_greedy@4", "tree_greedy@16", "dqn", "dqn_search@8",
        "tree_greedy@in-sample (reference, not a method)", "dqn_search@in-sample (reference, not a method)",
    }  # fmt: skip
    assert by["tree_greedy@in-sample (reference, not a method)"]["kind"] == "reference"
    assert all(r["tiles"] == "2" and float(r["plan_seconds"]) > 0 for r in rows)
    # in-sample tree-greedy knows the fires: it cuts at least as much as on 4 planning fires of its own
    assert float(by["tree_greedy@in-sample (reference, not a method)"]["reduction_pct"]) >= float(
        by["tree_greedy@4"]["reduction_pct"]
    )
    md = (out / "frontier.md").read_text()
    assert "in-sample reference, not a method" in md
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Quality frontier" in capsys.readouterr().out


def test_frontier_refuses_two_checkpoints_and_stray_options(tmp_path, capsys):
    from fuelbreak.agents.shipped import shipped_policy_path

    p = str(shipped_policy_path())
    assert main(["evaluate", "--frontier", "--ckpt", f"a={p}", "--ckpt", f"b={p}", "--outdir", str(tmp_path / "o")]) == 2
    assert "takes one --ckpt" in capsys.readouterr().err
    argv = ["evaluate", "--frontier", "--methods", "dqn", "--option", "greedy.n_fires=3", "--outdir", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "greedy, which the frontier does not run" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
