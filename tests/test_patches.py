"""Plans as treatment units: dissolved GeoJSON patches (area adds up, CRS kept, readable by GDAL),
the plan's PNG map, and derived layers under `visualize`."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import rasterize

from fuelbreak.export import order_grid, patch_labels, patches_geojson, write_patches_geojson
from fuelbreak.landscape import Landscape
from fuelbreak.landscape.geotiff import read_layer_folder, write_landscape
from tests.test_cli_plan import CRS, TRANSFORM, make_run, run_plan


def geo_land(shape=(30, 40)) -> Landscape:
    land = Landscape.uniform(shape, fuel=102, name="geo")
    return Landscape(land.layers, 30.0, CRS, tuple(TRANSFORM)[:6], "geo")


def test_patches_dissolve_contiguous_cells_and_area_adds_up(tmp_path):
    land = geo_land()
    # A straight line of 5 (placed 1-5), a diagonal line of 3 (6-8, one patch by corners),
    # a 2x2 block (9-12), a lone cell (13).
    cells = [2 * 40 + c for c in range(5)]
    cells += [(10 + k) * 40 + 10 + k for k in range(3)]
    cells += [20 * 40 + 30, 20 * 40 + 31, 21 * 40 + 30, 21 * 40 + 31]
    cells += [28 * 40 + 2]
    labels, n = patch_labels(cells, land.shape)
    assert n == 4
    gj = patches_geojson(land, cells, {"method": "test"})
    feats = gj["features"]
    assert [f["properties"]["patch"] for f in feats] == [1, 2, 3, 4]
    summary = [(p["cells"], p["order_min"], p["order_max"]) for p in (f["properties"] for f in feats)]
    assert summary == [(5, 1, 5), (3, 6, 8), (4, 9, 12), (1, 13, 13)]
    assert [f["geometry"]["type"] for f in feats] == ["Polygon", "MultiPolygon", "Polygon", "Polygon"]
    assert sum(f["properties"]["hectares"] for f in feats) == pytest.approx(13 * 0.09)
    assert gj["properties"]["hectares"] == pytest.approx(13 * 0.09) and gj["properties"]["n_patches"] == 4
    assert gj["properties"]["method"] == "test"
    assert gj["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::5070"
    # Rasterised back onto the tile's grid, the patches are exactly the break cells.
    back = rasterize(
        [(f["geometry"], f["properties"]["patch"]) for f in feats],
        out_shape=land.shape,
        transform=TRANSFORM,
        dtype="int32",
    )
    assert ((back > 0) == (order_grid(cells, land.shape) > 0)).all()
    for f in feats:  # each patch covers the cells of one label, with its placement orders
        orders = order_grid(cells, land.shape)[back == f["properties"]["patch"]]
        assert orders.min() == f["properties"]["order_min"] and orders.max() == f["properties"]["order_max"]


def test_patches_open_with_fiona_in_the_input_crs(tmp_path):
    fiona = pytest.importorskip("fiona")
    land = geo_land()
    rng = np.random.default_rng(0)
    cells = rng.choice(land.n_cells, 60, replace=False)
    path = write_patches_geojson(tmp_path / "p.geojson", land, cells)
    labels, n = patch_labels(cells, land.shape)
    with fiona.open(path) as src:
        assert src.crs.to_epsg() == 5070
        records = list(src)
        left, bottom, right, top = src.bounds
    assert len(records) == n
    assert sum(r["properties"]["cells"] for r in records) == 60
    assert sum(r["properties"]["hectares"] for r in records) == pytest.approx(60 * 0.09)
    t = Affine(*land.transform[:6])
    assert left >= t.c and top <= t.f and right <= t.c + 40 * 30 and bottom >= t.f - 30 * 30


def test_synthetic_tile_patches_use_cell_units():
    land = Landscape.uniform((10, 10), fuel=102, name="syn")
    gj = patches_geojson(land, [0, 1, 11])
    assert "crs" not in gj and gj["properties"]["georeferenced"] is False
    (f,) = gj["features"]
    xy = np.asarray(f["geometry"]["coordinates"][0])
    assert xy[:, 0].min() == 0 and xy[:, 0].max() == 2 and xy[:, 1].max() == 0 and xy[:, 1].min() == -2
    assert patches_geojson(land, [])["features"] == []


def test_plan_on_a_real_landscape_writes_patches_and_a_map(tmp_path, capsys, worcester):
    land = read_layer_folder(worcester).window(200, 150, 160, 200, name="worcester-window")
    tile = write_landscape(land, tmp_path / "w.tif")
    argv = ["--method", "domirank", "--tile", tile, "--budget", "0.02", "--fires", "10"]
    rc, out, err = run_plan(capsys, *argv, "--weather", "dry-windy", "--out", tmp_path / "w")
    assert rc == 0, err
    gj = json.loads((tmp_path / "w.geojson").read_text())
    budget = round(0.02 * land.n_cells)
    assert sum(f["properties"]["cells"] for f in gj["features"]) == budget
    assert gj["properties"]["n_breaks"] == budget and gj["properties"]["weather_source"] == "preset dry-windy"
    assert f"{len(gj['features'])} treatment patches" in out
    with rasterio.open(tmp_path / "w.tif") as src:
        assert src.read(1).sum() == budget and src.crs.to_epsg() == 5070
    with Image.open(tmp_path / "w.png") as im:
        im.load()
        assert im.size[0] > 1000 and im.size[0] > im.size[1]  # two readable panels side by side


@pytest.mark.parametrize("key", ["intensity_north", "burn_probability", "downstream_area"])
def test_visualize_draws_derived_backgrounds(tmp_path, capsys, key):
    from fuelbreak.cli import main

    ckpt = make_run(tmp_path / "run")
    outdir = tmp_path / "viz"
    rc = main(
        ["visualize", "--ckpt", str(ckpt), "--bg-raster-key", key, "--fires", "4", "--outdir", str(outdir)]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"background: {key}" in out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with Image.open(outdir / "fuelbreaks_overlay.png") as im:
            im.load()


def test_derived_layers_match_the_policy_channels():
    from fuelbreak.agents.policy import DQNPolicy
    from fuelbreak.env.observation import CHANNEL_INDEX
    from fuelbreak.fire.scenario import default_weather
    from fuelbreak.landscape.synthetic import synthetic_tile
    from fuelbreak.viz.derived import derived_layers

    land = synthetic_tile(20, 3)
    weather = default_weather()
    layers = derived_layers(land, weather, seed=2)
    obs, _ = DQNPolicy(None, 1).observation_fires(land, weather, seed=2)  # uses no network
    np.testing.assert_allclose(
        np.clip(np.log1p(layers["intensity_north"]) / np.log1p(1e5), 0, 1),
        obs[CHANNEL_INDEX["intensity_north"]],
        atol=1e-5,
    )
    np.testing.assert_allclose(layers["burn_probability"], obs[CHANNEL_INDEX["burn_probability"]], atol=1e-6)
    assert layers["downstream_area"].max() > 0
