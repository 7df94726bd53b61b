"""Planning a whole landscape: windows with halos, the budget shared across them, scoring in chunks of
fires on the whole landscape, bounded memory, executors, resume."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from fuelbreak.cli import main
from fuelbreak.errors import ConfigError
from fuelbreak.fire.montecarlo import burn_fire_set, burned_counts, draw_fires
from fuelbreak.fire.scenario import Scenario, Weather, default_weather
from fuelbreak.landscape.core import Landscape
from fuelbreak.landscape.synthetic import synthetic_tile
from fuelbreak.parallel import ProcessExecutor, SerialExecutor
from fuelbreak.planning.landscape import draw_groups, plan_landscape, score_plan
from fuelbreak.planning.windows import Proposal, merge, split_windows, upper_hull, window_landscape

WEATHER = default_weather()
# One windy scenario of long fires: they cross a 20-cell window's edge.
WINDY = Weather((Scenario(wind_speed=25.0, wind_direction=270.0, duration=240.0),), (1.0,))


def test_windows_cover_the_landscape_once_and_their_boxes_hold_the_halo():
    windows = split_windows((613, 549), 256, 32)
    cover = np.zeros((613, 549), dtype=int)
    for w in windows:
        r0, r1, c0, c1 = w.core
        cover[r0:r1, c0:c1] += 1
        b = w.box
        assert b[0] == max(r0 - 32, 0) and b[1] == min(r1 + 32, 613)
        assert b[2] == max(c0 - 32, 0) and b[3] == min(c1 + 32, 549)
        assert r1 - r0 <= 256 and c1 - c0 <= 256
    assert (cover == 1).all() and len(windows) == 9
    assert len(split_windows((50, 50), 256, 32)) == 1
    with pytest.raises(ConfigError, match="window size"):
        split_windows((50, 50), 4, 0)


def test_a_windows_cells_go_to_its_box_and_back():
    """Flat landscape indices and flat box indices of a window away from the origin (the policy's earlier
    proposal goes to its box this way): each cell lands on the same row and column, and back."""
    shape = (70, 90)
    w = split_windows(shape, 30, 6)[4]  # the middle window: its box starts at row 24, column 24
    r0, r1, c0, c1 = w.core
    rows, cols = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
    cells = (rows * shape[1] + cols).ravel()
    box = w.to_box(cells, shape[1])
    bh, bw = w.box_shape
    np.testing.assert_array_equal(box // bw, rows.ravel() - w.box[0])
    np.testing.assert_array_equal(box % bw, cols.ravel() - w.box[2])
    assert box.min() >= 0 and box.max() < bh * bw
    np.testing.assert_array_equal(w.to_landscape(box, shape[1]), cells)


def test_a_box_excludes_its_halo_and_keeps_the_landscapes_exclusions():
    land = synthetic_tile(60, seed=1)
    exclude = np.zeros(land.shape, dtype=np.float32)
    exclude[30, 10] = 1.0
    land = Landscape({**land.layers, "exclude": exclude}, land.cell_size, name="t")
    w = split_windows(land.shape, 30, 8)[2]  # rows 30..60, cols 0..30
    box = window_landscape(land, w)
    core = w.core_mask()
    assert box.shape == w.box_shape
    assert box.excluded[~core].all()
    assert box.excluded[30 - w.box[0], 10 - w.box[2]]
    assert (~box.excluded[core]).sum() == core.sum() - 1


def test_a_fire_crossing_a_window_edge_burns_on_when_scored():
    """Scoring never clips fires at a window: an ignition next to a window's edge burns into the next window
    and beyond its halo, the same cells as the whole landscape's engine burns."""
    land = Landscape.uniform((40, 80), fuel=102, name="flat grass")
    windows = split_windows(land.shape, 20, 4)
    ignition = np.array([20 * 80 + 18])  # row 20, column 18: window 2's core, 2 cells from its east edge
    groups = [(WINDY.scenarios[0], ignition)]
    scored = score_plan(land, groups, np.zeros(0, dtype=np.int64), chunk=1)
    home = next(w for w in windows if w.core[0] <= 20 < w.core[1] and w.core[2] <= 18 < w.core[3])
    beyond_box = scored.counts_before.copy()
    r0, r1, c0, c1 = home.box
    beyond_box[r0:r1, c0:c1] = 0
    assert beyond_box.sum() > 0, "the fire stopped at its window's box"
    fires = draw_fires(land, WINDY, 1, 0)
    fires.groups = [ignition]
    expected = burn_fire_set(fires)[0]
    np.testing.assert_array_equal(scored.counts_before, expected.astype(np.int64))
    assert scored.areas_before[0] == expected.sum()


def test_burned_counts_in_chunks_equal_the_dense_masks():
    land = synthetic_tile(30, seed=2)
    fires = draw_fires(land, WEATHER, 23, 5)
    breaks = np.zeros(land.shape, dtype=bool)
    breaks[10:20, 14] = True
    dense = burn_fire_set(fires, breaks)
    for chunk in (1, 4, 100):
        counts, areas = burned_counts(fires, breaks, chunk)
        np.testing.assert_array_equal(counts, dense.sum(axis=0))
        np.testing.assert_array_equal(areas, dense.reshape(len(dense), -1).sum(axis=1))


def test_draw_groups_are_the_fires_of_draw_fires():
    land = synthetic_tile(30, seed=3)
    fires = draw_fires(land, WEATHER, 40, np.random.default_rng(np.random.SeedSequence([7, 1])))
    groups = draw_groups(land, WEATHER, 40, np.random.SeedSequence([7, 1]))
    assert [s for s, _ in groups] == fires.scenarios
    for (_, ign), g in zip(groups, fires.groups, strict=True):
        np.testing.assert_array_equal(ign, g)


def test_upper_hull_and_merge_take_the_steepest_prefixes():
    assert upper_hull(np.array([0, 2, 4]), np.array([0.0, 1.0, 4.0])) == [(0, 4, 1.0)]
    assert upper_hull(np.array([0, 2, 4]), np.array([0.0, 4.0, 5.0])) == [(0, 2, 2.0), (2, 4, 0.5)]
    from fuelbreak.planning.windows import Proposal

    a = Proposal(0, 4, np.array([10, 11, 12, 13]), np.array([0, 2, 4]), np.array([0.0, 4.0, 5.0]))
    b = Proposal(1, 4, np.array([20, 21, 22, 23]), np.array([0, 4]), np.array([0.0, 4.0]))
    cells, taken = merge([a, b], 5)
    assert cells.tolist() == [10, 11, 20, 21, 22] and taken == {0: 2, 1: 3}


def test_the_budget_sums_over_windows_in_their_cores():
    land = synthetic_tile(80, seed=4)
    budget = 60
    plan = plan_landscape("tree_greedy", land, WEATHER, budget, 3, {"n_fires": 16}, window=40, halo=8)
    assert plan.windows == 4
    assert len(plan.cells) == budget == len(set(plan.cells.tolist()))
    assert land.treatable.ravel()[plan.cells].all()
    assert sum(plan.taken.values()) == budget
    windows = split_windows(land.shape, 40, 8)
    rows, cols = plan.cells // 80, plan.cells % 80
    for w in windows:
        inside = (rows >= w.core[0]) & (rows < w.core[1]) & (cols >= w.core[2]) & (cols < w.core[3])
        assert inside.sum() == plan.taken[w.index]
    again = plan_landscape("tree_greedy", land, WEATHER, budget, 3, {"n_fires": 16}, window=40, halo=8)
    np.testing.assert_array_equal(plan.cells, again.cells)  # the same seed, the same plan


def test_a_landscape_split_in_four_plans_nearly_as_well_as_whole():
    """Tolerance: the split plan's reduction of the expected burned area is at most 3 points below the
    whole plan's, on the same 300 scoring fires, with as many planning fires per cell of what each plans
    on (256 on the whole 100 x 100; 172 on each 82 x 82 box: a 50 x 50 core and a halo of 16).

    Fewer planning fires per cell would lose more than any split: the whole plan with 64 fires reaches
    about 26 % here, against 63 % with 256 (DESIGN.md, "More planning fires pay")."""
    land = synthetic_tile(100, seed=5)
    budget = 300  # 3 %
    whole = plan_landscape("tree_greedy", land, WEATHER, budget, 1, {"n_fires": 256})
    split = plan_landscape("tree_greedy", land, WEATHER, budget, 1, {"n_fires": 172}, window=50, halo=16)
    assert whole.windows == 1 and split.windows == 4
    groups = draw_groups(land, WEATHER, 300, np.random.SeedSequence([99]))

    def reduction(cells):
        s = score_plan(land, groups, cells)
        return 1 - s.areas_after.mean() / s.areas_before.mean()

    r_whole, r_split = reduction(whole.cells), reduction(split.cells)
    assert r_whole > 0.05
    assert r_split >= r_whole - 0.03, (r_split, r_whole)


def test_windows_run_on_a_process_pool_with_the_same_plan(no_leftovers):
    land = synthetic_tile(60, seed=6)
    serial = plan_landscape("burn_probability", land, WEATHER, 40, 2, {}, window=30, halo=6)
    with ProcessExecutor(workers=2, timeout=120) as pool:
        pooled = plan_landscape("burn_probability", land, WEATHER, 40, 2, {}, window=30, halo=6, executor=pool)
        groups = draw_groups(land, WEATHER, 20, 4)
        a = score_plan(land, groups, pooled.cells, pool)
    np.testing.assert_array_equal(serial.cells, pooled.cells)
    b = score_plan(land, groups, pooled.cells)
    np.testing.assert_array_equal(a.counts_after, b.counts_after)
    np.testing.assert_array_equal(a.areas_before, b.areas_before)


def test_memory_of_a_windowed_plan_stays_under_its_bound():
    """Planning and scoring a 300 x 300 landscape (90,000 cells) in windows of 100 cells with 200 scoring
    fires: Python's own accounting (tracemalloc, which numpy reports its arrays to) peaks under 120 MB.

    Dense per-fire arrays would not: the 200 fires' arrival times and burned masks alone are 90 MB, and
    tree-greedy's 64 planning fires over the whole landscape hold 10 bytes a fire-cell (58 MB) more.
    """
    land = synthetic_tile(300, seed=7)
    groups = draw_groups(land, WEATHER, 200, 8)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        plan = plan_landscape("tree_greedy", land, WEATHER, 900, 0, {"cells_per_update": 8}, window=100, halo=16)
        score_plan(land, groups, plan.cells, chunk=16)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert len(plan.cells) == 900
    assert peak < 120e6, f"peak {peak / 1e6:.0f} MB"


class _Interrupting(SerialExecutor):
    """A serial executor whose third batch is interrupted (Ctrl-C)."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    def map(self, fn, args_list, timeout=None):
        self.batches += 1
        if self.batches == 3:
            raise KeyboardInterrupt
        return super().map(fn, args_list, timeout)


def test_an_interrupted_windowed_plan_resumes_where_it_stopped(tmp_path):
    land = synthetic_tile(60, seed=8)
    args = ("random", land, WEATHER, 30, 4, {})
    kw = {"window": 20, "halo": 4}
    whole = plan_landscape(*args, **kw)
    state = tmp_path / "state"
    stopped = _Interrupting()
    with pytest.raises(KeyboardInterrupt):
        plan_landscape(*args, **kw, executor=stopped, state=state)  # 2 windows a batch: 4 windows saved
    saved = sorted(p.name for p in state.glob("w*.npz"))
    assert len(saved) == 4 and not list(state.glob(".*.tmp"))
    with SerialExecutor() as ex:
        resumed = plan_landscape(*args, **kw, executor=ex, state=state, resume=True)
    assert resumed.resumed == 4 and resumed.proposals == whole.proposals - 4
    np.testing.assert_array_equal(resumed.cells, whole.cells)
    with pytest.raises(ConfigError, match="another plan.*budget"):
        plan_landscape("random", land, WEATHER, 31, 4, {}, **kw, state=state, resume=True)
    fresh = plan_landscape(*args, **kw, state=state)  # without --resume: started afresh
    assert fresh.resumed == 0 and fresh.proposals == whole.proposals


def test_cli_plans_a_split_landscape_and_resumes(tmp_path, capsys):
    out = tmp_path / "plan"
    flags = ["plan", "--method", "tree_greedy", "--tile-size", "64", "--budget", "40", "--fires", "30"]
    flags += ["--window", "32", "--halo", "8", "--executor", "serial", "--out", str(out)]
    assert main(flags) == 0
    captured = capsys.readouterr()
    assert "windows (round 1): 4/4 windows done" in captured.err
    assert "scoring: 30/30 fires" in captured.err
    assert (tmp_path / "plan.tif").exists() and not (tmp_path / "plan.state").exists()
    import json

    props = json.loads((tmp_path / "plan.geojson").read_text())["properties"]
    assert props["windows"]["count"] == 4 and props["budget_cells"] == 40
    first = (tmp_path / "plan.tif").read_bytes()
    assert main([*flags, "--resume"]) == 0  # nothing to resume: planned afresh, the same plan
    assert (tmp_path / "plan.tif").read_bytes() == first


def test_cli_resumes_an_interrupted_windowed_plan_and_wrote_nothing_half_done(tmp_path, monkeypatch, capsys):
    import fuelbreak.planning.landscape as landscape_mod

    flags = ["plan", "--method", "tree_greedy", "--tile-size", "64", "--budget", "40", "--fires", "20"]
    flags += ["--window", "32", "--halo", "8", "--executor", "serial"]
    assert main([*flags, "--out", str(tmp_path / "whole")]) == 0
    real, calls = landscape_mod.propose, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:  # the second batch of two windows
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(landscape_mod, "propose", interrupted)
    out = tmp_path / "plan"
    code = main([*flags, "--out", str(out)])
    assert code != 0
    assert not list(tmp_path.glob("plan.*[!e]")), "a half-done plan was written"  # only plan.state
    assert len(list((tmp_path / "plan.state").glob("w*.npz"))) == 2
    monkeypatch.setattr(landscape_mod, "propose", real)
    capsys.readouterr()
    assert main([*flags, "--out", str(out), "--resume"]) == 0
    assert "2 window proposal(s) resumed" in capsys.readouterr().out
    assert (tmp_path / "plan.tif").read_bytes() == (tmp_path / "whole.tif").read_bytes()
    assert not (tmp_path / "plan.state").exists()


def test_tree_greedys_top_cells_are_those_of_a_full_sort():
    from fuelbreak.baselines.tree_greedy import top_cells

    rng = np.random.default_rng(0)
    for _ in range(50):
        size = int(rng.integers(1, 400))
        score = rng.integers(0, 5, size).astype(float)  # many equal scores
        score[rng.random(size) < 0.3] = -np.inf
        ties = rng.integers(0, 3, size).astype(float)  # and equal ties
        for n in (1, 2, 7, size, size + 3):
            np.testing.assert_array_equal(top_cells(score, ties, n), np.lexsort((-ties, -score))[:n])


def test_a_worker_killed_mid_plan_loses_nothing(tmp_path, monkeypatch, no_leftovers):
    """A window's worker dies (SIGKILL, as the out-of-memory killer would): the pool replaces it, the window
    runs again, and the plan is the plan of an undisturbed run."""
    import functools

    import fuelbreak.planning.landscape as landscape_mod
    from tests.parallel_tasks import propose_or_die_once

    land = synthetic_tile(60, seed=9)
    args = ("burn_probability", land, WEATHER, 40, 2, {})
    undisturbed = plan_landscape(*args, window=30, halo=6)
    monkeypatch.setattr(landscape_mod, "propose", functools.partial(propose_or_die_once, str(tmp_path / "died")))
    with ProcessExecutor(workers=2, timeout=120) as pool:
        plan = plan_landscape(*args, window=30, halo=6, executor=pool)
        assert pool.stats["crashes"] == 1 and pool.stats["workers_replaced"] >= 1
    assert (tmp_path / "died").exists()
    np.testing.assert_array_equal(plan.cells, undisturbed.cells)


def test_a_join_that_fails_to_connect_names_a_refused_auth_token():
    """Ray 2.60 answers a join whose token the cluster refuses with "Failed to connect" (its log says
    InvalidAuthToken): our error names that cause and the token file."""
    from fuelbreak.parallel.ray_executor import auth_hint

    hint = auth_hint(ConnectionError("Failed to connect to GCS at address 127.0.0.1:6379 within 5 seconds"))
    assert "InvalidAuthToken" in hint and "~/.ray/auth_token" in hint
    assert auth_hint(ValueError("Version mismatch: the cluster runs Ray 2.50")) == ""


def test_under_the_value_objective_the_budget_goes_to_the_window_that_holds_the_value():
    """Two windows of the same grass under a west wind, all the value in the west one. For area the east
    window's breaks save the most (fires from the west window run on into it), so it gets the budget; for
    value only the west window's gain curve counts, so it gets the budget instead."""
    land = Landscape.uniform((40, 80), fuel=102, name="two-windows")
    value = np.zeros((40, 80), dtype=np.float32)
    value[15:25, 2:10] = 1.0
    land.layers["value"] = value
    kw = dict(window=40, halo=4)
    area = plan_landscape("tree_greedy", land, WEATHER, 20, 3, {"n_fires": 16}, **kw)
    west = plan_landscape("tree_greedy", land, WEATHER, 20, 3, {"n_fires": 16, "objective": "value"}, **kw)
    assert area.windows == west.windows == 2
    assert area.taken == {0: 0, 1: 20}
    assert west.taken == {0: 20, 1: 0}


def test_the_merge_under_a_cost_limit_ranks_by_gain_per_cost_and_keeps_within_it():
    """Window 0's two cells save 10 for 20 (0.5 a unit), window 1's save 6 for 2 (3 a unit). Without a cost
    limit window 0 is steeper per cell and comes first; with 12 to spend window 1's cells come first and 10
    is left for one of window 0's."""
    costs = np.array([10.0, 10.0, 1.0, 1.0, 5.0])
    w0 = Proposal(0, 2, np.array([0, 1]), np.array([0, 2]), np.array([0.0, 10.0]), 12.0)
    w1 = Proposal(1, 2, np.array([2, 3]), np.array([0, 2]), np.array([0.0, 6.0]), 12.0)
    cells, taken = merge([w0, w1], 3)
    assert list(cells) == [0, 1, 2] and taken == {0: 2, 1: 1}
    cells, taken = merge([w0, w1], 3, costs, 12.0)
    assert list(cells) == [2, 3, 0] and taken == {0: 1, 1: 2} and costs[cells].sum() == 12.0
    cells, taken = merge([w0, w1], 3, costs, 9.0)  # window 0 cannot pay a cell: only window 1's
    assert list(cells) == [2, 3] and taken == {0: 0, 1: 2}
    free = Proposal(2, 1, np.array([4]), np.array([0, 1]), np.array([0.0, 0.1]))
    assert upper_hull(free.points, free.saved, np.array([0.0, 0.0])) == [(0, 1, np.inf)]  # free cells first


def test_a_proposal_keeps_its_cost_request_through_the_state_folder():
    p = Proposal(3, 5, np.arange(5), np.array([0, 5]), np.array([0.0, 1.0]), 42.5)
    back = Proposal.from_arrays(p.to_arrays())
    assert back.requested_cost == 42.5 and back.asked == (5, 42.5)
    old = {k: v for k, v in p.to_arrays().items() if k != "requested_cost"}  # a state of a plan without one
    assert Proposal.from_arrays(old).requested_cost == np.inf


def test_a_split_plan_under_a_cost_limit_buys_where_a_unit_of_cost_saves_most():
    """Two windows of the same grass under a west wind: for area the east window's breaks save the most
    (above), but there a cell costs 20 against 1 in the west. With 30 to spend the plan keeps within it
    and buys in the west; without the limit it would all go east."""
    land = Landscape.uniform((40, 80), fuel=102, name="two-prices")
    cost = np.ones((40, 80), dtype=np.float32)
    cost[:, 40:] = 20.0
    land.layers["cost"] = cost
    kw = dict(window=40, halo=4)
    opts = {"n_fires": 16}
    free = plan_landscape("tree_greedy", land, WEATHER, 20, 3, opts, **kw)
    assert free.taken == {0: 0, 1: 20}
    for method, options in (("tree_greedy", opts), ("burn_probability", {})):
        paid = plan_landscape(method, land, WEATHER, 20, 3, {**options, "max_cost": 30.0}, **kw)
        spent = float(cost.ravel()[paid.cells].sum())
        assert spent <= 30.0 and len(np.unique(paid.cells)) == len(paid.cells) <= 20, method
        assert paid.taken[1] <= 1 and paid.taken[0] >= 10, (method, paid.taken)


def test_cli_plans_a_split_landscape_for_value_and_under_a_cost_limit(tmp_path, capsys):
    import json

    common = ["plan", "--method", "tree_greedy", "--tile-size", "48", "--synthetic-layers", "--budget", "2%",
              "--fires", "20", "--window", "24", "--halo", "4", "--executor", "serial"]  # fmt: skip
    assert main([*common, "--objective", "value", "--out", str(tmp_path / "v")]) == 0
    captured = capsys.readouterr()
    assert "windows (round 1): 4/4 windows done" in captured.err and "value loss" in captured.out
    assert (tmp_path / "v.json").is_file()
    assert main([*common, "--cost", "3", "--max-cost", "20", "--out", str(tmp_path / "c")]) == 0
    assert "windows (round 1): 4/4 windows done" in capsys.readouterr().err
    summary = json.loads((tmp_path / "c.json").read_text())["summary"]
    assert 0 < summary["treated_cells"] <= 6 and summary["cost"] <= 20.0  # 6 cells of 3 fit in 20
