"""What planners plan for: the value objective, exclusions, ignition density and a cost limit.

Every planner (the baselines, the shipped policy, the policy-guided search) honours the same request:
excluded cells are never treated, a cost limit is never passed, and under the value objective plans
protect the cells that hold value. The value loss itself is checked against a case computed by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from fuelbreak.baselines import BASELINES
from fuelbreak.env import FuelBreakEnv
from fuelbreak.errors import ConfigError, InputError
from fuelbreak.evaluation.tile import evaluate_tile
from fuelbreak.fire import FireSet, Scenario, Weather, make_engine, sample_ignitions
from fuelbreak.fire.montecarlo import cell_equivalent_weights, expected_loss
from fuelbreak.landscape.core import Landscape
from fuelbreak.planning import plan_cells

CALM_DAY = Scenario(wind_speed=0.0, duration=24 * 60.0)
WEST_WIND = Weather.single(Scenario(wind_speed=10.0, wind_direction=270.0, duration=240.0))
PLANNERS = (*sorted(BASELINES), "dqn", "dqn_search")
# Small efforts, so that every planner runs in a second or two on a 30x30 tile.
SMALL = {"greedy": {"n_fires": 20}, "dqn_search": {"n_fires": 32, "prune_rounds": 1}, "domirank": {"n_fires": 32}}


def valued_corner(size: int = 30) -> Landscape:
    """Uniform grass with all its value in a 6x6 block in the north-west corner (1 a cell)."""
    land = Landscape.uniform((size, size), fuel=102, name="valued-corner")
    value = np.zeros((size, size), dtype=np.float32)
    value[:6, :6] = 1.0
    land.layers["value"] = value
    return land


# ----------------------------------------------------------------------------- the loss itself


def test_value_loss_matches_a_hand_computed_case():
    """A 3x9 grass strip, one fire at (1, 1) that burns all it reaches; value 2 at (1, 0), 5 at (1, 8).

    Without breaks the fire burns all 27 cells and the value 7; a full break column at 4 stops it there:
    it burns columns 0-3 (12 cells) and the value 2.
    """
    land = Landscape.uniform((3, 9), fuel=102)
    value = np.zeros((3, 9), dtype=np.float32)
    value[1, 0], value[1, 8] = 2.0, 5.0
    land.layers["value"] = value
    fires = FireSet([CALM_DAY], [np.array([1 * 9 + 1])], [make_engine("mtt", land, CALM_DAY)])
    breaks = np.zeros((3, 9), dtype=bool)
    breaks[:, 4] = True
    assert expected_loss(fires, land, None, "value") == pytest.approx(7.0)
    assert expected_loss(fires, land, breaks, "value") == pytest.approx(2.0)
    assert expected_loss(fires, land, None, "area") == pytest.approx(27.0)
    assert expected_loss(fires, land, breaks, "area") == pytest.approx(12.0)


def test_value_objective_needs_a_value_layer():
    land = Landscape.uniform((10, 10), fuel=102, name="bare")
    with pytest.raises(ConfigError, match="no 'value' layer"):
        plan_cells("tree_greedy", land, WEST_WIND, 5, 0, {"objective": "value"})
    with pytest.raises(ConfigError, match="not one of"):
        plan_cells("tree_greedy", land, WEST_WIND, 5, 0, {"objective": "houses"})


def test_cell_equivalent_weights_weigh_the_burnable_cells_as_their_count():
    land = valued_corner()
    w = cell_equivalent_weights(land, "value")
    assert w[land.burnable].sum() == pytest.approx(land.burnable.sum())
    assert cell_equivalent_weights(land, "area") is None


# ----------------------------------------------------------------------------- the value objective


@pytest.mark.parametrize("method", ["tree_greedy", "greedy", "dqn", "dqn_search"])
def test_value_objective_protects_the_value(method):
    """Planned for value, a plan saves far more of the corner's value than the same planner planned for area."""
    land = valued_corner()
    out = {}
    for objective in ("area", "value"):
        tile = evaluate_tile(
            0, land, WEST_WIND, (method,), (20,), 100, 0, method_options={method: SMALL.get(method, {})},
            objective=objective,
        )  # fmt: skip
        (row,) = tile["rows"]
        assert row["ok"], row["error"]
        out[objective] = row
    assert out["value"]["reduction_pct"] == out["value"]["value_reduction_pct"]
    assert out["area"]["reduction_pct"] == out["area"]["area_reduction_pct"]
    assert out["value"]["value_reduction_pct"] > out["area"]["value_reduction_pct"] + 30.0
    assert out["value"]["value_reduction_pct"] > 50.0


def test_evaluation_reports_both_losses_and_the_treated_area():
    land = valued_corner()
    land.layers["cost"] = np.full(land.shape, 2.5, dtype=np.float32)
    tile = evaluate_tile(0, land, WEST_WIND, ("random",), (10,), 20, 0)
    (row,) = tile["rows"]
    assert row["treated_cells"] == 10
    assert row["treated_ha"] == pytest.approx(10 * 0.09)
    assert row["cost"] == pytest.approx(25.0)
    assert np.isfinite(row["value_reduction_pct"]) and np.isfinite(row["area_reduction_pct"])


# ----------------------------------------------------------------------------- exclusions and cost


def excluded_tile() -> Landscape:
    """The valued corner with the ring of cells around the value, where a planner would treat, excluded."""
    land = valued_corner()
    exclude = np.zeros(land.shape, dtype=np.float32)
    exclude[:9, :9] = 1.0
    land.layers["exclude"] = exclude
    return land


@pytest.mark.parametrize("method", PLANNERS)
@pytest.mark.parametrize("objective", ["area", "value"])
def test_no_planner_treats_an_excluded_cell(method, objective):
    land = excluded_tile()
    cells = plan_cells(method, land, WEST_WIND, 25, 3, {**SMALL.get(method, {}), "objective": objective})
    assert len(cells) == 25 and len(set(cells.tolist())) == 25
    assert not land.excluded.ravel()[cells].any()
    assert land.burnable.ravel()[cells].all()


@pytest.mark.parametrize("method", PLANNERS)
def test_every_planner_stays_within_the_cost_limit(method):
    land = valued_corner()
    cost = np.full(land.shape, 3.0, dtype=np.float32)
    cost[:, 15:] = 1.0  # the east half is cheap
    land.layers["cost"] = cost
    cells = plan_cells(method, land, WEST_WIND, 40, 1, {**SMALL.get(method, {}), "max_cost": 20.0})
    spent = float(cost.ravel()[cells].sum())
    assert 0 < len(cells) <= 40
    assert spent <= 20.0
    assert spent > 20.0 - 3.0 or len(cells) == 40  # it stops only when no cell fits any more
    assert len(set(cells.tolist())) == len(cells)


def test_a_cost_limit_needs_a_cost_layer():
    with pytest.raises(ConfigError, match="no 'cost' layer"):
        plan_cells("tree_greedy", valued_corner(), WEST_WIND, 5, 0, {"max_cost": 10.0})
    land = valued_corner()
    land.layers["cost"] = np.ones(land.shape, dtype=np.float32)
    with pytest.raises(ConfigError, match="positive"):
        plan_cells("random", land, WEST_WIND, 5, 0, {"max_cost": -1.0})


def test_planner_layers_are_validated():
    land = valued_corner()
    land.layers["exclude"] = np.full(land.shape, 0.5, dtype=np.float32)
    with pytest.raises(InputError, match="'exclude'"):
        land.validate()
    land = valued_corner()
    land.layers["value"][3, 4] = -1.0
    with pytest.raises(InputError, match="negative value.*row 3, col 4"):
        land.validate()
    land = valued_corner()
    land.layers["cost"] = np.full((5, 5), 1.0, dtype=np.float32)
    with pytest.raises(InputError, match="'cost'.*shape"):
        land.validate()


# ----------------------------------------------------------------------------- ignition density


def test_ignitions_follow_the_density_and_the_seed():
    land = Landscape.uniform((20, 20), fuel=102)
    density = np.zeros((20, 20), dtype=np.float32)
    density[:, :10] = 1.0  # west half: 1
    density[:, 10:] = 3.0  # east half: 3 times likelier
    density[0, :] = 0.0  # the north row: never
    land.layers["ignition"] = density
    ign = sample_ignitions(land, 4000, 7)
    rows, cols = np.divmod(ign, 20)
    assert not (rows == 0).any()
    east = float((cols >= 10).mean())
    sd = np.sqrt(0.75 * 0.25 / 4000)
    assert abs(east - 0.75) < 5 * sd
    assert np.array_equal(ign, sample_ignitions(land, 4000, 7))
    assert not np.array_equal(ign, sample_ignitions(land, 4000, 8))


def test_an_ignition_density_of_zero_everywhere_is_an_error():
    land = Landscape.uniform((10, 10), fuel=102)
    land.layers["ignition"] = np.zeros((10, 10), dtype=np.float32)
    with pytest.raises(InputError, match="no fire can start"):
        land.validate()


# ----------------------------------------------------------------------------- the environment


def test_environment_rewards_the_value_saved_and_masks_excluded_cells():
    land = excluded_tile()
    env = FuelBreakEnv(data=[land], split="all", budget=4, n_ignitions=8, bp_fires=8, objective="value",
                       weather=WEST_WIND)  # fmt: skip
    obs, info = env.reset(seed=0)
    assert not info["action_mask"][land.excluded.ravel()].any()
    with pytest.raises(InputError, match="excluded"):
        env.step(0)
    w = cell_equivalent_weights(land, "value")
    before = env.episode_fires().areas.mean()
    burned = env.episode_fires().burn_count  # fires that burned each cell
    assert before == pytest.approx(float((burned * w).sum()) / 8)
    legal = np.flatnonzero(info["action_mask"])
    _, reward, *_ = env.step(int(legal[0]))
    after = env.episode_fires().areas.mean()
    assert reward == pytest.approx((before - after) / land.n_cells)


def test_evaluate_under_the_value_objective_reports_value_first_and_area_beside():
    from fuelbreak.evaluation.run import evaluate

    tiles = [valued_corner(), excluded_tile()]
    ev = evaluate(tiles, [0, 1], ["random", "tree_greedy"], [0.02], WEST_WIND, 30, 0, progress=False, split="all",
                  objective="value")  # fmt: skip
    assert "value lost reduction % [95 % CI]" in ev.markdown and "burned area reduction %" in ev.markdown
    tg = next(r for r in ev.summary if r["method"] == "tree_greedy")
    assert tg["reduction_pct"] == pytest.approx(tg["value_reduction_pct"])
    assert tg["reduction_pct"] > 0 and np.isfinite(tg["area_reduction_pct"])
    assert ev.info["objective"] == "value"
    with pytest.raises(ConfigError, match="no 'value' layer"):
        evaluate([Landscape.uniform((20, 20), fuel=102)], [0], ["random"], [0.02], WEST_WIND, 5, 0, progress=False,
                 split="all", objective="value")  # fmt: skip


def test_cost_ratio_puts_free_cells_first_then_gain_per_cost():
    """Under a cost limit: cells that cost nothing and save something come first (by gain), then gain per unit cost."""
    from fuelbreak.baselines.common import cost_ratio, take_affordable

    score = np.array([1.0, 10.0, 6.0, 0.5, 0.0])
    costs = np.array([0.0, 5.0, 2.0, 0.0, 0.0])
    ratio = cost_ratio(score, costs)
    assert list(np.argsort(-ratio, kind="stable")[:4]) == [0, 3, 2, 1]  # free 1.0, free 0.5, 3 a unit, 2 a unit
    assert ratio[4] == 0.0  # free but worthless
    assert np.array_equal(cost_ratio(score, None), score)
    assert list(take_affordable(np.array([1, 2, 0, 3]), 3, costs, 6.0)) == [1, 0, 3]  # 2 no longer fits after 1


def test_a_plan_is_checked_by_its_cells_and_its_cost():
    """check_plan_cells: a large valid plan passes (counts compared by value), a duplicate, an excluded cell or a
    plan over its cost limit does not."""
    from fuelbreak.errors import SimulationError
    from fuelbreak.evaluation.tile import check_plan_cells

    land = excluded_tile()
    land.layers["cost"] = np.full(land.shape, 2.0, dtype=np.float32)
    free = np.flatnonzero(land.treatable.ravel())[:300]
    assert np.array_equal(check_plan_cells("m", free, land, 300), free)
    assert np.array_equal(check_plan_cells("m", free[:10], land, 300, max_cost=20.0), free[:10])
    with pytest.raises(SimulationError, match="distinct"):
        check_plan_cells("m", np.concatenate([free[:299], free[:1]]), land, 300)
    with pytest.raises(SimulationError, match="treatable"):
        check_plan_cells("m", np.concatenate([free[:299], [0]]), land, 300)  # (0, 0) is excluded
    with pytest.raises(SimulationError, match="cost limit"):
        check_plan_cells("m", free[:11], land, 300, max_cost=20.0)


def test_the_frontier_says_its_reductions_are_of_value_lost_under_the_value_objective():
    from fuelbreak.evaluation.frontier import frontier_markdown

    row = {"planner": "tree_greedy", "kind": "method", "effort": 64, "reduction_pct": 90.0,
           "reduction_ci_low": 85.0, "reduction_ci_high": 95.0, "plan_seconds": 0.2}  # fmt: skip
    info = {"n_tiles": 1, "split": "test", "n_fires": 5, "budgets": [0.05], "seed": 0}
    assert "1 - burned with / without" in frontier_markdown([row], info)
    assert "1 - value lost with / without" in frontier_markdown([row], {**info, "objective": "value"})
