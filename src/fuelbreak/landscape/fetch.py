"""Fetching the eight layers of a bounding box from a server of per-layer GeoTIFFs.

The built-in source is the pyrecast California 2021 fuelscape (`SOURCES`); any server with the same
layout (`dem slp asp fbfm40 cc ch cbh cbd .tif` under one base URL, same stored units) may be named
by URL. Only the window of the box is read from each remote file, through GDAL's `/vsicurl/` (HTTP
range requests), so a small box does not download a state. The box (longitude/latitude, EPSG:4326)
is reprojected to the rasters' CRS and rounded outward to whole cells.

Each layer is written, as stored (same dtype, no-data value, CRS and cell grid), to
`OUT/<name>.tif` with the source's file names, which `fuelbreak data tile` reads; `OUT/fetch.json`
records the source, the box, the window, the stored units and scalings, and per layer its URL,
bytes, checksum and value range. The scalings are checked against the values fetched: after
scaling, every layer must lie in its physical range (`landscape.core.RANGES`), and canopy heights
and bulk density must not be implausibly small, so a source whose units differ from what it
declares is an error rather than a silently wrong landscape.

Every file is written atomically and `fetch.json` after each layer, so a rerun of the same command
skips the layers already complete (checked by checksum) and fetches the rest. Problems are a
`FetchError` naming the URL and what to do: a box outside the source's coverage, a server that is
down or unreachable, a missing file, a truncated or corrupt file.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError, WindowError
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds
from tqdm import tqdm

from fuelbreak.atomic import atomic_path, atomic_write_text
from fuelbreak.errors import ConfigError, FetchError, InputError
from fuelbreak.landscape.core import LAYERS, RANGES, UNITS, VALID_FUELS

SIDECAR = "fetch.json"
FORMAT = "fuelbreak-fetch-1"


@dataclass(frozen=True)
class Source:
    """A server of per-layer GeoTIFFs: base URL, file per layer, and how values are stored."""

    name: str
    url: str
    files: dict[str, str]
    # stored value x scaling = value in `landscape.core.UNITS`
    scalings: dict[str, float]
    slope_units: str = "degrees"
    stored_units: dict[str, str] = field(default_factory=dict)
    about: str = ""

    def file_url(self, layer: str) -> str:
        return self.url.rstrip("/") + "/" + self.files[layer]


PYRECAST_FILES = {
    "dem": "dem.tif",
    "slp": "slp.tif",
    "asp": "asp.tif",
    "fbfm": "fbfm40.tif",
    "cc": "cc.tif",
    "ch": "ch.tif",
    "cbh": "cbh.tif",
    "cbd": "cbd.tif",
}
# As the system we replace read this source: canopy bulk density x 100, heights x 10, cover in %,
# slope in degrees. Checked on every fetch against the values (see `check_values`).
PYRECAST_SCALINGS = {
    "dem": 1.0,
    "slp": 1.0,
    "asp": 1.0,
    "fbfm": 1.0,
    "cc": 1.0,
    "ch": 0.1,
    "cbh": 0.1,
    "cbd": 0.01,
}
PYRECAST_STORED_UNITS = {
    "dem": "m",
    "slp": "degrees",
    "asp": "degrees clockwise from north",
    "fbfm": "Scott & Burgan 40 fuel model code",
    "cc": "percent",
    "ch": "m x 10",
    "cbh": "m x 10",
    "cbd": "kg/m^3 x 100",
}

SOURCES: dict[str, Source] = {
    "pyrecast-ca-2021": Source(
        name="pyrecast-ca-2021",
        url="https://data.pyrecast.org/fuels_and_topography/ca-2021-fuelscape/",
        files=PYRECAST_FILES,
        scalings=PYRECAST_SCALINGS,
        stored_units=PYRECAST_STORED_UNITS,
        about="pyrecast California 2021 fuelscape (30 m, California only)",
    )
}
DEFAULT_SOURCE = "pyrecast-ca-2021"

# GDAL settings for remote reads: no directory listing, a few retries, bounded waits.
GDAL_HTTP = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff",
    "GDAL_HTTP_MAX_RETRY": "2",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    "GDAL_HTTP_TIMEOUT": "30",
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "VSI_CACHE": "FALSE",
}


def source_of(spec: str | None, scalings: dict[str, float] | None = None) -> Source:
    """A built-in source by name, or a base URL (http, https or file) served in the pyrecast layout."""
    spec = spec or DEFAULT_SOURCE
    if spec in SOURCES:
        src = SOURCES[spec]
    elif spec.startswith(("http://", "https://")):
        src = Source(
            name=spec,
            url=spec,
            files=PYRECAST_FILES,
            scalings=PYRECAST_SCALINGS,
            stored_units=PYRECAST_STORED_UNITS,
            about="a server in the pyrecast layout",
        )
    else:
        raise ConfigError(
            f"--source {spec!r} is neither a built-in source ({', '.join(SOURCES)}) nor an http(s):// base URL"
        )
    if scalings:
        src = Source(**{**src.__dict__, "scalings": {**src.scalings, **scalings}})
    return src


def check_bbox(bbox) -> tuple[float, float, float, float]:
    lon_min, lat_min, lon_max, lat_max = (float(v) for v in bbox)
    if not (-180.0 <= lon_min < lon_max <= 180.0 and -90.0 <= lat_min < lat_max <= 90.0):
        raise ConfigError(
            f"--bbox {lon_min} {lat_min} {lon_max} {lat_max} is not LON_MIN LAT_MIN LON_MAX LAT_MAX in degrees "
            "with min < max"
        )
    return lon_min, lat_min, lon_max, lat_max


def _vsi(url: str) -> str:
    return url if url.startswith("/vsi") else f"/vsicurl/{url}"


def _remote_error(url: str, exc: Exception, what: str) -> FetchError:
    msg = str(exc)
    low = msg.lower()
    if "404" in low or "not found" in low or "does not exist" in low:
        hint = (
            "the server has no such file; check --source (the base URL of a folder of dem.tif, slp.tif, ...)"
        )
    elif any(
        s in low
        for s in ("couldn't connect", "could not connect", "connection refused", "timed out", "resolve")
    ):
        hint = "the server is down or unreachable; check the URL and your network, then rerun the same command (it resumes)"
    elif any(s in low for s in ("read", "tiff", "decode", "truncat", "failed", "range")):
        hint = "the file looks truncated or corrupt on the server, or the transfer broke; rerun to retry"
    else:
        hint = "rerun the same command to retry (layers already fetched are kept)"
    return FetchError(f"{what} {url}: {msg.strip()} -- {hint}")


def _window(src, bbox) -> tuple[Window, list[float]]:
    """The cell window of a lon/lat box in an open raster, rounded outward and clipped; error if outside."""
    crs = src.crs
    if crs is None:
        raise FetchError(
            f"{src.name}: the remote raster has no CRS, so a bounding box cannot be placed on it"
        )
    left, bottom, right, top = transform_bounds(CRS.from_epsg(4326), crs, *bbox, densify_pts=21)
    win = from_bounds(left, bottom, right, top, transform=src.transform)
    r0, c0 = math.floor(win.row_off + 1e-9), math.floor(win.col_off + 1e-9)
    r1 = math.ceil(win.row_off + win.height - 1e-9)
    c1 = math.ceil(win.col_off + win.width - 1e-9)
    try:
        clipped = Window(c0, r0, c1 - c0, r1 - r0).intersection(Window(0, 0, src.width, src.height))
    except WindowError:
        clipped = None
    coverage = list(transform_bounds(crs, CRS.from_epsg(4326), *src.bounds, densify_pts=21))
    if clipped is None or clipped.width < 1 or clipped.height < 1:
        cov = ", ".join(f"{v:.4f}" for v in coverage)
        raise FetchError(
            f"--bbox {' '.join(f'{v:g}' for v in bbox)} is outside the coverage of {src.name} "
            f"(lon/lat {cov}); choose a box inside it or another --source"
        )
    win = Window(int(clipped.col_off), int(clipped.row_off), int(clipped.width), int(clipped.height))
    return win, coverage


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_values(layer: str, stored: np.ndarray, nodata, scaling: float) -> dict:
    """Value range of a fetched layer, stored and scaled; a FetchError when the scaling cannot be right."""
    valid = np.ones(stored.shape, dtype=bool) if nodata is None else stored != nodata
    valid &= np.isfinite(stored)
    stats = {"valid_cells": int(valid.sum()), "cells": int(stored.size)}
    if not valid.any():
        return stats
    v = stored[valid].astype(np.float64)
    lo, hi = float(v.min()), float(v.max())
    stats.update(stored_min=lo, stored_max=hi, min=lo * scaling, max=hi * scaling)
    if layer == "fbfm":
        bad = sorted(set(np.unique(v).astype(int).tolist()) - set(VALID_FUELS))
        if bad:
            raise FetchError(f"layer fbfm holds codes {bad[:8]} that are not Scott & Burgan 40 fuel models")
        return stats
    rlo, rhi = RANGES[layer]
    if layer == "asp":
        rlo = -1.0  # flat
    if lo * scaling < rlo - 1e-6 or hi * scaling > rhi + 1e-6:
        raise FetchError(
            f"layer {layer}: stored values {lo:g}..{hi:g} x {scaling:g} give {lo * scaling:g}..{hi * scaling:g} "
            f"{UNITS[layer]}, outside [{rlo:g}, {rhi:g}]: the source's scaling for {layer} looks wrong; "
            f"give the right one with --scale {layer}=FACTOR"
        )
    floor = {"ch": 1.0, "cbh": 0.3, "cbd": 0.01}.get(layer)
    if floor is not None and hi > 0 and hi * scaling < floor:
        raise FetchError(
            f"layer {layer}: the largest value, {hi:g} x {scaling:g} = {hi * scaling:g} {UNITS[layer]}, is too small "
            f"for any canopy: the source's scaling for {layer} looks wrong; give the right one with --scale {layer}=FACTOR"
        )
    return stats


def _grid(src) -> dict:
    return {
        "crs": src.crs.to_wkt() if src.crs else None,
        "transform": list(src.transform)[:6],
        "shape": [src.height, src.width],
    }


def _same_grid(a: dict, b: dict) -> bool:
    return (
        a["shape"] == b["shape"]
        and np.allclose(a["transform"], b["transform"])
        and (a["crs"] == b["crs"] or CRS.from_user_input(a["crs"]) == CRS.from_user_input(b["crs"]))
    )


def _fetch_layer(url: str, window: Window, out: Path, grid: dict) -> tuple[np.ndarray, dict]:
    """Read `window` of a remote layer and write it to `out` atomically; (stored values, facts)."""
    try:
        with rasterio.open(_vsi(url)) as src:
            if not _same_grid(_grid(src), grid):
                raise FetchError(
                    f"{url} is not on the same grid (CRS, transform, size) as the first layer; the source must "
                    "serve every layer on one grid"
                )
            data = src.read(1, window=window)
            profile = {
                "driver": "GTiff",
                "height": int(window.height),
                "width": int(window.width),
                "count": 1,
                "dtype": src.dtypes[0],
                "crs": src.crs,
                "transform": src.window_transform(window),
                "nodata": src.nodata,
                "compress": "deflate",
                "tiled": True,
                "blockxsize": 256,
                "blockysize": 256,
            }
            if window.height < 256 or window.width < 256:
                profile.update(tiled=False)
                profile.pop("blockxsize")
                profile.pop("blockysize")
            nodata = src.nodata
    except RasterioIOError as exc:
        raise _remote_error(url, exc, "cannot read") from None
    with atomic_path(out) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
    return data, {"nodata": None if nodata is None else float(nodata), "dtype": profile["dtype"]}


def fetch(
    bbox,
    out: str | Path,
    source: Source,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Fetch the eight layers of `bbox` from `source` into folder `out`; return the sidecar record."""
    bbox = check_bbox(bbox)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    side = out / SIDECAR
    record = None
    if side.is_file():
        try:
            record = json.loads(side.read_text())
        except json.JSONDecodeError:
            record = None
        same = record and record.get("bbox") == list(bbox) and record.get("url") == source.url
        if record is not None and not same and not overwrite:
            raise InputError(
                f"{out} already holds a fetch of another box or source ({side}); choose another --out or pass --overwrite"
            )
        if not same:
            record = None
    if record is None:
        record = {
            "format": FORMAT,
            "source": source.name,
            "url": source.url,
            "about": source.about,
            "bbox": list(bbox),
            "bbox_crs": "EPSG:4326",
            "scalings": dict(source.scalings),
            "slope_units": source.slope_units,
            "stored_units": dict(source.stored_units),
            "units_after_scaling": dict(UNITS),
            "layers": {},
        }
    record["scalings"] = dict(source.scalings)
    with rasterio.Env(**GDAL_HTTP):
        _fetch_layers(record, bbox, out, source, side, progress)
    record["complete"] = all(k in record["layers"] for k in LAYERS)
    atomic_write_text(side, json.dumps(record, indent=1) + "\n")
    return record


def _fetch_layers(record: dict, bbox, out: Path, source: Source, side: Path, progress: bool) -> None:
    """Fetch every layer not yet complete, writing the sidecar after each."""
    done = record["layers"]
    w = record.get("window")
    window = Window(w["col_off"], w["row_off"], w["width"], w["height"]) if w else None
    bar = tqdm(LAYERS, desc=f"fetching {out.name}", unit="layer", disable=not progress)
    for layer in bar:
        url = source.file_url(layer)
        path = out / source.files[layer]
        bar.set_postfix_str(layer)
        entry = done.get(layer)
        if entry and path.is_file() and entry.get("sha256") == _sha256(path):
            bar.write(f"{layer}: already fetched ({path.name}), kept")
            continue
        if window is None:
            try:
                with rasterio.open(_vsi(url)) as src:
                    window, coverage = _window(src, bbox)
                    record["grid"] = _grid(src)
                    record["window"] = {
                        "row_off": int(window.row_off),
                        "col_off": int(window.col_off),
                        "height": int(window.height),
                        "width": int(window.width),
                    }
                    record["coverage_lonlat"] = coverage
            except RasterioIOError as exc:
                raise _remote_error(url, exc, "cannot open") from None
        data, meta = _fetch_layer(url, window, path, record["grid"])
        stats = check_values(layer, data, meta["nodata"], source.scalings[layer])
        done[layer] = {
            "url": url,
            "file": path.name,
            **meta,
            **stats,
            "bytes": path.stat().st_size,
            "sha256": _sha256(path),
        }
        atomic_write_text(side, json.dumps(record, indent=1) + "\n")
    bar.close()


def fetched_scalings(src: Path) -> tuple[dict[str, float], str | None]:
    """The scalings and slope units a `data fetch` folder records (empty for other folders)."""
    path = Path(src) / SIDECAR
    if not path.is_file():
        return {}, None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None
    if not record.get("complete"):
        raise InputError(
            f"{src} holds an unfinished fetch ({path}: layers {', '.join(record.get('layers', {}))}); "
            "rerun the same `fuelbreak data fetch` command to finish it"
        )
    return {k: float(v) for k, v in record.get("scalings", {}).items()}, record.get("slope_units")
