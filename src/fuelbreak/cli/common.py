"""Argument helpers shared by subcommands: weather flags and seeds."""

from __future__ import annotations

import argparse

from fuelbreak.fire.scenario import Scenario, Weather, default_weather


def add_weather_args(parser: argparse.ArgumentParser) -> None:
    """Flags for one scenario; without --wind-speed the default weather distribution is used."""
    g = parser.add_argument_group("weather (default: the built-in distribution of calm and 15-25 km/h winds)")
    g.add_argument("--wind-speed", type=float, help="wind speed at 10 m, km/h")
    g.add_argument(
        "--wind-direction", type=float, default=270.0, help="direction the wind blows FROM, degrees"
    )
    g.add_argument("--m1h", type=float, default=0.06, help="1-h dead fuel moisture, fraction")
    g.add_argument("--m10h", type=float, default=0.08, help="10-h dead fuel moisture, fraction")
    g.add_argument("--m100h", type=float, default=0.10, help="100-h dead fuel moisture, fraction")
    g.add_argument("--herb", type=float, default=0.60, help="live herbaceous moisture, fraction")
    g.add_argument("--woody", type=float, default=0.90, help="live woody moisture, fraction")
    g.add_argument("--foliar", type=float, default=1.0, help="foliar moisture, fraction")
    g.add_argument("--duration", type=float, default=240.0, help="burn duration, minutes")


def weather_from_args(args: argparse.Namespace) -> Weather:
    if args.wind_speed is None:
        return default_weather()
    return Weather.single(
        Scenario(
            wind_speed=args.wind_speed,
            wind_direction=args.wind_direction,
            m1h=args.m1h,
            m10h=args.m10h,
            m100h=args.m100h,
            herb=args.herb,
            woody=args.woody,
            foliar=args.foliar,
            duration=args.duration,
        )
    )


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
