"""Argument helpers shared by subcommands: weather flags and seeds."""

from __future__ import annotations

import argparse

from fuelbreak.fire.scenario import Scenario, Weather, default_weather

SCENARIO_FLAGS = ("m1h", "m10h", "m100h", "herb", "woody", "foliar", "duration")


def add_weather_args(parser: argparse.ArgumentParser) -> None:
    """Flags for the weather: one scenario with --wind-speed, else the built-in distribution of winds.

    Moisture and duration flags apply to the one scenario, or to every scenario of the distribution.
    """
    g = parser.add_argument_group(
        "weather (default: the built-in mix of calm and 15-25 km/h winds, 6 % 1-h moisture, 4 h burns; "
        "moisture and duration flags apply to every scenario of the mix)"
    )
    g.add_argument("--wind-speed", type=float, help="one scenario with this wind speed at 10 m, km/h")
    g.add_argument(
        "--wind-direction", type=float, help="with --wind-speed: direction the wind blows FROM, degrees (270)"
    )
    g.add_argument("--m1h", type=float, help="1-h dead fuel moisture, fraction (0.06)")
    g.add_argument("--m10h", type=float, help="10-h dead fuel moisture, fraction (0.08)")
    g.add_argument("--m100h", type=float, help="100-h dead fuel moisture, fraction (0.10)")
    g.add_argument("--herb", type=float, help="live herbaceous moisture, fraction (0.60)")
    g.add_argument("--woody", type=float, help="live woody moisture, fraction (0.90)")
    g.add_argument("--foliar", type=float, help="foliar moisture, fraction (1.0)")
    g.add_argument("--duration", type=float, help="burn duration, minutes (240)")


def weather_from_args(args: argparse.Namespace) -> Weather:
    from dataclasses import replace

    from fuelbreak.errors import ConfigError

    given = {k: getattr(args, k) for k in SCENARIO_FLAGS if getattr(args, k) is not None}
    if args.wind_speed is None:
        if args.wind_direction is not None:
            raise ConfigError("--wind-direction needs --wind-speed (the default mix has its own directions)")
        mix = default_weather()
        return Weather(tuple(replace(s, **given) for s in mix.scenarios), mix.weights)
    direction = 270.0 if args.wind_direction is None else args.wind_direction
    return Weather.single(Scenario(wind_speed=args.wind_speed, wind_direction=direction, **given))


def add_tile_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """--tile FILE_OR_FOLDER, or --data DATASET --raster-idx N (synthetic tiles by default)."""
    g = parser.add_argument_group("tile (default: tile 0 of the built-in synthetic tiles)")
    g.add_argument("--tile", help="a tile GeoTIFF (from `fuelbreak data`) or a folder of per-layer GeoTIFFs")
    g.add_argument("--data", help="a dataset folder (default: built-in synthetic tiles)")
    g.add_argument("--raster-idx", type=int, default=0, help="which tile of the dataset (default 0)")
    g.add_argument("--tile-size", type=int, default=50, help="synthetic tile size in cells (default 50)")
    g.add_argument("--tiles-seed", type=int, default=0, help="seed of the synthetic tiles (default 0)")


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
        land = read_layer_folder(path) if path.is_dir() else read_landscape(path)
        return land.validate()
    dataset = open_dataset(
        args.data, n=max(args.raster_idx + 1, 1), size=args.tile_size, seed=args.tiles_seed
    )
    if not 0 <= args.raster_idx < len(dataset):
        raise InputError(f"--raster-idx {args.raster_idx} is outside the dataset's {len(dataset)} tiles")
    return dataset[args.raster_idx].validate()
