"""GeoTIFF reading (plain and LANDFIRE names, scalings, no-data, grid checks) and tile files."""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path as P

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS as RioCRS

from fuelbreak.errors import InputError
from fuelbreak.landscape import (
    LAYERS,
    Landscape,
    read_landscape,
    read_layer_folder,
    synthetic_tile,
    write_landscape,
)
from fuelbreak.landscape.geotiff import classify, find_layer_files

PLAIN_NAMES = {
    "dem": "dem.tif",
    "slp": "slp.tif",
    "asp": "asp.tif",
    "fbfm": "fbfm40.tif",
    "cc": "cc.tif",
    "ch": "ch.tif",
    "cbh": "cbh.tif",
    "cbd": "cbd.tif",
}


def write_plain(geo, folder, layers: dict[str, np.ndarray], names=PLAIN_NAMES, **kw):
    folder.mkdir(exist_ok=True)
    for key, name in names.items():
        geo.write_tif(folder / name, layers[key], **kw)
    return folder


def simple_layers(shape=(8, 10)) -> dict[str, np.ndarray]:
    """Stored-unit layers of a small flat-ish grass-and-timber grid (int16, LANDFIRE scalings)."""
    h, w = shape
    fuel = np.full(shape, 102, dtype=np.int16)
    fuel[:, w // 2 :] = 165
    canopy = fuel == 165
    return {
        "dem": (300 + np.arange(w) * 3 + np.zeros((h, 1))).astype(np.int16),
        "slp": np.full(shape, 10, dtype=np.int16),
        "asp": np.full(shape, 270, dtype=np.int16),
        "fbfm": fuel,
        "cc": np.where(canopy, 60, 0).astype(np.int16),
        "ch": np.where(canopy, 200, 0).astype(np.int16),
        "cbh": np.where(canopy, 25, 0).astype(np.int16),
        "cbd": np.where(canopy, 12, 0).astype(np.int16),
    }


def test_classify_names():
    assert classify(P("LC20_SlpP_220.tif")) == ("slp", "percent")
    assert classify(P("LC20_SlpD_220.tif")) == ("slp", "degrees")
    assert classify(P("LC22_F40_230.tif")) == ("fbfm", "degrees")
    assert classify(P("LC22_F13_230.tif")) is None
    assert classify(P("fbfm.tif"))[0] == "fbfm"
    assert classify(P("FBFM40.TIF"))[0] == "fbfm"
    assert classify(P("dem.txt")) is None
    assert classify(P("README.tif")) is None


def test_landfire_folder_names_and_scalings(landfire_dir, geo):
    folder, stored, nodata = landfire_dir
    land = read_layer_folder(folder)
    ok = ~nodata
    assert land.shape == (40, 60)
    assert land.cell_size == 30.0
    assert RioCRS.from_user_input(land.crs) == RioCRS.from_user_input(geo.crs)
    assert land.transform == tuple(geo.transform)[:6]
    np.testing.assert_allclose(land["ch"][ok], stored["ch"][ok] / 10, rtol=1e-6)
    np.testing.assert_allclose(land["cbh"][ok], stored["cbh"][ok] / 10, rtol=1e-6)
    np.testing.assert_allclose(land["cbd"][ok], stored["cbd"][ok] / 100, rtol=1e-6)
    np.testing.assert_allclose(land["cc"][ok], stored["cc"][ok])
    np.testing.assert_allclose(land["dem"][ok], stored["dem"][ok])
    np.testing.assert_array_equal(land["fbfm"][ok], stored["fbfm"][ok])
    expected_slope = np.degrees(np.arctan(stored["slp"] / 100.0))
    np.testing.assert_allclose(land["slp"][ok], expected_slope[ok], atol=1e-4)
    assert land.meta["files"]["fbfm"].endswith("LC22_F40_230.tif")  # F13 ignored
    assert land.meta["slope_units"] == {"slp": "percent"}
    assert land.meta["scalings"]["cbd"] == 0.01


def test_nodata_made_nonburnable_and_reported(landfire_dir, caplog):
    folder, stored, nodata = landfire_dir
    with caplog.at_level(logging.WARNING, logger="fuelbreak.landscape.geotiff"):
        land = read_layer_folder(folder)
    assert land.meta["nodata"] == {k: 100 for k in LAYERS}
    assert land.meta["nodata_cells"] == 100
    np.testing.assert_array_equal(land.meta["nodata_mask"], nodata)
    assert (land["fbfm"][nodata] == 91).all()
    for key in ("cc", "ch", "cbh", "cbd", "slp", "asp"):
        assert (land[key][nodata] == 0).all(), key
    assert not land.burnable[nodata].any()
    # Elevation under no-data comes from the nearest valid cells, so it lies within their range.
    valid_dem = stored["dem"][~nodata]
    assert valid_dem.min() <= land["dem"][nodata].min() and land["dem"][nodata].max() <= valid_dem.max()
    assert "100 of 2400 cells have no data" in caplog.text
    assert "made non-burnable" in caplog.text


def test_nodata_in_one_layer_only(tmp_path, geo):
    layers = simple_layers()
    layers["cbd"] = layers["cbd"].copy()
    layers["cbd"][2, 7] = -9999
    folder = tmp_path / "f"
    folder.mkdir()
    for key, name in PLAIN_NAMES.items():
        geo.write_tif(folder / name, layers[key], nodata=-9999 if key == "cbd" else None)
    land = read_layer_folder(folder)
    assert land.meta["nodata"]["cbd"] == 1 and land.meta["nodata"]["dem"] == 0
    assert land["fbfm"][2, 7] == 91 and land["cc"][2, 7] == 0
    assert land["dem"][2, 7] == layers["dem"][2, 7]  # elevation had data there: kept


def test_flat_aspect_gets_zero_slope(tmp_path, geo):
    layers = simple_layers()
    layers["asp"][1:3, 1:3] = -1
    layers["slp"][1:3, 1:3] = 3  # LANDFIRE has small slopes under flat aspect
    land = read_layer_folder(write_plain(geo, tmp_path / "f", layers))
    assert (land["asp"][1:3, 1:3] == 0).all()
    assert (land["slp"][1:3, 1:3] == 0).all()
    assert land.meta["flat_cells"] == 4
    assert (land["slp"][5:, 5:] > 0).all()


def test_plain_names_slope_in_degrees_and_landfire_scalings(tmp_path, geo):
    layers = simple_layers()
    land = read_layer_folder(write_plain(geo, tmp_path / "f", layers))
    assert np.allclose(land["slp"], 10.0)  # degrees, unconverted
    assert np.allclose(land["ch"].max(), 20.0) and np.allclose(land["cbd"].max(), 0.12)
    assert read_layer_folder(tmp_path / "f", slope_units="percent")["slp"].max() == pytest.approx(
        5.7106, abs=1e-3
    )


def test_fbfm_tif_name_and_slpd(tmp_path, geo):
    layers = simple_layers()
    names = dict(geo.names, slp="LC20_SlpD_220.tif", fbfm="fbfm.tif")
    land = read_layer_folder(write_plain(geo, tmp_path / "f", layers, names=names))
    assert np.allclose(land["slp"], 10.0)


def test_scaling_override(tmp_path, geo):
    layers = simple_layers()
    layers["ch"] = np.where(layers["fbfm"] == 165, 20, 0).astype(np.int16)  # already in m
    land = read_layer_folder(write_plain(geo, tmp_path / "f", layers), scalings={"ch": 1.0})
    assert land["ch"].max() == 20.0
    assert land.meta["scalings"]["ch"] == 1.0
    with pytest.raises(InputError, match="unknown layer 'xx'"):
        read_layer_folder(tmp_path / "f", scalings={"xx": 1.0})


def test_user_mapping_overrides_detected_file(tmp_path, geo):
    layers = simple_layers()
    folder = write_plain(geo, tmp_path / "f", layers)
    alt = layers["fbfm"].copy()
    alt[:] = 101
    geo.write_tif(tmp_path / "other_fuel.tif", alt)
    land = read_layer_folder(folder, layers={"fbfm": tmp_path / "other_fuel.tif"})
    assert (land["fbfm"] == 101).all()
    # Relative paths are taken inside the folder; a mapping alone (no folder) works too.
    geo.write_tif(folder / "my_slope.tif", layers["slp"] * 2)
    assert np.allclose(read_layer_folder(folder, layers={"slp": "my_slope.tif"})["slp"], 20.0)
    full = {k: folder / n for k, n in PLAIN_NAMES.items()}
    assert read_layer_folder(None, layers=full).shape == (8, 10)
    with pytest.raises(InputError, match="nope.tif"):
        read_layer_folder(folder, layers={"cc": "nope.tif"})


def test_missing_layer_and_ambiguous_files(tmp_path, geo):
    layers = simple_layers()
    folder = write_plain(geo, tmp_path / "f", layers)
    (folder / "cbh.tif").unlink()
    with pytest.raises(InputError, match=r"no file for layer\(s\) cbh in .*f"):
        read_layer_folder(folder)
    geo.write_tif(folder / "cbh.tif", layers["cbh"])
    geo.write_tif(folder / "fbfm.tif", layers["fbfm"])  # fbfm40.tif is there too
    with pytest.raises(InputError, match="fbfm.tif and fbfm40.tif|fbfm40.tif and fbfm.tif"):
        read_layer_folder(folder)
    with pytest.raises(InputError, match="does not exist"):
        read_layer_folder(tmp_path / "absent")


def test_grid_mismatch_names_the_file(tmp_path, geo):
    layers = simple_layers()
    folder = write_plain(geo, tmp_path / "f", layers)
    geo.write_tif(folder / "cc.tif", layers["cc"], crs="EPSG:32618")
    with pytest.raises(InputError, match=r"cc\.tif.*CRS"):
        read_layer_folder(folder)
    geo.write_tif(folder / "cc.tif", layers["cc"][:, :9])
    with pytest.raises(InputError, match=r"cc\.tif.*shape \(8, 9\)"):
        read_layer_folder(folder)
    geo.write_tif(folder / "cc.tif", layers["cc"], transform=geo.transform @ Affine.translation(1, 0))
    with pytest.raises(InputError, match=r"cc\.tif.*transform"):
        read_layer_folder(folder)


def test_unknown_fuel_code_names_file_and_code(tmp_path, geo):
    layers = simple_layers()
    layers["fbfm"][3, 3] = 150
    with pytest.raises(InputError, match=r"fbfm40\.tif.*unknown fuel code.*150"):
        read_layer_folder(write_plain(geo, tmp_path / "f", layers))


def test_undeclared_nodata_value_is_an_error(tmp_path, geo):
    layers = simple_layers()
    layers["fbfm"][3, 3] = 32767  # no-data value not declared in the file
    with pytest.raises(InputError, match="32767"):
        read_layer_folder(write_plain(geo, tmp_path / "f", layers))


def test_out_of_range_value_names_file(tmp_path, geo):
    layers = simple_layers()
    layers["cc"][0, 9] = 150
    with pytest.raises(InputError, match=r"cc\.tif.*outside \[0, 100\]"):
        read_layer_folder(write_plain(geo, tmp_path / "f", layers))


def test_nodata_everywhere_is_an_error(tmp_path, geo):
    layers = {k: np.full((4, 4), -9999, dtype=np.int16) for k in LAYERS}
    with pytest.raises(InputError, match="no cell has data"):
        read_layer_folder(write_plain(geo, tmp_path / "f", layers, nodata=-9999))


def test_round_trip_keeps_crs_transform_values(landfire_dir, tmp_path):
    land = read_layer_folder(landfire_dir[0])
    path = write_landscape(land, tmp_path / "tiles" / "t.tif")
    back = read_landscape(path)
    assert back.crs is not None and RioCRS.from_wkt(back.crs) == RioCRS.from_wkt(land.crs)
    assert back.transform == land.transform
    assert back.cell_size == land.cell_size and back.name == land.name
    for key in LAYERS:
        np.testing.assert_array_equal(back[key], land[key])
    np.testing.assert_array_equal(back.meta["nodata_mask"], land.meta["nodata_mask"])
    assert back.meta["scalings"] == land.meta["scalings"]
    assert [p.name for p in path.parent.iterdir()] == ["t.tif"]  # no temp file left behind


def test_synthetic_round_trip_without_georeference(tmp_path):
    tile = synthetic_tile(size=20, seed=4, cell_size=25.0, name="syn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NotGeoreferencedWarning must not escape
        back = read_landscape(write_landscape(tile, tmp_path / "syn.tif"))
    assert back.crs is None and back.transform is None
    assert back.cell_size == 25.0 and back.name == "syn"
    for key in LAYERS:
        np.testing.assert_array_equal(back[key], tile[key])
    assert back.meta == tile.meta


def test_write_refuses_invalid_landscape(tmp_path):
    bad = Landscape.uniform((5, 5))
    bad.layers["cc"][0, 0] = np.nan
    with pytest.raises(InputError, match="cc"):
        write_landscape(bad, tmp_path / "bad.tif")
    assert not list(tmp_path.iterdir())


def test_read_landscape_rejects_per_layer_file(tmp_path, geo):
    path = geo.write_tif(tmp_path / "dem.tif", np.ones((4, 4), dtype=np.int16))
    with pytest.raises(InputError, match=r"dem\.tif.*not a tile"):
        read_landscape(path)
    with pytest.raises(InputError, match="absent.tif"):
        read_landscape(tmp_path / "absent.tif")
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    with pytest.raises(InputError, match="junk.tif"):
        read_landscape(tmp_path / "junk.tif")


def test_real_landfire_sample(worcester, tmp_path, geo):
    files = find_layer_files(worcester)
    assert files["slp"].slope_units == "percent"
    land = read_layer_folder(worcester)
    assert land.shape == (613, 549)
    assert land.meta["nodata_cells"] == 108586
    assert RioCRS.from_wkt(land.crs).to_epsg() == 5070
    assert land["ch"].max() == pytest.approx(27.0) and land["cbd"].max() == pytest.approx(0.45)
    assert land["slp"].max() < 50.0  # 109 % is 47.5 degrees
    assert set(np.unique(land["fbfm"]).astype(int)) <= set(range(91, 100)) | set(range(101, 190))
    # Copying the folder and adding the F13 file's twin changes nothing; a stray plain file would clash.
    copy = tmp_path / "w"
    shutil.copytree(worcester, copy)
    geo.write_tif(
        copy / "fbfm40.tif",
        np.zeros(land.shape, dtype=np.int16),
        crs=land.crs,
        transform=Affine(*land.transform),
    )
    with pytest.raises(InputError, match="look like layer 'fbfm'"):
        read_layer_folder(copy)


def test_landfire_stored_helper_matches_reader(tmp_path, geo):
    # The same tile written the LANDFIRE way reads back close to the original (int16 rounding only).
    tile = synthetic_tile(size=16, seed=2)
    folder = tmp_path / "lf"
    folder.mkdir()
    for key, arr in geo.landfire_stored(tile).items():
        geo.write_tif(folder / geo.names[key], arr)
    land = read_layer_folder(folder)
    np.testing.assert_allclose(land["ch"], tile["ch"], atol=0.051)
    np.testing.assert_allclose(land["cbd"], tile["cbd"], atol=0.0051)
    np.testing.assert_allclose(land["slp"], tile["slp"], atol=0.5)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_per_layer_file_without_georeference_is_an_error(tmp_path, geo):
    layers = simple_layers()
    folder = write_plain(geo, tmp_path / "f", layers)
    geo.write_tif(folder / "asp.tif", layers["asp"], crs=None, transform=Affine.identity())
    with pytest.raises(InputError, match=r"asp\.tif.*no geo-reference"):
        read_layer_folder(folder)


def test_tiff_suffix_and_upper_case_names(tmp_path, geo):
    layers = simple_layers()
    names = {k: n.upper().replace(".TIF", ".tiff") for k, n in PLAIN_NAMES.items()}
    land = read_layer_folder(write_plain(geo, tmp_path / "f", layers, names=names))
    assert land.meta["files"]["fbfm"].endswith("FBFM40.tiff")
