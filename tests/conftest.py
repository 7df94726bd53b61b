"""Shared fixtures: small GeoTIFFs written with rasterio, a fake LANDFIRE folder, the real sample."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import psutil
import pytest
import rasterio
import torch
from affine import Affine

from fuelbreak.landscape.synthetic import synthetic_tile

# Tests check behaviour, not speed: one torch thread avoids oversubscription stalls beside worker processes.
torch.set_num_threads(1)

# Where a test, or a process it starts (the supervisor's trainer, a Ray cluster, `python -m fuelbreak`),
# would write to the user's home or cache: folders of one temporary folder, made for the session.
ISOLATED = {
    "HOME": "home",
    "XDG_CACHE_HOME": "cache",
    "XDG_CONFIG_HOME": "config",
    "MPLCONFIGDIR": "matplotlib",
    "FUELBREAK_CACHE": "fuelbreak-cache",
}


def pytest_configure(config):
    """No test writes to the user's home or cache: point them all into a temporary folder (removed at
    the end), before any test module is imported."""
    root = Path(tempfile.mkdtemp(prefix="fuelbreak-tests-"))
    config.stash_fuelbreak_home = root
    config.stash_fuelbreak_saved = {var: os.environ.get(var) for var in ISOLATED}
    for var, sub in ISOLATED.items():
        (root / sub).mkdir()
        os.environ[var] = str(root / sub)


def pytest_unconfigure(config):
    root = getattr(config, "stash_fuelbreak_home", None)
    if root is None:
        return
    for var, value in config.stash_fuelbreak_saved.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    shutil.rmtree(root, ignore_errors=True)



@pytest.fixture
def no_leftovers():
    """Fails the test if it leaves any child process of the test process behind."""

    def children() -> set[int]:
        return {p.pid for p in psutil.Process().children(recursive=True)}

    before = children()
    yield
    left = children() - before
    assert not left, f"processes left behind: {left}"


# A 30 m grid in CONUS Albers placed over Worcester, Vermont (the real sample's corner).
CRS = "EPSG:5070"
TRANSFORM = Affine(30.0, 0.0, 1833825.0, 0.0, -30.0, 2617605.0)
WORCESTER = Path(__file__).resolve().parents[2] / "shared" / "data" / "landfire-worcester-vt"
# A 300 x 300 window of that sample kept in the repository (see its README): always there.
LANDFIRE_WINDOW = Path(__file__).resolve().parent / "data" / "landfire-worcester-window"
LANDFIRE_NAMES = {
    "dem": "LC20_Elev_220.tif",
    "slp": "LC20_SlpP_220.tif",
    "asp": "LC20_Asp_220.tif",
    "fbfm": "LC22_F40_230.tif",
    "cc": "LC22_CC_230.tif",
    "ch": "LC22_CH_230.tif",
    "cbh": "LC22_CBH_230.tif",
    "cbd": "LC22_CBD_230.tif",
}


def write_tif(path, array, crs=CRS, transform=TRANSFORM, nodata=None, dtype=None) -> Path:
    """Write one single-band GeoTIFF."""
    array = np.asarray(array)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=array.shape[0],
        width=array.shape[1],
        count=1,
        dtype=dtype or array.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as ds:
        ds.write(array.astype(dtype or array.dtype), 1)
    return Path(path)


def landfire_stored(tile) -> dict[str, np.ndarray]:
    """The layers of a landscape as LANDFIRE stores them (int16; slope %, m x 10, kg/m3 x 100, flat -1)."""
    lay = tile.layers
    slope_pct = np.rint(np.tan(np.radians(lay["slp"])) * 100)
    asp = np.where(slope_pct == 0, -1, np.rint(lay["asp"]) % 360)
    stored = {
        "dem": np.rint(lay["dem"]),
        "slp": slope_pct,
        "asp": asp,
        "fbfm": lay["fbfm"],
        "cc": np.rint(lay["cc"]),
        "ch": np.rint(lay["ch"] * 10),
        "cbh": np.rint(lay["cbh"] * 10),
        "cbd": np.rint(lay["cbd"] * 100),
    }
    return {k: v.astype(np.int16) for k, v in stored.items()}


@pytest.fixture
def geo() -> SimpleNamespace:
    """GeoTIFF helpers for tests: `write_tif`, `landfire_stored`, the CRS, transform and LANDFIRE names."""
    return SimpleNamespace(
        write_tif=write_tif,
        landfire_stored=landfire_stored,
        crs=CRS,
        transform=TRANSFORM,
        names=LANDFIRE_NAMES,
    )


@pytest.fixture
def landfire_dir(tmp_path):
    """A fake LANDFIRE folder (40 x 60 cells, no-data 32767 in the top-left 10 x 10 block, F13 present).

    Returns (folder, stored int16 layers, no-data mask).
    """
    tile = synthetic_tile(size=60, seed=11)
    stored = {k: v[:40] for k, v in landfire_stored(tile).items()}
    nodata = np.zeros((40, 60), dtype=bool)
    nodata[:10, :10] = True
    folder = tmp_path / "landfire"
    folder.mkdir()
    for key, name in LANDFIRE_NAMES.items():
        write_tif(folder / name, np.where(nodata, 32767, stored[key]).astype(np.int16), nodata=32767)
    write_tif(folder / "LC22_F13_230.tif", np.full((40, 60), 2, dtype=np.int16), nodata=32767)
    return folder, stored, nodata


@pytest.fixture
def worcester() -> Path:
    if not WORCESTER.is_dir():
        pytest.skip(f"real LANDFIRE sample not found at {WORCESTER}")
    return WORCESTER
