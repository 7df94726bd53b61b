"""`fuelbreak data`: make datasets of tiles (synthetic, or cut from real rasters) and summarise them.

fuelbreak data synth --n 500 --size 50 --seed 0 --out data/synthetic
fuelbreak data tile --src DIR [--bbox LON_MIN LAT_MIN LON_MAX LAT_MAX] --size 50 --overlap 25 --out DIR
fuelbreak data info PATH
fuelbreak data fetch --bbox LON_MIN LAT_MIN LON_MAX LAT_MAX --out DIR [--source NAME|URL]
fuelbreak data cost --tile TILE_OR_FOLDER [--roads ROADS.geojson] --out cost.tif
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from fuelbreak.cli.common import add_tile_args, count_int, positive_float, seed_int
from fuelbreak.errors import ConfigError, InputError, OutputError
from fuelbreak.landscape.core import LAYERS
from fuelbreak.landscape.dataset import (
    DATASET_FILES,
    FUEL_CLASSES,
    check_target,
    dataset_split,
    default_split_block,
    is_spatial,
    load_dataset,
    split_block_of,
    write_dataset,
)
from fuelbreak.landscape.fetch import DEFAULT_TIMEOUT
from fuelbreak.landscape.geotiff import SCALINGS, SLOPE_UNITS, read_layer_folder
from fuelbreak.landscape.planner_layers import COST_BASE, COST_PER_KM, COST_PER_SLOPE
from fuelbreak.landscape.synthetic import synthetic_tile, tile_seed
from fuelbreak.landscape.tiling import crop_bbox, cut_tiles, tile_windows
from fuelbreak.outputs import output_set


def _key_value(kind: str):
    """Argparse type for KEY=VALUE flags whose KEY is a layer name."""

    def parse(text: str) -> tuple[str, str]:
        key, sep, value = text.partition("=")
        if not sep or not value:
            raise argparse.ArgumentTypeError(f"expected KEY={kind}, got '{text}'")
        if key not in LAYERS:
            raise argparse.ArgumentTypeError(
                f"unknown layer '{key}' in '{text}'; layers are {' '.join(LAYERS)}"
            )
        return key, value

    return parse


def _scale(text: str) -> tuple[str, float]:
    key, value = _key_value("FACTOR")(text)
    try:
        factor = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"scaling factor in '{text}' is not a number") from None
    if not factor > 0:
        raise argparse.ArgumentTypeError(f"scaling factor in '{text}' must be positive")
    return key, factor


def _nonnegative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number >= 0")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a fraction in [0, 1]")
    return value


def register(subparsers) -> None:
    """Add `fuelbreak data` and its actions to `subparsers`."""
    parser = subparsers.add_parser("data", help="make and inspect datasets of landscape tiles")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("synth", help="write a dataset of synthetic tiles")
    p.add_argument("--n", type=count_int(1), default=500, help="number of tiles (default 500)")
    p.add_argument("--size", type=count_int(4), default=50, help="tile side, cells, at least 4 (default 50)")
    p.add_argument(
        "--seed", type=seed_int, default=0, help="random seed; tile i is the same whatever --n (default 0)"
    )
    p.add_argument("--cell-size", type=positive_float, default=30.0, help="cell size, m (default 30)")
    p.add_argument("--out", type=Path, default=Path("data/synthetic"), help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    p.add_argument(
        "--planner-layers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give each tile its synthetic planner layers: values of communities at the edge of the fuel, ignition "
        "density along roads, a cost from slope and road distance, an exclusion zone (default on; the eight "
        "LANDFIRE layers are the same either way)",
    )
    p.set_defaults(func=run_synth)

    p = sub.add_parser(
        "tile", help="cut a folder of per-layer GeoTIFFs (e.g. LANDFIRE) into a dataset of tiles"
    )
    p.add_argument(
        "--src",
        type=Path,
        required=True,
        help="folder of per-layer GeoTIFFs (from `data fetch`: its recorded scalings apply)",
    )
    p.add_argument(
        "--bbox",
        type=float,
        nargs=4,
        metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"),
        help="crop to this box in degrees (EPSG:4326); default: the whole raster",
    )
    p.add_argument("--size", type=count_int(1), default=50, help="tile side, cells (default 50)")
    p.add_argument(
        "--overlap", type=count_int(0), default=25, help="overlap of neighbouring tiles, cells (default 25)"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--layer",
        type=_key_value("FILE"),
        action="append",
        default=[],
        metavar="KEY=FILE",
        help="file of a layer",
    )
    p.add_argument(
        "--scale",
        type=_scale,
        action="append",
        default=[],
        metavar="KEY=FACTOR",
        help=f"stored value x FACTOR = value in standard units (defaults: {SCALINGS})",
    )
    p.add_argument("--slope-units", choices=SLOPE_UNITS, help="slope file units (default: from its name)")
    p.add_argument(
        "--max-nodata", type=_fraction, default=0.5, help="skip tiles with more no-data (default 0.5)"
    )
    p.add_argument(
        "--min-burnable",
        type=_fraction,
        default=0.0,
        help="skip tiles with a smaller burnable share (default 0)",
    )
    p.add_argument(
        "--split-block",
        type=count_int(1),
        help="side, in cells, of the square blocks the train/val/test split is drawn by (default: a whole "
        "number of tile steps, at least twice the tile side); tiles straddling blocks of two splits are dropped",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    p.set_defaults(func=run_tile)

    p = sub.add_parser(
        "fetch",
        help="download the eight layers of a bounding box (windowed reads over HTTP) into a folder for `data tile`",
        description="Read only the window of --bbox from each remote GeoTIFF of the source (GDAL /vsicurl/, HTTP "
        "range requests), write one GeoTIFF per layer as stored and fetch.json (source, box, window, stored "
        "units and scalings, checked against the values). The layers are staged beside DIR and moved in together "
        "when all eight are complete; an interrupted or failed fetch keeps the staged ones, and a rerun of the same "
        "command resumes.",
    )
    p.add_argument(
        "--bbox",
        type=float,
        nargs=4,
        required=True,
        metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"),
        help="the box in degrees (EPSG:4326)",
    )
    p.add_argument(
        "--out", type=Path, required=True, help="output folder (then: fuelbreak data tile --src DIR)"
    )
    p.add_argument(
        "--source",
        default=None,
        metavar="NAME|URL",
        help="a built-in source (pyrecast-ca-2021, the default: the pyrecast California 2021 fuelscape) or the "
        "base URL of a server with the same layout (dem slp asp fbfm40 cc ch cbh cbd .tif, same units)",
    )
    p.add_argument(
        "--scale",
        type=_scale,
        action="append",
        default=[],
        metavar="KEY=FACTOR",
        help="stored value x FACTOR = value in standard units, overriding the source's scaling",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a fetch of another box in --out")
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"deadline for each layer's download, retries with backoff included (default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--allow-partial",
        action="store_true",
        help="fetch a box that lies partly outside the source's data (cells without data become non-burnable)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_fetch)

    p = sub.add_parser(
        "cost",
        help="write a treatment-cost raster from slope and distance to roads, on a tile's grid (for --cost)",
        description="Write a one-band GeoTIFF on the tile's grid (its CRS, transform and shape): the cost of treating "
        "each cell, BASE + PER_SLOPE * tan(slope) + PER_KM * (km to the nearest road), so steep and remote ground "
        "costs more. Give it to plan, evaluate or visualize with --cost.",
    )
    add_tile_args(p)
    p.add_argument("--roads", metavar="PATH", help="roads as a vector file (lines), reprojected onto the tile's grid")
    p.add_argument("--base", type=_nonnegative, default=COST_BASE, help=f"cost of a flat cell on a road (default {COST_BASE:g})")
    p.add_argument(
        "--per-slope",
        type=_nonnegative,
        default=COST_PER_SLOPE,
        help=f"added cost per unit of tan(slope): a 45 degree slope adds this much (default {COST_PER_SLOPE:g})",
    )
    p.add_argument(
        "--per-km",
        type=_nonnegative,
        default=COST_PER_KM,
        help=f"added cost per km from the nearest road (needs --roads; default {COST_PER_KM:g})",
    )
    p.add_argument("--out", required=True, help="the cost GeoTIFF to write")
    p.set_defaults(func=run_cost)

    p = sub.add_parser("info", help="summarise a dataset folder")
    p.add_argument("path", type=Path, help="dataset folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--split-seed", type=seed_int, default=0, help="seed of the train/val/test split (default 0, as training)"
    )
    p.add_argument(
        "--map",
        type=Path,
        help="PNG map of the split for tiles cut from real rasters (default: PATH/split_map.png)",
    )
    p.add_argument("--no-map", action="store_true", help="do not write the split map")
    p.set_defaults(func=run_info)


def run_synth(args: argparse.Namespace) -> int:
    """Run `fuelbreak data synth`: write a dataset of synthetic tiles as one output set; returns 0."""
    start = time.perf_counter()
    tiles = (
        synthetic_tile(
            args.size,
            tile_seed(args.seed, i),
            args.cell_size,
            name=f"synthetic-s{args.seed}-{i:05d}",
            planner_layers=args.planner_layers,
        )
        for i in range(args.n)
    )
    check_target(args.out, args.overwrite)
    with output_set(args.out, flag="--out", owned=DATASET_FILES) as out:
        write_dataset(
            tiles, out.stage, source="synthetic", seed=args.seed, total=args.n, overwrite=True, label=args.out.name
        )
    layers = " with planner layers (value, ignition, cost, exclude)" if args.planner_layers else ""
    print(
        f"wrote {args.n} synthetic tiles of {args.size} x {args.size}{layers} to {args.out} in "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    """Run `fuelbreak data fetch`: download the layers of --bbox from --source; returns 0."""
    from fuelbreak.landscape.fetch import fetch, source_of

    start = time.perf_counter()
    source = source_of(args.source, dict(args.scale))
    record = fetch(
        args.bbox,
        args.out,
        source,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        timeout=args.timeout,
        allow_partial=args.allow_partial,
    )
    w = record["window"]
    total = sum(e["bytes"] for e in record["layers"].values())
    print(
        f"fetched {len(record['layers'])} layers of {w['height']} x {w['width']} cells (rows {w['row_off']}.., "
        f"cols {w['col_off']}.. of the source's {record['grid']['shape'][0]} x {record['grid']['shape'][1]}) "
        f"from {source.url} into {args.out} ({total / 1e6:.1f} MB) in {time.perf_counter() - start:.1f} s"
    )
    print("scalings (stored x factor): " + ", ".join(f"{k} x{v:g}" for k, v in record["scalings"].items()))
    print(f"next: fuelbreak data tile --src {args.out} --size 50 --overlap 25 --out data/mine")
    return 0


def run_tile(args: argparse.Namespace) -> int:
    """Run `fuelbreak data tile`: cut fetched rasters into a dataset of tiles as one output set; returns 0."""
    start = time.perf_counter()

    check_target(args.out, args.overwrite)
    with output_set(args.out, flag="--out", owned=DATASET_FILES) as out:
        report = _tile(args, out)
    print(report + f" in {time.perf_counter() - start:.1f} s")
    return 0


def _tile(args: argparse.Namespace, out) -> str:
    """Cut the tiles into the output set's staging folder; the line that reports it."""
    from fuelbreak.landscape.fetch import fetched_scalings

    fetched, fetched_slope = fetched_scalings(args.src)  # {} for a folder not from `data fetch`; an unfinished one is an error
    landscape = read_layer_folder(
        args.src,
        layers=dict(args.layer),
        scalings={**fetched, **dict(args.scale)},
        slope_units=args.slope_units or fetched_slope,
    )
    if args.bbox is not None:
        landscape = crop_bbox(landscape, *args.bbox)
    n_windows = len(tile_windows(landscape.shape, args.size, args.overlap))
    tiles = cut_tiles(landscape, args.size, args.overlap, args.max_nodata, args.min_burnable)
    if not tiles:
        h, w = landscape.shape
        why = (
            f"no {args.size} x {args.size} tile fits in its {h} x {w} cells; choose a smaller --size"
            if n_windows == 0
            else f"all {n_windows} tiles were skipped by --max-nodata {args.max_nodata:g} or --min-burnable "
            f"{args.min_burnable:g}"
        )
        raise InputError(f"--src {args.src}: no tiles to write: {why}")
    extra = {
        "bbox": args.bbox,
        "crop_offset": [landscape.meta["row_offset"], landscape.meta["col_offset"]],
        "crop_shape": list(landscape.shape),
        "files": landscape.meta["files"],
        "scalings": landscape.meta["scalings"],
        "slope_units": landscape.meta["slope_units"]["slp"],
        "source_nodata": landscape.meta.get("nodata"),
        "max_nodata_fraction": args.max_nodata,
        "min_burnable_fraction": args.min_burnable,
        "windows": n_windows,
        "split_block": args.split_block or default_split_block((args.size, args.size), args.overlap),
    }
    write_dataset(
        tiles, out.stage, source=str(args.src), overlap=args.overlap, extra=extra, overwrite=True, label=args.out.name
    )

    nodata = int(landscape.meta.get("nodata_cells", 0))
    return (
        f"read {args.src} ({landscape.shape[0]} x {landscape.shape[1]} cells after crop; "
        f"{nodata} no-data cells made non-burnable); wrote {len(tiles)} of {n_windows} tiles of "
        f"{args.size} x {args.size} (overlap {args.overlap}) to {args.out}"
    )


def summary(path: Path, split_seed: int = 0) -> dict:
    """What `data info` prints: the manifest's headline fields and the train/val/test split's counts.

    Every tile is read and validated first: a dataset with a broken tile file is an error, not a summary.
    """
    ds = load_dataset(path)
    ds.check_tiles()
    m = ds.manifest
    split = dataset_split(ds, split_seed, with_dropped=True)
    return {
        "path": str(path),
        "count": len(ds),
        "size": list(ds.tile_shape),
        "overlap": m.get("overlap"),
        "source": m["source"],
        "seed": m.get("seed"),
        "cell_size": m.get("cell_size"),
        "crs": f"EPSG:{m['epsg']}" if m.get("epsg") else ("none" if not m.get("crs") else "custom (WKT)"),
        "fuel_fractions": m.get("fuel_fractions"),
        "nodata_fraction": m.get("nodata_fraction"),
        "tiles_with_nodata": sum(1 for t in m["tiles"] if t.get("nodata_fraction", 0) > 0),
        "split": {
            "kind": "spatial blocks" if is_spatial(m) else "random over tiles",
            "block": split_block_of(m),
            "seed": split_seed,
            **{k: len(v) for k, v in split.items()},
        },
    }


def run_cost(args: argparse.Namespace) -> int:
    """Run `fuelbreak data cost`: write the cost raster of slope and road distance on the tile's grid; returns 0."""
    from fuelbreak.cli.common import load_tile, out_file
    from fuelbreak.export import write_grids_geotiff
    from fuelbreak.landscape.planner_layers import cost_surface, source_mask

    out = out_file(args.out, "--out")
    land = load_tile(args)
    roads = source_mask(args.roads, land, "--roads") if args.roads else None
    cost = cost_surface(land, roads, args.base, args.per_slope, args.per_km)
    formula = f"{args.base:g} + {args.per_slope:g} tan(slope)" + (f" + {args.per_km:g} km to a road" if args.roads else "")
    with output_set(out, folder=False, flag="--out", files=[out.name]) as outputs:
        write_grids_geotiff(outputs.path(out.name), land, {"cost": cost}, {"formula": formula})
    print(
        f"wrote {out}: treatment cost on the grid of {land.name} ({land.shape[0]} x {land.shape[1]} cells), "
        f"{formula}; {float(cost.min()):.3g} to {float(cost.max()):.3g}, mean {float(cost.mean()):.3g}"
    )
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Run `fuelbreak data info`: print a dataset's summary and write its split map; returns 0.

    Raises:
        ConfigError: contradictory map flags, or --map for a dataset without spatial blocks.
    """
    if args.map is not None and args.no_map:
        raise ConfigError("--map and --no-map contradict each other; give one")
    info = summary(args.path, args.split_seed)
    if args.map is not None and info["split"]["block"] is None:
        raise ConfigError(
            f"--map {args.map}: dataset {args.path} is split at random over its tiles (synthetic tiles), not by "
            "spatial blocks, so it has no split map"
        )
    if not args.no_map and info["split"]["block"] is not None:
        from fuelbreak.viz.splits import plot_split_map

        ds = load_dataset(args.path)
        target = args.map or args.path / "split_map.png"
        if str(target).endswith(("/", "\\")) or target.is_dir():
            raise OutputError(f"--map {target} is a folder; --map names the PNG file to write")
        with output_set(target, folder=False, flag="--map", files=[target.name]) as out:
            plot_split_map(ds, dataset_split(ds, args.split_seed, with_dropped=True), out.path(target.name))
        info["split_map"] = str(target)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    h, w = info["size"]
    print(f"dataset      {info['path']}")
    print(
        f"tiles        {info['count']} of {h} x {w} cells ({info['cell_size']} m), overlap {info['overlap']}"
    )
    print(f"source       {info['source']}" + (f" (seed {info['seed']})" if info["seed"] is not None else ""))
    print(f"crs          {info['crs']}")
    fuels = info["fuel_fractions"] or {}
    print("fuel classes " + "  ".join(f"{k} {100 * fuels.get(k, 0):.1f}%" for k in FUEL_CLASSES))
    print(
        f"no-data      {100 * (info['nodata_fraction'] or 0):.2f}% of cells, in {info['tiles_with_nodata']} tiles"
    )
    sp = info["split"]
    how = f"{sp['kind']}" + (f" of {sp['block']} cells" if sp["block"] else "") + f", seed {sp['seed']}"
    print(
        f"split        train {sp['train']}, val {sp['val']}, test {sp['test']}, dropped {sp['dropped']} "
        f"(straddling blocks of two splits) [{how}]"
    )
    if "split_map" in info:
        print(f"split map    {info['split_map']}")
    return 0
