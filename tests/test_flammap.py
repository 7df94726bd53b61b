"""`fuelbreak bench flammap`: fuelbreak's engine against FlamMap's grids on the same landscape.

FlamMap cannot run here, so its outputs are stood in for by fuelbreak's own: the same burn probability
(agreement must be perfect), a perturbed one (agreement must fall), a misaligned or missing file (a
clear error naming it, exit code 2), and an arrival grid written as ESRI ASCII, as FlamMap writes it.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import rasterio
from affine import Affine

from fuelbreak.benchmarks import flammap
from fuelbreak.cli import build_parser, main
from fuelbreak.cli.common import load_tile, weather_from_args
from fuelbreak.errors import ConfigError, InputError
from fuelbreak.export import write_grids_geotiff
from fuelbreak.fire.montecarlo import burn_probability, draw_fires

from .conftest import LANDFIRE_WINDOW

WEATHER = ["--wind-speed", "30", "--wind-direction", "225", "--m1h", "0.03", "--m10h", "0.04", "--m100h", "0.06",
           "--herb", "0.3", "--woody", "0.6", "--duration", "480"]  # fmt: skip
FIRES = 24
IGNITION = (150, 150)


@pytest.fixture(scope="module")
def land_and_weather():
    args = build_parser().parse_args(["bench", "flammap", "--tile", str(LANDFIRE_WINDOW), *WEATHER])
    return load_tile(args), weather_from_args(args)


@pytest.fixture(scope="module")
def own_bp(land_and_weather):
    """fuelbreak's burn probability with the seed and fires the command uses: a perfect stand-in for FlamMap's."""
    land, weather = land_and_weather
    return burn_probability(draw_fires(land, weather, FIRES, 0)).astype(np.float32)


def _bench(tmp_path, bp, *extra: str) -> list[str]:
    return ["bench", "flammap", "--tile", str(LANDFIRE_WINDOW), "--flammap-bp", str(bp), *WEATHER,
            "--fires", str(FIRES), *extra]  # fmt: skip


def test_fuelbreaks_own_burn_probability_agrees_perfectly_and_the_maps_are_written(tmp_path, land_and_weather,
                                                                                   own_bp, capsys):  # fmt: skip
    land, _ = land_and_weather
    bp = write_grids_geotiff(tmp_path / "bp.tif", land, {"burn probability": own_bp})
    assert main(_bench(tmp_path, bp, "--json", "--out", str(tmp_path / "maps" / "diff"))) == 0
    f = json.loads(capsys.readouterr().out)
    assert own_bp.max() > 0 and (own_bp > 0).sum() > 500  # fires big enough to compare
    assert f["bp_pearson"] == pytest.approx(1.0) and f["bp_spearman"] == pytest.approx(1.0)
    assert f["bp_mean_abs_difference"] == 0 and f["footprint_sorensen"] == 1 and f["footprint_jaccard"] == 1
    assert f["bp_cells"] == int(land.burnable.sum()) and f["fires"] == FIRES
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["diff.png", "diff.tif"]
    with rasterio.open(tmp_path / "maps" / "diff.tif") as src:
        assert src.count == 3 and src.transform == Affine(*land.transform[:6]) and src.crs is not None
        assert "difference" in src.descriptions[2]
        assert np.nanmax(np.abs(src.read(3))) == 0


def test_a_perturbed_flammap_map_agrees_less(tmp_path, land_and_weather, own_bp, capsys):
    from scipy import ndimage

    land, _ = land_and_weather
    moved = ndimage.shift(own_bp, (6, -4), order=0)  # the same fires, 6 rows south and 4 columns west
    bp = write_grids_geotiff(tmp_path / "bp.tif", land, {"burn probability": moved})
    assert main(_bench(tmp_path, bp, "--json")) == 0
    f = json.loads(capsys.readouterr().out)
    assert f["bp_pearson"] < 0.9 and f["bp_spearman"] < 0.9
    assert f["bp_mean_abs_difference"] > 0 and f["footprint_sorensen"] < 0.9
    assert f["footprint_jaccard"] < f["footprint_sorensen"]
    assert main(_bench(tmp_path, bp)) == 0  # the Markdown report
    out = capsys.readouterr().out
    assert "| Pearson |" in out and "Sørensen / Jaccard" in out and "arrival" not in out


def test_the_agreement_figures_are_the_textbook_ones():
    ours = np.array([[0.0, 0.2, 0.4], [0.0, 0.6, 0.0]])
    theirs = np.array([[0.0, 0.1, 0.5], [0.3, np.nan, 0.0]])
    burnable = np.array([[True, True, True], [True, True, False]])
    f = flammap.compare_burn_probability(ours, theirs, burnable)
    assert f["bp_cells"] == 4  # a non-burnable cell and FlamMap's no-data cell are left out
    assert f["bp_mean_abs_difference"] == pytest.approx((0 + 0.1 + 0.1 + 0.3) / 4)
    assert f["footprint_sorensen"] == pytest.approx(2 * 2 / (2 + 3)) and f["footprint_jaccard"] == pytest.approx(2 / 3)
    a = np.array([[0.0, 10.0, np.inf], [20.0, 30.0, np.nan]])
    b = np.array([[0.0, 20.0, 40.0], [40.0, np.nan, np.nan]])
    g = flammap.compare_arrival(a, b)
    assert g["arrival_cells_both"] == 3 and g["arrival_pearson"] == pytest.approx(1.0)
    assert g["burned_area_ratio"] == pytest.approx(4 / 4) and g["arrival_jaccard"] == pytest.approx(3 / 5)
    assert math.isnan(flammap.compare_arrival(a, np.full_like(b, np.nan))["burned_area_ratio"])


def test_an_arrival_grid_in_esri_ascii_as_flammap_writes_it(tmp_path, land_and_weather, capsys):
    land, weather = land_and_weather
    engine = draw_fires(land, weather, 1, 0).engines[0]
    arrival = engine.burn(np.array([IGNITION])).arrival[0]
    assert np.isfinite(arrival).sum() > 100
    grid = np.where(np.isfinite(arrival), arrival, -9999.0).astype(np.float32)
    asc = tmp_path / "arrival.asc"
    t = Affine(*land.transform[:6])
    with rasterio.open(asc, "w", driver="AAIGrid", height=grid.shape[0], width=grid.shape[1], count=1,
                       dtype="float32", transform=t, nodata=-9999.0) as dst:  # fmt: skip
        dst.write(grid, 1)
    assert asc.read_text().startswith("ncols")
    bp = write_grids_geotiff(tmp_path / "bp.tif", land, {"bp": np.zeros(land.shape, np.float32)})
    assert main(_bench(tmp_path, bp, "--flammap-arrival", str(asc), "--ignition", "150,150", "--json")) == 0
    f = json.loads(capsys.readouterr().out)
    assert f["arrival_pearson"] == pytest.approx(1.0, abs=1e-6) and f["burned_area_ratio"] == 1.0
    assert f["arrival_sorensen"] == 1.0 and f["burned_cells_flammap"] == np.isfinite(arrival).sum()
    slow = np.where(np.isfinite(arrival) & (arrival < 0.5 * np.nanmax(arrival[np.isfinite(arrival)])), arrival * 2, -9999.0)
    with rasterio.open(asc, "w", driver="AAIGrid", height=grid.shape[0], width=grid.shape[1], count=1,
                       dtype="float32", transform=t, nodata=-9999.0) as dst:  # fmt: skip
        dst.write(slow.astype(np.float32), 1)
    assert main(_bench(tmp_path, bp, "--flammap-arrival", str(asc), "--ignition", "150,150", "--json")) == 0
    g = json.loads(capsys.readouterr().out)
    assert g["burned_area_ratio"] > 1.0 and g["arrival_jaccard"] < 1.0  # FlamMap's fire smaller here


def test_a_misaligned_or_missing_flammap_file_is_a_clear_error_naming_it(tmp_path, land_and_weather, capsys):
    land, _ = land_and_weather
    a = Affine(*land.transform[:6])
    shifted = tmp_path / "shifted.tif"
    with rasterio.open(shifted, "w", driver="GTiff", height=300, width=300, count=1, dtype="float32",
                       crs="EPSG:5070", transform=a @ Affine.translation(1, 0)) as dst:  # fmt: skip
        dst.write(np.zeros((300, 300), np.float32), 1)
    with pytest.raises(InputError, match=rf"--flammap-bp {shifted}: its grid .* is not the tile's"):
        flammap.read_flammap_grid(shifted, land, "--flammap-bp")
    small = tmp_path / "small.tif"
    with rasterio.open(small, "w", driver="GTiff", height=299, width=300, count=1, dtype="float32",
                       crs="EPSG:5070", transform=a) as dst:  # fmt: skip
        dst.write(np.zeros((299, 300), np.float32), 1)
    assert main(_bench(tmp_path, small)) == 2
    err = capsys.readouterr().err
    assert f"--flammap-bp {small}: 299 x 300 cells, the tile has 300 x 300" in err and "Traceback" not in err
    other_crs = tmp_path / "crs.tif"
    with rasterio.open(other_crs, "w", driver="GTiff", height=300, width=300, count=1, dtype="float32",
                       crs="EPSG:32618", transform=a) as dst:  # fmt: skip
        dst.write(np.zeros((300, 300), np.float32), 1)
    with pytest.raises(InputError, match=rf"--flammap-bp {other_crs}: its CRS"):
        flammap.read_flammap_grid(other_crs, land, "--flammap-bp")
    missing = tmp_path / "nothing.tif"
    assert main(_bench(tmp_path, missing)) == 2
    err = capsys.readouterr().err
    assert f"--flammap-bp {missing}: no such file" in err and "Traceback" not in err
    (tmp_path / "junk.asc").write_text("not a grid\n")
    assert main(_bench(tmp_path, tmp_path / "junk.asc")) == 2
    assert f"--flammap-bp {tmp_path / 'junk.asc'}: not a raster" in capsys.readouterr().err


def test_flags_that_do_not_fit_are_refused(tmp_path, land_and_weather, capsys):
    land, _ = land_and_weather
    bp = write_grids_geotiff(tmp_path / "bp.tif", land, {"bp": np.zeros(land.shape, np.float32)})
    assert main(["bench", "flammap", "--flammap-bp", str(bp)]) == 2
    assert "bench flammap needs --tile" in capsys.readouterr().err
    mix = ["bench", "flammap", "--tile", str(LANDFIRE_WINDOW), "--flammap-bp", str(bp), "--weather", "dry-windy"]
    assert main(mix) == 2
    assert "compares one FlamMap run, under one weather" in capsys.readouterr().err
    assert main(_bench(tmp_path, bp, "--ignition", "150,150")) == 2
    assert "--flammap-arrival and --ignition go together" in capsys.readouterr().err
    assert main(_bench(tmp_path, bp, "--flammap-arrival", str(bp), "--ignition", "150")) == 2
    assert "--ignition '150': expected ROW,COL" in capsys.readouterr().err
    assert main(_bench(tmp_path, bp, "--only", "x")) == 2
    assert "--only belong(s) to `bench report`" in capsys.readouterr().err
    assert main(["bench", "env", "--wind-speed", "3"]) == 2
    assert "--wind-speed belong(s) to `bench flammap`, not `bench env`" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="outside the tile"):
        flammap.parse_ignition("300,1", land)
    assert isinstance(build_parser().parse_args(_bench(tmp_path, bp)), argparse.Namespace)
