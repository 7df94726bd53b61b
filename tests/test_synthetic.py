"""Synthetic tiles: valid, reproducible, realistic terrain, fuels and canopy, and fires spread on them."""

from __future__ import annotations

import numpy as np
import pytest

from fuelbreak.errors import ConfigError
from fuelbreak.fire import MTTEngine, default_weather, sample_ignitions
from fuelbreak.landscape import LAYERS, NONBURNABLE, slope_aspect, synthetic_tile, synthetic_tiles
from fuelbreak.landscape.core import PLANNER_LAYERS
from fuelbreak.landscape.synthetic import COMMUNITY_VALUE, FAMILIES, ROAD


@pytest.fixture(scope="module")
def tiles():
    return synthetic_tiles(60, size=50, seed=0)


def test_tiles_are_valid(tiles):
    for t in tiles:
        t.validate()
        assert t.shape == (50, 50) and t.cell_size == 30.0 and t.crs is None
        assert all(t[k].dtype == np.float32 for k in LAYERS)


def test_same_seed_same_tiles_different_seed_differs():
    a, b = synthetic_tiles(3, size=30, seed=5), synthetic_tiles(3, size=30, seed=5)
    c = synthetic_tiles(3, size=30, seed=6)
    for x, y, z in zip(a, b, c, strict=True):
        for k in LAYERS:
            np.testing.assert_array_equal(x[k], y[k])
        assert not np.array_equal(x["dem"], z["dem"])
    assert not np.array_equal(a[0]["dem"], a[1]["dem"])


def test_tile_i_does_not_depend_on_n():
    few, many = synthetic_tiles(2, size=20, seed=3), synthetic_tiles(7, size=20, seed=3)
    for k in LAYERS:
        np.testing.assert_array_equal(few[1][k], many[1][k])
    child = np.random.SeedSequence(3).spawn(7)[4]
    np.testing.assert_array_equal(synthetic_tile(20, child)["fbfm"], many[4]["fbfm"])


def test_slope_aspect_of_known_planes():
    cell = 30.0
    rows, cols = np.mgrid[0:5, 0:5].astype(float)
    # Rising towards the east (col): faces west (270), slope atan(0.5).
    s, a = slope_aspect(cols * cell * 0.5, cell)
    assert np.allclose(s, np.degrees(np.arctan(0.5))) and np.allclose(a, 270.0)
    # Rising towards the north (row 0 is north): faces south (180).
    s, a = slope_aspect(-rows * cell * 0.2, cell)
    assert np.allclose(a, 180.0) and np.allclose(s, np.degrees(np.arctan(0.2)))
    # Rising towards the south-west: faces north-east (45).
    _, a = slope_aspect((rows - cols) * cell, cell)
    assert np.allclose(a, 45.0)
    s, a = slope_aspect(np.full((4, 4), 100.0), cell)
    assert (s == 0).all() and (a == 0).all()


def test_slope_and_aspect_derive_from_dem(tiles):
    for t in tiles[:10]:
        if (t["fbfm"] == 98).any():
            continue  # lakes are levelled and their slope zeroed after derivation
        s, a = slope_aspect(t["dem"], t.cell_size)
        np.testing.assert_allclose(t["slp"], s, atol=1e-3)
        turn = np.abs((t["asp"] - a + 180.0) % 360.0 - 180.0)  # float32 rounding of the dem only
        assert turn[s > 0.5].max() < 0.5


def test_realistic_relief_and_slopes(tiles):
    relief = np.array([np.ptp(t["dem"]) for t in tiles])
    assert relief.min() >= 10 and relief.max() <= 600
    assert 50 <= np.median(relief) <= 300
    slopes = np.concatenate([t["slp"].ravel() for t in tiles])
    assert 4 <= slopes.mean() <= 20 and np.percentile(slopes, 99) < 60


def test_fuels_in_patches_of_all_families(tiles):
    fuel = np.concatenate([t["fbfm"].ravel() for t in tiles]).astype(int)
    allowed = set().union(*map(set, FAMILIES.values())) | {91, 98, 99}
    assert set(np.unique(fuel)) <= allowed
    for family, codes in FAMILIES.items():
        assert np.isin(fuel, codes).mean() > 0.03, family
    for code in (91, 98, 99):
        assert any((t["fbfm"] == code).any() for t in tiles), code
    burnable = np.mean([t.burnable.mean() for t in tiles])
    assert 0.85 <= burnable <= 0.97
    # Patches: most cells share their fuel with the cell to their right (0.73 in the real Worcester
    # sample; the same cells shuffled give 0.18).
    same = np.mean([np.mean(t["fbfm"][:, 1:] == t["fbfm"][:, :-1]) for t in tiles])
    assert same > 0.65


def test_canopy_consistent_with_fuel(tiles):
    for t in tiles:
        timber = (t["fbfm"] >= 161) & (t["fbfm"] <= 189)
        for k in ("cc", "ch", "cbh", "cbd"):
            assert (t[k][~timber] == 0).all(), k
        if timber.any():
            assert t["cc"][timber].min() >= 30 and t["cc"][timber].max() <= 80
            assert t["ch"][timber].min() >= 8 and t["ch"][timber].max() <= 30
            assert t["cbh"][timber].min() >= 0.5 and t["cbh"][timber].max() <= 6
            assert (t["cbh"][timber] < t["ch"][timber]).all()
            assert t["cbd"][timber].min() >= 0.03 and t["cbd"][timber].max() <= 0.25
        nb = np.isin(t["fbfm"], sorted(NONBURNABLE))
        assert (t["cc"][nb] == 0).all()


def test_water_is_flat(tiles):
    lakes = [t for t in tiles if (t["fbfm"] == 98).any()]
    assert lakes
    for t in lakes:
        water = t["fbfm"] == 98
        assert (t["slp"][water] == 0).all()
        assert np.ptp(t["dem"][water]) == 0


def test_fires_spread_on_synthetic_tiles(tiles):
    scenario = default_weather().scenarios[2]  # 20 km/h wind, 240 min
    fractions = []
    for i, t in enumerate(tiles[:6]):
        result = MTTEngine(t, scenario).burn(sample_ignitions(t, 20, i))
        fractions.append(result.burned.mean())
    assert np.mean(fractions) > 0.08


def test_other_sizes_and_bad_arguments():
    t = synthetic_tile(size=17, seed=1, cell_size=10.0)
    assert t.shape == (17, 17) and t.cell_size == 10.0
    with pytest.raises(ConfigError, match="size"):
        synthetic_tile(size=2)
    with pytest.raises(ConfigError, match="cell size"):
        synthetic_tile(cell_size=0.0)
    assert synthetic_tiles(0) == []


def test_road_is_one_four_connected_line():
    from scipy import ndimage

    from fuelbreak.landscape.synthetic import _road_mask

    for seed in range(30):
        road = _road_mask(np.random.default_rng(seed), (50, 50))
        _, n = ndimage.label(road)  # 4-connectivity: a fire cannot slip through diagonally
        assert n == 1, seed
        # It crosses the tile: it touches two opposite edges.
        assert (road[0].any() and road[-1].any()) or (road[:, 0].any() and road[:, -1].any())


# ----------------------------------------------------------------------------- planner layers


def test_planner_layers_leave_the_landfire_layers_bit_identical():
    plain = synthetic_tiles(12, size=30, seed=2)
    layered = synthetic_tiles(12, size=30, seed=2, planner_layers=True)
    for a, b in zip(plain, layered, strict=True):
        for k in LAYERS:
            assert a[k].tobytes() == b[k].tobytes()
        assert set(b.layers) == {*LAYERS, *PLANNER_LAYERS}
        b.validate()


def test_planner_layers_are_seeded_and_differ_between_tiles():
    a = synthetic_tiles(3, size=30, seed=2, planner_layers=True)
    b = synthetic_tiles(3, size=30, seed=2, planner_layers=True)
    for x, y in zip(a, b, strict=True):
        for k in PLANNER_LAYERS:
            np.testing.assert_array_equal(x[k], y[k])
    assert not np.array_equal(a[0]["value"], a[1]["value"])
    assert not np.array_equal(a[0]["ignition"], synthetic_tiles(1, size=30, seed=3, planner_layers=True)[0]["ignition"])


def test_planner_layers_look_like_their_description():
    for t in synthetic_tiles(15, size=40, seed=7, planner_layers=True):
        value, ignition, cost, exclude = (t[k] for k in PLANNER_LAYERS)
        # Communities: a core at full value and value decaying into the fuel around it.
        assert value.max() == COMMUNITY_VALUE and 0 < (value > 0).mean() < 0.3
        core = value == COMMUNITY_VALUE
        ring = (value > 0) & ~core
        assert ring.any() and (value[ring] < COMMUNITY_VALUE).all()
        # Ignitions: 10 times likelier on roads than far away; the tile's own road (fuel 91) is a road.
        assert ignition.max() == pytest.approx(10.0) and ignition.min() >= 1.0
        if (t["fbfm"] == ROAD).any():
            np.testing.assert_allclose(ignition[t["fbfm"] == ROAD], 10.0)
        # Cost: at least 1 and rising with slope (checked on cells at the same road distance).
        assert cost.min() >= 1.0
        # An exclusion zone that leaves cells to treat.
        assert 0 < exclude.sum() < 0.2 * exclude.size and t.treatable.any()
        if (t["fbfm"] == 98).any():  # a riparian buffer around the lake
            assert not (exclude.astype(bool) & (t["fbfm"] == 98)).any()


def test_the_cost_rises_with_slope_and_road_distance():
    from scipy import ndimage

    for t in synthetic_tiles(4, size=40, seed=11, planner_layers=True):
        remote = t["cost"] - 1 - 3 * np.tan(np.radians(t["slp"].astype(np.float64)))  # d_road / 1000 m
        peaks = t["ignition"] == t["ignition"].max()  # roads, tracks and community cores
        roads_only = peaks & (t["value"] < COMMUNITY_VALUE)
        d_peaks = ndimage.distance_transform_edt(~peaks) * t.cell_size / 1000.0
        d_roads = ndimage.distance_transform_edt(~roads_only) * t.cell_size / 1000.0
        assert (remote >= d_peaks - 1e-5).all() and (remote <= d_roads + 1e-5).all()
        assert remote.max() > 0.1  # some ground is remote
        if (t["fbfm"] == ROAD).any():
            np.testing.assert_allclose(remote[t["fbfm"] == ROAD], 0.0, atol=1e-5)
