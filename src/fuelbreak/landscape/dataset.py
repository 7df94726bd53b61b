"""Datasets of tiles: a folder with one GeoTIFF per tile and a manifest, or synthetic tiles in memory.

A dataset folder holds `tile_00000.tif ...` (written by `write_landscape`) and `manifest.json`:
source, layers, units, seed, size, overlap, crs, count, and per tile its file, offset in the source
raster, no-data fraction and fuel-class fractions. `planner_layers` lists the planner's layers every
tile carries (value, ignition, cost, exclude; [] or absent in datasets without them, which load as before). Tiles are read when indexed. Anything missing or
malformed is an `InputError` naming the path; nothing is ever replaced by made-up data.

`Dataset`, `SyntheticDataset` share one interface: `len()`, `ds[i] -> Landscape`, `manifest`, `tile_shape`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS
from tqdm import tqdm

from fuelbreak.atomic import atomic_write_text
from fuelbreak.errors import ConfigError, InputError, OutputError
from fuelbreak.landscape.core import LAYERS, NONBURNABLE, PLANNER_LAYERS, PLANNER_UNITS, UNITS, Landscape
from fuelbreak.landscape.geotiff import read_landscape, write_landscape
from fuelbreak.landscape.synthetic import synthetic_tile, tile_seed

MANIFEST = "manifest.json"
FORMAT = "fuelbreak-dataset-1"
# Fuel classes reported in a manifest: Scott & Burgan families by code range, and non-burnable.
FUEL_CLASSES: dict[str, tuple[int, int]] = {
    "GR": (101, 109),
    "GS": (121, 124),
    "SH": (141, 149),
    "TU": (161, 165),
    "TL": (181, 189),
    "SB": (201, 204),
    "NB": (min(NONBURNABLE), max(NONBURNABLE)),
}
REQUIRED_KEYS = ("format", "source", "layers", "size", "count", "tiles")


def tile_file(index: int) -> str:
    """The file name of tile `index` in a dataset folder."""
    return f"tile_{index:05d}.tif"


def fuel_class_fractions(fbfm: np.ndarray) -> dict[str, float]:
    """Share of cells in each fuel class (FUEL_CLASSES) of a fuel-model grid."""
    codes = np.asarray(fbfm)
    return {
        k: round(float(np.mean((codes >= lo) & (codes <= hi))), 6) for k, (lo, hi) in FUEL_CLASSES.items()
    }


def _nodata_fraction(tile: Landscape) -> float:
    mask = tile.meta.get("nodata_mask")
    return float(np.mean(mask)) if mask is not None else 0.0


def _epsg(crs: str | None) -> int | None:
    return CRS.from_user_input(crs).to_epsg() if crs else None


def _bounds(tile: Landscape) -> list[float] | None:
    """(left, bottom, right, top) of a geo-referenced tile in its CRS; None without a transform."""
    if tile.transform is None:
        return None
    t = Affine(*tile.transform[:6])
    h, w = tile.shape
    xs, ys = zip(*(t @ (c, r) for r, c in ((0, 0), (0, w), (h, 0), (h, w))), strict=True)
    return [float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))]


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


# The files of a dataset folder (glob patterns): what a new dataset written over an old one replaces.
DATASET_FILES = (MANIFEST, "tile_*.tif", "split_map.png")


def dataset_files(out: Path) -> list[Path]:
    """The files of a dataset already in folder `out` (its manifest and tiles)."""
    if not out.is_dir():
        return []
    return [p for p in out.iterdir() if p.name == MANIFEST or (p.name.startswith("tile_") and p.suffix == ".tif")]


def check_target(out: Path, overwrite: bool) -> None:
    """Refuse a target that is a file, or that holds a dataset, unless `overwrite`; changes nothing."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; a dataset is written into a folder")
    old = dataset_files(out)
    if old and not overwrite:
        raise InputError(
            f"{out} already holds a dataset ({len(old)} files); choose another folder or overwrite it (--overwrite)"
        )


def _clear(out: Path, overwrite: bool) -> None:
    """Make `out` an empty-of-tiles folder; refuse to touch an existing dataset unless `overwrite`."""
    check_target(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    for p in dataset_files(out):
        p.unlink()


def write_dataset(
    tiles: Iterable[Landscape],
    out: str | Path,
    *,
    source: str,
    seed: int | None = None,
    overlap: int | None = None,
    total: int | None = None,
    extra: dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
    label: str | None = None,
) -> Path:
    """Write tiles (all of one shape) and then the manifest into folder `out`; return the manifest path.

    `tiles` may be a generator (tiles are written one by one); `total` sizes the progress bar.
    `extra` adds provenance fields (bbox, files, scalings...) to the manifest; `label` names the
    dataset in the progress bar (default: the folder's name).
    """
    out = Path(out)
    _clear(out, overwrite)
    if total is None and hasattr(tiles, "__len__"):
        total = len(tiles)
    entries: list[dict] = []
    shape = crs = cell_size = planner = None
    for i, tile in enumerate(
        tqdm(tiles, total=total, desc=f"writing {label or out.name}", unit="tile", disable=not progress)
    ):
        keys = [k for k in PLANNER_LAYERS if k in tile.layers]
        if shape is None:
            shape, crs, cell_size, planner = tile.shape, tile.crs, tile.cell_size, keys
        elif tile.shape != shape:
            raise InputError(
                f"tile {i} ('{tile.name}') has shape {tile.shape}, but the first tile has {shape}"
            )
        elif keys != planner:
            raise InputError(
                f"tile {i} ('{tile.name}') has planner layers {keys or 'none'}, but the first tile has {planner or 'none'}"
            )
        name = tile_file(i)
        write_landscape(tile, out / name)
        entries.append(
            {
                "file": name,
                "name": tile.name,
                "offset": [int(tile.meta.get("row_offset", 0)), int(tile.meta.get("col_offset", 0))],
                "bounds": _bounds(tile),
                "nodata_fraction": round(_nodata_fraction(tile), 6),
                "fuel_fractions": fuel_class_fractions(tile.layers["fbfm"]),
            }
        )
    if not entries:
        raise InputError(f"no tiles to write to {label or out}")
    manifest = {
        "format": FORMAT,
        "source": source,
        "layers": list(LAYERS),
        "units": {**UNITS, **{k: PLANNER_UNITS[k] for k in planner}},
        "planner_layers": planner,
        "seed": seed,
        "size": list(shape),
        "overlap": overlap,
        "cell_size": cell_size,
        "crs": crs,
        "epsg": _epsg(crs),
        "count": len(entries),
        "fuel_fractions": {
            k: round(float(np.mean([e["fuel_fractions"][k] for e in entries])), 6) for k in FUEL_CLASSES
        },
        "nodata_fraction": round(float(np.mean([e["nodata_fraction"] for e in entries])), 6),
        **(extra or {}),
        "tiles": entries,
    }
    path = out / MANIFEST
    _write_json(path, manifest)
    return path


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# Optional manifest fields and what each must be when present (None allowed): a check and its words.
_FIELD_RULES = {
    "source": (lambda v: isinstance(v, str), "a string"),
    "seed": (lambda v: _is_int(v) and v >= 0, "a whole number >= 0"),
    "overlap": (lambda v: _is_int(v) and v >= 0, "a whole number >= 0"),
    "split_block": (lambda v: _is_int(v) and v >= 1, "a whole number >= 1"),
    "cell_size": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "crs": (lambda v: isinstance(v, str), "a string (WKT)"),
    "epsg": (_is_int, "a whole number"),
    "nodata_fraction": (lambda v: _is_number(v) and 0 <= v <= 1, "a fraction in [0, 1]"),
    "fuel_fractions": (lambda v: isinstance(v, dict) and all(_is_number(x) for x in v.values()), "a table of fractions"),
    "planner_layers": (
        lambda v: isinstance(v, list) and all(k in PLANNER_LAYERS for k in v),
        f"a list of planner layers ({', '.join(PLANNER_LAYERS)})",
    ),
}
_TILE_RULES = {
    "name": (lambda v: isinstance(v, str), "a string"),
    "offset": (lambda v: isinstance(v, list) and len(v) == 2 and all(_is_int(x) for x in v), "[row, col]"),
    "bounds": (lambda v: isinstance(v, list) and len(v) == 4 and all(_is_number(x) for x in v), "4 numbers"),
    "nodata_fraction": (lambda v: _is_number(v) and 0 <= v <= 1, "a fraction in [0, 1]"),
    "fuel_fractions": (lambda v: isinstance(v, dict) and all(_is_number(x) for x in v.values()), "a table of fractions"),
}


def _check_manifest(manifest: dict, mpath: Path) -> None:
    """The types of the manifest's fields (a hand-edited or damaged manifest is an InputError naming the field)."""
    if not (_is_int(manifest["count"]) and manifest["count"] >= 0):
        raise InputError(f"{mpath}: count {manifest['count']!r} is not a whole number of tiles")
    for key, (ok, words) in _FIELD_RULES.items():
        value = manifest.get(key)
        if value is not None and not ok(value):
            raise InputError(f"{mpath}: field {key} is {value!r}; expected {words}")
    tiles = manifest["tiles"]
    if not isinstance(tiles, list):
        raise InputError(f"{mpath}: field tiles is {type(tiles).__name__}; expected a list of tile entries")
    for i, t in enumerate(tiles):
        if not isinstance(t, dict):
            raise InputError(f"{mpath}: tiles[{i}] is {t!r}; expected an object with its file")
        f = t.get("file")
        if not (isinstance(f, str) and f and Path(f).name == f and f not in (".", "..")):
            raise InputError(f"{mpath}: tiles[{i}].file {f!r} is not a file name inside the dataset folder")
        for key, (ok, words) in _TILE_RULES.items():
            value = t.get(key)
            if value is not None and not ok(value):
                raise InputError(f"{mpath}: tiles[{i}].{key} is {value!r}; expected {words}")


class Dataset:
    """A dataset folder: `len()`, `ds[i]` reads tile i (checked against the manifest), `manifest`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"dataset {self.path} does not exist")
        if not self.path.is_dir():
            raise InputError(f"dataset {self.path} is not a folder")
        mpath = self.path / MANIFEST
        if not mpath.is_file():
            raise InputError(f"dataset {self.path} has no {MANIFEST}: not a fuelbreak dataset folder")
        try:
            manifest = json.loads(mpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{mpath} is not valid JSON: {exc}") from exc
        if not isinstance(manifest, dict):
            raise InputError(f"{mpath} does not hold a JSON object")
        missing = [k for k in REQUIRED_KEYS if k not in manifest]
        if missing:
            raise InputError(f"{mpath} lacks field(s) {', '.join(missing)}")
        if manifest["format"] != FORMAT:
            raise InputError(f"{mpath} has format '{manifest['format']}', expected '{FORMAT}'")
        _check_manifest(manifest, mpath)
        tiles = manifest["tiles"]
        if len(tiles) != manifest["count"]:
            raise InputError(f"{mpath} lists {len(tiles)} tiles but says count {manifest['count']}")
        absent = [t.get("file") for t in tiles if not (self.path / str(t.get("file"))).is_file()]
        if absent:
            raise InputError(
                f"dataset {self.path}: {len(absent)} tile file(s) listed in {MANIFEST} are missing, "
                f"e.g. {self.path / str(absent[0])}"
            )
        size = manifest["size"]
        if not (
            isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)
        ):
            raise InputError(f"{mpath} has size {size!r}; expected [height, width]")
        self.manifest = manifest
        self.tile_shape: tuple[int, int] = (size[0], size[1])

    def __len__(self) -> int:
        return len(self.manifest["tiles"])

    def __getitem__(self, index: int) -> Landscape:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"tile index {index} out of range for dataset {self.path} of {n} tiles")
        path = self.path / self.manifest["tiles"][index % n]["file"]
        tile = read_landscape(path)
        if tile.shape != self.tile_shape:
            raise InputError(
                f"{path} has shape {tile.shape}, but {self.path / MANIFEST} says {self.tile_shape}"
            )
        missing = [k for k in self.manifest.get("planner_layers") or () if k not in tile.layers]
        if missing:
            raise InputError(
                f"{path} lacks planner layer(s) {', '.join(missing)} that {self.path / MANIFEST} lists"
            )
        return tile

    def check_tiles(self) -> None:
        """Read every tile (header and pixels) and validate it; an InputError lists the broken ones."""
        bad = []
        for i in range(len(self)):
            try:
                self[i]
            except InputError as exc:
                bad.append((i, str(exc)))
        if bad:
            shown = "; ".join(f"tile {i}: {msg}" for i, msg in bad[:3])
            raise InputError(
                f"dataset {self.path}: {len(bad)} of {len(self)} tile files cannot be read or are invalid ({shown}"
                f"{' ...' if len(bad) > 3 else ''}); make the dataset again with `fuelbreak data synth` or "
                "`fuelbreak data tile --overwrite`"
            )

    def footprints(self) -> list[tuple[float, float, float, float] | None]:
        """Per tile (left, bottom, right, top) in the dataset's CRS: from the manifest, else the file's header."""
        out = []
        for entry in self.manifest["tiles"]:
            bounds = entry.get("bounds")
            if bounds is None and self.manifest.get("crs"):
                path = self.path / entry["file"]
                try:
                    with rasterio.open(path) as src:
                        bounds = list(src.bounds)
                except rasterio.errors.RasterioIOError as exc:
                    raise InputError(f"cannot read {path}: {exc}") from None
            out.append(tuple(float(v) for v in bounds) if bounds is not None else None)
        return out

    def __repr__(self) -> str:
        return f"Dataset({str(self.path)!r}, {len(self)} tiles of {self.tile_shape})"


def load_dataset(path: str | Path) -> Dataset:
    """Open a dataset folder (manifest and file list checked now; tiles read when indexed)."""
    return Dataset(path)


class SyntheticDataset:
    """`n` synthetic tiles made on demand: tile i is `synthetic_tile(size, tile_seed(seed, i))`.

    With `planner_layers`, each tile carries its synthetic value, ignition, cost and exclude layers.
    """

    def __init__(
        self, n: int = 500, size: int = 50, seed: int = 0, cell_size: float = 30.0, planner_layers: bool = False
    ):
        if int(n) < 1:
            raise ConfigError(f"a synthetic dataset needs at least 1 tile, got {n}")
        if int(size) < 4:
            raise ConfigError(f"tile size must be at least 4 cells, got {size}")
        self.n, self.size, self.seed, self.cell_size = int(n), int(size), int(seed), float(cell_size)
        self.planner_layers = bool(planner_layers)
        self.tile_shape = (self.size, self.size)
        planner = list(PLANNER_LAYERS) if self.planner_layers else []
        self.manifest = {
            "format": FORMAT,
            "source": "synthetic",
            "layers": list(LAYERS),
            "units": {**UNITS, **{k: PLANNER_UNITS[k] for k in planner}},
            "planner_layers": planner,
            "seed": self.seed,
            "size": [self.size, self.size],
            "overlap": None,
            "cell_size": self.cell_size,
            "crs": None,
            "epsg": None,
            "count": self.n,
        }

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Landscape:
        if not -self.n <= index < self.n:
            raise IndexError(f"tile index {index} out of range for a synthetic dataset of {self.n} tiles")
        i = index % self.n
        return synthetic_tile(
            self.size,
            tile_seed(self.seed, i),
            self.cell_size,
            name=f"synthetic-s{self.seed}-{i:05d}",
            planner_layers=self.planner_layers,
        )

    def __repr__(self) -> str:
        layers = ", planner_layers=True" if self.planner_layers else ""
        return f"SyntheticDataset(n={self.n}, size={self.size}, seed={self.seed}{layers})"


def open_dataset(
    path: str | Path | None, n: int = 500, size: int = 50, seed: int = 0, planner_layers: bool = False
) -> Dataset | SyntheticDataset:
    """The dataset folder at `path`, or, when `path` is None, `n` synthetic tiles of `size` from `seed`.

    `planner_layers` gives synthetic tiles their value, ignition, cost and exclude layers (a folder's tiles
    carry whatever layers were written).
    """
    if path is None:
        return SyntheticDataset(n, size, seed, planner_layers=planner_layers)
    return load_dataset(path)


def split_indices(
    n: int, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, list[int]]:
    """Disjoint train/val/test index lists covering range(n), shuffled by `seed`, each sorted.

    Sizes follow `fractions` by largest remainder; a part with a positive fraction gets at least
    one index when n allows it.
    """
    if n < 0:
        raise ConfigError(f"cannot split {n} items")
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0):
        raise ConfigError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    exact = f * n
    counts = np.floor(exact).astype(int)
    for k in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[k] += 1
    for k in np.flatnonzero((f > 0) & (counts == 0)):
        donor = int(np.argmax(counts))
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[k] += 1
    order = np.random.default_rng(seed).permutation(n)
    parts = np.split(order, np.cumsum(counts)[:-1])
    return {
        name: sorted(int(i) for i in part) for name, part in zip(("train", "val", "test"), parts, strict=True)
    }


# ----------------------------------------------------------------------------- spatial splits

SPLITS = ("train", "val", "test")


def is_spatial(manifest: dict | None) -> bool:
    """Whether a dataset is split by spatial blocks: tiles cut from real rasters (offsets known), not synthetic."""
    if not manifest or manifest.get("source") == "synthetic":
        return False
    tiles = manifest.get("tiles")
    return bool(tiles) and all(isinstance(t.get("offset"), list) and len(t["offset"]) == 2 for t in tiles)


def default_split_block(size: tuple[int, int] | list[int], overlap: int | None) -> int:
    """Side of a split block in cells: a whole number of tile steps, at least twice the tile side."""
    side = max(int(v) for v in size)
    step = max(side - int(overlap or 0), 1)
    return step * math.ceil(2 * side / step)


def spatial_split(
    offsets,
    size: tuple[int, int] | list[int],
    block: int,
    seed: int,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> dict[str, list[int]]:
    """Split tiles by square blocks of `block` cells so that no two splits share a cell.

    `offsets` are the tiles' (row, col) in one raster, `size` their (height, width). The block grid
    starts at the smallest offsets. Each block that holds some tile whole is drawn train, val or
    test (`split_indices` over those blocks, by `seed` and `fractions`); the other blocks are train.
    A tile whose cells all lie in blocks of one split joins it; a tile that straddles blocks of
    different splits is dropped (listed under "dropped"). Returns sorted index lists.
    """
    h, w = (int(v) for v in size)
    if int(block) < max(h, w):
        raise ConfigError(
            f"split block of {block} cells is smaller than the tiles ({h} x {w}); it must hold a tile"
        )
    off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    out: dict[str, list[int]] = {k: [] for k in (*SPLITS, "dropped")}
    if len(off) == 0:
        return out
    rel = off - off.min(axis=0)
    first = rel // block
    last = (rel + np.array([h - 1, w - 1])) // block
    whole = (first == last).all(axis=1)
    home = sorted({(int(r), int(c)) for r, c in first[whole]})
    drawn = split_indices(len(home), seed, fractions)
    label = {}
    for k, name in enumerate(SPLITS):
        for i in drawn[name]:
            label[home[i]] = k
    for i in range(len(off)):
        kinds = {
            label.get((r, c), 0)
            for r in range(int(first[i, 0]), int(last[i, 0]) + 1)
            for c in range(int(first[i, 1]), int(last[i, 1]) + 1)
        }
        out[SPLITS[kinds.pop()] if len(kinds) == 1 else "dropped"].append(i)
    return out


def dataset_split(dataset, seed: int, with_dropped: bool = False) -> dict[str, list[int]]:
    """The train/val/test split of a dataset.

    Spatial blocks for tiles cut from real rasters (`spatial_split`, block side from the manifest's
    `split_block` or `default_split_block`), `split_indices` over tile indices for synthetic tiles and plain
    sequences of landscapes.
    """
    manifest = getattr(dataset, "manifest", None)
    if not is_spatial(manifest):
        out = split_indices(len(dataset), seed)
        return {**out, "dropped": []} if with_dropped else out
    size = manifest["size"]
    block = manifest.get("split_block") or default_split_block(size, manifest.get("overlap"))
    out = spatial_split([t["offset"] for t in manifest["tiles"]], size, int(block), seed)
    if not with_dropped:
        out.pop("dropped")
    return out


def split_block_of(manifest: dict) -> int | None:
    """The block side a spatial dataset is split by; None for synthetic tiles."""
    if not is_spatial(manifest):
        return None
    return int(manifest.get("split_block") or default_split_block(manifest["size"], manifest.get("overlap")))
