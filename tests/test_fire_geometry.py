"""Breaks in the fast engine against the level set: isolated cells, diagonal pairs, gaps in a line."""

import numpy as np
import pytest

from fuelbreak.fire import MTTEngine, Scenario
from fuelbreak.fire.behavior import STENCIL16
from fuelbreak.fire.levelset import LevelSetEngine
from fuelbreak.fire.trees import move_tables
from fuelbreak.landscape import Landscape

N = 31
WEATHERS = (  # (scenario, ignition column); the fire runs east along row 15
    (Scenario(wind_speed=0, duration=700), 12),
    (Scenario(wind_speed=15, wind_direction=270, duration=150), 5),
)


def both(breaks, scenario, ign):
    land = Landscape.uniform((N, N), fuel=102)
    fast = MTTEngine(land, scenario).burn([ign], breaks).burned[0]
    ref = LevelSetEngine(land, scenario).burn([ign], breaks).burned[0]
    return fast, ref


def jaccard(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize(("scenario", "col"), WEATHERS)
def test_isolated_break_and_diagonal_pair(scenario, col):
    ign = 15 * N + col
    for cells in (((15, col + 3),), ((14, col + 3), (15, col + 4))):
        breaks = np.zeros((N, N), dtype=bool)
        for rc in cells:
            breaks[rc] = True
        fast, ref = both(breaks, scenario, ign)
        assert not fast[breaks].any() and not ref[breaks].any()
        shadow = np.zeros((N, N), dtype=bool)
        shadow[15, col + 4 :] = True  # see test_level_set_never_closes_behind_an_isolated_break
        assert jaccard(fast & ~shadow, ref & ~shadow) > 0.85
        assert 0.8 < fast.sum() / ref.sum() < 1.1


@pytest.mark.parametrize(("scenario", "col"), WEATHERS)
def test_one_cell_gap_in_a_line(scenario, col):
    breaks = np.zeros((N, N), dtype=bool)
    breaks[:, col + 3] = True
    breaks[15, col + 3] = False
    fast, ref = both(breaks, scenario, 15 * N + col)
    east = np.zeros((N, N), dtype=bool)
    east[:, col + 4 :] = True
    assert fast[15, col + 3] and ref[15, col + 3]  # both pass the gap
    assert 0.7 < (fast & east).sum() / (ref & east).sum() < 1.2
    assert jaccard(fast & east, ref & east) > 0.75


def test_no_diagonal_slips_past_a_single_blocked_corner():
    """A diagonal move whose side cell is a break is forbidden, as the 4-neighbour level set does."""
    land = Landscape.uniform((7, 7), fuel=102)
    eng = MTTEngine(land, Scenario(wind_speed=10, duration=600))
    breaks = np.zeros((7, 7), dtype=bool)
    breaks[3, 4] = True
    k = STENCIL16.index((-1, 1))  # north-east from (3, 3) has (3, 4) beside it
    assert np.isfinite(eng.travel[k, 3, 3])
    assert not np.isfinite(eng.travel_with(breaks)[k, 3, 3])
    rebuilt = MTTEngine(land.with_breaks(breaks), Scenario(wind_speed=10, duration=600))
    assert not np.isfinite(rebuilt.travel[k, 3, 3])
    # trees.py's support of a move is exactly the cells whose blocking forbids it
    tables = move_tables(STENCIL16)
    for k, (dr, dc) in enumerate(STENCIL16):
        for j in range(tables.n_support[k]):
            sr, sc = tables.support[k, j]
            b = np.zeros((7, 7), dtype=bool)
            b[3 + sr, 3 + sc] = True
            assert not np.isfinite(eng.travel_with(b)[k, 3, 3]), (dr, dc, sr, sc)


def test_level_set_never_closes_behind_an_isolated_break():
    """The reference's artifact behind the scattered-break bias (issue 12).

    pyretechnics' level set keeps a non-burnable cell's phi fixed and uses it in its neighbours'
    gradients. A cell whose neighbours on two opposite sides have burned, with the break upwind, sees
    a gradient of about zero and never ignites: the line straight behind a single 30 m break stays
    unburned to the edge of the fire, even in calm air; and the dent the break leaves in the front
    beside that line deepens with distance instead of healing. A fire closes behind such an obstacle
    (Huygens), which the fast engine does, with no delay beside the line.
    """
    scenario, col = WEATHERS[0]
    land = Landscape.uniform((N, N), fuel=102)
    breaks = np.zeros((N, N), dtype=bool)
    breaks[15, col + 3] = True
    ign = [15 * N + col]
    delays = {}
    for engine in (MTTEngine(land, scenario), LevelSetEngine(land, scenario)):
        before, after = engine.burn(ign).arrival[0], engine.burn(ign, breaks).arrival[0]
        with np.errstate(invalid="ignore"):  # inf - inf where neither run burns
            delays[engine.name] = (after - before, np.isfinite(after))
    behind = slice(col + 4, col + 10)
    (fast_delay, fast), (ref_delay, ref) = delays["mtt"], delays["levelset"]
    assert fast[15, behind].all() and not ref[15, behind].any()
    assert ref[14, behind].all() and ref[16, behind].all()
    assert np.abs(fast_delay[[14, 16], behind]).max() < 1e-3  # mtt: no delay beside the line
    assert ref_delay[14, col + 9] > ref_delay[14, col + 5] + 5.0  # level set: a dent that deepens


@pytest.mark.slow
def test_bench_plan_and_speed_tables():
    from fuelbreak.benchmarks.fire import (
        format_plan_report,
        format_speed_report,
        plan_agreement,
        speed_end_to_end,
    )

    plans = plan_agreement(n_synthetic=2, n_real=0, fires=2, seed=3)
    for weather in plans.values():
        assert weather["tiles"] == 2 and len(weather["rows"]) == 2 * 5
        assert -1.0 <= weather["spearman"] <= 1.0 and weather["mean_abs_difference"] >= 0
        for row in weather["rows"]:
            assert -100.0 <= row["mtt"] <= 100.0 and -100.0 <= row["levelset"] <= 100.0
    assert "Spearman" in format_plan_report(plans)
    speed = speed_end_to_end(sizes=(20,), fires=2, new_tiles={20: 2})
    row = speed["20x20"]
    assert row["new_tiles"] == 2 and row["per_fire_speedup"] > 0 and row["end_to_end_speedup"] > 0
    assert "20x20" in format_speed_report(speed)
