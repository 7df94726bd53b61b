"""GeoTIFF input and output: a folder of per-layer rasters in, one multi-band tile file in and out.

A folder of per-layer GeoTIFFs is recognised by file name, either plain (`dem.tif slp.tif asp.tif
fbfm40.tif cc.tif ch.tif cbh.tif cbd.tif`) or as LANDFIRE products (`LC20_Elev_220.tif`,
`LC20_SlpP_220.tif`, `LC22_F40_230.tif`, ...); a user mapping {layer: path} overrides either.
Values are converted to the units of `fuelbreak.landscape.core` with the explicit `SCALINGS` table
(LANDFIRE stores canopy height and base height in m x 10 and bulk density in kg/m^3 x 100; the plain
layout is LANDFIRE's too) and slope in percent (`SlpP`) becomes degrees.

No-data cells (the file's no-data value or mask, in any layer) are made explicitly non-burnable:
fuel 91, no canopy, slope and aspect 0, elevation from the nearest valid cell. They are counted per
layer in `meta["nodata"]`, kept as a mask in `meta["nodata_mask"]`, and logged. pyretechnics
crashes the process on an unknown fuel code (DESIGN.md), so any other unknown code is an error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from scipy import ndimage

from fuelbreak.atomic import atomic_path
from fuelbreak.errors import InputError
from fuelbreak.landscape.core import LAYERS, PLANNER_LAYERS, RANGES, UNITS, VALID_FUELS, Landscape

log = logging.getLogger(__name__)

# Factor from the stored value to the unit in `UNITS`, per layer (LANDFIRE's stored scalings).
SCALINGS: dict[str, float] = {
    "dem": 1.0,
    "slp": 1.0,
    "asp": 1.0,
    "fbfm": 1.0,
    "cc": 1.0,
    "ch": 0.1,
    "cbh": 0.1,
    "cbd": 0.01,
}
SLOPE_UNITS = ("degrees", "percent")

# Plain file stems (lower case) and the layer each holds; slope in degrees.
PLAIN_NAMES: dict[str, str] = {
    "dem": "dem",
    "elev": "dem",
    "elevation": "dem",
    "slp": "slp",
    "slope": "slp",
    "asp": "asp",
    "aspect": "asp",
    "fbfm40": "fbfm",
    "fbfm": "fbfm",
    "cc": "cc",
    "ch": "ch",
    "cbh": "cbh",
    "cbd": "cbd",
}
# LANDFIRE product codes (lower case) -> (layer, slope units); products not listed (F13, EVT...) are ignored.
LANDFIRE_PRODUCTS: dict[str, tuple[str, str | None]] = {
    "elev": ("dem", None),
    "slpp": ("slp", "percent"),
    "slpd": ("slp", "degrees"),
    "asp": ("asp", None),
    "f40": ("fbfm", None),
    "fbfm40": ("fbfm", None),
    "cc": ("cc", None),
    "ch": ("ch", None),
    "cbh": ("cbh", None),
    "cbd": ("cbd", None),
}
LANDFIRE_NAME = re.compile(r"^L[CF]\d{2,4}_([A-Za-z0-9]+)_\d+", re.IGNORECASE)
TIF_SUFFIXES = (".tif", ".tiff")

NODATA_FUEL = 91
FLAT_ASPECT = -1.0  # LANDFIRE's aspect value for flat ground
NODATA_BAND = "nodata"  # extra band of a tile file: 1 where the source had no data
FORMAT_TAG = "fuelbreak-landscape-1"


@dataclass(frozen=True)
class LayerFile:
    """A raster file holding one layer, and the slope unit it is stored in (slope only)."""

    layer: str
    path: Path
    slope_units: str = "degrees"


def classify(path: Path) -> tuple[str, str] | None:
    """(layer, slope units) a file name stands for, or None for a file that is not a layer we read."""
    if path.suffix.lower() not in TIF_SUFFIXES:
        return None
    stem = path.stem
    match = LANDFIRE_NAME.match(stem)
    if match:
        product = LANDFIRE_PRODUCTS.get(match.group(1).lower())
        if product is None:
            return None
        return product[0], product[1] or "degrees"
    layer = PLAIN_NAMES.get(stem.lower())
    return (layer, "degrees") if layer else None


def find_layer_files(
    folder: str | Path | None, mapping: dict[str, str | Path] | None = None
) -> dict[str, LayerFile]:
    """The file of each of the eight layers: recognised in `folder`, overridden by `mapping`.

    A relative path in `mapping` is taken inside `folder`. Two files claiming one layer, or a layer
    with no file, are errors naming the folder and files.
    """
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(LAYERS))
    if unknown:
        raise InputError(
            f"unknown layer name(s) {unknown} in the layer mapping; layers are {' '.join(LAYERS)}"
        )
    found: dict[str, LayerFile] = {}
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"raster folder {folder} does not exist or is not a folder")
        for path in sorted(folder.iterdir()):
            kind = classify(path)
            if kind is None or kind[0] in mapping:
                continue
            layer, units = kind
            if layer in found:
                raise InputError(
                    f"both {found[layer].path.name} and {path.name} in {folder} look like layer '{layer}'; "
                    f"choose one with a mapping (--layer {layer}=FILE)"
                )
            found[layer] = LayerFile(layer, path, units)
    for layer, given in mapping.items():
        path = Path(given)
        if not path.is_absolute() and folder is not None:
            path = Path(folder) / path
        if not path.is_file():
            raise InputError(f"file {path} given for layer '{layer}' does not exist")
        kind = classify(path)
        found[layer] = LayerFile(layer, path, kind[1] if kind and kind[0] == "slp" else "degrees")
    missing = [k for k in LAYERS if k not in found]
    if missing:
        where = f"in {folder}" if folder is not None else "in the layer mapping"
        raise InputError(
            f"no file for layer(s) {', '.join(missing)} {where}; expected plain names (dem.tif slp.tif asp.tif "
            "fbfm40.tif cc.tif ch.tif cbh.tif cbd.tif), LANDFIRE product names (LC20_Elev_220.tif ...), "
            "or a mapping (--layer KEY=FILE)"
        )
    return {k: found[k] for k in LAYERS}


@contextlib.contextmanager
def _open(path: Path, quiet_georef: bool = False):
    """rasterio.open that reports an unreadable file as an InputError naming it."""
    try:
        with warnings.catch_warnings():
            if quiet_georef:
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"cannot read raster {path}: {exc}") from exc
    with ds:
        yield ds


def _read_pixels(ds, path: Path, read):
    """`read()` on an open raster, a failure being an InputError.

    A header that reads with pixels that do not is a truncated or corrupt file.
    """
    try:
        return read()
    except RasterioIOError as exc:
        text = str(exc.__cause__ or exc).strip()  # rasterio's "see previous exception" names the cause there
        detail = text.splitlines()[0] if text else type(exc).__name__
        raise InputError(
            f"cannot read the pixels of raster {path}: the file is truncated or corrupt ({detail})"
        ) from None


def _read_band(lf: LayerFile, ref: dict | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Values (float64), no-data mask and grid of one layer file, checked against the reference grid."""
    with _open(lf.path, quiet_georef=True) as ds:
        grid = {"crs": ds.crs, "transform": ds.transform, "shape": (ds.height, ds.width)}
        if ds.crs is None or ds.transform.is_identity:
            raise InputError(f"{lf.path} (layer '{lf.layer}') has no geo-reference (CRS and transform)")
        if ref is not None:
            if grid["crs"] != ref["crs"]:
                raise InputError(
                    f"{lf.path} (layer '{lf.layer}') has CRS {grid['crs']}, but {ref['path'].name} has {ref['crs']}"
                )
            if grid["shape"] != ref["shape"]:
                raise InputError(
                    f"{lf.path} (layer '{lf.layer}') has shape {grid['shape']}, "
                    f"but {ref['path'].name} has {ref['shape']}"
                )
            if not grid["transform"].almost_equals(ref["transform"], precision=1e-6):
                raise InputError(
                    f"{lf.path} (layer '{lf.layer}') has transform {tuple(grid['transform'])[:6]}, "
                    f"but {ref['path'].name} has {tuple(ref['transform'])[:6]}"
                )
        band = _read_pixels(ds, lf.path, lambda: ds.read(1, masked=True))
    values = np.ma.getdata(band).astype(np.float64)
    nodata = np.ma.getmaskarray(band) | ~np.isfinite(values)
    return values, nodata, grid


def _to_units(layer: str, values: np.ndarray, scale: float, slope_units: str) -> np.ndarray:
    """Stored values -> the units of UNITS (LANDFIRE's flat aspect -1 is kept for the caller)."""
    if layer == "slp" and slope_units == "percent":
        values = np.degrees(np.arctan(values / 100.0))
    if layer == "asp":
        return np.where(values == FLAT_ASPECT, FLAT_ASPECT, values * scale)
    return values * scale


def _check_values(lf: LayerFile, values: np.ndarray, valid: np.ndarray, scale: float) -> None:
    """Unknown fuel codes and out-of-range values in cells with data are errors naming the file."""
    v = values[valid]
    if lf.layer == "fbfm":
        codes = np.unique(v)
        unknown = [c for c in codes if c != np.round(c) or int(c) not in VALID_FUELS]
        if unknown:
            raise InputError(
                f"{lf.path} (layer 'fbfm') has unknown fuel code(s) {[float(c) for c in unknown[:10]]}: expected "
                "Scott & Burgan 40 codes (101-204) or non-burnable 91-99 (no-data must carry the file's no-data value)"
            )
        return
    lo, hi = RANGES[lf.layer]
    if lf.layer == "asp":
        v = v[v != FLAT_ASPECT]
    bad = (v < lo) | (v > hi)
    if bad.any():
        raise InputError(
            f"{lf.path} (layer '{lf.layer}') has {int(bad.sum())} value(s) outside [{lo:g}, {hi:g}] {UNITS[lf.layer]} "
            f"after scaling by {scale:g}, e.g. {float(v[bad][0]):g}; check the scaling (--scale {lf.layer}=FACTOR) "
            "or the file's no-data value"
        )


def _fill_nearest(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Copy of `values` with each missing cell taking the value of its nearest valid cell."""
    if not missing.any():
        return values
    idx = ndimage.distance_transform_edt(missing, return_distances=False, return_indices=True)
    return values[tuple(idx)]


def read_layer_folder(
    folder: str | Path | None,
    layers: dict[str, str | Path] | None = None,
    scalings: dict[str, float] | None = None,
    slope_units: str | None = None,
    name: str = "",
) -> Landscape:
    """Read a folder of per-layer GeoTIFFs (plain or LANDFIRE names, or `layers` {layer: path}).

    `scalings` overrides entries of `SCALINGS`; `slope_units` ("degrees" or "percent") overrides
    the unit guessed from the slope file's name. All files must share CRS, transform and shape.
    """
    files = find_layer_files(folder, layers)
    scale = dict(SCALINGS)
    for key, factor in (scalings or {}).items():
        if key not in SCALINGS:
            raise InputError(f"unknown layer '{key}' in scalings; layers are {' '.join(LAYERS)}")
        if not (np.isfinite(factor) and factor > 0):
            raise InputError(f"scaling for layer '{key}' must be a positive number, got {factor}")
        scale[key] = float(factor)
    if slope_units is not None and slope_units not in SLOPE_UNITS:
        raise InputError(f"slope units must be one of {SLOPE_UNITS}, got '{slope_units}'")

    values: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    ref: dict | None = None
    for key, lf in files.items():
        raw, nodata, grid = _read_band(lf, ref)
        if ref is None:
            ref = {**grid, "path": lf.path}
        units = slope_units or lf.slope_units
        values[key] = _to_units(key, raw, scale[key], units)
        masks[key] = nodata
        _check_values(lf, values[key], ~nodata, scale[key])

    nodata = np.logical_or.reduce(list(masks.values()))
    if nodata.all():
        raise InputError(f"no cell has data in every layer of {folder or 'the layer mapping'}")
    flat = (values["asp"] == FLAT_ASPECT) & ~nodata
    out = {k: np.where(nodata, 0.0, v) for k, v in values.items()}
    out["fbfm"][nodata] = NODATA_FUEL
    out["dem"] = _fill_nearest(values["dem"], masks["dem"])
    out["asp"][flat] = 0.0
    out["slp"][flat] = 0.0  # flat ground: no slope, so the aspect has no effect

    counts = {k: int(m.sum()) for k, m in masks.items()}
    where = folder or "the layer mapping"
    if nodata.any():
        log.warning(
            "%s: %d of %d cells have no data in some layer (per layer: %s); they are made non-burnable (fuel %d)",
            where,
            int(nodata.sum()),
            nodata.size,
            ", ".join(f"{k} {n}" for k, n in counts.items() if n),
            NODATA_FUEL,
        )
    transform = ref["transform"]
    if (
        abs(transform.b) > 1e-9
        or abs(transform.d) > 1e-9
        or not np.isclose(abs(transform.a), abs(transform.e))
    ):
        raise InputError(f"{ref['path']} has rotated or non-square cells (transform {tuple(transform)[:6]})")
    meta = {
        "source": str(folder) if folder is not None else "layer mapping",
        "files": {k: str(lf.path) for k, lf in files.items()},
        "scalings": scale,
        "slope_units": {"slp": slope_units or files["slp"].slope_units},
        "nodata": counts,
        "nodata_cells": int(nodata.sum()),
        "flat_cells": int(flat.sum()),
        "nodata_mask": nodata,
        "row_offset": 0,
        "col_offset": 0,
    }
    return Landscape(
        out,
        cell_size=float(abs(transform.a)),
        crs=ref["crs"].to_wkt(),
        transform=tuple(transform)[:6],
        name=name or (Path(folder).name if folder is not None else ""),
        meta=meta,
    ).validate()


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a tile's metadata")


def write_landscape(landscape: Landscape, path: str | Path) -> Path:
    """Write one multi-band float32 GeoTIFF (band descriptions = layer names), atomically.

    CRS and transform are kept; name, cell size and JSON metadata go in tags. The planner layers the
    landscape has (value, ignition, cost, exclude) follow the eight as bands of those names, and a no-data
    mask in `meta["nodata_mask"]` becomes an extra band named "nodata".
    """
    path = Path(path)
    landscape.validate()
    h, w = landscape.shape
    meta = dict(landscape.meta)
    mask = meta.pop("nodata_mask", None)
    bands = [(k, landscape.layers[k]) for k in (*LAYERS, *PLANNER_LAYERS) if k in landscape.layers]
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (h, w):
            raise InputError(
                f"no-data mask of landscape '{landscape.name}' has shape {mask.shape}, not {(h, w)}"
            )
        bands.append((NODATA_BAND, mask.astype(np.float32)))
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": len(bands),
        "dtype": "float32",
        "compress": "deflate",
        "predictor": 3,
    }
    if landscape.crs is not None:
        profile["crs"] = CRS.from_user_input(landscape.crs)
    if landscape.transform is not None:
        profile["transform"] = Affine(*landscape.transform[:6])
    tags = {
        "FUELBREAK_FORMAT": FORMAT_TAG,
        "FUELBREAK_NAME": landscape.name,
        "FUELBREAK_CELL_SIZE": repr(float(landscape.cell_size)),
        "FUELBREAK_META": json.dumps(meta, default=_json_default),
    }
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", **profile) as ds:
            for i, (key, arr) in enumerate(bands, start=1):
                ds.write(np.asarray(arr, dtype=np.float32), i)
                ds.set_band_description(i, key)
            ds.update_tags(**tags)
    return path


def read_landscape(path: str | Path) -> Landscape:
    """Read a tile file written by `write_landscape` (its planner layers too, when it has any); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"tile file {path} does not exist")
    with _open(path, quiet_georef=True) as ds:
        names = list(ds.descriptions)
        missing = [k for k in LAYERS if k not in names]
        if missing:
            raise InputError(
                f"{path} has no band(s) named {', '.join(missing)}: not a tile written by write_landscape "
                "(for per-layer rasters use read_layer_folder)"
            )
        keys = [*LAYERS, *(k for k in PLANNER_LAYERS if k in names)]
        data = _read_pixels(ds, path, lambda: {k: ds.read(names.index(k) + 1) for k in keys})
        mask = (
            _read_pixels(ds, path, lambda: ds.read(names.index(NODATA_BAND) + 1)) > 0
            if NODATA_BAND in names
            else None
        )
        tags = ds.tags()
        crs = ds.crs.to_wkt() if ds.crs is not None else None
        georef = crs is not None or not ds.transform.is_identity
        transform = tuple(ds.transform)[:6] if georef else None
        cell = float(tags["FUELBREAK_CELL_SIZE"]) if "FUELBREAK_CELL_SIZE" in tags else abs(ds.transform.a)
    try:
        meta = json.loads(tags.get("FUELBREAK_META", "{}"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} has unreadable metadata: {exc}") from exc
    if mask is not None:
        meta["nodata_mask"] = mask
    landscape = Landscape(data, cell, crs, transform, tags.get("FUELBREAK_NAME", path.stem), meta)
    try:
        return landscape.validate()
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
