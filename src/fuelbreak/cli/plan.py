"""`fuelbreak plan`: a plan from a trained policy or a baseline, as GIS files, with its expected effect.

The plan is written as PREFIX.tif (aligned cell for cell with the tile: its CRS, transform and shape;
band 1: 1 = break, band 2: placement order), PREFIX.geojson (treatment units: one feature per
contiguous patch of break cells with its cells, hectares, cost and value held and range of placement order,
in the tile's CRS; with --cell-geojson also PREFIX_cells.geojson, one square per cell), PREFIX.json (the
plan's summary: treated cells, hectares and cost, expected burned hectares and value loss before and after)
and PREFIX.png (the plan over burn probability before and after, with values and exclusions), so that it
opens in QGIS over the input rasters. It is scored on
`--fires` random fires drawn from a stream of the seed that planning never uses, so a plan is never
scored on the fires it was planned with.

The helpers here (loading a policy, drawing the scoring fires, reporting a score) are shared with
`fuelbreak visualize`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fuelbreak import __version__
from fuelbreak.baselines import BASELINES
from fuelbreak.cli.common import (
    add_planner_layer_args,
    add_request_args,
    add_tile_args,
    add_weather_args,
    attach_planner_layers,
    count_int,
    load_tile,
    planner_layer_specs,
    request_from_args,
    seed_int,
    weather_flags_given,
    weather_from_args,
    weather_label,
    weather_text,
)
from fuelbreak.errors import CheckpointError, ConfigError

# The model types of `fuelbreak.agents.networks.MODELS`, spelled out so that building the parser does
# not import torch (a test checks that the two agree).
MODEL_TYPES = ("auto", "basic", "enhanced", "dueling")
# Seeds the scoring fires: a stream apart from every planning stream (baselines, policy channels).
SCORE_TAG = 0x53434F52  # "SCOR"
# File suffixes a user may put on --out; the prefix is what is left.
OUT_SUFFIXES = (".tif", ".tiff", ".geojson", ".json")


def register(sub) -> None:
    """Add `fuelbreak plan` to the subparsers `sub`."""
    p = sub.add_parser(
        "plan",
        help="plan fuel breaks on a tile with a trained policy or a baseline; write GeoTIFF and GeoJSON",
        description="Plan --budget break cells (and at most --max-cost) on a tile with a trained policy (--ckpt) or "
        "a baseline (--method), write PREFIX.tif (aligned cell for cell with the tile; band 1: 1 = break, band 2: "
        "placement order), PREFIX.geojson (one polygon per contiguous patch of break cells, with its cells, "
        "hectares, cost, value held and range of placement order, in the tile's CRS), PREFIX.json (the plan's "
        "summary) and PREFIX.png (the plan over burn probability before and after, with values and exclusions), "
        "and print the plan's expected burned area and value loss before and after on --fires random fires.",
    )
    g = p.add_argument_group("planner (give exactly one)")
    g.add_argument(
        "--ckpt", metavar="PATH", help="a checkpoint of a trained policy, e.g. RUN/checkpoints/best.pt"
    )
    g.add_argument(
        "--method",
        metavar="NAME",
        help=f"dqn (the policy shipped in the package), dqn_search (planning fires propose, the shipped policy "
        f"chooses, then prune and refill: slower, better) or a baseline: {', '.join(BASELINES)}",
    )
    g.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the --method planner, e.g. n_fires=512 for tree_greedy or dqn_search, "
        "prune_rounds=3 for tree_greedy; of a policy (--ckpt, --method dqn) on a large landscape: batch_area=CELLS "
        "(one more independent cell a network forward per CELLS cells; 0: one cell a forward) and fire_share "
        "(the share of its observation fires it observes there) (repeatable; see `fuelbreak evaluate --help`)",
    )
    add_model_type_arg(p, default=None)
    add_tile_args(p)
    add_planner_layer_args(p)
    add_request_args(p)
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the planning and of the scoring fires")
    add_fires_arg(p)
    add_weather_args(p)
    p.add_argument(
        "--out", required=True, metavar="PREFIX", help="write PREFIX.tif, .geojson, .json and .png"
    )
    p.add_argument(
        "--cell-geojson",
        action="store_true",
        help="also write PREFIX_cells.geojson: one square polygon per break cell with its placement order",
    )
    from fuelbreak.cli.landscape_args import add_landscape_args

    add_landscape_args(p)
    p.set_defaults(func=run)


def add_model_type_arg(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """Add --model-type (the model type a checkpoint must hold; `default` when not given) to `parser`."""
    parser.add_argument(
        "--model-type",
        choices=MODEL_TYPES,
        default=default,
        help="the model type the checkpoint must hold (default auto: read it from the checkpoint)",
    )


def add_fires_arg(parser: argparse.ArgumentParser) -> None:
    """Add --fires (random fires that score the plan, default 200) to `parser`."""
    parser.add_argument(
        "--fires", type=count_int(1), default=200, help="random fires that score the plan (default 200)"
    )


# ----------------------------------------------------------------------------- shared helpers


def load_policy(path, model_type: str = "auto"):
    """(checkpoint, DQNPolicy, TrainConfig) of a checkpoint; a model-type mismatch names --model-type."""
    from fuelbreak.agents.checkpoint import load_checkpoint
    from fuelbreak.agents.config import config_from_dict
    from fuelbreak.agents.policy import DQNPolicy

    ckpt = load_checkpoint(path)
    if model_type != "auto" and ckpt.model_type != model_type:
        raise CheckpointError(
            f"--model-type {model_type}: checkpoint {path} holds a {ckpt.model_type!r} model, not a "
            f"{model_type!r} one (leave --model-type at auto to read the type from the checkpoint)"
        )
    cfg = config_from_dict(dict(ckpt["config"]), source=f"checkpoint {path}")
    return ckpt, DQNPolicy.load(path, model_type), cfg


def check_fires(n_fires: int) -> int:
    """`n_fires` as an int.

    Raises:
        ConfigError: `n_fires` is less than 1.
    """
    if n_fires < 1:
        raise ConfigError(f"--fires must be at least 1, got {n_fires}")
    return int(n_fires)


def scoring_fires(landscape, weather, n_fires: int, seed: int):
    """The fires that score a plan: drawn from (SCORE_TAG, seed), a stream planning never draws from."""
    from fuelbreak.fire.montecarlo import behaviors_for, draw_fires

    rng = np.random.default_rng(np.random.SeedSequence([SCORE_TAG, int(seed)]))
    return draw_fires(landscape, weather, n_fires, rng, behaviors=behaviors_for(landscape, weather))


def break_mask(cells, shape: tuple[int, int]) -> np.ndarray:
    """A bool mask of `shape` that is True at the flat indices `cells`."""
    mask = np.zeros(shape[0] * shape[1], dtype=bool)
    mask[np.asarray(cells, dtype=np.int64)] = True
    return mask.reshape(shape)


@dataclass(frozen=True)
class Score:
    """Expected burned area (mean burned cells per fire) without and with the plan."""

    before: float
    after: float
    n_fires: int

    @property
    def reduction(self) -> float:
        """Fraction of the expected burned area the plan saves (0.25 = 25 % less)."""
        return (self.before - self.after) / self.before if self.before > 0 else 0.0


def score_text(score: Score, landscape) -> list[str]:
    """The lines that report a score: cells, hectares and share of the tile, then the reduction."""
    ha = landscape.cell_size**2 / 1e4

    def area(cells: float) -> str:
        return (
            f"{cells:.1f} cells = {cells * ha:.1f} ha ({100 * cells / landscape.n_cells:.1f} % of the tile)"
        )

    return [
        f"expected burned area per fire, over {score.n_fires} random fires:",
        f"  without breaks: {area(score.before)}",
        f"  with the plan:  {area(score.after)}",
        f"  reduction: {100 * score.reduction:.1f} %",
    ]


def out_prefix(out: str) -> Path:
    """--out without a .tif/.geojson suffix a user may have added; an OutputError when it names a folder."""
    from fuelbreak.cli.common import out_file

    path = out_file(out, "--out")
    return path.with_suffix("") if path.suffix.lower() in OUT_SUFFIXES else path


def plan_files(prefix: Path) -> dict[str, str]:
    """The file names of a plan's set, by kind: PREFIX.tif, .geojson, _cells.geojson, .json and .png."""
    return {
        "tif": prefix.name + ".tif",
        "geojson": prefix.name + ".geojson",
        "json": prefix.name + ".json",
        "cells": prefix.name + "_cells.geojson",
        "png": prefix.name + ".png",
    }


# ----------------------------------------------------------------------------- the command


def run(args: argparse.Namespace) -> int:
    """Run `fuelbreak plan`: plan on the tile and write PREFIX.tif, .geojson and .png as one set; returns 0.

    Raises:
        ConfigError: not exactly one planner, an unknown method, or a flag that does not apply to the planner.
    """
    from fuelbreak.outputs import output_set

    if (args.ckpt is None) == (args.method is None):
        raise ConfigError(
            "give exactly one planner: --ckpt PATH (a trained policy) or --method NAME (dqn, the shipped "
            f"policy, or a baseline: {', '.join(BASELINES)}){', not both' if args.ckpt else ''}"
        )
    if args.method == "dqn":  # the policy shipped in the package
        from fuelbreak.agents.shipped import shipped_policy_path

        args.ckpt, args.method = str(shipped_policy_path()), None
    if args.method is None and args.option:
        policy_options(args)  # checked before anything is read
    if args.method is not None and args.method not in (*BASELINES, "dqn_search"):
        raise ConfigError(
            f"--method {args.method!r} is not a planner; choose dqn, dqn_search or one of {', '.join(BASELINES)}"
        )
    if args.method is not None and args.model_type is not None:
        raise ConfigError("--model-type applies to a checkpoint (--ckpt), not to --method")
    n_fires = check_fires(args.fires)
    prefix = out_prefix(args.out)
    land = attach_planner_layers(args, load_tile(args))
    request = request_from_args(args, land)
    names = plan_files(prefix)
    written = [names[k] for k in ("tif", "geojson", "json", "png", *(["cells"] if args.cell_geojson else []))]
    from fuelbreak.cli.landscape_args import POOL_CELLS, executor_from_args
    from fuelbreak.planning.windows import split_windows

    split = len(split_windows(land.shape, args.window, args.halo)) > 1
    state = Path(args.state) if args.state else prefix.with_name(prefix.name + ".state")
    with executor_from_args(args, land.n_cells, split) as executor:
        run_state = {
            "executor": executor,
            "state": state if split else None,
            "progress": split or land.n_cells >= POOL_CELLS,
        }
        # One set: PREFIX.* of an earlier plan that this one does not write (its _cells.geojson) goes too.
        with output_set(prefix, folder=False, flag="--out", files=written, owned=list(names.values())) as out:
            lines = _plan(args, land, request, n_fires, out, names, run_state)
    if split:
        from fuelbreak.planning.landscape import PlanState

        PlanState(state, {}).clear()  # the plan is written: its finished windows are no longer needed
    for line in lines:
        print(line)
    return 0


def _plan(args, land, request, n_fires: int, out, names: dict[str, str], run_state: dict) -> list[str]:
    """Plan, score and write the files into the output set's staging folder; the lines that report it."""
    import json

    from fuelbreak.atomic import atomic_write_text
    from fuelbreak.export import patch_labels, write_patches_geojson, write_plan_geojson, write_plan_geotiff
    from fuelbreak.planning.landscape import draw_groups, score_plan
    from fuelbreak.planning.summary import plan_summary
    from fuelbreak.viz import plot_burn_probability

    budget = request.cells
    cells, weather, about = make_plan(args, land, budget, request, run_state)
    # the fires of `scoring_fires`, burned on the whole landscape a chunk at a time
    groups = draw_groups(land, weather, n_fires, np.random.SeedSequence([SCORE_TAG, int(args.seed)]))
    scored = score_plan(land, groups, cells, run_state.get("executor"), progress=run_state.get("progress", False))
    breaks = break_mask(cells, land.shape)
    score = Score(float(scored.areas_before.mean()), float(scored.areas_after.mean()), scored.n_fires)
    prob_before = scored.counts_before / max(scored.n_fires, 1)
    prob_after = scored.counts_after / max(scored.n_fires, 1)
    summary = plan_summary(
        land, breaks, prob_before, prob_after, scored.n_fires, request.objective, request.max_cost
    )

    write_plan_geotiff(out.path(names["tif"]), land, cells)
    properties = {
        "fuelbreak_version": __version__,
        **about,
        **request.to_dict(),
        "planner_layers": planner_layer_specs(args).describe(),
        "seed": args.seed,
        "scoring_fires": score.n_fires,
        "expected_burned_cells_without_breaks": score.before,
        "expected_burned_cells_with_plan": score.after,
        "reduction_fraction": score.reduction,
    }
    write_patches_geojson(out.path(names["geojson"]), land, cells, properties)
    atomic_write_text(
        out.path(names["json"]),
        json.dumps({**properties, "tile": land.name, "summary": summary.to_dict()}, indent=1, default=str) + "\n",
    )
    if args.cell_geojson:
        write_plan_geojson(out.path(names["cells"]), land, cells, properties)
    plot_burn_probability(
        prob_before,
        prob_after,
        out.path(names["png"]),
        landscape=land,
        cells=cells,
        title=f"{land.name}: plan of {about['planner']}, {score.n_fires} random fires\n"
        f"weather: {about['weather_source']}",
    )
    del prob_before, prob_after
    n_patches = patch_labels(cells, land.shape)[1]

    tif, geojson, png, summary_json = (out.final(names[k]) for k in ("tif", "geojson", "png", "json"))
    h, w = land.shape
    georef = "its CRS and transform" if land.crs and land.transform else "no geo-reference (synthetic tile)"
    lines = [
        f"plan of {about['planner']} on tile {land.name} ({h} x {w} cells of {land.cell_size:g} m)",
        f"  {budget} break cells ({100 * budget / land.n_cells:.1f} % of the tile), seed {args.seed}",
        f"  weather ({about['weather_source']}): {weather_text(weather)}",
        *_windows_text(about.get("windows")),
        *(f"  {line}" for line in summary.lines()),
        f"  wrote {tif} (band 1: 1 = break, band 2: placement order; aligned with the tile, {georef})",
        f"  wrote {geojson} ({n_patches} treatment patches with their cells, hectares, "
        f"{'cost, ' if land.planner_layer('cost') is not None else ''}"
        f"{'value held, ' if land.planner_layer('value') is not None else ''}placement order)",
        f"  wrote {summary_json} (the plan's summary: the figures above)",
    ]
    if args.cell_geojson:
        lines.append(f"  wrote {out.final(names['cells'])} ({budget} cell squares with their placement order)")
    lines.append(f"  wrote {png} (the plan over burn probability before and after, with values and exclusions)")
    return lines


def _windows_text(windows: dict | None) -> list[str]:
    """The line that says how a landscape was split into windows (none when it was planned whole)."""
    if not windows:
        return []
    resumed = f"; {windows['resumed']} window proposal(s) resumed from the state folder" if windows["resumed"] else ""
    return [
        f"  planned in {windows['count']} windows of {windows['size']} cells (halo {windows['halo']}), the budget "
        f"shared by marginal gain in {windows['rounds']} round(s){resumed}; scored on the whole landscape"
    ]


def make_plan(
    args: argparse.Namespace, land, budget: int, request=None, run_state: dict | None = None
) -> tuple[np.ndarray, object, dict]:
    """(cells in placement order, weather planned and scored under, facts about the planner).

    The plan is made by `fuelbreak.planning.landscape.plan_landscape` (whole, or in windows for a large
    landscape) on `run_state`'s executor, state folder and progress.

    The request's cost limit and objective reach the planner as its options `max_cost` and `objective`
    (`fuelbreak.planning.request.request_options`: a planner that does not take one is a ConfigError).

    Every planner, a policy included, plans and is scored under the same weather: the weather flags,
    else the built-in default (as in `fuelbreak evaluate`), so two plans of one landscape print
    reductions of the same fire regime. A policy trained under other weather says so in a note.
    """
    from fuelbreak.planning.landscape import plan_landscape

    run_state = run_state or {}
    weather = weather_from_args(args)
    if args.ckpt is not None:
        ckpt, policy, cfg = load_policy(args.ckpt, args.model_type or "auto")
        if not weather_flags_given(args) and _training_weather(cfg) != weather:
            how = (
                "its scenario with --wind-speed, --wind-direction and the moisture flags"
                if cfg.weather.preset == "single"
                else f"--weather {cfg.weather.preset}"
            )
            print(
                f"note: this policy was trained under weather.preset={cfg.weather.preset}; like every planner it "
                "plans and is scored here under the default weather (as in `fuelbreak evaluate`); give "
                f"{how} to plan under its training weather",
                file=sys.stderr,
            )
        import inspect

        from fuelbreak.planning.request import request_options

        extra = request_options(request, "the policy", tuple(inspect.signature(policy.plan).parameters))
        chosen = policy_options(args)
        method, options = "dqn", {"checkpoint": policy, **extra, **chosen}
        about = {
            "planner": f"the {ckpt.model_type} policy of {args.ckpt}",
            "method": "dqn",
            "checkpoint": str(args.ckpt),
            "model_type": ckpt.model_type,
            "training_weather": f"weather.preset={cfg.weather.preset}",
            **({"options": chosen} if chosen else {}),
        }
    elif args.method == "dqn_search":
        from fuelbreak.evaluation.run import SEARCH_OPTIONS
        from fuelbreak.planning.request import request_options

        options = {**planner_options(args, SEARCH_OPTIONS), **request_options(request, "dqn_search", SEARCH_OPTIONS)}
        method = "dqn_search"
        about = {"planner": "dqn_search with the shipped policy", "method": "dqn_search", "options": options}
    else:
        from fuelbreak.baselines import options_of
        from fuelbreak.planning.request import request_options

        takes = options_of(args.method)
        options = {**planner_options(args, takes), **request_options(request, args.method, takes)}
        method = args.method
        about = {"planner": f"baseline '{args.method}'", "method": args.method, "options": options}
    planned = plan_landscape(
        method,
        land,
        weather,
        budget,
        args.seed,
        options,
        window=getattr(args, "window", 1 << 30),
        halo=getattr(args, "halo", 0),
        oversupply=getattr(args, "oversupply", None),
        executor=run_state.get("executor"),
        state=run_state.get("state"),
        resume=bool(getattr(args, "resume", False)),
        progress=bool(run_state.get("progress", False)),
    )
    cells = planned.cells
    if planned.windows > 1:
        about["windows"] = {
            "count": planned.windows,
            "size": planned.window,
            "halo": planned.halo,
            "rounds": planned.rounds,
            "resumed": planned.resumed,
        }
    about["weather_source"] = weather_label(args)
    about["weather"] = weather.to_dict()
    return np.asarray(cells, dtype=np.int64), weather, about


# A planner's parameters that are not --option: the policy (the shipped one), and arrays the command makes
NOT_OPTIONS = (
    "checkpoint", "model_type", "fires", "existing_breaks", "ignition_weights", "behaviors", "max_cost", "objective",
)  # fmt: skip


# --option keys of a policy (`--ckpt`, `--method dqn`): how it plans a large landscape (`fuelbreak.agents.batched`)
POLICY_OPTIONS = ("batch_area", "fire_share")


def policy_options(args: argparse.Namespace) -> dict:
    """--option KEY=VALUE items of a policy, checked by name (`POLICY_OPTIONS`)."""
    from fuelbreak.agents.batched import check_batch_area, check_fire_share
    from fuelbreak.cli.evaluate import parse_options

    options = parse_options([f"dqn.{item}" for item in args.option]).get("dqn", {})
    unknown = sorted(set(options) - set(POLICY_OPTIONS))
    if unknown:
        raise ConfigError(
            f"--option {', '.join(unknown)}: a policy takes {', '.join(POLICY_OPTIONS)} (other options are of "
            "--method dqn_search or a baseline)"
        )
    try:
        check_batch_area(options.get("batch_area"))
        check_fire_share(options.get("fire_share", 1.0))
    except ConfigError as exc:
        raise ConfigError(f"--option: {exc}") from None
    return options


def planner_options(args: argparse.Namespace, takes) -> dict:
    """--option KEY=VALUE items of the --method planner (values as Python literals), checked by name."""
    from fuelbreak.cli.evaluate import parse_options

    items = [f"{args.method}.{item}" for item in args.option]
    options = parse_options(items).get(args.method, {})
    allowed = [t for t in takes if t not in NOT_OPTIONS]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"--option {', '.join(unknown)}: {args.method} takes {', '.join(allowed)}")
    return options


def _training_weather(cfg):
    """The weather a policy trained under, or None when it cannot be resolved here (a scenario file gone)."""
    from fuelbreak.errors import FuelbreakError

    try:
        return cfg.weather.to_weather()
    except FuelbreakError:
        return None
