"""`fuelbreak plan`: GeoTIFF and GeoJSON aligned with the tile, the plan's score, and clear errors."""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

import fuelbreak
from fuelbreak.agents.checkpoint import capture_rng_state, make_payload, save_checkpoint
from fuelbreak.agents.config import TrainConfig
from fuelbreak.agents.networks import MODELS, build_model
from fuelbreak.agents.policy import DQNPolicy
from fuelbreak.baselines import plan as baseline_plan
from fuelbreak.cli import main
from fuelbreak.cli.plan import MODEL_TYPES, out_prefix
from fuelbreak.env.observation import CHANNELS
from fuelbreak.fire.scenario import default_weather
from fuelbreak.landscape.geotiff import read_landscape, read_layer_folder, write_landscape
from fuelbreak.landscape.synthetic import synthetic_tile

CRS = "EPSG:5070"
TRANSFORM = Affine(30.0, 0.0, 1833825.0, 0.0, -30.0, 2617605.0)
TILE = 20  # cells per side of the test tiles
CELLS_PER_STEP = 4


# ----------------------------------------------------------------------------- shared with test_cli_visualize


def make_checkpoint(path: Path, model_type: str = "basic", seed: int = 0, **env) -> Path:
    """A real, untrained checkpoint whose config trains on 20 x 20 synthetic tiles, 4 cells per step."""
    torch.manual_seed(seed)
    model = build_model(model_type, len(CHANNELS))
    cfg = TrainConfig()
    cfg.env = dataclasses.replace(
        cfg.env, tile_size=TILE, cells_per_step=CELLS_PER_STEP, synthetic_tiles=10, **env
    )
    payload = make_payload(
        model=model,
        target=copy.deepcopy(model),
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        obs_channels=list(CHANNELS),
        counters={"env_steps": 300, "grad_steps": 70, "episodes": 60},
        config=cfg.to_dict(),
        rng_state=capture_rng_state(),
    )
    return save_checkpoint(path, payload)


def write_metrics(path: Path, n: int = 6) -> Path:
    """A well-formed metrics log as training writes it: train records, and a val record every other one."""
    lines = []
    for i in range(n):
        steps = 50 * (i + 1)
        lines.append(
            {
                "kind": "train",
                "env_steps": steps,
                "episodes": steps // 5,
                "grad_steps": max(0, steps - 20) // 4,
                "epsilon": 1.0 - steps / 1000,
                "loss": None if i == 0 else 0.6 / (i + 1),
                "mean_return": None if i == 0 else 0.02 + 0.01 * i,
                "mean_burned_fraction": 0.3 - 0.01 * i,
                "steps_per_s": 50.0,
                "elapsed_s": steps / 50,
                "failures": 0,
            }
        )
        if i % 2:
            lines.append(
                {
                    "kind": "val",
                    "env_steps": steps,
                    "val_reduction": 0.1 + 0.01 * i,
                    "val_reduction_random": 0.08,
                    "best": True,
                }
            )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def make_run(root: Path, metrics: bool = True, **env) -> Path:
    """A run folder as `fuelbreak train` leaves it: RUN/checkpoints/best.pt and RUN/metrics.jsonl."""
    ckpt = make_checkpoint(root / "checkpoints" / "best.pt", **env)
    if metrics:
        write_metrics(root / "metrics.jsonl")
    return ckpt


def geo_tile(path: Path, seed: int = 3) -> Path:
    """A georeferenced 20 x 20 tile file (EPSG:5070, 30 m) written as `fuelbreak data` writes tiles."""
    land = dataclasses.replace(
        synthetic_tile(TILE, seed, name="geo-tile"), crs=CRS, transform=tuple(TRANSFORM)[:6]
    )
    return write_landscape(land, path)


# ----------------------------------------------------------------------------- helpers


def rings_of(geometry: dict) -> list:
    """Every ring of a GeoJSON Polygon or MultiPolygon."""
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [ring for poly in polys for ring in poly]


def run_plan(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["plan", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def read_tif(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # synthetic tiles have no transform
        src = rasterio.open(path)
    with src:
        return src.crs, src.transform, src.shape, src.read(1), src.read(2), src.bounds


# ----------------------------------------------------------------------------- tests


def test_model_type_choices_are_the_networks():
    assert MODEL_TYPES == ("auto", *MODELS)


def test_geotiff_keeps_crs_transform_shape_and_the_planned_cells(tmp_path, capsys):
    tif_in = geo_tile(tmp_path / "tile.tif")
    rc, out, err = run_plan(
        capsys, "--method", "random", "--tile", tif_in, "--budget", 12, "--fires", 5, "--out", tmp_path / "p"
    )
    assert rc == 0, err
    crs, transform, shape, band1, band2, _ = read_tif(tmp_path / "p.tif")
    assert crs == rasterio.crs.CRS.from_user_input(CRS)
    assert transform == TRANSFORM
    assert shape == (TILE, TILE)
    land = read_landscape(tif_in)
    expected = baseline_plan("random", land, default_weather(), 12, 0)  # same method, budget, seed
    assert set(np.flatnonzero(band1.ravel())) == set(expected.tolist())
    order = band2.ravel()
    assert [int(np.flatnonzero(order == k)[0]) for k in range(1, 13)] == expected.tolist()
    assert ((band2 > 0) == (band1 == 1)).all()
    assert "p.tif" in out and "p.geojson" in out and "reduction" in out


def test_geojson_has_one_polygon_per_break_cell_inside_the_tile(tmp_path, capsys):
    tif_in = geo_tile(tmp_path / "tile.tif")
    rc, _, err = run_plan(
        capsys,
        "--method",
        "domirank",
        "--tile",
        tif_in,
        "--budget",
        10,
        "--fires",
        5,
        "--out",
        tmp_path / "p",
        "--cell-geojson",
    )
    assert rc == 0, err
    gj = json.loads((tmp_path / "p_cells.geojson").read_text())
    _, _, _, band1, band2, bounds = read_tif(tmp_path / "p.tif")
    assert gj["type"] == "FeatureCollection"
    assert len(gj["features"]) == int(band1.sum()) == 10
    assert gj["properties"]["georeferenced"] is True
    assert gj["crs"]["properties"]["name"].endswith("5070")
    assert gj["properties"]["method"] == "domirank" and gj["properties"]["budget_cells"] == 10
    assert gj["properties"]["fuelbreak_version"] == fuelbreak.__version__
    for feature in gj["features"]:
        p = feature["properties"]
        assert band2[p["row"], p["col"]] == p["order"]
        ring = np.asarray(feature["geometry"]["coordinates"][0])
        assert ring.shape == (5, 2)
        assert (ring[:, 0] >= bounds.left).all() and (ring[:, 0] <= bounds.right).all()
        assert (ring[:, 1] >= bounds.bottom).all() and (ring[:, 1] <= bounds.top).all()
        # The polygon is the cell itself: its centre maps back to the feature's row and column.
        row, col = rasterio.transform.rowcol(TRANSFORM, *ring[:4].mean(axis=0))
        assert (row, col) == (p["row"], p["col"])
    assert sorted(f["properties"]["order"] for f in gj["features"]) == list(range(1, 11))


def test_real_landfire_window_keeps_its_georeference(tmp_path, capsys, worcester):
    land = read_layer_folder(worcester).window(100, 100, 24, 24, name="worcester-window")
    tif_in = write_landscape(land, tmp_path / "w.tif")
    rc, _, err = run_plan(
        capsys, "--method", "burn_probability", "--tile", tif_in, "--fires", 5, "--out", tmp_path / "w"
    )
    assert rc == 0, err
    crs, transform, shape, band1, _, _ = read_tif(tmp_path / "w.tif")
    assert crs == rasterio.crs.CRS.from_user_input(land.crs)
    assert transform == Affine(*land.transform[:6])
    assert shape == land.shape
    assert band1.sum() == round(0.05 * land.n_cells)
    assert land.burnable[band1 == 1].all()


def test_policy_plan_on_a_synthetic_tile_says_it_has_no_crs(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "c.pt")
    rc, out, err = run_plan(
        capsys, "--ckpt", ckpt, "--tile-size", TILE, "--budget", 10, "--fires", 5, "--out", tmp_path / "d.tif"
    )
    assert rc == 0, err
    crs, _, shape, band1, band2, _ = read_tif(tmp_path / "d.tif")  # ".tif" on --out is not doubled
    assert crs is None and shape == (TILE, TILE)
    from fuelbreak.landscape.dataset import open_dataset

    land = open_dataset(None, 1, TILE, 0)[0]
    expected = DQNPolicy.load(ckpt).plan(land, default_weather(), 10, 0)  # the default, as for every planner
    assert [int(np.flatnonzero(band2.ravel() == k)[0]) for k in range(1, 11)] == expected.tolist()
    gj = json.loads((tmp_path / "d.geojson").read_text())
    assert gj["properties"]["georeferenced"] is False
    assert "synthetic" in gj["properties"]["coordinates"]
    assert "crs" not in gj
    assert gj["properties"]["method"] == "dqn" and gj["properties"]["model_type"] == "basic"
    xy = np.concatenate([np.asarray(ring) for f in gj["features"] for ring in rings_of(f["geometry"])])
    assert (xy[:, 0] >= 0).all() and (xy[:, 0] <= TILE).all()
    assert (xy[:, 1] <= 0).all() and (xy[:, 1] >= -TILE).all()
    # one default weather for every planner; a policy trained under other weather says so, and how to use it
    assert "weather (preset default)" in out
    assert "trained under weather.preset=broad" in err and "--weather broad" in err


def test_same_seed_same_plan_and_score(tmp_path, capsys):
    outs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        rc, _, err = run_plan(
            capsys,
            "--method",
            "random",
            "--tile-size",
            TILE,
            "--seed",
            seed,
            "--fires",
            8,
            "--out",
            tmp_path / name,
        )
        assert rc == 0, err
        gj = json.loads((tmp_path / f"{name}.geojson").read_text())
        outs.append((read_tif(tmp_path / f"{name}.tif")[4], gj["properties"]))
    assert (outs[0][0] == outs[1][0]).all() and outs[0][1] == outs[1][1]
    assert not (outs[0][0] == outs[2][0]).all()
    props = outs[0][1]
    before, after = props["expected_burned_cells_without_breaks"], props["expected_burned_cells_with_plan"]
    assert after <= before
    assert props["reduction_fraction"] == pytest.approx((before - after) / before)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([], ["--ckpt", "--method"]),
        (["--method", "random", "--ckpt", "x.pt"], ["--ckpt", "--method", "not both"]),
        (["--method", "simulated_annealing"], ["--method", "simulated_annealing", "domirank"]),
        (["--method", "random", "--model-type", "basic"], ["--model-type", "--ckpt"]),
        (["--method", "random", "--budget", 1000], ["--budget", "1000", "burnable cells"]),
        (["--method", "random", "--budget", 0], ["--budget"]),
        (["--method", "random", "--budget", 2.5], ["--budget", "whole number"]),
        (["--method", "random", "--fires", 0], ["--fires"]),
        (["--method", "tree_greedy", "--option", "n_fire=3"], ["--option", "n_fire", "n_fires"]),
        (["--method", "dqn_search", "--option", "checkpoint=x.pt"], ["--option", "checkpoint"]),
        (["--method", "dqn", "--option", "n_fires=3"], ["--option", "dqn_search"]),
        (["--method", "dqn", "--option", "batch_area=-1"], ["--option", "batch_area"]),
        (["--method", "dqn", "--option", "fire_share=2"], ["--option", "fire_share"]),
        (["--method", "tree_greedy", "--option", "n_fires"], ["--option", "KEY=VALUE"]),
    ],
)
def test_bad_flags_are_named(tmp_path, capsys, argv, words):
    rc, out, err = run_plan(capsys, *argv, "--tile-size", TILE, "--out", tmp_path / "p")
    assert rc == 2
    for word in words:
        assert word in err
    assert not list(tmp_path.glob("p.*"))


def test_planner_options_and_the_search_plan_as_the_library_does(tmp_path, capsys):
    tif_in = geo_tile(tmp_path / "tile.tif")
    land = read_landscape(tif_in)
    rc, _, err = run_plan(
        capsys, "--method", "tree_greedy", "--option", "n_fires=16", "--option", "prune_rounds=1",
        "--tile", tif_in, "--budget", 10, "--fires", 5, "--out", tmp_path / "tg",
    )  # fmt: skip
    assert rc == 0, err
    want = baseline_plan("tree_greedy", land, default_weather(), 10, 0, n_fires=16, prune_rounds=1)
    assert set(np.flatnonzero(read_tif(tmp_path / "tg.tif")[3].ravel())) == set(want.tolist())
    rc, _, err = run_plan(
        capsys, "--method", "dqn_search", "--option", "n_fires=16", "--tile", tif_in, "--budget", 10,
        "--fires", 5, "--out", tmp_path / "s",
    )  # fmt: skip
    assert rc == 0, err
    from fuelbreak.agents.search import dqn_search_plan

    want = dqn_search_plan(land, default_weather(), 10, 0, n_fires=16)
    assert set(np.flatnonzero(read_tif(tmp_path / "s.tif")[3].ravel())) == set(want.tolist())
    props = json.loads((tmp_path / "s.geojson").read_text())["properties"]
    assert props["method"] == "dqn_search" and props["options"] == {"n_fires": 16}


def test_checkpoint_problems_name_the_flag_or_file(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "c.pt")
    rc, _, err = run_plan(
        capsys, "--ckpt", ckpt, "--model-type", "dueling", "--tile-size", TILE, "--out", tmp_path / "p"
    )
    assert rc == 3 and "--model-type dueling" in err and str(ckpt) in err and "'basic'" in err
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(ckpt.read_bytes()[:500])
    rc, _, err = run_plan(capsys, "--ckpt", bad, "--tile-size", TILE, "--out", tmp_path / "p")
    assert rc == 3 and str(bad) in err and "corrupt" in err
    rc, _, err = run_plan(
        capsys, "--ckpt", tmp_path / "none.pt", "--tile-size", TILE, "--out", tmp_path / "p"
    )
    assert rc == 3 and "none.pt" in err and "does not exist" in err
    assert not list(tmp_path.glob("p.*"))


def test_out_prefix_drops_a_file_suffix():
    assert out_prefix("plans/x.tif") == Path("plans/x")
    assert out_prefix("x.GeoJSON") == Path("x")
    assert out_prefix("run.v2") == Path("run.v2")


# ----------------------------------------------------------------------------- planner layers and budgets


def write_points(path: Path, cells_values) -> Path:
    """A GeoJSON of points at the centres of (row, col) cells of the geo tile, with a `worth` attribute."""
    features = []
    for (r, c), v in cells_values:
        x, y = TRANSFORM @ (c + 0.5, r + 0.5)
        features.append(
            {"type": "Feature", "properties": {"worth": v}, "geometry": {"type": "Point", "coordinates": [x, y]}}
        )
    data = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::5070"}}}
    path.write_text(json.dumps({**data, "features": features}))
    return path


def test_plan_with_values_and_cost_writes_its_summary_and_patch_sums(tmp_path, capsys):
    tif_in = geo_tile(tmp_path / "tile.tif")
    places = write_points(tmp_path / "places.geojson", [((r, c), 1.0 + r + c) for r in range(20) for c in range(20)])
    rc, out, err = run_plan(
        capsys, "--method", "random", "--tile", tif_in, "--values", f"{places}:worth", "--cost", 3,
        "--budget", "2%", "--fires", 6, "--out", tmp_path / "p",
    )  # fmt: skip
    assert rc == 0, err
    value = 1.0 + np.add.outer(np.arange(20), np.arange(20))
    summary = json.loads((tmp_path / "p.json").read_text())
    s = summary["summary"]
    assert summary["budget"] == "2%" and summary["budget_cells"] == 8 and summary["objective"] == "area"
    assert s["treated_cells"] == 8 and s["treated_hectares"] == pytest.approx(8 * 0.09) and s["cost"] == 24.0
    breaks = read_tif(tmp_path / "p.tif")[3] == 1
    assert s["value_treated"] == pytest.approx(value[breaks].sum())
    assert s["value_loss_before"] > 0 and s["value_loss_after"] <= s["value_loss_before"]
    assert s["burned_hectares_after"] <= s["burned_hectares_before"]
    assert summary["planner_layers"] == {"value": f"{places}:worth", "cost": "3"}
    gj = json.loads((tmp_path / "p.geojson").read_text())
    assert sum(f["properties"]["cost"] for f in gj["features"]) == 24.0
    assert sum(f["properties"]["value"] for f in gj["features"]) == pytest.approx(value[breaks].sum())
    for f in gj["features"]:
        assert f["properties"]["cost"] == 3.0 * f["properties"]["cells"]
        assert f["properties"]["hectares"] == pytest.approx(0.09 * f["properties"]["cells"])
    assert gj["properties"]["cost"] == 24.0
    assert "value loss" in out and "p.json" in out and f"{s['value_loss_before']:.6g}" in out


def test_plan_budget_in_hectares_and_cells(tmp_path, capsys):
    tif_in = geo_tile(tmp_path / "tile.tif")
    for budget, cells in (("0.9ha", 10), ("7cells", 7), ("0.03", 12)):
        rc, _, err = run_plan(
            capsys, "--method", "random", "--tile", tif_in, "--budget", budget, "--fires", 3, "--out", tmp_path / "b"
        )
        assert rc == 0, err
        assert json.loads((tmp_path / "b.json").read_text())["summary"]["treated_cells"] == cells
        assert (read_tif(tmp_path / "b.tif")[3] == 1).sum() == cells


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--max-cost", 10], ["--max-cost", "--cost"]),
        (["--objective", "value"], ["--objective value", "--values"]),
        (["--budget", "5 acres"], ["--budget", "120ha"]),
        (["--values", "nowhere.tif"], ["--values", "nowhere.tif", "no such file"]),
        (["--cost", "-2"], ["--cost", "finite number >= 0"]),
    ],
)
def test_bad_planner_flags_are_named(tmp_path, capsys, argv, words):
    rc, out, err = run_plan(capsys, "--method", "random", *argv, "--tile-size", TILE, "--out", tmp_path / "p")
    assert rc == 2
    for word in words:
        assert word in err
    assert not list(tmp_path.glob("p.*"))


def test_a_misaligned_value_raster_is_refused_naming_it(tmp_path, capsys):
    tif_in = geo_tile(tmp_path / "tile.tif")
    shifted = Affine(30.0, 0.0, TRANSFORM.c + 10.0, 0.0, -30.0, TRANSFORM.f)
    bad = tmp_path / "values.tif"
    with rasterio.open(
        bad, "w", driver="GTiff", height=TILE, width=TILE, count=1, dtype="float32", crs=CRS, transform=shifted
    ) as ds:
        ds.write(np.ones((TILE, TILE), dtype=np.float32), 1)
    rc, _, err = run_plan(capsys, "--method", "random", "--tile", tif_in, "--values", bad, "--out", tmp_path / "p")
    assert rc == 2 and str(bad) in err and "offset" in err
    assert not list(tmp_path.glob("p.*"))


def test_synthetic_layers_reach_the_plan(tmp_path, capsys):
    rc, _, err = run_plan(
        capsys, "--method", "random", "--tile-size", TILE, "--synthetic-layers", "--fires", 3, "--out", tmp_path / "p"
    )
    assert rc == 0, err
    s = json.loads((tmp_path / "p.json").read_text())["summary"]
    assert s["cost"] is not None and s["value_loss_before"] is not None
    rc, _, err = run_plan(
        capsys, "--method", "random", "--tile-size", TILE, "--synthetic-layers", "--data", tmp_path, "--out",
        tmp_path / "q",
    )  # fmt: skip
    assert rc == 2 and "--synthetic-layers" in err


def test_a_policys_options_reach_its_plan(tmp_path, capsys):
    # the shipped policy on a 20 x 20 tile: one cell a forward by default (400 cells < 2 x batch_area), up to 4
    # with batch_area=100; both spend the budget on distinct cells
    plans = []
    for name, extra in (("one", []), ("batched", ["--option", "batch_area=100", "--option", "fire_share=0.5"])):
        rc, _, err = run_plan(
            capsys, "--method", "dqn", *extra, "--tile-size", TILE, "--budget", 12, "--fires", 5, "--out", tmp_path / name
        )
        assert rc == 0, err
        plans.append(read_tif(tmp_path / f"{name}.tif")[3])
    assert all(int((p > 0).sum()) == 12 for p in plans)
    props = json.loads((tmp_path / "batched.geojson").read_text())["properties"]
    assert props["options"] == {"batch_area": 100, "fire_share": 0.5}
    assert "options" not in json.loads((tmp_path / "one.geojson").read_text())["properties"]
