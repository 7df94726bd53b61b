"""Cropping a geo-referenced landscape to a longitude/latitude box and cutting it into tiles.

Every crop and tile keeps its geo-reference (`Landscape.window` shifts the transform) and records
where it sits in the source raster (`meta["row_offset"]`, `meta["col_offset"]`), so a plan made on a
tile can be written back onto the map. A no-data mask in `meta["nodata_mask"]` is cut along.
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import WindowError
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from fuelbreak.errors import ConfigError, InputError
from fuelbreak.landscape.core import Landscape


def sub_landscape(
    landscape: Landscape, row: int, col: int, height: int, width: int, name: str = ""
) -> Landscape:
    """`Landscape.window` (which cuts the no-data mask too) with its counts and the offset into the source raster."""
    part = landscape.window(row, col, height, width, name=name)
    meta = part.meta
    mask = meta.get("nodata_mask")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        meta["nodata_cells"] = int(mask.sum())
        meta["nodata_fraction"] = float(mask.mean())
        meta.pop("nodata", None)  # per-layer counts are those of the source raster
    meta["row_offset"] = int(meta.get("row_offset", 0)) + int(row)
    meta["col_offset"] = int(meta.get("col_offset", 0)) + int(col)
    return part


def crop_bbox(
    landscape: Landscape, lon_min: float, lat_min: float, lon_max: float, lat_max: float
) -> Landscape:
    """The part of `landscape` covering a box in longitude/latitude (EPSG:4326), cells touched included."""
    if not (-180.0 <= lon_min < lon_max <= 180.0 and -90.0 <= lat_min < lat_max <= 90.0):
        raise ConfigError(
            f"bounding box {lon_min}, {lat_min}, {lon_max}, {lat_max} is not LON_MIN LAT_MIN LON_MAX LAT_MAX "
            "in degrees with min < max"
        )
    if landscape.crs is None or landscape.transform is None:
        raise InputError(
            f"landscape '{landscape.name}' has no CRS or transform, so it cannot be cropped to a bbox"
        )
    crs = CRS.from_user_input(landscape.crs)
    left, bottom, right, top = transform_bounds(
        "EPSG:4326", crs, lon_min, lat_min, lon_max, lat_max, densify_pts=21
    )
    h, w = landscape.shape
    window = from_bounds(left, bottom, right, top, transform=Affine(*landscape.transform[:6]))
    # Round outward to whole cells, then clip to the raster.
    r0, c0 = math.floor(window.row_off + 1e-9), math.floor(window.col_off + 1e-9)
    r1 = math.ceil(window.row_off + window.height - 1e-9)
    c1 = math.ceil(window.col_off + window.width - 1e-9)
    try:
        clipped = Window(c0, r0, c1 - c0, r1 - r0).intersection(Window(0, 0, w, h))
    except WindowError:
        clipped = None
    if clipped is None or clipped.height < 1 or clipped.width < 1:
        raise InputError(
            f"bounding box {lon_min}, {lat_min}, {lon_max}, {lat_max} does not intersect landscape "
            f"'{landscape.name}' ({h} x {w} cells)"
        )
    row, col = int(clipped.row_off), int(clipped.col_off)
    return sub_landscape(landscape, row, col, int(clipped.height), int(clipped.width))


def tile_windows(shape: tuple[int, int], size: int, overlap: int) -> list[tuple[int, int]]:
    """Top-left (row, col) of every full `size` x `size` tile, stepping by `size - overlap`, row by row."""
    if size < 1:
        raise ConfigError(f"tile size must be at least 1 cell, got {size}")
    if not 0 <= overlap < size:
        raise ConfigError(f"tile overlap must be in [0, size) = [0, {size}), got {overlap}")
    h, w = shape
    step = size - overlap
    return [(r, c) for r in range(0, h - size + 1, step) for c in range(0, w - size + 1, step)]


def cut_tiles(
    landscape: Landscape,
    size: int = 50,
    overlap: int = 25,
    max_nodata_fraction: float = 0.5,
    min_burnable_fraction: float = 0.0,
) -> list[Landscape]:
    """Tiles of `landscape`, skipping those with more no-data than `max_nodata_fraction`.

    Tiles whose burnable share is below `min_burnable_fraction`, or that have no burnable cell at
    all (no ignition could be drawn there), are skipped too.
    """
    if not 0.0 <= max_nodata_fraction <= 1.0:
        raise ConfigError(f"max no-data fraction must be in [0, 1], got {max_nodata_fraction}")
    if not 0.0 <= min_burnable_fraction <= 1.0:
        raise ConfigError(f"min burnable fraction must be in [0, 1], got {min_burnable_fraction}")
    mask = landscape.meta.get("nodata_mask")
    burnable = landscape.burnable
    tiles = []
    for row, col in tile_windows(landscape.shape, size, overlap):
        cells = (slice(row, row + size), slice(col, col + size))
        if mask is not None and float(np.mean(mask[cells])) > max_nodata_fraction:
            continue
        share = float(np.mean(burnable[cells]))
        if share == 0.0 or share < min_burnable_fraction:
            continue
        r_abs = int(landscape.meta.get("row_offset", 0)) + row
        c_abs = int(landscape.meta.get("col_offset", 0)) + col
        name = f"{landscape.name or 'tile'}_r{r_abs:05d}_c{c_abs:05d}"
        tiles.append(sub_landscape(landscape, row, col, size, size, name=name))
    return tiles
