"""Argument helpers shared by subcommands: weather flags, seeds and checked number types."""

from __future__ import annotations

import argparse
import math

from fuelbreak.fire.scenario import Scenario, Weather, default_weather

SCENARIO_FLAGS = ("m1h", "m10h", "m100h", "herb", "woody", "foliar", "duration")

# Seeds go to numpy's SeedSequence, which takes non-negative integers only.
MAX_SEED = 2**63 - 1


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def seed_int(text: str) -> int:
    """Argparse type of a seed: a whole number 0 .. 2**63 - 1 (numpy refuses negative seeds)."""
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is not a seed: a seed is a whole number from 0 to 2**63 - 1")
    return value


def count_int(minimum: int = 1):
    """Argparse type of a whole number >= `minimum`."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def finite_float(text: str) -> float:
    """Argparse type of a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def positive_float(text: str) -> float:
    """Argparse type of a finite number more than 0."""
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be more than 0")
    return value


def direction_float(text: str) -> float:
    """Argparse type of a wind direction: degrees in [0, 360) (360 is written 0)."""
    value = finite_float(text)
    if not 0.0 <= value < 360.0:
        raise argparse.ArgumentTypeError(
            f"{value:g} is not a direction in [0, 360): degrees clockwise from north, 0 = north, 90 = east"
        )
    return value


def add_weather_args(parser: argparse.ArgumentParser, default_text: str | None = None) -> None:
    """Flags for the weather: --weather NAME|FILE, or one scenario with --wind-speed, else the built-in mix.

    With --weather, every other weather flag overrides its field in each scenario of the preset or
    file. Without it, --wind-speed makes one scenario; moisture and duration flags apply to the one
    scenario, or to every scenario of the default mix.
    """
    from fuelbreak.fire.presets import preset_help

    g = parser.add_argument_group(
        "weather (default: "
        + (default_text or "the built-in mix of calm and 15-25 km/h winds, 6 % 1-h moisture, 4 h burns")
        + "; moisture and duration flags apply to every scenario of a mix)"
    )
    g.add_argument(
        "--weather",
        metavar="NAME|FILE",
        help=f"a weather preset ({preset_help().replace('%', '%%')}) or a scenario file, .csv or .toml, with columns "
        "wind_speed, wind_direction, m1h, m10h, m100h, herb, woody, foliar, duration and optional weight; "
        "the other weather flags then override their field in every scenario",
    )
    g.add_argument("--wind-speed", type=finite_float, help="one scenario with this wind speed at 10 m, km/h")
    g.add_argument(
        "--wind-direction",
        type=direction_float,
        help="with --wind-speed: direction the wind blows FROM, degrees in [0, 360) (270)",
    )
    g.add_argument("--m1h", type=finite_float, help="1-h dead fuel moisture, fraction (0.06)")
    g.add_argument("--m10h", type=finite_float, help="10-h dead fuel moisture, fraction (0.08)")
    g.add_argument("--m100h", type=finite_float, help="100-h dead fuel moisture, fraction (0.10)")
    g.add_argument("--herb", type=finite_float, help="live herbaceous moisture, fraction (0.60)")
    g.add_argument("--woody", type=finite_float, help="live woody moisture, fraction (0.90)")
    g.add_argument("--foliar", type=finite_float, help="foliar moisture, fraction (1.0)")
    g.add_argument("--duration", type=finite_float, help="burn duration, minutes (240)")


def weather_flags_given(args: argparse.Namespace) -> bool:
    """Whether any weather flag was given (else a command may fall back to, e.g., a checkpoint's weather)."""
    names = ("weather", "wind_speed", "wind_direction", *SCENARIO_FLAGS)
    return any(getattr(args, k, None) is not None for k in names)


def weather_label(args: argparse.Namespace) -> str:
    """How the weather flags describe the weather, for outputs: 'preset dry-windy', 'file x.csv + m1h=0.05'..."""
    from pathlib import Path

    from fuelbreak.fire.presets import PRESETS

    spec = getattr(args, "weather", None)
    if spec is None:
        base = "one scenario from flags" if args.wind_speed is not None else "preset default"
    else:
        base = f"preset {spec}" if spec in PRESETS else f"scenario file {Path(spec).resolve()}"
    extra = [
        f"{k.replace('_', '-')}={getattr(args, k):g}"
        for k in ("wind_speed", "wind_direction", *SCENARIO_FLAGS)
        if getattr(args, k, None) is not None
    ]
    return base + (" with --" + " --".join(extra) if extra else "")


def weather_from_args(args: argparse.Namespace) -> Weather:
    """The weather of the command's flags: --weather (a preset or file) with the scenario flags overriding its fields.

    Raises:
        ConfigError: the flags give an invalid scenario.
    """
    from dataclasses import replace

    from fuelbreak.errors import ConfigError
    from fuelbreak.fire.presets import resolve_weather

    given = {k: getattr(args, k) for k in SCENARIO_FLAGS if getattr(args, k) is not None}
    spec = getattr(args, "weather", None)
    if spec is not None:
        base = resolve_weather(spec)
        wind = {k: getattr(args, k) for k in ("wind_speed", "wind_direction") if getattr(args, k) is not None}
        try:
            return Weather(tuple(replace(s, **wind, **given) for s in base.scenarios), base.weights)
        except ConfigError as exc:
            raise ConfigError(f"--weather {spec} with the weather flags: {exc}") from None
    if args.wind_speed is None:
        if args.wind_direction is not None:
            raise ConfigError(
                "--wind-direction needs --wind-speed or --weather (the default mix has its own directions)"
            )
        mix = default_weather()
        return Weather(tuple(replace(s, **given) for s in mix.scenarios), mix.weights)
    direction = 270.0 if args.wind_direction is None else args.wind_direction
    return Weather.single(Scenario(wind_speed=args.wind_speed, wind_direction=direction, **given))


def weather_text(weather) -> str:
    """'calm 20 %, 15 km/h from 225° 30 %, ...': the winds of a weather distribution and their weights."""
    parts = []
    for s, w in zip(weather.scenarios, weather.weights, strict=True):
        wind = "calm" if s.wind_speed == 0 else f"{s.wind_speed:g} km/h from {s.wind_direction:g}°"
        parts.append(wind if len(weather.scenarios) == 1 else f"{wind} {100 * w:.0f} %")
    s = weather.scenarios[0]
    same = all((x.m1h, x.duration) == (s.m1h, s.duration) for x in weather.scenarios)
    tail = f"; 1-h moisture {100 * s.m1h:g} %, {s.duration / 60:g} h burns" if same else ""
    return ", ".join(parts) + tail


def add_executor_args(
    parser: argparse.ArgumentParser, what: str, timeout: float, timeout_help: str
) -> argparse._ArgumentGroup:
    """The "running" group shared by commands whose tasks run on an executor.

    --executor, --workers, --ray-address, --task-timeout (`what` says what runs there); returns the group for
    more flags.
    """
    r = parser.add_argument_group("running")
    r.add_argument(
        "--executor", default="serial", choices=["serial", "process", "ray"], help=f"{what} (default serial)"
    )
    r.add_argument(
        "--workers", type=count_int(1), help="workers for --executor process or a private local ray (default 2)"
    )
    r.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="with --executor ray: the Ray cluster to join (default: RAY_ADDRESS, else a private local Ray)",
    )
    r.add_argument("--task-timeout", type=positive_float, default=timeout, help=timeout_help)
    return r


def add_tile_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """--tile FILE_OR_FOLDER, or --data DATASET --raster-idx N (synthetic tiles by default)."""
    g = parser.add_argument_group("tile (default: tile 0 of the built-in synthetic tiles)")
    g.add_argument("--tile", help="a tile GeoTIFF (from `fuelbreak data`) or a folder of per-layer GeoTIFFs")
    g.add_argument("--data", help="a dataset folder (default: built-in synthetic tiles)")
    g.add_argument("--raster-idx", type=count_int(0), default=0, help="which tile of the dataset (default 0)")
    g.add_argument("--tile-size", type=count_int(4), default=50, help="synthetic tile size in cells (default 50)")
    g.add_argument("--tiles-seed", type=seed_int, default=0, help="seed of the synthetic tiles (default 0)")
    add_synthetic_layers_arg(g)


def add_synthetic_layers_arg(group) -> None:
    """--synthetic-layers: built-in synthetic tiles carry their planner layers (values, ignition, cost, exclude)."""
    group.add_argument(
        "--synthetic-layers",
        action="store_true",
        help="give the built-in synthetic tiles their planner layers: values of communities, ignition density along "
        "roads, a cost from slope and road distance and an exclusion zone (the flags below replace any of them)",
    )


def load_tile(args: argparse.Namespace):
    """The Landscape the tile flags name, validated; errors name the file or flag."""
    from pathlib import Path

    from fuelbreak.errors import InputError
    from fuelbreak.landscape.dataset import open_dataset
    from fuelbreak.landscape.geotiff import read_landscape, read_layer_folder

    if args.tile:
        path = Path(args.tile)
        if not path.exists():
            raise InputError(f"--tile {path} does not exist")
        if path.is_dir():
            from fuelbreak.landscape.fetch import fetched_scalings

            scalings, slope_units = fetched_scalings(path)  # a `data fetch` folder's recorded units
            land = read_layer_folder(path, scalings=scalings, slope_units=slope_units)
        else:
            land = read_landscape(path)
        return land.validate()
    if getattr(args, "synthetic_layers", False) and args.data:
        from fuelbreak.errors import ConfigError

        raise ConfigError("--synthetic-layers applies to the built-in synthetic tiles, not to --data")
    dataset = open_dataset(
        args.data,
        n=max(args.raster_idx + 1, 1),
        size=args.tile_size,
        seed=args.tiles_seed,
        planner_layers=getattr(args, "synthetic_layers", False),
    )
    if not 0 <= args.raster_idx < len(dataset):
        raise InputError(f"--raster-idx {args.raster_idx} is outside the dataset's {len(dataset)} tiles")
    return dataset[args.raster_idx].validate()


def out_file(text: str, flag: str):
    """The Path of an output-file flag.

    An OutputError when it names a folder (one that exists, or a path ending in /), rather than a guess at a
    file name in or beside it.
    """
    from pathlib import Path

    from fuelbreak.errors import OutputError

    path = Path(text)
    if text.endswith(("/", "\\")) or path.is_dir():
        raise OutputError(
            f"{flag} {text} is a folder; {flag} names the file to write (or the prefix of the files), "
            f"e.g. {flag} {path / 'out'}"
        )
    return path


# ----------------------------------------------------------------------------- planner layers and the request

LAYER_FLAG_HELP = {
    "value": (
        "--values",
        "PATH[:ATTRIBUTE]",
        "value at risk of each cell (any unit): a raster on the tile's grid, or a vector file of points or polygons "
        "whose ATTRIBUTE is the value (a polygon gives it to every cell it covers; features sharing a cell add up)",
    ),
    "ignition": (
        "--ignition-density",
        "PATH",
        "relative chance that a fire starts in each cell: a raster on the tile's grid, or roads/towns as a vector "
        "file (density 1 + 9 exp(-d / 300 m), d the distance to the nearest feature)",
    ),
    "cost": (
        "--cost",
        "PATH|NUMBER",
        "cost of treating each cell (any unit): a raster on the tile's grid, a vector file PATH:ATTRIBUTE, or one "
        "number for every cell",
    ),
    "exclude": (
        "--exclude",
        "PATH",
        "cells a break may not go on: a 0/1 raster on the tile's grid or polygons (wilderness, riparian buffers)",
    ),
}


def add_planner_layer_args(
    parser: argparse.ArgumentParser, keys: tuple[str, ...] = ("value", "ignition", "cost", "exclude")
) -> argparse._ArgumentGroup:
    """The planner-layer flags (--values, --ignition-density, --cost, --exclude; those of `keys`) in one group.

    A raster must sit on the tile's grid (same CRS, cell size, aligned; never resampled); a vector file is
    reprojected and rasterised onto it. A tile without geo-reference (synthetic) takes rasters of its shape only.
    """
    g = parser.add_argument_group(
        "planner layers (each optional; rasters must match the tile's grid, vectors are rasterised onto it)"
    )
    for key in keys:
        flag, metavar, text = LAYER_FLAG_HELP[key]
        g.add_argument(flag, dest=f"layer_{key}", metavar=metavar, help=text)
    return g


def planner_layer_specs(args: argparse.Namespace):
    """The PlannerLayerSpecs of the command's planner-layer flags (empty when none was given).

    Raises:
        InputError: a file that does not exist, or a bad constant cost.
    """
    from fuelbreak.landscape.core import PLANNER_LAYERS
    from fuelbreak.landscape.planner_layers import PlannerLayerSpecs

    return PlannerLayerSpecs.from_texts(**{k: getattr(args, f"layer_{k}", None) for k in PLANNER_LAYERS})


def attach_planner_layers(args: argparse.Namespace, land):
    """`land` with the planner layers of the command's flags attached (and validated)."""
    return planner_layer_specs(args).attach(land)


def add_request_args(
    parser: argparse.ArgumentParser, budget_help: str | None = None, several: bool = False, budget_default=None
) -> None:
    """--budget (5%, 0.05, 120ha, 75cells or 75; `several`: a list), --max-cost and --objective."""
    from fuelbreak.planning.request import OBJECTIVES, budget_arg

    forms = "5%% of the tile, a fraction 0.05, hectares 120ha, or cells 75cells (or 75)"
    parser.add_argument(
        "--budget",
        type=budget_arg,
        nargs="+" if several else None,
        default=budget_default,
        metavar="BUDGET",
        help=budget_help or f"break cells: {forms} (default 5%%; with --max-cost alone, no cell limit)",
    )
    parser.add_argument(
        "--max-cost",
        type=positive_float,
        metavar="X",
        help="the most the treated cells may cost, summed over the --cost layer (needs --cost); with --budget, "
        "the plan respects both",
    )
    parser.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="area",
        help="what the plan minimises: area (expected burned area, default) or value (expected loss of the "
        "--values layer: burn probability times value, summed)",
    )


def request_from_args(args: argparse.Namespace, land, budget=None, flag: str = "--budget"):
    """The PlanRequest of --budget (or `budget`), --max-cost and --objective on `land` (planner layers attached)."""
    from fuelbreak.planning.request import resolve_request

    if budget is None:
        budget = getattr(args, "budget", None)
    return resolve_request(land, budget, getattr(args, "max_cost", None), getattr(args, "objective", "area"), flag)


def ray_executor_from_args(args: argparse.Namespace, workers: int):
    """The Ray executor of --executor ray: the cluster at --ray-address or RAY_ADDRESS, else a private local Ray.

    Raises:
        ConfigError: --workers given with a cluster address (a cluster has its own workers).
    """
    import os

    from fuelbreak.errors import ConfigError
    from fuelbreak.parallel.executors import make_executor

    address = args.ray_address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        if args.workers is not None:
            source = "--ray-address" if args.ray_address else "RAY_ADDRESS"
            raise ConfigError(
                f"--workers applies to a private local Ray; the cluster at {address} ({source}) has its own"
            )
        return make_executor("ray", address=address, timeout=args.task_timeout)
    return make_executor("ray", num_cpus=workers, timeout=args.task_timeout)
