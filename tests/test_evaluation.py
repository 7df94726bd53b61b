"""Evaluation on held-out tiles: same fires for every method, independent seeds, tables, statistics, CLI."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

import fuelbreak
import fuelbreak.cli as cli
import fuelbreak.evaluation.tile as tile_mod
from fuelbreak.baselines import BASELINES
from fuelbreak.baselines.common import planning_fires, planning_streams
from fuelbreak.errors import ConfigError, InputError, SimulationError
from fuelbreak.evaluation import check_budgets, evaluate, select_tiles, write_outputs
from fuelbreak.evaluation.leakage import trained_tiles
from fuelbreak.evaluation.report import TILE_COLUMNS, summary_columns
from fuelbreak.evaluation.stats import t_interval, win_rate
from fuelbreak.evaluation.tile import (
    check_same_fires,
    evaluation_fires,
    fires_digest,
    plan_seed,
)
from fuelbreak.fire.montecarlo import FireSet, draw_fires
from fuelbreak.fire.scenario import default_weather
from fuelbreak.landscape.dataset import SyntheticDataset, split_indices
from fuelbreak.parallel import make_executor

SIZE = 20  # small tiles keep every test at a few seconds
FAST = {
    "greedy": {"n_fires": 5},
    "burn_probability": {"n_fires": 20},
    "domirank": {"n_fires": 20},
    "tree_greedy": {"n_fires": 20},
}


@pytest.fixture(scope="module")
def dataset():
    return SyntheticDataset(n=30, size=SIZE, seed=0)


@pytest.fixture(scope="module")
def small_eval(dataset):
    """3 test tiles, every baseline, two budgets, 12 fires: shared by the read-only tests."""
    indices = select_tiles(dataset, "test", 0, 3)
    return evaluate(dataset, indices, budgets=(0.03, 0.06), n_fires=12, method_options=FAST, progress=False)


def run_cli(argv: list[str], monkeypatch) -> int:
    """`fuelbreak evaluate ...` through the real entry point (only this subcommand registered)."""
    monkeypatch.setattr(cli, "COMMANDS", ("evaluate",))
    return cli.main(["evaluate", *argv])


# --------------------------------------------------------------------------- same fires, independent seeds


def test_every_method_scored_on_the_tiles_evaluation_fires(small_eval, dataset):
    ok = [r for r in small_eval.records if r["status"] == "ok"]
    assert len(ok) == 3 * 2 * len(BASELINES)
    for t in {r["tile_index"] for r in ok}:
        rows = [r for r in ok if r["tile_index"] == t]
        assert len({r["fires_digest"] for r in rows}) == 1
        assert len({r["burned_without"] for r in rows}) == 1
    # the digest each row reports is the digest of the fires evaluation_fires gives for that tile
    r = ok[0]
    fires = evaluation_fires(dataset[r["tile_index"]], default_weather(), 12, 0, r["tile_index"])
    assert r["fires_digest"] == fires_digest(fires)


def test_evaluation_stops_when_a_method_met_other_fires(dataset, monkeypatch):
    real = tile_mod.score_plan
    calls = {"n": 0}

    def shifted_for_one_plan(fires, landscape, cells):
        calls["n"] += 1
        if calls["n"] == 3:  # the second plan of the tile burns other ignitions
            fires = FireSet(
                fires.scenarios, [(g + 1) % landscape.n_cells for g in fires.groups], fires.engines
            )
        return real(fires, landscape, cells)

    monkeypatch.setattr(tile_mod, "score_plan", shifted_for_one_plan)
    with pytest.raises(SimulationError, match="identical ignitions"):
        evaluate(dataset, [1], ["random", "burn_probability"], [0.05], n_fires=8, progress=False)


def test_check_same_fires_names_the_odd_method():
    tile = {
        "tile_index": 4,
        "tile_name": "t4",
        "fires_digest": "aaaa",
        "rows": [
            {"ok": True, "method": "random", "budget": 0.05, "fires_digest": "aaaa"},
            {"ok": False, "method": "dqn", "budget": 0.05},
            {"ok": True, "method": "greedy", "budget": 0.05, "fires_digest": "bbbb"},
        ],
    }
    with pytest.raises(SimulationError, match="greedy at budget 0.05"):
        check_same_fires(tile)
    tile["rows"][2]["fires_digest"] = "aaaa"
    check_same_fires(tile)


def test_evaluation_fires_independent_of_planning_and_plain_seed(dataset):
    land, weather, seed, t = dataset[1], default_weather(), 3, 1
    ev = evaluation_fires(land, weather, 50, seed, t).ignitions()
    again = evaluation_fires(land, weather, 50, seed, t).ignitions()
    np.testing.assert_array_equal(ev, again)
    plan_tile = planning_fires(land, weather, 50, planning_streams(plan_seed(seed, t))[0]).ignitions()
    plan_run = planning_fires(land, weather, 50, planning_streams(seed)[0]).ignitions()
    plain = draw_fires(land, weather, 50, seed).ignitions()
    for other in (plan_tile, plan_run, plain):
        assert not np.array_equal(ev, other)
        assert np.mean(ev == other) < 0.2  # unrelated streams: agreement only by chance
    assert not np.array_equal(ev, evaluation_fires(land, weather, 50, seed, t + 1).ignitions())
    assert not np.array_equal(ev, evaluation_fires(land, weather, 50, seed + 1, t).ignitions())


def test_reference_engine_sees_the_same_ignitions(dataset):
    land = dataset[1]
    mtt = evaluation_fires(land, default_weather(), 20, 0, 1, "mtt")
    ls = evaluation_fires(land, default_weather(), 20, 0, 1, "levelset")
    assert fires_digest(mtt) == fires_digest(ls)
    assert type(ls.engines[0]).__name__ == "LevelSetEngine"


def test_same_seed_same_results(dataset):
    def numbers(ev):
        return [(r["method"], r["burned_with"], r["fires_digest"], r["plan_seed"]) for r in ev.records]

    a = evaluate(dataset, [1, 15], ["random", "burn_probability"], [0.05], n_fires=10, progress=False)
    b = evaluate(dataset, [1, 15], ["random", "burn_probability"], [0.05], n_fires=10, progress=False)
    c = evaluate(dataset, [1, 15], ["random", "burn_probability"], [0.05], n_fires=10, seed=1, progress=False)
    assert numbers(a) == numbers(b)
    assert numbers(a) != numbers(c)


# --------------------------------------------------------------------------- tables and statistics


def test_tables_have_expected_rows_and_columns(small_eval, tmp_path):
    paths = write_outputs(small_eval, tmp_path / "out")
    with open(paths["tiles"]) as fh:
        tiles = list(csv.DictReader(fh))
    assert tuple(tiles[0]) == TILE_COLUMNS
    assert len(tiles) == 3 * 2 * len(BASELINES)
    assert {(r["tile_index"], r["budget"], r["method"]) for r in tiles} == {
        (str(t), b, m)
        for t in split_indices(30, 0)["test"][:3]
        for b in ("0.03", "0.06")
        for m in BASELINES
    }
    assert all(r["status"] == "ok" and float(r["burned_with"]) <= float(r["burned_without"]) for r in tiles)
    with open(paths["summary"]) as fh:
        summary = list(csv.DictReader(fh))
    assert tuple(summary[0]) == summary_columns(small_eval.methods)
    assert [(r["budget"], r["method"]) for r in summary] == [
        (b, m) for b in ("0.03", "0.06") for m in small_eval.methods
    ]
    assert all(r["tiles"] == "3" and r["failed"] == "0" for r in summary)
    md = paths["markdown"].read_text()
    assert md.count("| method |") == 2 and "| greedy | 3 |" in md
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_means_match_the_tiles(small_eval):
    for row in small_eval.summary:
        mine = [
            r for r in small_eval.records if r["method"] == row["method"] and r["budget"] == row["budget"]
        ]
        assert row["reduction_pct"] == pytest.approx(np.mean([r["reduction_pct"] for r in mine]))
        assert row["burned_with"] == pytest.approx(np.mean([r["burned_with"] for r in mine]))
        assert row["reduction_ci_low"] <= row["reduction_pct"] <= row["reduction_ci_high"]


def test_t_interval_contains_the_mean_and_shrinks_with_more_tiles():
    x = np.random.default_rng(0).normal(20.0, 5.0, size=40)
    widths = []
    for n in (3, 10, 40):
        mean, low, high = t_interval(x[:n])
        assert low < mean < high
        assert mean == pytest.approx(x[:n].mean())
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    mean, low, high = t_interval([1.0, 3.0])  # t(0.975, 1) = 12.706, sem = 1
    assert (low, high) == pytest.approx((2.0 - 12.706, 2.0 + 12.706), abs=1e-3)
    assert math.isnan(t_interval([5.0])[1]) and t_interval([2.0, 2.0])[1:] == (2.0, 2.0)


def test_win_rates_pairs_sum_to_one_and_self_is_not_reported(small_eval):
    for budget in small_eval.budgets:
        rows = {r["method"]: r for r in small_eval.summary if r["budget"] == budget}
        for a in rows:
            assert math.isnan(rows[a][f"win_vs_{a}"])
            for b in rows:
                if a != b:
                    assert rows[a][f"win_vs_{b}"] + rows[b][f"win_vs_{a}"] == pytest.approx(1.0)
                    assert 0.0 <= rows[a][f"win_vs_{b}"] <= 1.0


def test_win_rate_counts_ties_half_and_only_shared_tiles():
    mine, theirs = {0: 1.0, 1: 2.0, 2: 3.0, 7: 0.0}, {0: 2.0, 1: 2.0, 2: 1.0}
    assert win_rate(mine, theirs) == (0.5, 3)
    assert win_rate({0: 1.0}, {0: 1.0, 1: 9.0}) == (0.5, 1)
    assert win_rate({0: 1.0, 1: 4.0}, {0: 2.0, 1: 5.0}) == (1.0, 2)
    assert math.isnan(win_rate({0: 1.0}, {1: 1.0})[0])


# --------------------------------------------------------------------------- failures, executors, dqn


def test_a_failed_tile_is_reported_without_numbers(dataset, tmp_path):
    broken = dataset[15]
    broken.layers["dem"][0, 0] = np.nan  # fails validation inside the task
    tiles = [dataset[1], broken]
    ev = evaluate(tiles, [0, 1], ["random", "burn_probability"], [0.05], n_fires=8, progress=False)
    assert [f["tile_index"] for f in ev.failures] == [1]
    assert "dem" in ev.failures[0]["error"]
    bad = [r for r in ev.records if r["tile_index"] == 1]
    assert len(bad) == 2 and all(r["status"] == "failed" and "burned_with" not in r for r in bad)
    assert all(r["tiles"] == 1 and r["failed"] == 1 for r in ev.summary)
    paths = write_outputs(ev, tmp_path)
    with open(paths["tiles"]) as fh:
        rows = [r for r in csv.DictReader(fh) if r["tile_index"] == "1"]
    assert all(r["burned_with"] == "" and r["reduction_pct"] == "" and "dem" in r["error"] for r in rows)
    assert "1 failed" in paths["markdown"].read_text()


def test_a_method_that_cannot_plan_fails_alone(dataset):
    from fuelbreak.landscape.core import Landscape

    land = Landscape.uniform((SIZE, SIZE), fuel=102, name="mostly-water")
    land.layers["fbfm"][:, 3:] = 98  # 60 burnable cells: a 100-cell budget cannot be met
    ev = evaluate([dataset[1], land], [0, 1], ["random"], [100], n_fires=5, progress=False)
    ok, failed = (
        [r for r in ev.records if r["status"] == "ok"],
        [r for r in ev.records if r["status"] == "failed"],
    )
    assert [r["tile_index"] for r in ok] == [0]
    assert [r["tile_index"] for r in failed] == [1] and "budget" in failed[0]["error"]


def test_process_executor_gives_the_serial_results(dataset):
    args = (dataset, [1, 15], ["random", "burn_probability"], [0.05])
    serial = evaluate(*args, n_fires=8, progress=False)
    with make_executor("process", workers=2, timeout=120) as ex:
        pooled = evaluate(*args, n_fires=8, executor=ex, progress=False)
    assert [r["burned_with"] for r in serial.records] == [r["burned_with"] for r in pooled.records]
    assert pooled.info["executor"] == "process"


def test_the_dqn_policy_goes_to_each_worker_once_and_plans_as_in_process(dataset, tiny_checkpoint):
    args = (dataset, [1, 15, 16], ["random", "dqn"], [0.05])
    opts = {"dqn": {"checkpoint": str(tiny_checkpoint)}}
    serial = evaluate(*args, n_fires=8, method_options=opts, progress=False)
    with make_executor("process", workers=2, timeout=120) as ex:
        pooled = evaluate(*args, n_fires=8, method_options=opts, executor=ex, progress=False)
        # the options (with the loaded policy) travelled once whole, then by key
        assert [k[0] for k in ex._sent_keys] == ["evaluate-options"]
        assert ex.stats["state_resends"] <= 2 and ex.stats["exceptions"] == 0
    assert all(r["status"] == "ok" for r in pooled.records)
    assert [r["burned_with"] for r in serial.records] == [r["burned_with"] for r in pooled.records]


def save_tiny_checkpoint(path, config: dict):
    """An untrained 'basic' Q-network saved as a real checkpoint, with the given training config."""
    from fuelbreak.agents.checkpoint import capture_rng_state, make_payload, save_checkpoint
    from fuelbreak.agents.networks import build_model
    from fuelbreak.env.observation import CHANNELS

    torch.manual_seed(0)
    model = build_model("basic", len(CHANNELS))
    target = build_model("basic", len(CHANNELS))
    payload = make_payload(
        model=model,
        target=target,
        optimizer=torch.optim.Adam(model.parameters()),
        obs_channels=list(CHANNELS),
        counters={"env_steps": 0},
        config=config,
        rng_state=capture_rng_state(),
    )
    return save_checkpoint(path, payload)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", {"env": {"cells_per_step": 5}})


def test_dqn_from_a_checkpoint_is_evaluated_like_the_baselines(dataset, tiny_checkpoint):
    ev = evaluate(
        dataset,
        [1, 15],
        ["random", "dqn"],
        [0.03],
        n_fires=8,
        method_options={"dqn": {"checkpoint": tiny_checkpoint}},
        progress=False,
    )
    dqn = [r for r in ev.records if r["method"] == "dqn"]
    assert len(dqn) == 2 and all(r["status"] == "ok" and r["budget_cells"] == 12 for r in dqn)
    assert ev.info["method_options"]["dqn"]["checkpoint"] == str(tiny_checkpoint)
    for t in (1, 15):
        assert len({r["fires_digest"] for r in ev.records if r["tile_index"] == t}) == 1


# --------------------------------------------------------------------------- the command


def test_cli_end_to_end_writes_files_and_prints_markdown(tmp_path, monkeypatch, capsys, tiny_checkpoint):
    out = tmp_path / "eval"
    argv = ["--n-tiles", "30", "--tile-size", str(SIZE), "--max-tiles", "3", "--fires", "8"]
    argv += ["--methods", "random", "greedy", "--option", "greedy.n_fires=4", "--ckpt", str(tiny_checkpoint)]
    argv += ["--budget", "0.02", "0.04", "--outdir", str(out), "--no-progress"]
    assert run_cli(argv, monkeypatch) == 0
    printed = capsys.readouterr().out
    assert "| method | tiles |" in printed and "| dqn | 3 |" in printed and "| greedy | 3 |" in printed
    for name in ("tiles.csv", "summary.csv", "summary.md", "evaluation.json", "reduction_vs_budget.png"):
        assert (out / name).is_file(), name
    assert (out / "summary.md").read_text() in printed
    with open(out / "tiles.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 3 * 2 * 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--methods", "random", "annealing"], "unknown method(s) annealing"),
        (["--ckpt", "no/such/best.pt"], "--ckpt no/such/best.pt: no such checkpoint file"),
        (["--budget", "0"], "argument --budget: 0 is not a budget"),
        (["--budget", "-0.05"], "argument --budget: -0.05 is not a budget"),
        (["--budget", "2.5"], "whole number of cells"),
        (["--budget", "0.0001"], "budget 0.0001 gives 0 cell(s)"),
        (["--option", "greedy.depth=3"], "greedy has no option(s) depth"),
        (["--option", "greedy"], "METHOD.KEY=VALUE"),
        (["--workers", "2"], "--workers applies to --executor process or ray"),
        (["--split", "val", "--n-tiles", "1"], "'val' split"),
    ],
)
def test_cli_errors_name_the_flag(argv, message, tmp_path, monkeypatch, capsys):
    base = ["--n-tiles", "30", "--tile-size", str(SIZE), "--max-tiles", "1", "--fires", "4", "--no-progress"]
    if "--methods" not in argv:  # the baselines: the shipped policy was trained on other tiles
        base += ["--methods", *BASELINES]
    code = run_cli([*base, *argv, "--outdir", str(tmp_path / "o")], monkeypatch)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert not (tmp_path / "o").exists()


def test_budget_checks():
    assert check_budgets([0.05, 10]) == (0.05, 10.0)
    for bad in ([], [0.05, 0.05], [float("nan")], [True]):
        with pytest.raises(ConfigError, match="--budget"):
            check_budgets(bad)


def test_select_tiles_defaults_to_the_test_split_training_never_sees(dataset):
    split = split_indices(30, 0)
    assert select_tiles(dataset) == split["test"][:20]
    assert not set(select_tiles(dataset)) & set(split["train"])
    assert select_tiles(dataset, "all", 0, 4) == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="--split"):
        select_tiles(dataset, "train")
    with pytest.raises(InputError, match="split"):
        select_tiles(SyntheticDataset(n=1, size=SIZE), "test")


def test_levelset_rescoring_uses_the_same_fires_as_mtt(dataset):
    args = (dataset, [1], ["random"], [0.05])
    mtt = evaluate(*args, n_fires=2, progress=False)
    ls = evaluate(*args, n_fires=2, engine="levelset", progress=False)
    assert ls.records[0]["status"] == "ok" and ls.records[0]["engine"] == "levelset"
    assert ls.records[0]["fires_digest"] == mtt.records[0]["fires_digest"]


TRAIN_ENV = {
    "cells_per_step": 5,
    "synthetic_tiles": 32,
    "split_seed": 0,
    "tile_size": SIZE,
    "synthetic_seed": 0,
}


def test_trained_tiles_from_the_checkpoint_config(tmp_path):
    env = {**TRAIN_ENV, "data_dir": ""}
    train32 = set(split_indices(32, 0)["train"])
    assert trained_tiles(env, None, SIZE, 0, 500) == train32
    assert trained_tiles(env, None, SIZE, 0, 10) == {i for i in train32 if i < 10}
    assert trained_tiles(env, None, SIZE, 1, 500) == set()  # other synthetic tiles
    assert trained_tiles(env, None, 50, 0, 500) == set()
    assert trained_tiles(env, str(tmp_path), SIZE, 0, 500) == set()  # real tiles vs synthetic ones
    # A dataset folder of tiles without a place (synthetic ones written to disk) is split by index.
    from fuelbreak.landscape import synthetic_tiles, write_dataset

    write_dataset(synthetic_tiles(40, size=SIZE, seed=0), tmp_path / "ds", source="synthetic", progress=False)
    on_disk = {**env, "data_dir": str(tmp_path / "ds")}
    assert trained_tiles(on_disk, str(tmp_path / "ds" / "." / ""), SIZE, 0, 40) == set(
        split_indices(40, 0)["train"]
    )
    assert trained_tiles({"cells_per_step": 5}, None, SIZE, 0, 500) is None


def test_cli_refuses_a_checkpoint_trained_on_the_evaluation_tiles(tmp_path, monkeypatch, capsys):
    ckpt = save_tiny_checkpoint(tmp_path / "c.pt", {"env": {**TRAIN_ENV, "data_dir": ""}})
    base = [
        "--tile-size",
        str(SIZE),
        "--fires",
        "4",
        "--methods",
        "random",
        "--ckpt",
        str(ckpt),
        "--no-progress",
    ]
    code = run_cli([*base, "--n-tiles", "500", "--outdir", str(tmp_path / "a")], monkeypatch)
    err = capsys.readouterr().err
    assert code == 2 and f"--ckpt {ckpt} was trained on" in err and "--n-tiles 32" in err
    assert run_cli([*base, "--n-tiles", "32", "--outdir", str(tmp_path / "b")], monkeypatch) == 0
    assert "| dqn | 3 |" in capsys.readouterr().out


def test_dqn_without_ckpt_plans_with_the_shipped_policy_or_says_it_is_missing(tmp_path, monkeypatch, capsys):
    from fuelbreak.agents import shipped

    monkeypatch.setattr(shipped, "policies_dir", lambda: tmp_path / "nothing")
    code = run_cli(["--methods", "random", "dqn", "--n-tiles", "30", "--tile-size", "16"], monkeypatch)
    assert code == 3
    assert "shipped policy" in capsys.readouterr().err


def test_several_checkpoints_are_compared_as_labelled_methods(tmp_path, monkeypatch, capsys):
    from fuelbreak.cli.evaluate import checkpoint_methods
    from fuelbreak.errors import ConfigError, InputError

    (tmp_path / "runA" / "checkpoints").mkdir(parents=True)
    (tmp_path / "runB" / "checkpoints").mkdir(parents=True)
    a = save_tiny_checkpoint(tmp_path / "runA" / "checkpoints" / "best.pt", {"env": {"cells_per_step": 5}})
    b = save_tiny_checkpoint(tmp_path / "runB" / "checkpoints" / "step_00000010.pt", {"env": {"cells_per_step": 5}})
    assert checkpoint_methods([str(a)]) == {"dqn": str(a)}
    assert checkpoint_methods([f"mine={a}"]) == {"dqn:mine": str(a)}
    assert checkpoint_methods([str(a), str(b)]) == {"dqn:runA": str(a), "dqn:runB/step_00000010": str(b)}
    with pytest.raises(ConfigError, match="both dqn:runA"):
        checkpoint_methods([str(a), str(a)])
    with pytest.raises(InputError, match="nothing.pt"):
        checkpoint_methods([str(a), f"x={tmp_path / 'nothing.pt'}"])

    out = tmp_path / "eval"
    argv = ["--n-tiles", "30", "--tile-size", str(SIZE), "--max-tiles", "2", "--fires", "6", "--no-progress"]
    argv += ["--methods", "random", "--ckpt", f"first={a}", "--ckpt", f"second={b}", "--outdir", str(out)]
    argv += ["--option", "dqn.cells_per_step=3"]  # applies to every policy
    assert run_cli(argv, monkeypatch) == 0
    printed = capsys.readouterr().out
    assert "| dqn:first | 2 |" in printed and "| dqn:second | 2 |" in printed
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["methods"] == ["random", "dqn:first", "dqn:second"]
    assert ev["fuelbreak_version"] == fuelbreak.__version__
    assert all(ev["method_options"][m]["cells_per_step"] == 3 for m in ("dqn:first", "dqn:second"))
    with open(out / "tiles.csv") as fh:
        rows = list(csv.DictReader(fh))
    for t in {r["tile_index"] for r in rows}:  # every policy burned by the tile's same fires
        assert len({r["fires_digest"] for r in rows if r["tile_index"] == t}) == 1
    code = run_cli([*argv[:-2], "--methods", "dqn:third"], monkeypatch)
    assert code == 2 and "no --ckpt has that label" in capsys.readouterr().err


def test_one_policy_under_several_options_is_evaluated_as_dqn_at_label(tmp_path, monkeypatch, capsys):
    a = save_tiny_checkpoint(tmp_path / "run" / "best.pt", {"env": {"cells_per_step": 5}})
    out = tmp_path / "eval"
    argv = ["--n-tiles", "30", "--tile-size", str(SIZE), "--max-tiles", "1", "--fires", "4", "--no-progress"]
    argv += ["--methods", "dqn@8", "dqn@16", "--option", "dqn@8.bp_fires=8", "--option", "dqn@16.bp_fires=16"]
    assert run_cli([*argv, "--ckpt", str(a), "--outdir", str(out)], monkeypatch) == 0
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["methods"] == ["dqn@8", "dqn@16"]
    assert {m: (o["bp_fires"], o["checkpoint"]) for m, o in ev["method_options"].items()} == {
        "dqn@8": (8, str(a)), "dqn@16": (16, str(a))
    }
    capsys.readouterr()
    code = run_cli([*argv, "--ckpt", f"x={a}", "--ckpt", f"y={a}", "--outdir", str(tmp_path / "e2")], monkeypatch)
    assert code == 2 and "a dqn@LABEL method plans with the one unlabelled --ckpt" in capsys.readouterr().err


def test_dqn_options_without_a_dqn_method_are_still_refused(tmp_path, monkeypatch, capsys):
    argv = ["--n-tiles", "30", "--tile-size", str(SIZE), "--max-tiles", "1", "--fires", "4", "--no-progress"]
    argv += ["--methods", "random", "--option", "dqn.cells_per_step=3", "--outdir", str(tmp_path / "e")]
    assert run_cli(argv, monkeypatch) == 2
    assert "not evaluated" in capsys.readouterr().err
