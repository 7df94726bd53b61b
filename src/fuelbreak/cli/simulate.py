"""`fuelbreak simulate`: expected burned area of a tile, with and without a plan, and its burn-probability map."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fuelbreak.cli.common import (
    add_executor_args,
    add_planner_layer_args,
    add_tile_args,
    add_weather_args,
    attach_planner_layers,
    count_int,
    load_tile,
    seed_int,
    weather_from_args,
    weather_label,
    weather_text,
)


def register(sub) -> None:
    """Add `fuelbreak simulate` to the subparsers `sub`."""
    p = sub.add_parser(
        "simulate",
        help="score a tile (and a plan) against random ignitions; write a burn-probability map",
        description="Burn --ignitions random fires (drawn from --seed) under the weather, without breaks and, "
        "with --plan, through the plan's breaks; print the expected burned area and write the burn-probability map.",
    )
    add_tile_args(p)
    add_planner_layer_args(p, ("value", "ignition"))
    add_weather_args(p)
    p.add_argument("--plan", help="a plan GeoTIFF from `fuelbreak plan` (band 1: 1 = break) or a .npy mask")
    p.add_argument("--ignitions", type=count_int(1), default=200, help="number of random fires (default 200)")
    p.add_argument("--engine", default="mtt", choices=["mtt", "levelset"], help="spread engine (default mtt)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the ignitions and scenarios")
    p.add_argument("--out", default="burn_probability.tif", help="burn-probability GeoTIFF to write")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_executor_args(
        p, "where the fires burn, in chunks; serial: here", 600.0, "seconds one chunk may take (default 600)"
    )
    p.set_defaults(func=run)


def burn_on(executor, fires, land, engine_name: str, breaks) -> np.ndarray:
    """Burned masks of every fire of the set, in order, burned in chunks on `executor`.

    Each scenario's engine goes to each worker once (as `Shared` state keyed by the tile's content).
    """
    from fuelbreak.fire.montecarlo import burn_group
    from fuelbreak.parallel import array_digest
    from fuelbreak.parallel.cache import Shared

    digest = array_digest(*land.layers.values())
    slots = max(1, getattr(executor, "workers", None) or getattr(executor, "slots", 1))
    args = []
    for scenario, group, engine in zip(fires.scenarios, fires.groups, fires.engines, strict=True):
        shared = Shared(("engine", engine_name, digest, land.cell_size, scenario), engine)
        size = max(1, -(-len(group) // (2 * slots)))  # about two chunks per worker
        args += [(shared, group[i : i + size], breaks) for i in range(0, len(group), size)]
    return np.concatenate(executor.map(burn_group, args), axis=0)


def run(args: argparse.Namespace) -> int:
    """Run `fuelbreak simulate`: burn the random fires with and without the plan, write the burn-probability map.

    Returns 0.

    Raises:
        ConfigError: --ignitions is less than 1.
    """
    from fuelbreak.cli.common import out_file
    from fuelbreak.errors import ConfigError
    from fuelbreak.export import read_plan
    from fuelbreak.outputs import output_set

    if args.ignitions < 1:
        raise ConfigError(f"--ignitions must be at least 1, got {args.ignitions}")
    out = out_file(args.out, "--out")
    land = attach_planner_layers(args, load_tile(args))
    weather = weather_from_args(args)
    breaks = read_plan(args.plan, land) if args.plan else np.zeros(land.shape, dtype=bool)
    with output_set(out, folder=False, flag="--out", files=[out.name]) as outputs:
        figures = _simulate(args, land, weather, breaks, outputs.path(out.name))
    figures["burn_probability_map"] = str(out)
    _report(args, land, weather, breaks, figures, out)
    return 0


def _simulate(args, land, weather, breaks, staged: Path) -> dict:
    from fuelbreak.export import write_grids_geotiff
    from fuelbreak.fire.montecarlo import burn_fire_set, draw_fires

    if (breaks & ~land.burnable).any():
        print(f"note: {int((breaks & ~land.burnable).sum())} plan cell(s) are already non-burnable")
    from fuelbreak.cli.evaluate import make_executor_from_args

    t0 = time.perf_counter()
    fires = draw_fires(land, weather, args.ignitions, args.seed, engine=args.engine)
    if args.executor == "serial" and args.workers is None and not args.ray_address:
        before = burn_fire_set(fires)
        after = burn_fire_set(fires, breaks) if breaks.any() else before
    else:
        with make_executor_from_args(args) as executor:
            before = burn_on(executor, fires, land, args.engine, None)
            after = burn_on(executor, fires, land, args.engine, breaks) if breaks.any() else before
    seconds = time.perf_counter() - t0
    ha = land.cell_size**2 / 1e4
    n = land.n_cells
    area0, area1 = before.reshape(len(before), -1).sum(1), after.reshape(len(after), -1).sum(1)
    figures = {
        "tile": land.name,
        "cells": n,
        "fires": fires.n_fires,
        "engine": args.engine,
        "breaks": int(breaks.sum()),
        "expected_burned_cells": float(area1.mean()),
        "expected_burned_ha": float(area1.mean() * ha),
        "expected_burned_fraction": float(area1.mean() / n),
        "stderr_cells": float(area1.std(ddof=1) / np.sqrt(len(area1))) if len(area1) > 1 else 0.0,
        "seconds": seconds,
        "weather_source": weather_label(args),
        "weather": weather.to_dict(),
    }
    if breaks.any():
        figures["without_plan_burned_cells"] = float(area0.mean())
        figures["reduction_percent"] = float(100 * (1 - area1.mean() / area0.mean())) if area0.mean() else 0.0
    if land.planner_layer("value") is not None:  # expected value loss per fire: burn probability times value
        values = land.cell_values
        figures["expected_value_loss"] = float(np.sum(after.mean(axis=0) * values))
        if breaks.any():
            figures["without_plan_value_loss"] = float(np.sum(before.mean(axis=0) * values))
    bands = {"burn probability": after.mean(axis=0).astype(np.float32)}
    if breaks.any():
        bands["burn probability without plan"] = before.mean(axis=0).astype(np.float32)
    write_grids_geotiff(
        staged,
        land,
        bands,
        {
            "fires": fires.n_fires,
            "engine": args.engine,
            "seed": args.seed,
            "weather": weather_label(args),
        },
    )
    figures["_areas"] = (area0, area1)
    return figures


def _report(args, land, weather, breaks, figures: dict, out: Path) -> None:
    area0, area1 = figures.pop("_areas")
    n = land.n_cells
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"tile {land.name}: {n} cells of {land.cell_size:g} m, {figures['fires']} fires ({args.engine}, "
            f"{figures['seconds']:.2f} s)"
        )
        if breaks.any():
            print(f"  without plan: {area0.mean():.1f} cells burned per fire")
            print(
                f"  with {int(breaks.sum())} break cells: {area1.mean():.1f} cells ({figures['reduction_percent']:.1f} % less)"
            )
        print(
            f"  expected burned area: {area1.mean():.1f} +/- {figures['stderr_cells']:.1f} cells "
            f"= {figures['expected_burned_ha']:.1f} ha ({100 * figures['expected_burned_fraction']:.1f} % of the tile)"
        )
        if "expected_value_loss" in figures:
            without = figures.get("without_plan_value_loss")
            print(
                f"  expected value loss per fire: {figures['expected_value_loss']:.6g}"
                + ("" if without is None else f" (without plan {without:.6g})")
            )
        print(f"  weather ({figures['weather_source']}): {weather_text(weather)}")
        print(f"  burn-probability map: {out}")
