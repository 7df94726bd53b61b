"""`fuelbreak bench flammap`: fuelbreak's engine against FlamMap's outputs (thin over `fuelbreak.benchmarks.flammap`)."""

from __future__ import annotations

import argparse
import json
import sys

from fuelbreak.cli.common import SCENARIO_FLAGS, add_weather_args

FLAMMAP_FLAGS = ("tile", "flammap_bp", "flammap_arrival", "ignition")
WEATHER_FLAGS = ("weather", "wind_speed", "wind_direction", *SCENARIO_FLAGS)
DEFAULT_FIRES = 1000


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the FlamMap comparison's flags (and the weather flags) to `fuelbreak bench`'s parser `p`."""
    g = p.add_argument_group("flammap (fuelbreak bench flammap)")
    g.add_argument(
        "--tile",
        metavar="FOLDER_OR_TIF",
        help="flammap: the landscape FlamMap ran on: a folder of LANDFIRE GeoTIFFs or a tile GeoTIFF",
    )
    g.add_argument(
        "--flammap-bp",
        metavar="FILE",
        help="flammap: FlamMap's burn-probability grid (MTT with random ignitions), GeoTIFF or ESRI ASCII",
    )
    g.add_argument(
        "--flammap-arrival",
        metavar="FILE",
        help="flammap: FlamMap's arrival-time grid (minutes) of one MTT fire from --ignition, GeoTIFF or ESRI ASCII",
    )
    g.add_argument(
        "--ignition",
        metavar="ROW,COL",
        help="flammap: the cell of that fire's ignition (row 0 the north edge, as in the GeoTIFF)",
    )
    add_weather_args(
        p,
        "the built-in mix; these flags are for bench flammap, which needs one scenario, the FlamMap run's, in "
        "fuelbreak's units: wind at 10 m in km/h, moistures as fractions",
    )


def refuse_flammap_flags(args: argparse.Namespace) -> None:
    """Refuse the FlamMap comparison's flags (and the weather flags) on another benchmark.

    Raises:
        ConfigError: one was given.
    """
    from fuelbreak.errors import ConfigError

    given = [f"--{n.replace('_', '-')}" for n in (*FLAMMAP_FLAGS, *WEATHER_FLAGS) if getattr(args, n, None) is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} belong(s) to `bench flammap`, not `bench {args.what}`")


def run(args: argparse.Namespace) -> int:
    """Run `fuelbreak bench flammap`; returns the exit code.

    Raises:
        ConfigError: --tile or --flammap-bp missing, a weather of several scenarios, a bad --ignition.
        InputError: a FlamMap file missing, unreadable or not on the tile's grid; a bad tile.
        OutputError: --out cannot be written.
    """
    from fuelbreak.benchmarks import flammap
    from fuelbreak.cli.common import load_tile, out_file, weather_from_args
    from fuelbreak.errors import ConfigError

    missing = [flag for flag, value in (("--tile", args.tile), ("--flammap-bp", args.flammap_bp)) if not value]
    if missing:
        raise ConfigError(f"bench flammap needs {' and '.join(missing)} (see `fuelbreak bench --help`)")
    out = out_file(args.out, "--out") if args.out else None
    land = load_tile(args)
    weather = weather_from_args(args)
    ignition = flammap.parse_ignition(args.ignition, land)
    result = flammap.compare_with_flammap(
        land,
        weather,
        args.flammap_bp,
        DEFAULT_FIRES if args.fires is None else args.fires,
        args.seed,
        args.flammap_arrival,
        ignition,
        progress=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True),
    )
    if out is not None:
        result.figures["difference_maps"] = [str(p) for p in flammap.write_difference_maps(out, land, result)]
    if args.json:
        print(json.dumps(result.figures, indent=2))
    else:
        print(flammap.format_report(result), end="")
        for path in result.figures.get("difference_maps", []):
            print(f"wrote {path}")
    return 0
