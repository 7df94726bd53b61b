"""The planner's own layers read from files, aligned with a landscape: values, ignition density, cost, exclusions.

Each layer (see `fuelbreak.landscape.core.PLANNER_LAYERS`) comes from

- a **raster** (.tif, .tiff, .vrt, .img): it must sit on the landscape's grid: the same CRS, cell
  size and orientation, its origin a whole number of cells away, and covering the landscape; the
  landscape's cells are then read from it (a raster of exactly the landscape's grid is the usual
  case; a raster of a whole landscape also serves each of its tiles). Anything else is an
  `InputError` naming the file and what differs: nothing is ever resampled. A synthetic tile (no
  CRS) takes rasters of its shape only;
- a **vector** file (GeoJSON, GeoPackage, shapefile, FlatGeobuf; read with fiona): its features are
  reprojected to the landscape's CRS (`rasterio.warp.transform_geom`) and rasterised onto its grid
  (`rasterio.features.rasterize`). For values and costs, `PATH:ATTRIBUTE` names the numeric
  attribute: a polygon gives that value to every cell whose centre it covers, a point to the cell it
  falls in, a line to every cell it touches, and features that share a cell add up; without an
  attribute every feature counts 1 per cell. For exclusions every cell a feature covers is excluded.
  For the ignition density, the features are roads or towns: the density is
  ``1 + IGNITION_PEAK * exp(-d / IGNITION_LENGTH_M)`` with ``d`` the distance in metres from the
  cell to the nearest cell the features touch (`scipy.ndimage.distance_transform_edt`), so a cell on
  a road is ``1 + IGNITION_PEAK`` (10) times as likely to ignite as one far from any;
- a **number** (cost only): the same cost on every cell.

No-data, NaN, infinite and negative values are an `InputError` naming the file; an exclusion raster
must hold 0 (may be treated) and 1 (may not); a vector file none of whose features falls on the
landscape is an error (most often a CRS mistake).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from scipy import ndimage

from fuelbreak.errors import InputError
from fuelbreak.landscape.core import PLANNER_LAYERS, Landscape, check_planner_values

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")
# Ignition density near roads and towns: 1 + IGNITION_PEAK * exp(-d / IGNITION_LENGTH_M), d in metres.
IGNITION_PEAK = 9.0
IGNITION_LENGTH_M = 300.0
# The flag that sets each layer, for messages.
FLAGS: dict[str, str] = {
    "value": "--values",
    "ignition": "--ignition-density",
    "cost": "--cost",
    "exclude": "--exclude",
}


@dataclass(frozen=True)
class LayerSpec:
    """Where one planner layer comes from: a file (and a vector attribute) or a constant (cost only)."""

    key: str
    path: Path | None = None
    attribute: str | None = None
    constant: float | None = None

    @property
    def text(self) -> str:
        """The spec as a user writes it: PATH, PATH:ATTRIBUTE or a number."""
        if self.constant is not None:
            return f"{self.constant:g}"
        return f"{self.path}" + (f":{self.attribute}" if self.attribute else "")

    @property
    def flag(self) -> str:
        """The command-line flag of the layer."""
        return FLAGS[self.key]


def parse_spec(key: str, text: str) -> LayerSpec:
    """The LayerSpec of a flag's text: PATH, PATH:ATTRIBUTE (vector values or costs) or, for cost, a number.

    Raises:
        InputError: the file does not exist, or a number given for a layer other than cost.
    """
    if key not in PLANNER_LAYERS:
        raise KeyError(f"{key!r} is not a planner layer; they are {' '.join(PLANNER_LAYERS)}")
    flag = FLAGS[key]
    text = str(text)
    if key == "cost":
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is not None:
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"{flag} {text}: a constant cost must be a finite number >= 0")
            return LayerSpec(key, constant=value)
    path = Path(text)
    if path.exists():
        return LayerSpec(key, path=path)
    head, sep, attribute = text.rpartition(":")
    if sep and head and attribute and Path(head).exists():
        if Path(head).suffix.lower() not in VECTOR_SUFFIXES:
            raise InputError(
                f"{flag} {text}: an attribute (:{attribute}) applies to a vector file, not {head}"
            )
        if key in ("exclude", "ignition"):
            raise InputError(f"{flag} {text}: {flag} takes no attribute (every feature counts)")
        return LayerSpec(key, path=Path(head), attribute=attribute)
    what = "a raster, a vector file" + (" or a number" if key == "cost" else "")
    raise InputError(f"{flag} {text}: no such file ({flag} takes {what})")


# ----------------------------------------------------------------------------- rasters


def _same_crs(a, b) -> bool:
    try:
        return CRS.from_user_input(a) == CRS.from_user_input(b)
    except Exception:  # noqa: BLE001 - an unreadable CRS is simply not the same one
        return False


def _window_of(path: Path, flag: str, src_crs, src_transform: Affine, src_shape, landscape: Landscape):
    """(row, col) of the landscape's top-left cell in the raster's grid; an InputError says what differs."""
    land_t = Affine(*landscape.transform[:6])
    if src_crs is None:
        raise InputError(
            f"{flag} {path} has no CRS; landscape '{landscape.name}' is in {CRS.from_user_input(landscape.crs).to_string()}"
        )
    if not _same_crs(src_crs, landscape.crs):
        raise InputError(
            f"{flag} {path} has CRS {CRS.from_user_input(src_crs).to_string()}, but landscape '{landscape.name}' "
            f"has {CRS.from_user_input(landscape.crs).to_string()}: reproject the raster onto the landscape's grid "
            "(fuelbreak never resamples a planner layer)"
        )
    cell = abs(land_t.a)
    if not all(math.isclose(x, y, rel_tol=0, abs_tol=1e-6 * cell) for x, y in zip(
        (src_transform.a, src_transform.b, src_transform.d, src_transform.e),
        (land_t.a, land_t.b, land_t.d, land_t.e), strict=True,
    )):  # fmt: skip
        raise InputError(
            f"{flag} {path} has cells of {tuple(src_transform)[:6]} (a, b, c, d, e, f), but landscape "
            f"'{landscape.name}' has {tuple(land_t)[:6]}: another cell size or orientation (fuelbreak never "
            "resamples a planner layer)"
        )
    col_f, row_f = ~src_transform @ (land_t.c, land_t.f)
    row, col = round(row_f), round(col_f)
    if abs(row_f - row) > 1e-3 or abs(col_f - col) > 1e-3:
        raise InputError(
            f"{flag} {path} has transform {tuple(src_transform)[:6]}, but landscape '{landscape.name}' has "
            f"{tuple(land_t)[:6]}: its cells are offset by ({row_f - row:+.3f}, {col_f - col:+.3f}) cells from the "
            "landscape's (fuelbreak never resamples a planner layer)"
        )
    h, w = landscape.shape
    if row < 0 or col < 0 or row + h > src_shape[0] or col + w > src_shape[1]:
        raise InputError(
            f"{flag} {path} has shape {tuple(src_shape)} and does not cover landscape '{landscape.name}' "
            f"({h} x {w} cells at row {row}, col {col} of the raster's grid)"
        )
    return row, col


def read_raster_layer(path: str | Path, landscape: Landscape, key: str) -> np.ndarray:
    """The cells of `landscape` read from a one-band raster on its grid (float32); errors name the file."""
    path = Path(path)
    flag = FLAGS[key]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"{flag} {path}: cannot read the raster ({exc})") from None
    with ds:
        if ds.count != 1:
            raise InputError(f"{flag} {path} has {ds.count} bands; a planner layer is one band")
        h, w = landscape.shape
        georef = ds.crs is not None or not ds.transform.is_identity
        if landscape.crs is None or landscape.transform is None:
            if (ds.height, ds.width) != (h, w):
                raise InputError(
                    f"{flag} {path} has shape {(ds.height, ds.width)}, but landscape '{landscape.name}' has {(h, w)} "
                    "(a tile without geo-reference takes a raster of its own shape)"
                )
            window = None
        else:
            if not georef:
                raise InputError(
                    f"{flag} {path} has no geo-reference (CRS and transform); landscape '{landscape.name}' has one"
                )
            row, col = _window_of(path, flag, ds.crs, ds.transform, (ds.height, ds.width), landscape)
            window = rasterio.windows.Window(col, row, w, h)
        try:
            band = ds.read(1, window=window, masked=True)
        except RasterioIOError as exc:
            raise InputError(
                f"{flag} {path}: cannot read the pixels, the file is truncated or corrupt ({exc})"
            ) from None
    nodata = np.ma.getmaskarray(band)
    if nodata.any():
        r, c = np.argwhere(nodata)[0]
        raise InputError(
            f"{flag} {path} has {int(nodata.sum())} no-data cell(s) on landscape '{landscape.name}', first at row "
            f"{r}, col {c}; give every cell a value (0 for none)"
        )
    values = np.ma.getdata(band).astype(np.float64)
    return check_planner_values(values, key, f"{flag} {path}", landscape.name)


# ----------------------------------------------------------------------------- vectors


def _features(path: Path, flag: str, landscape: Landscape, attribute: str | None) -> list[tuple[dict, float]]:
    """(geometry in the landscape's CRS, value) of each feature of a vector file."""
    import fiona
    from fiona.model import to_dict
    from rasterio.warp import transform_geom

    if landscape.crs is None or landscape.transform is None:
        raise InputError(
            f"{flag} {path}: landscape '{landscape.name}' has no geo-reference (a synthetic tile), so a vector file "
            "cannot be placed on it; give a raster of its shape"
        )
    try:
        src = fiona.open(path)
    except Exception as exc:  # noqa: BLE001 - fiona raises many kinds (DriverError, CPLE_*), all unreadable input
        raise InputError(f"{flag} {path}: cannot read the vector file ({exc})") from None
    with src:
        crs_wkt = src.crs_wkt
        if not crs_wkt:
            raise InputError(f"{flag} {path} has no CRS; give the file's CRS (GeoJSON without one is WGS 84)")
        if attribute is not None and attribute not in src.schema.get("properties", {}):
            fields = ", ".join(src.schema.get("properties", {})) or "none"
            raise InputError(f"{flag} {path} has no attribute {attribute!r} (its attributes: {fields})")
        try:
            records = [(f.geometry, dict(f.properties or {})) for f in src]
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{flag} {path}: cannot read its features ({exc})") from None
    same = _same_crs(crs_wkt, landscape.crs)
    out = []
    for i, (geom, props) in enumerate(records):
        if geom is None:
            continue
        value = 1.0
        if attribute is not None:
            raw = props.get(attribute)
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise InputError(
                    f"{flag} {path}: feature {i} has {attribute}={raw!r}, not a number"
                ) from None
            if not math.isfinite(value):
                raise InputError(f"{flag} {path}: feature {i} has {attribute}={raw!r}, not a finite number")
            if value < 0:
                raise InputError(f"{flag} {path}: feature {i} has {attribute}={value:g}, a negative value")
        mapping = to_dict(geom)
        if not same:
            mapping = transform_geom(crs_wkt, landscape.crs, mapping)
        out.append((mapping, value))
    if not out:
        raise InputError(f"{flag} {path} holds no feature with a geometry")
    return out


def _rasterize(shapes, landscape: Landscape, *, add: bool, all_touched: bool) -> np.ndarray:
    from rasterio.enums import MergeAlg
    from rasterio.features import rasterize

    return rasterize(
        shapes,
        out_shape=landscape.shape,
        transform=Affine(*landscape.transform[:6]),
        fill=0.0,
        all_touched=all_touched,
        merge_alg=MergeAlg.add if add else MergeAlg.replace,
        dtype="float64",
    )


def _touched(features, landscape: Landscape) -> np.ndarray:
    """Cells any feature covers: polygons by cell centre, points and lines by the cells they touch."""
    areas = [(g, 1.0) for g, _ in features if "Polygon" in g["type"]]
    others = [(g, 1.0) for g, _ in features if "Polygon" not in g["type"]]
    mask = np.zeros(landscape.shape, dtype=bool)
    if areas:
        mask |= _rasterize(areas, landscape, add=False, all_touched=False) > 0
    if others:
        mask |= _rasterize(others, landscape, add=False, all_touched=True) > 0
    return mask


def read_vector_layer(
    path: str | Path, landscape: Landscape, key: str, attribute: str | None = None
) -> np.ndarray:
    """A vector file rasterised onto the landscape's grid as planner layer `key` (module docstring: the rules)."""
    path = Path(path)
    flag = FLAGS[key]
    features = _features(path, flag, landscape, attribute)
    touched = _touched(features, landscape)
    _check_touched(touched, path, flag, features, landscape)
    if key == "exclude":
        return touched.astype(np.float32)
    if key == "ignition":
        return ignition_density(touched, landscape.cell_size)
    areas = [(g, v) for g, v in features if "Polygon" in g["type"] and v != 0]
    others = [(g, v) for g, v in features if "Polygon" not in g["type"] and v != 0]
    values = np.zeros(landscape.shape, dtype=np.float64)
    if areas:
        values += _rasterize(areas, landscape, add=True, all_touched=False)
    if others:
        values += _rasterize(others, landscape, add=True, all_touched=True)
    return check_planner_values(values, key, f"{flag} {path}", landscape.name)


def ignition_density(
    sources: np.ndarray, cell_size: float, peak: float = IGNITION_PEAK, length_m: float = IGNITION_LENGTH_M
) -> np.ndarray:
    """Relative ignition density ``1 + peak * exp(-d / length_m)``, d the distance (m) to the nearest source cell.

    `sources` is a boolean mask (roads, towns); with no source cell the density is 1 everywhere.
    """
    sources = np.asarray(sources, dtype=bool)
    if not (peak >= 0 and length_m > 0):
        raise InputError(f"ignition decay needs peak >= 0 and length > 0, got {peak:g}, {length_m:g}")
    if not sources.any():
        return np.ones(sources.shape, dtype=np.float32)
    d = ndimage.distance_transform_edt(~sources) * float(cell_size)
    return (1.0 + peak * np.exp(-d / length_m)).astype(np.float32)


def source_mask(path: str | Path, landscape: Landscape, flag: str) -> np.ndarray:
    """Cells the features of a vector file (roads, towns) touch on the landscape's grid; an error when none does."""
    path = Path(path)
    features = _features(path, flag, landscape, None)
    touched = _touched(features, landscape)
    _check_touched(touched, path, flag, features, landscape)
    return touched


def _check_touched(touched: np.ndarray, path: Path, flag: str, features, landscape: Landscape) -> None:
    if not touched.any():
        raise InputError(
            f"{flag} {path}: none of its {len(features)} feature(s) falls on landscape '{landscape.name}' "
            "(after reprojection to the landscape's CRS); check the file's CRS and extent"
        )


# Treatment cost from terrain: COST_BASE + COST_PER_SLOPE * tan(slope) + COST_PER_KM * (km to the nearest road).
COST_BASE, COST_PER_SLOPE, COST_PER_KM = 1.0, 3.0, 1.0


def cost_surface(
    landscape: Landscape,
    roads: np.ndarray | None = None,
    base: float = COST_BASE,
    per_slope: float = COST_PER_SLOPE,
    per_km: float = COST_PER_KM,
) -> np.ndarray:
    """Cost of treating each cell: ``base + per_slope * tan(slope) + per_km * d_km`` (float32).

    Steep ground costs more (a 45 degree slope adds `per_slope`), and so does remote ground (`d_km`, the
    distance to the nearest cell of the `roads` mask; 0 everywhere without one). The unit is the user's:
    with the defaults, a flat cell beside a road costs 1.
    """
    for name, v in (("base", base), ("per_slope", per_slope), ("per_km", per_km)):
        if not (math.isfinite(v) and v >= 0):
            raise InputError(f"cost parameter {name} must be a finite number >= 0, got {v:g}")
    slope = np.radians(landscape.layers["slp"].astype(np.float64))
    cost = base + per_slope * np.tan(slope)
    if roads is not None and np.asarray(roads, dtype=bool).any():
        d = ndimage.distance_transform_edt(~np.asarray(roads, dtype=bool)) * landscape.cell_size
        cost = cost + per_km * d / 1000.0
    return cost.astype(np.float32)


# ----------------------------------------------------------------------------- one entry point


def read_planner_layer(spec: LayerSpec, landscape: Landscape) -> np.ndarray:
    """The planner layer `spec` names, on the landscape's grid (float32)."""
    if spec.constant is not None:
        return np.full(landscape.shape, spec.constant, dtype=np.float32)
    suffix = spec.path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return read_raster_layer(spec.path, landscape, spec.key)
    if suffix in VECTOR_SUFFIXES:
        return read_vector_layer(spec.path, landscape, spec.key, spec.attribute)
    raise InputError(
        f"{spec.flag} {spec.path}: not a raster ({' '.join(RASTER_SUFFIXES)}) nor a vector file "
        f"({' '.join(VECTOR_SUFFIXES)})"
    )


@dataclass(frozen=True)
class PlannerLayerSpecs:
    """The planner layers a command was given, by key; `attach` puts them on a landscape."""

    specs: tuple[LayerSpec, ...] = ()

    @classmethod
    def from_texts(cls, **texts: str | None) -> PlannerLayerSpecs:
        """From flag texts by key (value=..., ignition=..., cost=..., exclude=...; None: not given)."""
        return cls(tuple(parse_spec(k, t) for k, t in texts.items() if t is not None))

    def __bool__(self) -> bool:
        return bool(self.specs)

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys of the layers given."""
        return tuple(s.key for s in self.specs)

    def describe(self) -> dict[str, str]:
        """{key: what the user gave}, for outputs."""
        return {s.key: s.text for s in self.specs}

    def attach(self, landscape: Landscape) -> Landscape:
        """A copy of `landscape` carrying the layers (replacing any of the same key it had), validated."""
        if not self.specs:
            return landscape
        layers = dict(landscape.layers)
        for spec in self.specs:
            layers[spec.key] = read_planner_layer(spec, landscape)
        out = replace(landscape, layers=layers, meta=dict(landscape.meta))
        try:
            return out.validate()
        except InputError as exc:
            given = ", ".join(f"{s.flag} {s.text}" for s in self.specs)
            raise InputError(f"{exc} (from {given})") from None


class LayeredDataset:
    """A dataset (folder or synthetic) whose every tile gets the planner layers of `specs` when read.

    It passes `len()`, `manifest`, `tile_shape` and the rest through to the dataset it wraps.
    """

    def __init__(self, dataset, specs: PlannerLayerSpecs):
        self.dataset, self.specs = dataset, specs

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Landscape:
        return self.specs.attach(self.dataset[index])

    def __getattr__(self, name: str):
        if name in ("dataset", "specs"):  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"LayeredDataset({self.dataset!r}, {self.specs.describe()})"
