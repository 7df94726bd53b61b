"""Fires through a growing plan (`fuelbreak.fire.through_plan`): incremental updates equal a fresh burn."""

from __future__ import annotations

import numpy as np
import pytest

from fuelbreak.fire import MTTEngine, Scenario, Weather, draw_fires
from fuelbreak.fire.through_plan import PlanFires, plan_view
from fuelbreak.fire.trees import fire_trees
from fuelbreak.landscape.synthetic import synthetic_tile

WEATHER = Weather(
    (
        Scenario(wind_speed=0.0, duration=240.0),
        Scenario(wind_speed=20.0, wind_direction=250.0, duration=240.0),
    ),
    (0.5, 0.5),
)


@pytest.fixture(scope="module")
def tile():
    return synthetic_tile(30, seed=3)


def fresh(fires, breaks, neutral_roots):
    """Burn probability and mean bound of every fire burned from scratch through `breaks`."""
    burned, bound = [], []
    for group, engine in zip(fires.groups, fires.engines, strict=True):
        view_bp, view_down = plan_view(engine, group, breaks, neutral_roots)
        burned.append(view_bp * len(group))
        bound.append(view_down * len(group))
    n = fires.n_fires
    return sum(burned) / n, sum(bound) / n


@pytest.mark.parametrize("neutral_roots", [False, True])
def test_incremental_updates_equal_a_fresh_burn(tile, neutral_roots):
    fires = draw_fires(tile, WEATHER, 24, 5)
    state = PlanFires(fires, neutral_roots=neutral_roots)
    rng = np.random.default_rng(0)
    legal = np.flatnonzero(tile.burnable.ravel())
    for _ in range(6):
        # the cells fire paths run through most, where updates matter, and a random one
        score = np.where(tile.burnable.ravel() & ~state.breaks.ravel(), state.score(), -1)
        cells = [int(np.argmax(score)), int(rng.choice(legal))]
        cells = [c for c in dict.fromkeys(cells) if not state.breaks.flat[c]]
        state.place(cells)
        bp, down = state.view()
        want_bp, want_down = fresh(fires, state.breaks, neutral_roots)
        np.testing.assert_allclose(bp, want_bp, atol=1e-6)
        np.testing.assert_allclose(down, want_down, rtol=1e-5, atol=1e-4)


def test_channels_follow_the_breaks_and_agree_with_a_direct_simulation(tile):
    scenario = WEATHER.scenarios[1]
    engine = MTTEngine(tile, scenario)
    ign = np.flatnonzero(tile.burnable.ravel())[::37][:20]
    bp0, down0 = plan_view(engine, ign, None)
    breaks = np.zeros(tile.shape, dtype=bool)
    hot = np.argsort(-np.where(tile.burnable.ravel(), down0.ravel(), -1))[:15]
    breaks.flat[hot] = True
    bp1, down1 = plan_view(engine, ign, breaks)
    direct = engine.burn(ign, breaks).burned
    np.testing.assert_allclose(bp1, direct.mean(axis=0), atol=1e-6)
    assert bp1.sum() < bp0.sum()  # the breaks stop some fire
    assert (bp1[breaks] == 0).all() and (down1[breaks] == 0).all()  # broken cells neither burn nor save
    assert not np.allclose(down1, down0)


def test_neutral_roots_credit_an_ignition_cell_with_itself_alone(tile):
    engine = MTTEngine(tile, WEATHER.scenarios[1])
    ign = np.array([int(np.flatnonzero(tile.burnable.ravel())[100])])
    fires = engine.burn(ign, None, trees=True)
    raw = fire_trees(engine, fires).bound[0, ign[0]]
    assert raw == fires.area[0] > 1  # the root's subtree is the whole fire
    _, down = plan_view(engine, ign, None, neutral_roots=True)
    assert down.flat[ign[0]] == 1.0
