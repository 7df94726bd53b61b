"""Planner layers read from files: rasters on the landscape's grid, vectors rasterised, constants; bad input named."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from fuelbreak.errors import InputError
from fuelbreak.landscape.core import Landscape
from fuelbreak.landscape.dataset import SyntheticDataset, load_dataset, write_dataset
from fuelbreak.landscape.geotiff import read_landscape, write_landscape
from fuelbreak.landscape.planner_layers import (
    IGNITION_LENGTH_M,
    IGNITION_PEAK,
    LayeredDataset,
    PlannerLayerSpecs,
    ignition_density,
    parse_spec,
    read_planner_layer,
)

CRS = "EPSG:5070"
ORIGIN_X, ORIGIN_Y = 1833825.0, 2617605.0
TRANSFORM = Affine(30.0, 0.0, ORIGIN_X, 0.0, -30.0, ORIGIN_Y)
H, W = 12, 16


def georef_land(shape=(H, W)) -> Landscape:
    land = Landscape.uniform(shape, name="geo")
    land.crs, land.transform = CRS, tuple(TRANSFORM)[:6]
    return land


def write_raster(path, values, crs=CRS, transform=TRANSFORM, nodata=None):
    values = np.asarray(values, dtype=np.float32)
    profile = dict(driver="GTiff", height=values.shape[0], width=values.shape[1], count=1, dtype="float32")
    if crs is not None:
        profile.update(crs=crs, transform=transform)
    if nodata is not None:
        profile["nodata"] = nodata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(values, 1)
    return path


def cell_centre(row, col, transform=TRANSFORM):
    return transform @ (col + 0.5, row + 0.5)


def write_geojson(path, features, crs_name=None):
    data = {"type": "FeatureCollection", "features": features}
    if crs_name:
        data["crs"] = {"type": "name", "properties": {"name": crs_name}}
    path.write_text(json.dumps(data))
    return path


def point(x, y, **props):
    return {"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": [x, y]}}


def box(x0, y0, x1, y1, **props):
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


# ----------------------------------------------------------------------------- rasters


def test_an_aligned_raster_is_read_cell_for_cell(tmp_path):
    values = np.arange(H * W, dtype=np.float32).reshape(H, W)
    path = write_raster(tmp_path / "v.tif", values)
    land = PlannerLayerSpecs.from_texts(value=str(path)).attach(georef_land())
    np.testing.assert_array_equal(land.planner_layer("value"), values)
    assert land.cell_values[3, 4] == values[3, 4]


def test_a_raster_of_a_larger_grid_serves_the_window_it_covers(tmp_path):
    big = np.arange(30 * 40, dtype=np.float32).reshape(30, 40)
    shifted = Affine(30.0, 0.0, ORIGIN_X - 5 * 30.0, 0.0, -30.0, ORIGIN_Y + 7 * 30.0)  # land at row 7, col 5
    path = write_raster(tmp_path / "big.tif", big, transform=shifted)
    layer = read_planner_layer(parse_spec("cost", str(path)), georef_land())
    np.testing.assert_array_equal(layer, big[7 : 7 + H, 5 : 5 + W])


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"crs": "EPSG:32618"}, ["CRS", "EPSG:32618", "EPSG:5070", "never resamples"]),
        ({"transform": Affine(30.0, 0, ORIGIN_X + 15.0, 0, -30.0, ORIGIN_Y)}, ["transform", "offset"]),
        ({"transform": Affine(10.0, 0, ORIGIN_X, 0, -10.0, ORIGIN_Y)}, ["cell size"]),
        ({"shape": (H - 2, W)}, ["shape", "does not cover"]),
        ({"crs": None}, ["no geo-reference"]),
    ],
)
def test_a_misaligned_raster_is_an_error_naming_the_file_and_what_differs(tmp_path, kwargs, words):
    shape = kwargs.pop("shape", (H, W))
    path = write_raster(tmp_path / "bad.tif", np.ones(shape), **kwargs)
    with pytest.raises(InputError) as exc:
        PlannerLayerSpecs.from_texts(value=str(path)).attach(georef_land())
    text = str(exc.value)
    assert "--values" in text and str(path) in text
    for word in words:
        assert word in text


@pytest.mark.parametrize(
    ("bad", "nodata", "words"),
    [(np.nan, None, ["NaN", "row 2, col 3"]), (-4.0, None, ["negative", "-4"]), (-9999.0, -9999.0, ["no-data"])],
)
def test_nan_negative_and_nodata_cells_are_errors_naming_the_file(tmp_path, bad, nodata, words):
    values = np.ones((H, W), dtype=np.float32)
    values[2, 3] = bad
    path = write_raster(tmp_path / "bad.tif", values, nodata=nodata)
    with pytest.raises(InputError) as exc:
        PlannerLayerSpecs.from_texts(cost=str(path)).attach(georef_land())
    assert "--cost" in str(exc.value) and str(path) in str(exc.value)
    for word in words:
        assert word in str(exc.value)


def test_an_exclusion_raster_holds_0_and_1_only(tmp_path):
    mask = np.zeros((H, W))
    mask[:3] = 1
    ok = write_raster(tmp_path / "ok.tif", mask)
    land = PlannerLayerSpecs.from_texts(exclude=str(ok)).attach(georef_land())
    assert land.excluded[:3].all() and not land.excluded[3:].any() and not land.treatable[:3].any()
    mask[5, 5] = 2
    bad = write_raster(tmp_path / "bad.tif", mask)
    with pytest.raises(InputError, match=r"--exclude .*bad\.tif holds 2"):
        PlannerLayerSpecs.from_texts(exclude=str(bad)).attach(georef_land())


def test_a_synthetic_tile_takes_rasters_of_its_shape_only(tmp_path):
    land = Landscape.uniform((H, W), name="synth")
    good = write_raster(tmp_path / "good.tif", np.full((H, W), 3.0), crs=None)
    assert (PlannerLayerSpecs.from_texts(value=str(good)).attach(land).planner_layer("value") == 3).all()
    wrong = write_raster(tmp_path / "wrong.tif", np.ones((H, W + 1)), crs=None)
    with pytest.raises(InputError, match=r"wrong\.tif has shape \(12, 17\).*\(12, 16\)"):
        PlannerLayerSpecs.from_texts(value=str(wrong)).attach(land)
    vector = write_geojson(tmp_path / "v.geojson", [point(0.0, 0.0, v=1)])
    with pytest.raises(InputError, match="no geo-reference"):
        PlannerLayerSpecs.from_texts(value=f"{vector}:v").attach(land)


def test_a_multiband_raster_is_refused(tmp_path):
    path = tmp_path / "two.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=H, width=W, count=2, dtype="float32", crs=CRS, transform=TRANSFORM
    ) as ds:
        ds.write(np.ones((2, H, W), dtype=np.float32))
    with pytest.raises(InputError, match="2 bands"):
        PlannerLayerSpecs.from_texts(value=str(path)).attach(georef_land())


# ----------------------------------------------------------------------------- vectors


def test_points_with_a_value_attribute_land_in_their_cells_and_add_up(tmp_path):
    features = [
        point(*cell_centre(2, 3), worth=5.0),
        point(*cell_centre(2, 3), worth=2.0),  # same cell: adds
        point(*cell_centre(9, 14), worth=7.5),
        point(ORIGIN_X - 1e4, ORIGIN_Y, worth=100.0),  # off the landscape
    ]
    path = write_geojson(tmp_path / "places.geojson", features, "urn:ogc:def:crs:EPSG::5070")
    layer = PlannerLayerSpecs.from_texts(value=f"{path}:worth").attach(georef_land()).planner_layer("value")
    expected = np.zeros((H, W), dtype=np.float32)
    expected[2, 3], expected[9, 14] = 7.0, 7.5
    np.testing.assert_array_equal(layer, expected)


def test_polygons_are_reprojected_and_give_their_value_to_the_cells_they_cover(tmp_path):
    from rasterio.warp import transform as warp

    # Rows 4-6, cols 2-5 in the landscape's CRS, written in WGS 84 (GeoJSON's default).
    x0, y0 = TRANSFORM @ (2, 7)
    x1, y1 = TRANSFORM @ (6, 4)
    xs, ys = warp(CRS, "EPSG:4326", [x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])
    ring = [[x, y] for x, y in zip(xs, ys, strict=True)]
    feature = {"type": "Feature", "properties": {"v": 3}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    path = write_geojson(tmp_path / "area.geojson", [feature])
    layer = PlannerLayerSpecs.from_texts(value=f"{path}:v").attach(georef_land()).planner_layer("value")
    expected = np.zeros((H, W))
    expected[4:7, 2:6] = 3.0
    np.testing.assert_array_equal(layer, expected)


def test_exclusion_polygons_mask_the_cells_they_cover(tmp_path):
    x0, y0 = TRANSFORM @ (0, 3)
    x1, y1 = TRANSFORM @ (4, 0)
    path = write_geojson(tmp_path / "wild.geojson", [box(x0, y0, x1, y1)], "urn:ogc:def:crs:EPSG::5070")
    land = PlannerLayerSpecs.from_texts(exclude=str(path)).attach(georef_land())
    assert land.excluded[:3, :4].all() and land.excluded.sum() == 12


def test_roads_give_an_ignition_density_decaying_with_distance(tmp_path):
    # A road along row 0 (a line through the cell centres).
    line = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "LineString", "coordinates": [cell_centre(0, 0), cell_centre(0, W - 1)]},
    }
    path = write_geojson(tmp_path / "roads.geojson", [line], "urn:ogc:def:crs:EPSG::5070")
    layer = PlannerLayerSpecs.from_texts(ignition=str(path)).attach(georef_land()).planner_layer("ignition")
    d = np.arange(H) * 30.0
    expected = 1 + IGNITION_PEAK * np.exp(-d / IGNITION_LENGTH_M)
    np.testing.assert_allclose(layer[:, 5], expected, rtol=1e-6)
    assert (np.diff(layer[:, 5]) < 0).all()


def test_ignition_density_without_source_is_uniform():
    assert (ignition_density(np.zeros((3, 3), bool), 30.0) == 1).all()


@pytest.mark.parametrize(
    ("props", "words"),
    [
        ({"v": -1.0}, ["feature 0", "negative"]),
        ({"v": "lots"}, ["feature 0", "'lots'", "not a number"]),
        ({"v": None}, ["feature 0", "not a number"]),
        ({"w": 1.0}, ["no attribute 'v'", "w"]),
    ],
)
def test_bad_vector_values_are_errors_naming_the_file(tmp_path, props, words):
    path = write_geojson(tmp_path / "bad.geojson", [point(*cell_centre(1, 1), **props)], "urn:ogc:def:crs:EPSG::5070")
    with pytest.raises(InputError) as exc:
        PlannerLayerSpecs.from_texts(value=f"{path}:v").attach(georef_land())
    assert str(path) in str(exc.value) and "--values" in str(exc.value)
    for word in words:
        assert word in str(exc.value)


def test_a_vector_file_off_the_landscape_is_an_error(tmp_path):
    # Points given in metres but declared WGS 84 (a CRS mistake): nothing falls on the landscape.
    path = write_geojson(tmp_path / "far.geojson", [point(10.0, 20.0, v=1)])
    with pytest.raises(InputError, match=r"none of its 1 feature\(s\) falls on landscape"):
        PlannerLayerSpecs.from_texts(value=f"{path}:v").attach(georef_land())


# ----------------------------------------------------------------------------- specs


def test_specs_parse_paths_attributes_and_constants(tmp_path):
    path = write_geojson(tmp_path / "p.geojson", [point(0, 0, v=1)])
    assert parse_spec("value", f"{path}:v").attribute == "v"
    assert parse_spec("value", str(path)).attribute is None
    assert parse_spec("cost", "250").constant == 250.0
    land = PlannerLayerSpecs.from_texts(cost="2.5").attach(Landscape.uniform((4, 5)))
    assert (land.planner_layer("cost") == 2.5).all()
    with pytest.raises(InputError, match="--cost -3"):
        parse_spec("cost", "-3")
    with pytest.raises(InputError, match="--values 12: no such file"):
        parse_spec("value", "12")
    with pytest.raises(InputError, match=r"--values .*missing\.tif: no such file"):
        parse_spec("value", str(tmp_path / "missing.tif"))
    with pytest.raises(InputError, match="takes no attribute"):
        parse_spec("exclude", f"{path}:v")


# ----------------------------------------------------------------------------- storage


def test_tile_files_and_datasets_keep_planner_layers(tmp_path):
    tiles = [SyntheticDataset(3, 12, 4, planner_layers=True)[i] for i in range(3)]
    write_landscape(tiles[0], tmp_path / "t.tif")
    back = read_landscape(tmp_path / "t.tif")
    for key in tiles[0].layers:
        np.testing.assert_array_equal(back[key], tiles[0][key])
    write_dataset(tiles, tmp_path / "ds", source="synthetic", seed=4, progress=False)
    ds = load_dataset(tmp_path / "ds")
    assert ds.manifest["planner_layers"] == ["value", "ignition", "cost", "exclude"]
    np.testing.assert_array_equal(ds[2]["exclude"], tiles[2]["exclude"])


def test_old_datasets_without_planner_layers_still_load(tmp_path):
    tiles = [SyntheticDataset(2, 10, 1)[i] for i in range(2)]
    write_dataset(tiles, tmp_path / "ds", source="synthetic", seed=1, progress=False)
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["planner_layers"] == []
    del manifest["planner_layers"]  # as written before planner layers existed
    (tmp_path / "ds" / "manifest.json").write_text(json.dumps(manifest))
    tile = load_dataset(tmp_path / "ds")[1]
    assert tile.planner_layer("value") is None and set(tile.layers) == set(tiles[1].layers)


def test_a_dataset_whose_tile_lost_a_listed_layer_is_an_error(tmp_path):
    tiles = [SyntheticDataset(2, 10, 1, planner_layers=True)[i] for i in range(2)]
    write_dataset(tiles, tmp_path / "ds", source="synthetic", progress=False)
    write_landscape(tiles[1].without_planner_layers(), tmp_path / "ds" / "tile_00001.tif")
    with pytest.raises(InputError, match="lacks planner layer"):
        load_dataset(tmp_path / "ds")[1]
    with pytest.raises(InputError, match="planner layers"):
        write_dataset([tiles[0], tiles[1].without_planner_layers()], tmp_path / "mixed", source="x", progress=False)


def test_a_layered_dataset_attaches_layers_to_every_tile(tmp_path):
    path = write_raster(tmp_path / "v.tif", np.full((10, 10), 2.0), crs=None)
    ds = LayeredDataset(SyntheticDataset(4, 10, 0), PlannerLayerSpecs.from_texts(value=str(path)))
    assert len(ds) == 4 and ds.tile_shape == (10, 10) and ds.manifest["source"] == "synthetic"
    assert (ds[3].planner_layer("value") == 2).all()
    import pickle

    assert (pickle.loads(pickle.dumps(ds))[0].planner_layer("value") == 2).all()


# ----------------------------------------------------------------------------- commands


def test_data_cost_writes_slope_and_road_distance_on_the_tile_grid(tmp_path):
    from fuelbreak.cli import main

    land = Landscape.uniform((H, W), slope=20.0, name="geo")
    land.crs, land.transform = CRS, tuple(TRANSFORM)[:6]
    write_landscape(land, tmp_path / "tile.tif")
    road = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "LineString", "coordinates": [cell_centre(r, 0) for r in (0, H - 1)]},
    }  # along column 0
    roads = write_geojson(tmp_path / "roads.geojson", [road], "urn:ogc:def:crs:EPSG::5070")
    out = tmp_path / "cost.tif"
    assert main(["data", "cost", "--tile", str(tmp_path / "tile.tif"), "--roads", str(roads), "--out", str(out)]) == 0
    with rasterio.open(out) as ds:
        assert ds.crs == rasterio.crs.CRS.from_user_input(CRS) and ds.transform == TRANSFORM
        cost = ds.read(1)
    expected = 1 + 3 * np.tan(np.radians(20.0)) + np.arange(W) * 30.0 / 1000.0
    np.testing.assert_allclose(cost, np.broadcast_to(expected, (H, W)), rtol=1e-5)
    # The raster it writes is a --cost layer as it stands.
    attached = PlannerLayerSpecs.from_texts(cost=str(out)).attach(read_landscape(tmp_path / "tile.tif"))
    np.testing.assert_array_equal(attached.planner_layer("cost"), cost)


def test_data_synth_writes_planner_layers_unless_told_not_to(tmp_path):
    from fuelbreak.cli import main

    assert main(["data", "synth", "--n", "2", "--size", "10", "--out", str(tmp_path / "a")]) == 0
    ds = load_dataset(tmp_path / "a")
    assert ds.manifest["planner_layers"] == ["value", "ignition", "cost", "exclude"]
    expected = SyntheticDataset(2, 10, 0, planner_layers=True)[1]
    for key in expected.layers:
        np.testing.assert_array_equal(ds[1][key], expected[key])
    assert main(["data", "synth", "--n", "1", "--size", "10", "--no-planner-layers", "--out", str(tmp_path / "b")]) == 0
    assert load_dataset(tmp_path / "b").manifest["planner_layers"] == []
    assert load_dataset(tmp_path / "b")[0].planner_layer("value") is None
