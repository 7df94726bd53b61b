"""The compiled behaviour build equals pyretechnics called cell by cell, value for value."""

import functools

import numpy as np
import pytest

from fuelbreak.fire import Scenario
from fuelbreak.fire.behavior import compute_behavior, compute_behavior_cellwise
from fuelbreak.landscape import Landscape
from fuelbreak.landscape.core import SB40_BURNABLE
from fuelbreak.landscape.synthetic import synthetic_tile

WEATHERS = (
    Scenario(),  # calm, dry summer
    Scenario(wind_speed=20, wind_direction=225, m1h=0.04, m10h=0.05, m100h=0.07),
    # very dry foliage and strong wind: crowning on most timber, active and passive
    Scenario(wind_speed=35, wind_direction=300, m1h=0.03, m10h=0.04, m100h=0.05, herb=0.3, foliar=0.6),
)


def assert_same(land: Landscape, scenario: Scenario) -> int:
    ours, ref = compute_behavior(land, scenario), compute_behavior_cellwise(land, scenario)
    np.testing.assert_array_equal(ours.ros, ref.ros)
    np.testing.assert_array_equal(ours.intensity, ref.intensity)
    np.testing.assert_array_equal(ours.fire_type, ref.fire_type)
    return int((ref.fire_type > 1).sum())


def every_fuel_tile(seed: int = 0) -> Landscape:
    """Every Scott & Burgan fuel model (and non-burnable codes) in 12 terrain and canopy settings each."""
    rng = np.random.default_rng(seed)
    fuels = sorted(SB40_BURNABLE) + [91, 93, 98, 99]
    shape = (len(fuels), 12)
    ch = rng.uniform(0, 35, shape)
    ch[:, :3] = 0.0  # open ground: unsheltered wind adjustment
    layers = {
        "dem": np.full(shape, 300.0),
        "slp": rng.uniform(0, 45, shape),
        "asp": rng.uniform(0, 360, shape),
        "fbfm": np.repeat(np.array(fuels, dtype=float)[:, None], shape[1], axis=1),
        "cc": np.where(ch > 0, rng.uniform(0, 95, shape), 0.0),
        "ch": ch,
        "cbh": np.minimum(ch, rng.uniform(0.2, 6, shape)),
        "cbd": np.where(ch > 0, rng.uniform(0.02, 0.35, shape), 0.0),
    }
    layers["slp"][:, 3] = 0.0  # flat cells too
    return Landscape(layers, name="every-fuel").validate()


@pytest.mark.parametrize("scenario", WEATHERS)
def test_equal_to_pyretechnics_on_synthetic_tiles(scenario):
    crowned = 0
    for seed in (1, 2):
        land = synthetic_tile(40, seed=seed)
        land.layers["slp"][:] = np.clip(land.layers["slp"] * 3, 0, 60)  # steeper, so slope matters
        crowned += assert_same(land, scenario)
    if scenario.foliar < 1.0:
        assert crowned > 0  # the crown path is exercised


@pytest.mark.parametrize("scenario", WEATHERS)
def test_equal_to_pyretechnics_on_every_fuel_model(scenario):
    crowned = assert_same(every_fuel_tile(), scenario)
    if scenario.foliar < 1.0:
        assert crowned > 20


def test_equal_to_pyretechnics_on_worcester_tiles(worcester):
    from fuelbreak.landscape.geotiff import read_layer_folder

    land = read_layer_folder(worcester)
    h, w = land.shape
    for r, c in ((h // 2, w // 2), (h // 3, w // 4), (2 * h // 3, w // 2)):
        tile = land.window(r, c, 50, 50)
        assert tile.burnable.any()
        for scenario in WEATHERS[1:]:
            assert_same(tile, scenario)


def test_no_burnable_cell_and_uniform_tile():
    water = Landscape.uniform((6, 6), fuel=98)
    b = compute_behavior(water, Scenario(wind_speed=10))
    assert not b.ros.any() and not b.fire_type.any()
    assert_same(Landscape.uniform((6, 6), fuel=165, cc=70, ch=20, cbh=1.0, cbd=0.2), WEATHERS[2])


@pytest.mark.parametrize("queue", ["heap", "buckets"])
def test_search_matches_scipy_dijkstra_fire_after_fire(queue):
    """The compiled search (reset of touched cells only, between fires) against scipy's Dijkstra,
    with either queue."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    from fuelbreak.fire.mtt import _burn, _burn_buckets

    # moves of 0.5-10 minutes: buckets of 0.25 minutes, enough of them for the longest move
    search = _burn if queue == "heap" else functools.partial(_burn_buckets, width=0.25, n_buckets=43)

    rng = np.random.default_rng(0)
    h, w, pad = 23, 17, 2
    hp, wp = h + 2 * pad, w + 2 * pad
    moves = [(-1, 0), (0, 1), (1, 0), (0, -1), (-1, 1), (1, 1), (1, -1), (-1, -1), (-2, 1)]
    step = np.array([dr * wp + dc for dr, dc in moves])
    travel = np.full((hp * wp, len(moves)), np.inf, dtype=np.float32)
    rows, cols, vals = [], [], []
    for r in range(pad, pad + h):
        for c in range(pad, pad + w):
            for k, (dr, dc) in enumerate(moves):
                if pad <= r + dr < pad + h and pad <= c + dc < pad + w and rng.random() > 0.15:
                    t = np.float32(rng.uniform(0.5, 10.0))
                    travel[r * wp + c, k] = t
                    rows.append(r * wp + c)
                    cols.append((r + dr) * wp + c + dc)
                    vals.append(float(t))
    graph = sp.csr_matrix((vals, (rows, cols)), shape=(hp * wp, hp * wp))
    starts = np.array([(pad + rng.integers(h)) * wp + pad + rng.integers(w) for _ in range(6)] + [-1])
    for duration in (np.inf, 25.0):
        arrival = np.full((len(starts), h, w), np.inf, dtype=np.float32)
        search(travel, step, starts, np.float32(duration), wp, pad, arrival, np.zeros((0, 1, 1), np.int8))
        ref = dijkstra(graph, indices=starts[:-1]).reshape(-1, hp, wp)[:, pad:-pad, pad:-pad]
        ref = np.where(ref <= duration, ref, np.inf)
        near = np.abs(ref - duration) < 1e-3  # float32 sums may fall either side of the cut-off
        for f in range(len(starts) - 1):
            ok = ~near[f]
            assert np.array_equal(np.isfinite(arrival[f])[ok], np.isfinite(ref[f])[ok])
            fin = np.isfinite(ref[f]) & np.isfinite(arrival[f])
            np.testing.assert_allclose(arrival[f][fin], ref[f][fin], rtol=1e-5)
        assert not np.isfinite(arrival[-1]).any()  # a blocked ignition burns nothing


def test_bucket_queue_gives_the_heaps_fires_and_trees_value_for_value():
    """`burn` uses the bucket queue; the heap (its fallback) gives the same arrival times and the same
    spread trees (ties and all) on synthetic and uniform tiles, open and through breaks, short and
    long burns, calm and windy."""
    from fuelbreak.fire import mtt
    from fuelbreak.fire.montecarlo import sample_ignitions
    from fuelbreak.fire.mtt import MTTEngine
    from fuelbreak.landscape.synthetic import synthetic_tile

    lands = [synthetic_tile(40, seed=3), Landscape.uniform((30, 30), fuel=102)]  # uniform: ties abound
    scenarios = [Scenario(wind_speed=15, wind_direction=225, duration=240), Scenario(duration=1440)]
    for land in lands:
        rng = np.random.default_rng(4)
        breaks = np.zeros(land.shape, dtype=bool)
        breaks.flat[rng.choice(land.n_cells, land.n_cells // 12, replace=False)] = True
        ign = sample_ignitions(land, 12, 5)
        for scenario in scenarios:
            engine = MTTEngine(land, scenario)
            assert engine._buckets(scenario.duration)[1] <= mtt.MAX_BUCKETS  # the bucket path runs
            for plan in (None, breaks):
                fast = engine.burn(ign, plan, trees=True)
                with pytest.MonkeyPatch.context() as mp:
                    mp.setattr(mtt, "MAX_BUCKETS", 0)  # the heap
                    heap = engine.burn(ign, plan, trees=True)
                assert np.array_equal(fast.arrival, heap.arrival) and np.array_equal(fast.via, heap.via)
                assert fast.area.sum() > 10 * len(ign)
