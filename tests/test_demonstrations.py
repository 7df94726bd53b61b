"""Demonstrations: cached by what a plan depends on, computed once, corrupt files named."""

from __future__ import annotations

import numpy as np
import pytest

from fuelbreak.agents.demonstrations import DemoCache, DemoSpec, demo_plans, make_demo_plan
from fuelbreak.errors import ConfigError
from fuelbreak.fire import Scenario
from fuelbreak.landscape.synthetic import synthetic_tile

SCEN = Scenario(wind_speed=15.0, duration=240.0)


def spec(i=0, tile_seed=1, method="tree_greedy", options=(("n_fires", 8),), budget=6, scenario=SCEN):
    return DemoSpec(i, synthetic_tile(20, seed=tile_seed), scenario, budget, method, options, 100 + i)


def test_the_key_changes_with_everything_a_plan_depends_on():
    base = spec().key()
    assert spec().key() == base  # stable
    assert spec(tile_seed=2).key() != base
    assert spec(method="domirank", options=()).key() != base
    assert spec(options=(("n_fires", 9),)).key() != base
    assert spec(budget=7).key() != base
    assert spec(scenario=Scenario(wind_speed=16.0, duration=240.0)).key() != base
    assert spec(i=1).key() != base  # another seed


def test_plans_are_computed_once_then_read_from_the_cache(tmp_path, monkeypatch):
    cache = DemoCache(tmp_path / "cache", read_only=())
    specs = [spec(0), spec(1, tile_seed=3)]
    first = demo_plans(specs, cache)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    for s, cells in zip(specs, first, strict=True):
        np.testing.assert_array_equal(cells, make_demo_plan(s))
        assert s.landscape.burnable.ravel()[cells].all() and len(set(cells.tolist())) == s.budget

    def boom(_spec):
        raise AssertionError("a cached plan was computed again")

    monkeypatch.setattr("fuelbreak.agents.demonstrations.make_demo_plan", boom)
    again = demo_plans(specs, cache)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_read_only_caches_are_read_but_never_written(tmp_path):
    shipped = DemoCache(tmp_path / "shipped", read_only=())
    s = spec()
    shipped.put(s, make_demo_plan(s))
    user = DemoCache(tmp_path / "user", read_only=(tmp_path / "shipped",))
    assert user.get(s) is not None
    assert not (tmp_path / "user").exists()


def test_a_corrupt_or_wrong_cached_plan_is_an_error_naming_the_file(tmp_path):
    cache = DemoCache(tmp_path, read_only=())
    s = spec()
    path = cache.put(s, make_demo_plan(s))
    path.write_bytes(b"not a numpy file")
    with pytest.raises(ConfigError, match=str(path.name)):
        cache.get(s)
    np.save(path, np.arange(3))
    with pytest.raises(ConfigError, match="not a plan of 6 cells"):
        cache.get(s)


def test_stopping_returns_the_plans_finished_so_far(tmp_path):
    cache = DemoCache(tmp_path, read_only=())
    calls = []
    out = demo_plans([spec(0), spec(1)], cache, stopped=lambda: calls.append(1) or len(calls) > 1)
    assert len(out) == 1
