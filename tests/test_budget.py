"""Budgets as users give them (5%, 0.05, 120ha, 75cells, 75), --max-cost and --objective, resolved on a tile."""

from __future__ import annotations

import numpy as np
import pytest

from fuelbreak.errors import ConfigError
from fuelbreak.landscape.core import Landscape
from fuelbreak.planning.request import (
    Budget,
    PlanRequest,
    parse_budget,
    request_options,
    resolve_request,
)


def tile(shape=(20, 30), cell_size=30.0, **layers) -> Landscape:
    land = Landscape.uniform(shape, cell_size=cell_size, name="t")
    land.layers.update({k: np.asarray(v, dtype=np.float32) for k, v in layers.items()})
    return land.validate()


@pytest.mark.parametrize(
    ("text", "kind", "amount"),
    [
        ("5%", "fraction", 0.05),
        ("2.5 %", "fraction", 0.025),
        ("0.05", "fraction", 0.05),
        ("120ha", "hectares", 120.0),
        ("1.5HA", "hectares", 1.5),
        ("75cells", "cells", 75.0),
        ("1cell", "cells", 1.0),
        ("75", "cells", 75.0),
        ("1", "cells", 1.0),
    ],
)
def test_each_budget_form_parses(text, kind, amount):
    b = parse_budget(text)
    assert (b.kind, b.amount) == (kind, pytest.approx(amount))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0", ["more than 0"]),
        ("-5%", ["a budget is"]),
        ("150%", ["at most 100%"]),
        ("2.5", ["whole number"]),
        ("7.5cells", ["whole number"]),
        ("ten", ["a budget is", "120ha"]),
        ("5 acres", ["a budget is"]),
        ("nan", ["a budget is"]),
    ],
)
def test_bad_budgets_name_the_flag(text, words):
    with pytest.raises(ConfigError) as exc:
        parse_budget(text, flag="--budget")
    assert str(exc.value).startswith("--budget")
    for word in words:
        assert word in str(exc.value)


def test_budgets_resolve_to_cells_on_the_tile():
    land = tile()  # 600 cells of 0.09 ha
    assert resolve_request(land, "5%").cells == 30
    assert resolve_request(land, "0.05").cells == 30
    assert resolve_request(land, 0.05).cells == 30  # a number, as configs hold it
    assert resolve_request(land, "75cells").cells == 75
    assert resolve_request(land, "75").cells == 75
    assert resolve_request(land, "9ha").cells == 100  # 9 ha / 0.09 ha
    assert resolve_request(land, "1ha").cells == 11  # rounded down: never more than asked
    assert resolve_request(land).cells == 30  # default 5 %
    assert resolve_request(tile(cell_size=10.0), "1ha").cells == 100


def test_a_budget_beyond_the_treatable_cells_is_refused_and_says_why():
    exclude = np.zeros((20, 30))
    exclude[:10] = 1
    land = tile(exclude=exclude)
    assert resolve_request(land, "300").cells == 300
    with pytest.raises(ConfigError, match=r"--budget 301 asks for 301 break cells.*only 300 burnable.*300 burnable cells are excluded"):
        resolve_request(land, "301")
    with pytest.raises(ConfigError, match="gives no break cell"):
        resolve_request(land, "0.01ha")


def test_max_cost_needs_a_cost_layer_and_alone_leaves_every_treatable_cell():
    with pytest.raises(ConfigError, match="--max-cost needs .*--cost"):
        resolve_request(tile(), None, max_cost=10.0)
    cost = np.full((20, 30), 2.0)
    exclude = np.zeros((20, 30))
    exclude[0] = 1
    land = tile(cost=cost, exclude=exclude)
    req = resolve_request(land, None, max_cost=10.0)
    assert req == PlanRequest(cells=570, max_cost=10.0, objective="area", budget=None)
    both = resolve_request(land, "5%", max_cost=10.0)
    assert (both.cells, both.max_cost) == (30, 10.0) and both.budget == Budget("fraction", 0.05, "5%")
    with pytest.raises(ConfigError, match="--max-cost 1 buys no cell.*costs 2"):
        resolve_request(land, None, max_cost=1.0)
    with pytest.raises(ConfigError, match="--max-cost"):
        resolve_request(land, None, max_cost=-1.0)


def test_the_value_objective_needs_a_value_layer():
    with pytest.raises(ConfigError, match="--objective value needs .*--values"):
        resolve_request(tile(), "5%", objective="value")
    land = tile(value=np.ones((20, 30)))
    assert resolve_request(land, "5%", objective="value").objective == "value"
    with pytest.raises(ConfigError, match="--objective"):
        resolve_request(land, "5%", objective="money")


def test_the_request_reaches_a_planner_only_as_options_it_takes():
    land = tile(cost=np.ones((20, 30)), value=np.ones((20, 30)))
    plain = resolve_request(land, "5%")
    assert request_options(plain, "random", ()) == {}
    req = resolve_request(land, "5%", max_cost=4.0, objective="value")
    assert request_options(req, "x", ("max_cost", "objective")) == {"max_cost": 4.0, "objective": "value"}
    with pytest.raises(ConfigError, match="--max-cost: random does not take a cost limit"):
        request_options(req, "random", ("objective",))
    with pytest.raises(ConfigError, match="--objective value: random"):
        request_options(req, "random", ("max_cost",))


def test_evaluate_budgets_become_the_evaluation_numbers():
    assert parse_budget("5%").tile_budget(2500, 30.0) == pytest.approx(0.05)
    assert parse_budget("75cells").tile_budget(2500, 30.0) == 75.0
    assert parse_budget("9ha").tile_budget(2500, 30.0) == 100.0


def test_evaluate_takes_each_budget_form(tmp_path, capsys):
    import csv
    import json

    from fuelbreak.cli import main

    out = tmp_path / "ev"
    argv = ["evaluate", "--methods", "random", "--n-tiles", "10", "--tile-size", "20", "--max-tiles", "1",
            "--fires", "3", "--no-progress", "--budget", "5%", "0.9ha", "7cells", "--outdir", str(out)]  # fmt: skip
    assert main(argv) == 0
    info = json.loads((out / "evaluation.json").read_text())
    assert info["budgets_given"] == ["5%", "0.9ha", "7cells"]
    with open(out / "tiles.csv") as fh:
        cells = sorted(int(r["budget_cells"]) for r in csv.DictReader(fh))
    assert cells == [7, 10, 20]  # 0.9 ha of 0.09 ha cells; 5 % of 400 cells
    assert main([*argv[:-2], "--objective", "value", "--outdir", str(tmp_path / "x")]) == 2
    assert "--objective value needs" in capsys.readouterr().err
