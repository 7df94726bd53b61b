"""Fire behaviour and spread: known values, physical sanity, breaks, and agreement with the level set."""

import math

import numpy as np
import pytest

from fuelbreak.errors import ConfigError, InputError
from fuelbreak.fire import (
    MTTEngine,
    Scenario,
    Weather,
    burn_probability,
    burned_areas,
    compute_behavior,
    draw_fires,
    sample_ignitions,
)
from fuelbreak.fire.behavior import STENCIL16, azimuth_of, ray_speed
from fuelbreak.fire.levelset import LevelSetEngine
from fuelbreak.fire.mtt import crossed_cells
from fuelbreak.landscape import Landscape

# The DESIGN.md known value: GR2, flat, no wind, these moistures -> 0.5279 m/min.
KNOWN = Scenario(wind_speed=0.0, m1h=0.10, m10h=0.15, m100h=0.25, herb=0.10, woody=0.10, duration=600)


def k_of(d_row, d_col):
    return STENCIL16.index((d_row, d_col))


def test_known_rate_of_spread_gr2():
    b = compute_behavior(Landscape.uniform((5, 5), fuel=102), KNOWN)
    assert b.ros[:, 2, 2] == pytest.approx(0.5279, abs=5e-4)  # circular: same every way


def test_no_spread_on_nonburnable_cells():
    land = Landscape.uniform((9, 9), fuel=102)
    land.layers["fbfm"][:, 4] = 98  # water column
    b = compute_behavior(land, Scenario(wind_speed=20))
    assert (b.ros[:, :, 4] == 0).all() and (b.intensity[:, :, 4] == 0).all()
    assert (b.ros[:, :, 0] > 0).all()


def test_wind_makes_head_faster_than_flank_faster_than_back():
    b = compute_behavior(Landscape.uniform((5, 5), fuel=102), Scenario(wind_speed=20, wind_direction=270))
    east, north, west = b.ros[k_of(0, 1), 2, 2], b.ros[k_of(-1, 0), 2, 2], b.ros[k_of(0, -1), 2, 2]
    calm = compute_behavior(Landscape.uniform((5, 5), fuel=102), Scenario(wind_speed=0)).ros[0, 2, 2]
    assert east > north > west > 0  # wind from the west drives the head east
    assert east > 3 * calm


def test_upslope_faster_than_downslope_and_flat():
    # aspect 180 = faces south, so up-slope is north
    slope = compute_behavior(Landscape.uniform((5, 5), fuel=102, slope=20, aspect=180), KNOWN)
    flat = compute_behavior(Landscape.uniform((5, 5), fuel=102), KNOWN)
    up, side, down = (slope.ros[k_of(*d), 2, 2] for d in ((-1, 0), (0, 1), (1, 0)))
    assert up > side > down > 0
    # Elliptical spread: even the backing rate on a slope can beat the flat no-wind rate (as in BehavePlus).
    assert up > 2 * flat.ros[0, 2, 2]


def test_ray_speed_is_the_ellipse_from_its_rear_focus():
    e = 0.8
    assert ray_speed(10.0, e, 1.0) == pytest.approx(10.0)
    assert ray_speed(10.0, e, -1.0) == pytest.approx(10.0 * (1 - e) / (1 + e))
    # head + back = major axis 2a; at 90 degrees r = a(1 - e^2) = semi-latus rectum
    a = (10.0 + ray_speed(10.0, e, -1.0)) / 2
    assert ray_speed(10.0, e, 0.0) == pytest.approx(a * (1 - e * e))


def test_crossed_cells_cover_each_move_once():
    for dr, dc in STENCIL16:
        cells = crossed_cells(dr, dc)
        assert sum(f for _, _, f in cells) == pytest.approx(1.0)
        assert cells[0][:2] == (0, 0) and cells[-1][:2] == (dr, dc)
    assert [c[:2] for c in crossed_cells(1, 2)] == [(0, 0), (0, 1), (1, 1), (1, 2)]


def test_each_moves_time_is_its_segments_time_through_the_cells_it_crosses():
    """The engine's moves against a plain Python reading of the rule: the float64 sum over crossed
    cells of fraction x length / rate toward the move, rounded once; inf where the move leaves the
    tile, crosses a blocked cell or one with no spread that way, or passes between two blocked cells
    touching at its corner. Non-burnable cells and a plan's breaks, on a tile whose moves vary."""
    from fuelbreak.fire.behavior import compute_behavior
    from fuelbreak.landscape.synthetic import synthetic_tile

    land = synthetic_tile(14, seed=4)
    land.layers["fbfm"][3, 3:6] = 91
    land.layers["fbfm"][8, 8] = 98
    scenario = Scenario(wind_speed=15, wind_direction=200, duration=240)
    engine = MTTEngine(land, scenario)
    ros = compute_behavior(land, scenario).ros.astype(np.float64)
    breaks = np.zeros(land.shape, dtype=bool)
    breaks[[10, 11, 6, 1], [2, 3, 10, 12]] = True  # a diagonal pair, two lone cells
    h, w = land.shape
    for plan in (np.zeros_like(breaks), breaks):
        blocked = ~land.burnable | plan
        got = engine.travel_with(plan)
        for k, (dr, dc) in enumerate(STENCIL16):
            length = 30.0 * math.hypot(dr, dc)
            for r in range(h):
                for c in range(w):
                    if plan[r, c]:
                        continue  # a break never burns: the moves out of it never run
                    total = 0.0
                    for cr, cc, fraction in crossed_cells(dr, dc):
                        rr, c2 = r + cr, c + cc
                        if not (0 <= rr < h and 0 <= c2 < w) or blocked[rr, c2] or not ros[k, rr, c2] > 0:
                            total = math.inf
                            break
                        total += fraction * length * (1.0 / ros[k, rr, c2])
                    if abs(dr) == abs(dc) == 1 and 0 <= r + dr < h and 0 <= c + dc < w:
                        if blocked[r + dr, c] and blocked[r, c + dc]:
                            total = math.inf
                    want = np.float32(total) if not blocked[r, c] else np.float32(np.inf)
                    assert got[k, r, c] == want, (k, r, c, got[k, r, c], want)
    assert np.isfinite(got).sum() > 0.6 * 16 * h * w  # most moves are open: the test compares values


def test_crown_fire_in_dense_timber_under_wind():
    timber = Landscape.uniform((5, 5), fuel=165, cc=70, ch=20, cbh=1.0, cbd=0.2)
    b = compute_behavior(timber, Scenario(wind_speed=30, m1h=0.04, m10h=0.05, m100h=0.06))
    assert b.fire_type[2, 2] >= 2


def test_fire_never_crosses_a_closed_ring_of_breaks():
    land = Landscape.uniform((41, 41), fuel=102)
    ring = np.zeros((41, 41), dtype=bool)
    ring[10:31, 10] = ring[10:31, 30] = ring[10, 10:31] = ring[30, 10:31] = True
    inside = np.zeros_like(ring)
    inside[11:30, 11:30] = True
    eng = MTTEngine(land, Scenario(wind_speed=25, wind_direction=225, duration=3000))
    res = eng.burn([20 * 41 + 20, 0, 40 * 41 + 40], breaks=ring)
    assert not res.burned[0][~inside].any()
    assert res.burned[0][inside].all()
    assert not res.burned[1][inside].any() and not res.burned[2][inside].any()
    assert not res.burned[:, ring].any()


def test_diagonal_ring_of_breaks_holds_too():
    """A ring drawn with diagonal steps only (cells touching at corners) must still close."""
    n = 31
    land = Landscape.uniform((n, n), fuel=102)
    ring = np.zeros((n, n), dtype=bool)
    c, r = 15, 8
    for i in range(r + 1):  # a diamond |row - c| + |col - c| == r
        for sr, sc in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            ring[c + sr * i, c + sc * (r - i)] = True
    eng = MTTEngine(land, Scenario(wind_speed=20, duration=3000))
    res = eng.burn([c * n + c], breaks=ring)
    rows, cols = np.nonzero(res.burned[0])
    assert (np.abs(rows - c) + np.abs(cols - c) < r).all()


def test_arrival_times_are_monotone_along_a_path():
    land = Landscape.uniform((30, 30), fuel=122)
    eng = MTTEngine(land, Scenario(wind_speed=10, wind_direction=270, duration=5000))
    t = eng.burn([15 * 30 + 0]).arrival[0]
    row = t[15]
    assert np.all(np.diff(row) > 0)  # downwind along the row: later and later
    assert t[15, 0] == 0.0


def test_ignition_on_a_break_or_nonburnable_cell_burns_nothing():
    land = Landscape.uniform((10, 10), fuel=102)
    land.layers["fbfm"][0, 0] = 99
    eng = MTTEngine(land, Scenario(duration=600))
    breaks = np.zeros((10, 10), dtype=bool)
    breaks[5, 5] = True
    assert eng.burn([0, 55], breaks=breaks).area.tolist() == [0, 0]


def test_duration_limits_spread_and_matches_the_circle():
    land = Landscape.uniform((61, 61), fuel=102)
    eng = MTTEngine(land, KNOWN)
    res = eng.burn([30 * 61 + 30])
    radius_cells = 0.5279 * KNOWN.duration / 30.0
    expected = math.pi * radius_cells**2
    assert 0.9 * expected < res.area[0] < 1.05 * expected  # 16 neighbours undershoot slightly
    assert res.arrival[0][res.burned[0]].max() <= KNOWN.duration


def test_eight_neighbours_undershoot_more_than_sixteen():
    land = Landscape.uniform((61, 61), fuel=102)
    a16 = MTTEngine(land, KNOWN).burn([30 * 61 + 30]).area[0]
    a8 = MTTEngine(land, KNOWN, neighbours=8).burn([30 * 61 + 30]).area[0]
    assert a8 < a16


def test_engine_input_errors():
    land = Landscape.uniform((10, 10))
    eng = MTTEngine(land, Scenario())
    with pytest.raises(InputError, match="break mask"):
        eng.burn([0], breaks=np.zeros((5, 5), bool))
    with pytest.raises(InputError, match="outside"):
        eng.burn([100])
    with pytest.raises(InputError, match="neighbours"):
        MTTEngine(land, Scenario(), neighbours=4)
    bad = Landscape.uniform((10, 10))
    bad.layers["fbfm"][3, 3] = 32767
    with pytest.raises(InputError, match="fbfm"):
        MTTEngine(bad, Scenario())


def test_scenario_and_weather_errors():
    with pytest.raises(ConfigError, match="m1h"):
        Scenario(m1h=2.0)
    with pytest.raises(ConfigError, match="weight"):
        Weather((Scenario(),), (-1.0,))


def test_monte_carlo_is_seeded_and_ignites_only_burnable_cells():
    land = Landscape.uniform((20, 20), fuel=102)
    land.layers["fbfm"][:, :10] = 99
    a = sample_ignitions(land, 50, 3)
    assert (a % 20 >= 10).all()
    assert (a == sample_ignitions(land, 50, 3)).all()
    weights = np.zeros((20, 20))
    weights[5, 15] = 1.0
    assert (sample_ignitions(land, 5, 0, weights) == 5 * 20 + 15).all()
    weather = Weather((Scenario(duration=300), Scenario(wind_speed=20, duration=300)), (0.5, 0.5))
    f1, f2 = draw_fires(land, weather, 30, seed=9), draw_fires(land, weather, 30, seed=9)
    assert f1.n_fires == 30
    assert np.array_equal(burned_areas(f1), burned_areas(f2))
    bp = burn_probability(f1)
    assert bp.shape == (20, 20) and (bp[:, :10] == 0).all() and bp.max() <= 1.0


@pytest.mark.slow
def test_mtt_agrees_with_the_level_set_on_uniform_fuel():
    land = Landscape.uniform((60, 60), fuel=102)
    for scenario in (
        Scenario(wind_speed=0, duration=900),
        Scenario(wind_speed=20, wind_direction=270, duration=150),
    ):
        ign = [30 * 60 + (30 if scenario.wind_speed == 0 else 15)]
        fast = MTTEngine(land, scenario).burn(ign).burned[0]
        ref = LevelSetEngine(land, scenario).burn(ign).burned[0]
        jaccard = (fast & ref).sum() / (fast | ref).sum()
        assert jaccard > 0.8, (scenario, jaccard)
        assert 0.8 < fast.sum() / ref.sum() < 1.2


def test_level_set_respects_breaks():
    land = Landscape.uniform((30, 30), fuel=102)
    wall = np.zeros((30, 30), dtype=bool)
    wall[:, 15] = True
    res = LevelSetEngine(land, Scenario(wind_speed=20, wind_direction=270, duration=120)).burn(
        [15 * 30 + 5], wall
    )
    assert res.burned[0][:, :15].any() and not res.burned[0][:, 15:].any()


def test_stencil_azimuths():
    assert azimuth_of(-1, 0) == 0.0 and azimuth_of(0, 1) == 90.0
    assert azimuth_of(1, 0) == 180.0 and azimuth_of(0, -1) == 270.0


def test_directional_intensity_matches_pyretechnics_cell_by_cell():
    """Our vectorised surface path and crowning path against pyretechnics' burn_cell_toward_azimuth."""
    from pyretechnics.burn_cells import burn_cell_toward_azimuth

    from fuelbreak.fire.behavior import pyretechnics_cubes
    from fuelbreak.landscape.synthetic import synthetic_tile

    land = synthetic_tile(30, seed=1)
    land.layers["slp"][:] = np.clip(land.layers["slp"] * 3, 0, 60)  # steeper, so slope matters
    scenario = Scenario(wind_speed=30, wind_direction=240, m1h=0.04, m10h=0.05, m100h=0.07)
    ours = compute_behavior(land, scenario)
    cubes = pyretechnics_cubes(land, scenario)
    rng = np.random.default_rng(0)
    cells = np.argwhere(land.burnable)
    crowned = np.argwhere(ours.fire_type > 1)
    picks = list(cells[rng.choice(len(cells), 25, replace=False)]) + list(crowned[:10])
    assert len(crowned) > 0  # the test covers the crown path too
    for r, c in picks:
        for k, d in enumerate(STENCIL16):
            ref = burn_cell_toward_azimuth(cubes, (0, land.shape[0] - 1 - int(r), int(c)), azimuth_of(*d))
            assert ours.intensity[k, r, c] == pytest.approx(ref["fireline_intensity"], rel=1e-4, abs=1e-3)
            assert ours.ros[k, r, c] <= ref["spread_rate"] * (1 + 1e-4)  # ray speed never beats the front's


def test_breaks_equal_rebuilding_with_nonburnable_fuel():
    """Applying a plan inside the search gives the same fires as an engine built on the treated landscape."""
    from fuelbreak.landscape.synthetic import synthetic_tile

    land = synthetic_tile(40, seed=2)
    scenario = Scenario(wind_speed=20, wind_direction=250, duration=600)
    rng = np.random.default_rng(1)
    breaks = np.zeros(land.shape, dtype=bool)
    breaks.flat[rng.choice(land.n_cells, 120, replace=False)] = True
    breaks[10, 5:30] = True  # a line, and a diagonal, so corner rules are exercised
    for i in range(15):
        breaks[20 + i, 5 + i] = True
    ign = sample_ignitions(land, 20, 3)
    ours = MTTEngine(land, scenario).burn(ign, breaks)
    rebuilt = MTTEngine(land.with_breaks(breaks), scenario).burn(ign)
    assert np.array_equal(ours.arrival, rebuilt.arrival)
