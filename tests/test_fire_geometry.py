"""Breaks in the fast engine against the level set: isolated cells, diagonal pairs, gaps in a line."""

import numpy as np
import pytest

from fuelbreak.errors import InputError
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
    # the level set on a 10 m grid: cells more than half burned
    fine = LevelSetEngine(land, scenario, refine=3).burn([ign], breaks).cover[0] > 0.5
    assert jaccard(fast, fine) > 0.9  # as close as the 30 m level set is to it (0.92-0.96)
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


def test_a_diagonal_passes_one_blocked_corner_but_not_two_touching_breaks():
    """A diagonal move's segment touches its two side cells at one point: a single blocked side cell
    leaves it open (a front passes a 30 m obstacle's corner), two blocked side cells close it."""
    land = Landscape.uniform((7, 7), fuel=102)
    scenario = Scenario(wind_speed=10, duration=600)
    eng = MTTEngine(land, scenario)
    k = STENCIL16.index((-1, 1))  # north-east from (3, 3): (2, 3) and (3, 4) beside it
    one = np.zeros((7, 7), dtype=bool)
    one[3, 4] = True
    two = one.copy()
    two[2, 3] = True
    assert np.isfinite(eng.travel[k, 3, 3]) and np.isfinite(eng.travel_with(one)[k, 3, 3])
    assert not np.isfinite(eng.travel_with(two)[k, 3, 3])
    for breaks, is_open in ((one, True), (two, False)):  # breaks as non-burnable fuel: the same rule
        rebuilt = MTTEngine(land.with_breaks(breaks), scenario)
        assert np.isfinite(rebuilt.travel[k, 3, 3]) == is_open
    # trees.py's support of a move: any one cell forbids a knight move, both a diagonal
    tables = move_tables(STENCIL16)
    for k, (dr, dc) in enumerate(STENCIL16):
        cells = [tuple(tables.support[k, j]) for j in range(tables.n_support[k])]
        diagonal = abs(dr) == 1 and abs(dc) == 1
        assert len(cells) == (2 if diagonal else 0 if max(abs(dr), abs(dc)) == 1 else 2)
        for sr, sc in cells:
            b = np.zeros((7, 7), dtype=bool)
            b[3 + sr, 3 + sc] = True
            assert np.isfinite(eng.travel_with(b)[k, 3, 3]) == diagonal, (dr, dc, sr, sc)
        if cells:
            b = np.zeros((7, 7), dtype=bool)
            for sr, sc in cells:
                b[3 + sr, 3 + sc] = True
            assert not np.isfinite(eng.travel_with(b)[k, 3, 3]), (dr, dc)


def test_a_diagonal_line_of_breaks_holds():
    """A fire is held by breaks that touch only at their corners."""
    land = Landscape.uniform((N, N), fuel=102)
    scenario, col = WEATHERS[1]
    line = np.zeros((N, N), dtype=bool)
    for i in range(N):
        line[i, col + 3 + abs(i - 15)] = True  # a chevron of diagonal steps across the tile
    fire = MTTEngine(land, scenario).burn([15 * N + col], line).burned[0]
    rows, cols = np.nonzero(fire)
    assert fire.sum() > 20 and all(c < col + 3 + abs(r - 15) for r, c in zip(rows, cols, strict=True))


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


def test_the_level_sets_line_behind_a_break_is_one_grid_cell_wide_on_a_finer_grid_too():
    """On a 10 m grid the unburned line behind an isolated 30 m break is one 10 m cell wide: a third of
    each 30 m cell behind it stays unburned instead of all of it. The line is the scheme's, not the
    fire's: it narrows with the grid, which is why plans are also scored on the finer grid."""
    scenario, col = WEATHERS[0]
    land = Landscape.uniform((N, N), fuel=102)
    breaks = np.zeros((N, N), dtype=bool)
    breaks[15, col + 3] = True
    fine = LevelSetEngine(land, scenario, refine=3).burn([15 * N + col], breaks)
    behind = slice(col + 4, col + 10)
    assert np.allclose(fine.cover[0, 15, behind], 2 / 3)
    assert np.allclose(fine.cover[0, [14, 16], behind], 1.0)
    assert fine.cover[0, 15, col + 3] == 0 and not fine.burned[0, 15, behind].any()  # centres on the line
    assert fine.area[0] == pytest.approx(fine.cover[0].sum())


def test_refined_level_set_of_factor_one_is_the_level_set_and_even_factors_are_refused():
    land = Landscape.uniform((12, 12), fuel=102)
    scenario = Scenario(wind_speed=10, duration=90)
    plain = LevelSetEngine(land, scenario).burn([66])
    same = LevelSetEngine(land, scenario, refine=1).burn([66])
    assert np.array_equal(plain.arrival, same.arrival) and same.cover is None
    with pytest.raises(InputError, match="odd"):
        LevelSetEngine(land, scenario, refine=2)


def test_a_refined_landscape_splits_every_cell():
    land = Landscape.uniform((4, 5), fuel=102, slope=10, aspect=90, cc=40, ch=12, cbh=2, cbd=0.1)
    land.layers["fbfm"][1, 2] = 91
    fine = land.refined(3)
    assert fine.shape == (12, 15) and fine.cell_size == 10.0
    for key, v in land.layers.items():
        assert np.array_equal(fine[key][1::3, 2::3], v) and np.array_equal(fine[key][0::3, 0::3], v)
    assert fine.burnable[3:6, 6:9].sum() == 0 and fine.burnable.sum() == 9 * 19
    with pytest.raises(InputError, match="refinement"):
        land.refined(0)


@pytest.mark.slow
def test_bench_plan_and_speed_tables():
    from fuelbreak.benchmarks.fire import (
        format_plan_report,
        format_speed_report,
        plan_agreement,
        speed_end_to_end,
    )

    plans = plan_agreement(n_synthetic=2, n_real=0, fires=2, refine=3, seed=3)  # on 2 processes
    assert plan_agreement(n_synthetic=2, n_real=0, fires=2, refine=3, seed=3, workers=1) == plans
    for weather in plans.values():
        assert weather["tiles"] == 2 and len(weather["rows"]) == 2 * 5
        assert list(weather["agreement"]) == ["mtt vs levelset", "mtt vs levelset x3", "levelset vs levelset x3"]
        for a in weather["agreement"].values():
            assert -1.0 <= a["spearman"] <= 1.0 and a["mean_abs_difference"] >= 0
        for row in weather["rows"]:
            for engine in ("mtt", "levelset", "levelset x3"):
                assert -100.0 <= row[engine] <= 100.0
        assert [t["tile"] for t in weather["open_land"]] == ["synthetic-1003", "synthetic-1004"]
        assert all(t["mtt"] > 0 and t["levelset x3"] > 0 for t in weather["open_land"])
        d = [r["mtt"] - r["levelset x3"] for r in weather["rows"]]
        assert weather["agreement"]["mtt vs levelset x3"]["mean_abs_difference"] == pytest.approx(np.abs(d).mean())
    report = format_plan_report(plans)
    assert "Spearman" in report and "| mtt vs level set x3 | 24 h, calm |" in report
    assert "| against level set x3 | 24 h, calm |" in report
    speed = speed_end_to_end(sizes=(20,), fires=2, new_tiles={20: 2})
    row = speed["20x20"]
    assert row["new_tiles"] == 2 and row["per_fire_speedup"] > 0 and row["end_to_end_speedup"] > 0
    assert 0 < row["mtt_floor_ms_per_fire"] and row["mtt_median_burned_cells"] > 0
    assert "20x20" in format_speed_report(speed)


def test_the_search_floor_relaxes_the_same_moves_to_the_same_times():
    """`bench fire`'s floor: each burned cell's moves relaxed once in arrival order, no queue, gives the
    search's arrival times: it does the search's work but the queue's."""
    from fuelbreak.benchmarks.fire import search_floor
    from fuelbreak.fire.montecarlo import sample_ignitions
    from fuelbreak.landscape.synthetic import synthetic_tile

    land = synthetic_tile(30, seed=5)
    engine = MTTEngine(land, WEATHERS[1][0])
    fires = engine.burn(sample_ignitions(land, 6, 2))
    seconds, same = search_floor(engine, fires)
    assert same and seconds > 0 and fires.area.sum() > 300
