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

import functools
import hashlib
import json
import math
import os
import threading
import time
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
        """The URL of `layer`'s raster at this source."""
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

# GDAL settings for remote reads: no directory listing, no retries of its own (`_remote` retries with
# backoff inside one deadline), each HTTP request bounded by the deadline (set per call).
GDAL_HTTP = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff",
    "GDAL_HTTP_MAX_RETRY": "0",
    "VSI_CACHE": "FALSE",
    "CPL_VSIL_CURL_NON_CACHED": "/vsicurl/",  # a retry must not see a cached "does not exist"
}
DEFAULT_TIMEOUT = 120.0  # seconds: one layer's open and windowed read, every retry included
ATTEMPTS = 3  # tries of one layer on a transient failure (connection refused or reset, HTTP 5xx)
FIRST_BACKOFF = 0.5  # seconds before the second try; doubled before each next one


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
    """`bbox` (lon_min, lat_min, lon_max, lat_max, degrees) as floats.

    Raises:
        ConfigError: the box is not in range or a min is not below its max.
    """
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


def _transient(exc: Exception) -> bool:
    """A failure worth another try: the server refused or dropped the connection, or answered 5xx."""
    if isinstance(exc, _Unreachable):
        return True
    low = str(exc).lower()
    return any(
        s in low
        for s in ("couldn't connect", "could not connect", "connection refused", "connection reset", "http 5",
                  "http error code : 5", "error code 5", " 502", " 503", " 504", "empty reply")
    )  # fmt: skip


class _Deadline(Exception):
    pass


class _Unreachable(Exception):
    """The server refused the connection or answered 5xx (transient: tried again)."""


def _probe(url: str, seconds: float) -> None:
    """A HEAD request before GDAL opens the file, for clear errors.

    TimeoutError when the server does not answer in `seconds`, `_Unreachable` when it refuses or answers 5xx,
    FetchError on 404.
    """
    import socket
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        return
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=max(seconds, 0.01)):
            return
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise FetchError(
                f"cannot read {url}: HTTP 404 -- the server has no such file; check --source (the base URL of a "
                "folder of dem.tif, slp.tif, ...)"
            ) from None
        if exc.code >= 500:
            raise _Unreachable(f"HTTP {exc.code} {exc.reason}") from None
        return  # a server that refuses HEAD may still serve ranges: let GDAL try
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError | socket.timeout):
            raise TimeoutError() from None
        raise _Unreachable(f"could not connect: {exc.reason}") from None
    except TimeoutError:
        raise TimeoutError() from None
    except (ConnectionError, OSError) as exc:
        raise _Unreachable(f"could not connect: {exc}") from None


def _call_within(op, seconds: float):
    """op() on a helper thread; `_Deadline` when it has not returned after `seconds`.

    GDAL cannot be interrupted; its own per-request timeout, set to the same deadline, ends the abandoned
    thread.
    """
    box: dict = {}

    def target():
        try:
            box["value"] = op()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="fuelbreak-fetch", daemon=True)
    thread.start()
    thread.join(max(seconds, 0.0))
    if thread.is_alive():
        raise _Deadline()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _remote(url: str, what: str, op, timeout: float):
    """op() for one remote file within one overall deadline of `timeout` seconds.

    Transient failures are tried again after a backoff (0.5 s, then 1 s, ...) that never runs past the
    deadline.
    """
    deadline = time.monotonic() + timeout
    delay = FIRST_BACKOFF
    too_slow = FetchError(
        f"{what} {url}: the server did not answer within --timeout {timeout:g} s -- it may be down or "
        "overloaded; rerun later, or with a longer --timeout (layers already fetched are kept)"
    )
    for attempt in range(ATTEMPTS):
        left = deadline - time.monotonic()
        if left <= 0:
            raise too_slow
        http = {**GDAL_HTTP, "GDAL_HTTP_TIMEOUT": str(max(1, math.ceil(left))),
                "GDAL_HTTP_CONNECTTIMEOUT": str(max(1, math.ceil(min(left, 10.0))))}  # fmt: skip

        def attempt_op(http=http):
            with rasterio.Env(**http):
                return op()

        try:
            _probe(url, left)
            left = deadline - time.monotonic()
            if left <= 0:
                raise too_slow
            return _call_within(attempt_op, left)
        except (_Deadline, TimeoutError):
            raise too_slow from None
        except (RasterioIOError, _Unreachable) as exc:
            if "timed out" in str(exc).lower() or "timeout" in str(exc).lower():
                raise too_slow from None
            pause = min(delay, deadline - time.monotonic())
            if not _transient(exc) or attempt == ATTEMPTS - 1 or pause <= 0:
                raise _remote_error(url, exc, what) from None
            time.sleep(pause)
            delay *= 2
    raise too_slow


def _window(src, bbox) -> tuple[Window, list[float], int]:
    """The cell window of a lon/lat box in an open raster, its coverage and the box's cells.

    A tuple: (cell window of the box, rounded outward and clipped; the source's coverage in lon/lat; the cells
    of the box before clipping).

    An error if the box is all outside.
    """
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
    return win, coverage, int((r1 - r0) * (c1 - c0))


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


def _read_layer(url: str, window: Window | None, bbox, grid: dict | None) -> dict:
    """Open a remote layer, place the box on it when `window` is None, check its grid, read the window."""
    out: dict = {}
    with rasterio.open(_vsi(url)) as src:
        if window is None:
            window, out["coverage"], out["box_cells"] = _window(src, bbox)
            grid = out["grid"] = _grid(src)
        elif not _same_grid(_grid(src), grid):
            raise FetchError(
                f"{url} is not on the same grid (CRS, transform, size) as the first layer; the source must "
                "serve every layer on one grid"
            )
        out["window"] = window
        out["data"] = src.read(1, window=window)
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
        out["profile"] = profile
    return out


def _write_layer(path: Path, data: np.ndarray, profile: dict) -> dict:
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
    nodata = profile["nodata"]
    return {"nodata": None if nodata is None else float(nodata), "dtype": profile["dtype"]}


def fetch(
    bbox,
    out: str | Path,
    source: Source,
    overwrite: bool = False,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    allow_partial: bool = False,
) -> dict:
    """Fetch the eight layers of `bbox` from `source` into folder `out`; return the sidecar record.

    The layers are fetched into a staging folder beside `out` (`.OUT.partial`, see `fuelbreak.outputs`)
    and moved into `out` together once all eight are complete and checked, so `out` only ever holds a
    whole fetch. An interrupted or failed fetch keeps the staging folder: the same command resumes.
    """
    from fuelbreak.outputs import output_set

    bbox = check_bbox(bbox)
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"--timeout {timeout:g}: a timeout is a number of seconds above 0")
    out = Path(out)
    committed = _read_record(out / SIDECAR)
    same = _same_request(committed, bbox, source)
    if committed is not None and not same and not overwrite:
        raise InputError(
            f"{out} already holds a fetch of another box or source ({out / SIDECAR}); choose another --out or "
            "pass --overwrite"
        )
    owned = (SIDECAR, *source.files.values())
    with output_set(out, flag="--out", owned=owned, keep_partial=True) as stage:
        side = stage.stage / SIDECAR
        record = _read_record(side)
        if record is not None and not _same_request(record, bbox, source):
            print(f"note: discarding an unfinished fetch of another box or source in {stage.stage}")
            record = None
        if record is None:
            for p in stage.stage.iterdir():
                p.unlink()
            record = _seed_from(committed, out, stage.stage) if same else None
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
        record["complete"] = False
        _fetch_layers(record, bbox, stage.stage, source, side, progress, timeout, allow_partial)
        record["complete"] = all(k in record["layers"] for k in LAYERS)
        atomic_write_text(side, json.dumps(record, indent=1) + "\n")
    return record


def _read_record(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
    return record if isinstance(record, dict) else None


def _same_request(record: dict | None, bbox, source: Source) -> bool:
    return bool(record) and record.get("bbox") == list(bbox) and record.get("url") == source.url


def _seed_from(committed: dict, out: Path, stage: Path) -> dict:
    """A record of the layers of a complete earlier fetch of the same box whose files are intact.

    They are linked into the staging folder (a rerun then fetches only the missing or damaged ones).
    """
    import shutil

    record = {**committed, "layers": {}}
    for layer, entry in committed.get("layers", {}).items():
        path = out / str(entry.get("file", ""))
        if not (path.is_file() and entry.get("sha256") == _sha256(path)):
            continue
        try:
            os.link(path, stage / path.name)
        except OSError:
            shutil.copy2(path, stage / path.name)
        record["layers"][layer] = entry
    return record


def _fetch_layers(
    record: dict, bbox, out: Path, source: Source, side: Path, progress: bool, timeout: float, allow_partial: bool
) -> None:
    """Fetch every layer not yet complete into `out` (the staging folder), writing the sidecar after each."""
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
        read = functools.partial(_read_layer, url, window, bbox, record.get("grid"))
        got = _remote(url, "cannot read", read, timeout)
        if window is None:
            window = got["window"]
            record["grid"] = got["grid"]
            record["window"] = {
                "row_off": int(window.row_off),
                "col_off": int(window.col_off),
                "height": int(window.height),
                "width": int(window.width),
            }
            record["coverage_lonlat"] = got["coverage"]
            record["box_cells"] = got["box_cells"]
        data = got["data"]
        stats = check_values(layer, data, got["profile"]["nodata"], source.scalings[layer])
        _check_coverage(layer, stats["valid_cells"], record.get("box_cells", data.size), bbox, source, allow_partial)
        meta = _write_layer(path, data, got["profile"])
        done[layer] = {
            "url": url,
            "file": path.name,
            **meta,
            **stats,
            "bytes": path.stat().st_size,
            "sha256": _sha256(path),
        }
        record["allow_partial"] = bool(allow_partial)
        atomic_write_text(side, json.dumps(record, indent=1) + "\n")
    bar.close()


def _check_coverage(layer: str, valid: int, box_cells: int, bbox, source: Source, allow_partial: bool) -> None:
    """A box with no data is an error; a box partly without data needs --allow-partial."""
    box = " ".join(f"{v:g}" for v in bbox)
    if valid == 0:
        raise FetchError(
            f"--bbox {box}: no cell of the box has data in layer {layer} of {source.name} (it lies in the "
            "source's no-data area or outside it); choose a box inside the data"
        )
    if valid < box_cells and not allow_partial:
        raise FetchError(
            f"--bbox {box}: only {valid:,} of the box's {box_cells:,} cells ({100 * valid / box_cells:.1f} %) have "
            f"data in layer {layer} of {source.name}; the rest lies outside its data. Choose a box inside the "
            "data, or pass --allow-partial to fetch it anyway (`data tile` makes cells without data non-burnable)"
        )


def fetched_scalings(src: Path) -> tuple[dict[str, float], str | None]:
    """The scalings and slope units a `data fetch` folder records (empty for other folders)."""
    path = Path(src) / SIDECAR
    partial = Path(src).parent / f".{Path(src).name}.partial"
    if not Path(src).exists() and (partial / SIDECAR).is_file():
        raise InputError(
            f"{src} does not exist yet: an unfinished fetch for it is in {partial}; rerun the same "
            "`fuelbreak data fetch` command to finish it"
        )
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
