"""A plan as GIS files: a GeoTIFF aligned cell for cell with its tile, and GeoJSON polygons.

Treatment units: one feature per contiguous patch of break cells; or one square per cell.

Both keep the tile's CRS and transform so the plan opens in QGIS on top of the input rasters. A
synthetic tile has no geo-reference: its GeoJSON then uses cell coordinates (x = column, y = -row,
one unit per cell, so north stays up) and says so in its properties.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from fuelbreak.atomic import atomic_write_bytes
from fuelbreak.errors import InputError
from fuelbreak.landscape.core import Landscape


def order_grid(cells, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) int32 grid: the placement order (1, 2, ...) of each break cell, 0 elsewhere."""
    cells = np.asarray(cells, dtype=np.int64).reshape(-1)
    h, w = shape
    if cells.size and ((cells < 0).any() or (cells >= h * w).any()):
        raise InputError(f"plan cell index outside the {h}x{w} tile")
    if len(np.unique(cells)) != cells.size:
        raise InputError("plan repeats a cell")
    grid = np.zeros(h * w, dtype=np.int32)
    grid[cells] = np.arange(1, cells.size + 1)
    return grid.reshape(shape)


def _affine(landscape: Landscape):
    from affine import Affine

    if landscape.transform is None:
        return None
    return Affine(*landscape.transform[:6])


def write_grids_geotiff(
    path, landscape: Landscape, bands: dict[str, np.ndarray], tags: dict | None = None
) -> Path:
    """One band per named grid, aligned cell for cell with the tile (its CRS, transform and shape); atomic."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    h, w = landscape.shape
    for name, grid in bands.items():
        if np.shape(grid) != (h, w):
            raise InputError(f"grid '{name}' has shape {np.shape(grid)}, the tile has {(h, w)}")
    dtype = np.result_type(*[np.asarray(g).dtype for g in bands.values()])
    profile = dict(driver="GTiff", height=h, width=w, count=len(bands), dtype=dtype.name, nodata=None)
    if landscape.crs is not None:
        profile["crs"] = rasterio.crs.CRS.from_user_input(landscape.crs)
    if landscape.transform is not None:
        profile["transform"] = _affine(landscape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                for i, (name, grid) in enumerate(bands.items(), start=1):
                    dst.write(np.asarray(grid, dtype=dtype), i)
                    dst.set_band_description(i, name)
                dst.update_tags(
                    source="fuelbreak", tile=landscape.name, **{k: str(v) for k, v in (tags or {}).items()}
                )
            data = mem.read()
    atomic_write_bytes(path, data)
    return Path(path)


def write_plan_geotiff(path, landscape: Landscape, cells) -> Path:
    """Band 1: 1 = break, 0 = not; band 2: placement order. Same CRS, transform and shape as the tile."""
    order = order_grid(cells, landscape.shape)
    bands = {"fuel break (1 = break)": (order > 0).astype(np.int32), "placement order (0 = none)": order}
    return write_grids_geotiff(path, landscape, bands, {"n_breaks": int((order > 0).sum())})


def _cell_ring(row: int, col: int, affine) -> list[list[float]]:
    corners = [(col, row), (col + 1, row), (col + 1, row + 1), (col, row + 1), (col, row)]
    if affine is None:
        return [[float(x), float(-y)] for x, y in corners]
    return [list(map(float, affine @ (x, y))) for x, y in corners]


def plan_geojson(landscape: Landscape, cells, properties: dict | None = None) -> dict:
    """A FeatureCollection with one square polygon per break cell, carrying its placement order."""
    order = order_grid(cells, landscape.shape)
    affine = _affine(landscape)
    georef = affine is not None and landscape.crs is not None
    h, w = landscape.shape
    features = []
    for cell in np.asarray(cells, dtype=np.int64).reshape(-1):
        r, c = divmod(int(cell), w)
        features.append(
            {
                "type": "Feature",
                "properties": {"order": int(order[r, c]), "row": r, "col": c},
                "geometry": {"type": "Polygon", "coordinates": [_cell_ring(r, c, affine)]},
            }
        )
    props = {
        "tile": landscape.name,
        "n_breaks": len(features),
        "georeferenced": georef,
        "coordinates": "tile CRS" if georef else "cell units: x = column, y = -row (synthetic tile, no CRS)",
    }
    props.update(properties or {})
    collection = {"type": "FeatureCollection", "properties": props, "features": features}
    if georef:
        collection["crs"] = _crs_member(landscape.crs)
    return collection


def write_plan_geojson(path, landscape: Landscape, cells, properties: dict | None = None) -> Path:
    """One square polygon per break cell (see `plan_geojson`); `write_patches_geojson` dissolves them."""
    data = json.dumps(plan_geojson(landscape, cells, properties), indent=1).encode()
    atomic_write_bytes(path, data)
    return Path(path)


def patch_labels(cells, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """(labels, n): contiguous break cells (8-neighbour: a diagonal line is one patch) numbered 1..n."""
    from scipy import ndimage

    order = order_grid(cells, shape)
    labels, n = ndimage.label(order > 0, structure=np.ones((3, 3), dtype=bool))
    return labels.astype(np.int32), int(n)


def patches_geojson(landscape: Landscape, cells, properties: dict | None = None) -> dict:
    """A FeatureCollection with one feature per contiguous patch of break cells (treatment units).

    The polygons come from `rasterio.features.shapes` over the patch labels (cell edges, in the tile's
    CRS); a patch whose cells touch only at corners is a MultiPolygon. Each feature carries `patch`
    (1 = the patch holding the first break placed, and so on), `cells`, `hectares`, and
    `order_min`/`order_max`, the range of placement order of its cells; with a cost layer `cost` (its sum
    over the patch's cells) and with a value layer `value` (the value at risk the patch's cells hold).
    """
    from affine import Affine
    from rasterio.features import shapes

    order = order_grid(cells, landscape.shape)
    labels, n = patch_labels(cells, landscape.shape)
    affine = _affine(landscape)
    georef = affine is not None and landscape.crs is not None
    transform = affine if affine is not None else Affine(1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
    cell_ha = landscape.cell_size**2 / 1e4
    index = np.arange(1, n + 1)
    from scipy import ndimage

    counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    lo = ndimage.minimum(order, labels, index) if n else []
    hi = ndimage.maximum(order, labels, index) if n else []
    sums = {}  # per-patch sums of the planner layers a plan reports
    for key in ("cost", "value"):
        layer = landscape.planner_layer(key)
        if layer is not None:
            sums[key] = ndimage.sum_labels(layer.astype(np.float64), labels, index) if n else []
    rings: dict[int, list] = {}
    # Polygons of 4-connected pieces (valid rings); pieces of one 8-connected patch form a MultiPolygon.
    for geom, value in shapes(labels, mask=labels > 0, connectivity=4, transform=transform):
        rings.setdefault(int(value), []).append(geom["coordinates"])
    # Number patches by the first break each holds, so patch 1 is where the plan starts.
    ranked = sorted(range(1, n + 1), key=lambda k: lo[k - 1])
    features = []
    for new_id, k in enumerate(ranked, start=1):
        polys = rings[k]
        geometry = (
            {"type": "Polygon", "coordinates": polys[0]}
            if len(polys) == 1
            else {"type": "MultiPolygon", "coordinates": polys}
        )
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "patch": new_id,
                    "cells": int(counts[k - 1]),
                    "hectares": round(float(counts[k - 1] * cell_ha), 4),
                    "order_min": int(lo[k - 1]),
                    "order_max": int(hi[k - 1]),
                    **{key: float(v[k - 1]) for key, v in sums.items()},
                },
                "geometry": geometry,
            }
        )
    props = {
        "tile": landscape.name,
        "n_breaks": int((order > 0).sum()),
        "n_patches": n,
        "hectares": round(float((order > 0).sum() * cell_ha), 4),
        **{key: float(np.sum(v)) for key, v in sums.items()},
        "cell_size_m": landscape.cell_size,
        "georeferenced": georef,
        "coordinates": "tile CRS" if georef else "cell units: x = column, y = -row (synthetic tile, no CRS)",
    }
    props.update(properties or {})
    collection = {"type": "FeatureCollection", "properties": props, "features": features}
    if georef:
        collection["crs"] = _crs_member(landscape.crs)
    return collection


def _crs_member(crs_text: str) -> dict:
    """The GeoJSON 2008 `crs` member (read by QGIS and GDAL) of a CRS."""
    import rasterio

    crs = rasterio.crs.CRS.from_user_input(crs_text)
    epsg = crs.to_epsg()
    name = f"urn:ogc:def:crs:EPSG::{epsg}" if epsg else crs.to_wkt()
    return {"type": "name", "properties": {"name": name}}


def write_patches_geojson(path, landscape: Landscape, cells, properties: dict | None = None) -> Path:
    """Write `patches_geojson` atomically."""
    data = json.dumps(patches_geojson(landscape, cells, properties), indent=1).encode()
    atomic_write_bytes(path, data)
    return Path(path)


def _plan_values(path: Path, values: np.ndarray) -> np.ndarray:
    """A break mask from plan values.

    Numbers 0 (no break) or 1 (break), or booleans; anything else (NaN, strings, other numbers) is an
    InputError naming the file, never a guess.
    """
    if values.dtype == bool:
        return values
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        kind = {"U": "text", "S": "bytes", "O": "object", "M": "date", "m": "time", "V": "record"}.get(
            values.dtype.kind, str(values.dtype)
        )
        raise InputError(
            f"plan {path} holds {kind} values, not numbers: a plan is 1 (break) or 0 (no break) per cell"
        )
    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        n = int((~np.isfinite(values)).sum())
        raise InputError(
            f"plan {path} has {n} cell(s) that are NaN or infinite; a plan is 1 (break) or 0 (no break) per cell"
        )
    odd = (values != 0) & (values != 1)
    if odd.any():
        raise InputError(
            f"plan {path} has {int(odd.sum())} cell(s) that are neither 0 nor 1 (e.g. {values[odd].flat[0]!r}); "
            "band 1 of a plan is 1 (break) or 0 (no break)"
        )
    return values == 1


def read_plan(path, landscape: Landscape | tuple[int, int]) -> np.ndarray:
    """A break mask from a plan GeoTIFF (band 1: 1 = break, 0 = none) or a .npy array of 0/1 or booleans.

    It must be a plan of this tile: same shape and, for a GeoTIFF, the same CRS and transform when either
    is geo-referenced, or (neither is) the same tile name when the plan records one. A NaN, a string or
    another value than 0 and 1 is an error; nothing is guessed.
    """
    path = Path(path)
    land = landscape if isinstance(landscape, Landscape) else None
    shape = tuple(landscape.shape if land is not None else landscape)
    if not path.is_file():
        raise InputError(f"plan file {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"plan file {path} is not a readable .npy array: {exc}") from None
        if values.ndim != 2:
            raise InputError(f"plan {path} has {values.ndim} dimension(s); a plan is a 2-D grid of the tile's shape")
        mask = _plan_values(path, values)
    else:
        import rasterio

        try:
            with warnings.catch_warnings():
                from rasterio.errors import NotGeoreferencedWarning

                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(path) as src:
                    values = src.read(1)
                    crs = src.crs
                    transform = src.transform
                    tile = src.tags().get("tile")
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"plan file {path} is not a readable GeoTIFF (truncated or corrupt?): {exc}") from None
        mask = _plan_values(path, values)
        if mask.shape == shape and land is not None:
            _check_alignment(path, land, crs, transform, tile)
    if mask.shape != shape:
        raise InputError(f"plan {path} has shape {mask.shape}, the tile has {shape}")
    return mask


def _check_alignment(path: Path, land: Landscape, crs, transform, tile: str | None) -> None:
    import rasterio

    plan_georef = crs is not None or not transform.is_identity
    land_georef = land.transform is not None
    if plan_georef != land_georef:
        which = "the plan is geo-referenced and the tile is not" if plan_georef else "the tile is geo-referenced and the plan is not"
        raise InputError(f"plan {path} is not a plan of tile '{land.name}': {which}")
    if plan_georef:
        same_crs = crs is not None and land.crs is not None and crs == rasterio.crs.CRS.from_user_input(land.crs)
        if not same_crs and not (crs is None and land.crs is None):
            raise InputError(f"plan {path} has CRS {crs}, but tile '{land.name}' has another; plan the tile itself")
        if not transform.almost_equals(_affine(land), precision=1e-6):
            raise InputError(
                f"plan {path} is not aligned with tile '{land.name}': its transform is {tuple(transform)[:6]}, the "
                f"tile's {tuple(land.transform)[:6]} (a plan of another tile?)"
            )
    elif tile and land.name and tile != land.name:
        raise InputError(
            f"plan {path} was made for tile '{tile}', not for this tile '{land.name}' (neither is geo-referenced, "
            "so the plan's recorded tile name is what tells them apart)"
        )
