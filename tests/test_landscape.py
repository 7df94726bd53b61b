"""Landscape validation, bounding-box crops and tiling."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.warp import transform as warp_transform
from rasterio.warp import transform_bounds

from fuelbreak.errors import ConfigError, InputError
from fuelbreak.landscape import (
    LAYERS,
    Landscape,
    crop_bbox,
    cut_tiles,
    read_layer_folder,
    synthetic_tile,
    tile_windows,
)

# The fake LANDFIRE grid of conftest: 30 m cells in CONUS Albers over Worcester, Vermont.
TRANSFORM = (30.0, 0.0, 1833825.0, 0.0, -30.0, 2617605.0)


def georeferenced(shape=(40, 60), seed=0) -> Landscape:
    """A synthetic landscape placed on the fake LANDFIRE grid (EPSG:5070, 30 m)."""
    tile = synthetic_tile(size=max(shape), seed=seed)
    layers = {k: v[: shape[0], : shape[1]] for k, v in tile.layers.items()}
    return Landscape(layers, 30.0, "EPSG:5070", TRANSFORM, "geo").validate()


# --- validation -------------------------------------------------------------------------------


def test_missing_layer():
    layers = dict(Landscape.uniform((5, 5)).layers)
    del layers["cbh"]
    with pytest.raises(InputError, match="missing layer.*cbh"):
        Landscape(layers).validate()


def test_shape_mismatch():
    land = Landscape.uniform((5, 5))
    land.layers["cc"] = np.zeros((5, 4), dtype=np.float32)
    with pytest.raises(InputError, match=r"layer 'cc'.*shape \(5, 4\)"):
        land.validate()


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_inf(value):
    land = Landscape.uniform((5, 5))
    land.layers["dem"][2, 3] = value
    with pytest.raises(InputError, match=r"layer 'dem'.*NaN or infinite.*row 2, col 3"):
        land.validate()


@pytest.mark.parametrize("code", [0, 100, 110, 150, 32767, -9999])
def test_unknown_fuel_code(code):
    land = Landscape.uniform((5, 5))
    land.layers["fbfm"][0, 0] = code
    with pytest.raises(InputError, match=rf"unknown fuel code.*{code}"):
        land.validate()


@pytest.mark.parametrize(
    ("key", "value"), [("slp", 91.0), ("asp", -5.0), ("cc", 101.0), ("cbd", 3.0), ("ch", -1.0)]
)
def test_out_of_range(key, value):
    land = Landscape.uniform((5, 5))
    land.layers[key][1, 1] = value
    with pytest.raises(InputError, match=rf"layer '{key}'.*outside"):
        land.validate()


def test_valid_landscape_passes():
    land = Landscape.uniform((5, 5), fuel=165, slope=20, aspect=90, cc=60, ch=20, cbh=3, cbd=0.1)
    assert land.validate() is land


# --- tiling -----------------------------------------------------------------------------------


def test_tile_windows_counts_and_positions():
    assert tile_windows((100, 100), 50, 25) == [(r, c) for r in (0, 25, 50) for c in (0, 25, 50)]
    assert tile_windows((100, 120), 50, 0) == [(0, 0), (0, 50), (50, 0), (50, 50)]
    assert len(tile_windows((613, 549), 50, 25)) == 23 * 20  # only full tiles
    assert tile_windows((40, 60), 50, 25) == []
    with pytest.raises(ConfigError, match="overlap"):
        tile_windows((100, 100), 50, 50)
    with pytest.raises(ConfigError, match="size"):
        tile_windows((100, 100), 0, 0)


def test_cut_tiles_keep_georeference_and_offsets():
    land = georeferenced((40, 60))
    tiles = cut_tiles(land, size=20, overlap=10)
    assert len(tiles) == 3 * 5
    a, b, c, d, e, f = land.transform
    for tile in tiles:
        r, col = tile.meta["row_offset"], tile.meta["col_offset"]
        assert tile.shape == (20, 20) and tile.crs == land.crs
        assert tile.transform == (a, b, c + col * a, d, e, f + r * e)
        for key in LAYERS:
            np.testing.assert_array_equal(tile[key], land[key][r : r + 20, col : col + 20])
        assert tile.name == f"geo_r{r:05d}_c{col:05d}"
    assert [(t.meta["row_offset"], t.meta["col_offset"]) for t in tiles] == tile_windows((40, 60), 20, 10)


def test_cut_tiles_skips_mostly_nodata(landfire_dir):
    folder, _, nodata = landfire_dir  # no-data in the top-left 10 x 10 block
    land = read_layer_folder(folder)
    kept = cut_tiles(land, size=10, overlap=5, max_nodata_fraction=0.5)
    assert len(kept) == 7 * 11 - 1  # the all-no-data corner tile goes
    partial = {(t.meta["row_offset"], t.meta["col_offset"]): t for t in kept if t.meta["nodata_fraction"] > 0}
    assert {k: t.meta["nodata_fraction"] for k, t in partial.items()} == {
        (0, 5): 0.5,
        (5, 0): 0.5,
        (5, 5): 0.25,
    }
    for (r, c), t in partial.items():
        np.testing.assert_array_equal(t.meta["nodata_mask"], nodata[r : r + 10, c : c + 10])
        assert (t["fbfm"][t.meta["nodata_mask"]] == 91).all()
    strict = cut_tiles(land, size=10, overlap=5, max_nodata_fraction=0.3)
    assert len(strict) == 7 * 11 - 3
    assert [t.meta["nodata_fraction"] for t in strict if t.meta["nodata_fraction"] > 0] == [0.25]


def test_cut_tiles_skips_unburnable_tiles():
    land = georeferenced((20, 40))
    land.layers["fbfm"][:, :20] = 98
    for key in ("cc", "ch", "cbh", "cbd"):
        land.layers[key][:, :20] = 0
    tiles = cut_tiles(land, size=20, overlap=0)
    assert [t.meta["col_offset"] for t in tiles] == [20]
    share = float(tiles[0].burnable.mean())
    assert len(cut_tiles(land, size=20, overlap=0, min_burnable_fraction=share)) == 1
    assert (
        cut_tiles(land, size=20, overlap=0, min_burnable_fraction=min(1.0, share + 0.01)) == []
        or share == 1.0
    )


def test_crop_bbox_to_lonlat_box():
    land = georeferenced((40, 60))
    a, _, c, _, e, f = land.transform
    # The box of cells rows 10-19, cols 20-39, in lon/lat (shrunk a little so edges fall inside cells).
    left, top = c + 20 * a + 1, f + 10 * e - 1
    right, bottom = c + 40 * a - 1, f + 20 * e + 1
    lon_min, lat_min, lon_max, lat_max = transform_bounds("EPSG:5070", "EPSG:4326", left, bottom, right, top)
    crop = crop_bbox(land, lon_min, lat_min, lon_max, lat_max)
    # The lon/lat box is a bit larger than the projected one, never smaller.
    r, col = crop.meta["row_offset"], crop.meta["col_offset"]
    assert r <= 10 and col <= 20 and r + crop.shape[0] >= 20 and col + crop.shape[1] >= 40
    # ...and as large as the lon/lat box's outline projected onto the grid (meridians converge ~17
    # degrees here, so it is much larger than 10 x 20), to a cell.
    t = np.linspace(0.0, 1.0, 50)
    lons = np.concatenate(
        [
            lon_min + (lon_max - lon_min) * t,
            np.full(50, lon_max),
            lon_min + (lon_max - lon_min) * t,
            np.full(50, lon_min),
        ]
    )
    lats = np.concatenate(
        [
            np.full(50, lat_min),
            lat_min + (lat_max - lat_min) * t,
            np.full(50, lat_max),
            lat_min + (lat_max - lat_min) * t,
        ]
    )
    xs, ys = warp_transform("EPSG:4326", "EPSG:5070", lons, lats)
    expect_rows = ((f - max(ys)) / -e, (f - min(ys)) / -e)
    expect_cols = ((min(xs) - c) / a, (max(xs) - c) / a)
    assert abs(r - np.floor(expect_rows[0])) <= 1 and abs(r + crop.shape[0] - np.ceil(expect_rows[1])) <= 1
    assert (
        abs(col - np.floor(expect_cols[0])) <= 1 and abs(col + crop.shape[1] - np.ceil(expect_cols[1])) <= 1
    )
    np.testing.assert_array_equal(crop["dem"], land["dem"][r : r + crop.shape[0], col : col + crop.shape[1]])
    assert crop.transform == (a, 0.0, c + col * a, 0.0, e, f + r * e)
    # Tiles of a crop record offsets in the source raster.
    tiles = cut_tiles(crop, size=5, overlap=0)
    assert tiles[0].meta["row_offset"] == r and tiles[0].meta["col_offset"] == col


def test_crop_bbox_clips_to_raster_and_errors():
    land = georeferenced((40, 60))
    whole = crop_bbox(land, -80, 40, -65, 50)  # much larger than the raster
    assert whole.shape == land.shape and whole.transform == land.transform
    with pytest.raises(InputError, match="does not intersect"):
        crop_bbox(land, 10.0, 45.0, 11.0, 46.0)
    with pytest.raises(ConfigError, match="LON_MIN LAT_MIN LON_MAX LAT_MAX"):
        crop_bbox(land, -72.5, 44.4, -72.6, 44.5)
    with pytest.raises(InputError, match="no CRS"):
        crop_bbox(synthetic_tile(10, 0), -72.6, 44.4, -72.5, 44.5)


def test_crop_and_tile_real_sample(worcester):
    land = read_layer_folder(worcester)
    crop = crop_bbox(land, -72.6, 44.35, -72.5, 44.45)
    assert 0 < crop.shape[0] < land.shape[0] and 0 < crop.shape[1] < land.shape[1]
    tiles = cut_tiles(land, 50, 25, max_nodata_fraction=0.5)
    assert 300 <= len(tiles) <= 460
    assert all(t.meta["nodata_fraction"] <= 0.5 for t in tiles)
    t = tiles[len(tiles) // 2]
    x0, y0 = Affine(*t.transform) @ (0, 0)
    assert (x0, y0) == Affine(*land.transform) @ (t.meta["col_offset"], t.meta["row_offset"])
