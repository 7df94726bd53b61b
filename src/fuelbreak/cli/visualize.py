"""`fuelbreak visualize`: look at what a trained policy does on a tile, and at how its training went.

The policy plans on one tile step by step (every step's Q map is kept); the plan is scored on
`--fires` random fires drawn apart from planning (as in `fuelbreak plan`), and the figures go into
--outdir: the breaks over a landscape layer, the Q maps over the episode, burn probability before
and after, the training curves of the run the checkpoint came from, and with --gif the episode as
an animation. By default the tile is the first of the TEST split of the checkpoint's own dataset,
one the policy never trained on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fuelbreak.cli.common import (
    add_planner_layer_args,
    add_request_args,
    add_synthetic_layers_arg,
    add_weather_args,
    attach_planner_layers,
    count_int,
    request_from_args,
    seed_int,
    weather_flags_given,
    weather_from_args,
    weather_label,
)
from fuelbreak.cli.plan import (
    Score,
    add_fires_arg,
    add_model_type_arg,
    break_mask,
    check_fires,
    load_policy,
    score_text,
    scoring_fires,
    weather_text,
)
from fuelbreak.errors import ConfigError, InputError
from fuelbreak.landscape.core import LAYERS
from fuelbreak.viz.style import DERIVED_LAYERS

OVERLAY, QVALUES, TRAINING, BURN_PROBABILITY, GIF = (
    "fuelbreaks_overlay.png",
    "qvalue_evolution.png",
    "training_summary.png",
    "burn_probability.png",
    "episode.gif",
)
IMAGES = (OVERLAY, QVALUES, TRAINING, BURN_PROBABILITY, GIF)


def register(sub) -> None:
    """Add `fuelbreak visualize` to the subparsers `sub`."""
    p = sub.add_parser(
        "visualize",
        help="draw a trained policy's plan, Q maps, burn probability and training curves (PNG, GIF)",
        description="Roll a trained policy out on one tile and write into --outdir: "
        f"{OVERLAY}, {QVALUES}, {TRAINING} (from the run's metrics log), {BURN_PROBABILITY} and, "
        f"with --gif, {GIF}; print the plan's expected burned area before and after.",
    )
    p.add_argument(
        "--ckpt", metavar="PATH", help="a checkpoint, e.g. RUN/checkpoints/best.pt (default: the shipped policy)"
    )
    add_model_type_arg(p)
    g = p.add_argument_group(
        "tile (default: the first TEST-split tile of the checkpoint's own dataset, never trained on)"
    )
    g.add_argument("--tile", help="a tile GeoTIFF (from `fuelbreak data`) or a folder of per-layer GeoTIFFs")
    g.add_argument("--data", help="a dataset folder (default: the checkpoint's own dataset)")
    g.add_argument(
        "--raster-idx",
        type=count_int(0),
        metavar="N",
        help="tile N of the dataset (default: the first tile of the checkpoint's test split)",
    )
    add_synthetic_layers_arg(g)
    p.add_argument(
        "--bg-raster-key",
        choices=(*LAYERS, *DERIVED_LAYERS),
        default="fbfm",
        metavar="KEY",
        help=f"layer under the breaks: a landscape layer ({', '.join(LAYERS)}) or one derived from fire under "
        f"the weather ({', '.join(DERIVED_LAYERS)}; intensity toward a direction in kW/m) (default fbfm)",
    )
    p.add_argument("--gif", action="store_true", help=f"also write {GIF}, one frame per policy step")
    p.add_argument("--outdir", default="viz_out", help="folder for the images (default viz_out)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the planning and of the scoring fires")
    add_planner_layer_args(p)
    add_request_args(
        p,
        budget_help="break cells: 5%% of the tile, a fraction 0.05, hectares 120ha or cells 75cells (or 75) "
        "(default: the checkpoint's)",
    )
    add_fires_arg(p)
    add_weather_args(p, default_text="the checkpoint's training weather")
    p.add_argument(
        "--metrics", help="the run's metrics log (default: metrics.jsonl of the run the checkpoint is in)"
    )
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------- choosing the tile


def choose_tile(args: argparse.Namespace, cfg, ckpt_path: Path):
    """(landscape, where it came from): --tile, tile --raster-idx of --data, or of the checkpoint's dataset."""
    from fuelbreak.cli.common import load_tile
    from fuelbreak.landscape.dataset import dataset_split, open_dataset

    if args.tile:
        if args.data or args.raster_idx is not None:
            raise ConfigError("--tile names one tile file; it does not go with --data or --raster-idx")
        land = load_tile(argparse.Namespace(tile=args.tile))
        return land, f"tile file {args.tile}"
    own_dir = cfg.env.data_dir or None
    data = args.data if args.data is not None else own_dir
    own = args.data is None or (own_dir is not None and Path(args.data).resolve() == Path(own_dir).resolve())
    if data is not None and not Path(data).exists():
        if args.data is None:
            raise InputError(
                f"checkpoint {ckpt_path} was trained on dataset {data}, which is not here; "
                "choose a tile with --data DATASET or --tile FILE"
            )
        raise InputError(f"--data {data} does not exist")
    e = cfg.env
    layered = getattr(args, "synthetic_layers", False)
    if layered and data is not None:
        raise ConfigError("--synthetic-layers applies to the built-in synthetic tiles, not to a dataset folder")
    dataset = open_dataset(
        data, n=e.synthetic_tiles, size=e.tile_size, seed=e.synthetic_seed, planner_layers=layered
    )
    what = f"dataset {data}" if data else f"the {len(dataset)} synthetic tiles of the checkpoint's config"
    splits = dataset_split(dataset, e.split_seed, with_dropped=True) if own else None
    index = args.raster_idx
    if index is None:
        index = splits["test"][0] if splits and splits["test"] else 0
    if not 0 <= index < len(dataset):
        raise InputError(f"--raster-idx {index} is outside the {len(dataset)} tiles of {what}")
    where = f"tile {index} of {what}"
    if splits:
        split = next(name for name, members in splits.items() if index in members)
        trained = {"train": "the policy trained on it", "dropped": "dropped from the spatial split"}.get(
            split, "never trained on"
        )
        where += f" ({split} split, {trained})"
    return dataset[index].validate(), where


def metrics_path(args: argparse.Namespace, ckpt_path: Path) -> Path:
    """--metrics, or metrics.jsonl of the run folder (RUN/checkpoints/X.pt -> RUN/metrics.jsonl)."""
    from fuelbreak.agents.train import RunFiles

    if args.metrics:
        path = Path(args.metrics)
        if not path.is_file():
            raise InputError(f"--metrics {path} does not exist")
        return path
    folder = ckpt_path.resolve().parent
    beside = folder / f"{ckpt_path.stem}.metrics.jsonl"  # an exported policy keeps its run's log beside it
    if beside.is_file():
        return beside
    return RunFiles(folder.parent if folder.name == "checkpoints" else folder).metrics


# ----------------------------------------------------------------------------- the command


def run(args: argparse.Namespace) -> int:
    """Run `fuelbreak visualize`: roll the policy out on one tile and write its images into --outdir as one set.

    Returns 0.
    """
    from fuelbreak.outputs import output_set

    if args.ckpt is None:
        from fuelbreak.agents.shipped import shipped_policy_path

        args.ckpt = str(shipped_policy_path())
    ckpt_path = Path(args.ckpt)
    flags_weather = weather_from_args(args) if weather_flags_given(args) else None
    ckpt, policy, cfg = load_policy(ckpt_path, args.model_type)
    n_fires = check_fires(args.fires)
    metrics = metrics_path(args, ckpt_path)
    if args.metrics:  # a log named on the command line must be readable: checked now, before the rollout
        from fuelbreak.viz.training import read_metrics

        read_metrics(metrics)
    land, where = choose_tile(args, cfg, ckpt_path)
    land = attach_planner_layers(args, land)
    if flags_weather is not None:
        weather, weather_source = flags_weather, weather_label(args)
    else:
        weather = cfg.weather.to_weather()
        weather_source = f"the checkpoint's training weather, weather.preset={cfg.weather.preset}"
    if args.budget is not None or getattr(args, "max_cost", None) is not None:
        request = request_from_args(args, land)
    else:
        request = request_from_args(args, land, cfg.env.budget_fraction, "the checkpoint's env.budget_fraction")
    budget = request.cells
    from fuelbreak.planning.request import request_options

    extra = request_options(request, "the policy", ("objective", "max_cost"))  # as `DQNPolicy.rollout` takes them

    print(f"{ckpt.model_type} policy of {ckpt_path}, {policy.cells_per_step} cells per step")
    print(f"{where}: {land.name}, {land.shape[0]} x {land.shape[1]} cells of {land.cell_size:g} m")
    print(f"weather ({weather_source}): {weather_text(weather)}")
    bg_land = land  # the tile, with the derived background layer when one is asked for
    if args.bg_raster_key in DERIVED_LAYERS:
        from fuelbreak.agents.policy import BP_FIRES
        from fuelbreak.viz.derived import derived_layers, with_layers

        bg_land = with_layers(land, derived_layers(land, weather, args.seed, (args.bg_raster_key,)))
        print(f"background: {args.bg_raster_key}, from {BP_FIRES} fires under this weather")
    background = bg_land.layers[args.bg_raster_key]
    if np.ptp(background) == 0:
        print(
            f"note: layer {args.bg_raster_key} is {float(background.flat[0]):g} everywhere on this tile, so "
            "the overlay's background shows no pattern; another --bg-raster-key may say more"
        )
    # The images are one set (fuelbreak.outputs), opened before the rollout so a bad --outdir fails now.
    with output_set(args.outdir, flag="--outdir", owned=IMAGES) as out:
        written, missing = _draw(args, policy, ckpt, ckpt_path, land, bg_land, weather, weather_source,
                                 budget, n_fires, metrics, out, extra)  # fmt: skip
    print("wrote:")
    for path in written:
        print(f"  {path}")
    for line in missing:
        print(line)
    return 0


def _draw(
    args, policy, ckpt, ckpt_path, land, bg_land, weather, weather_source, budget, n_fires, metrics, out, extra=None
):  # fmt: skip
    """Roll the policy out (for the request's objective and cost limit, `extra`), score the plan, draw the images.

    Returns (final paths, notes).
    """
    from fuelbreak.fire.montecarlo import burn_fire_set, burned_areas
    from fuelbreak.viz import (
        episode_gif,
        plot_burn_probability,
        plot_overlay,
        plot_qvalue_evolution,
        plot_training_summary,
    )

    steps = policy.rollout(land, weather, budget, args.seed, **(extra or {}))
    cells = np.concatenate([s.cells for s in steps]).astype(np.int64)
    fires = scoring_fires(land, weather, n_fires, args.seed)
    burned_before = burn_fire_set(fires)
    burned_after = burn_fire_set(fires, break_mask(cells, land.shape))
    score = Score(float(burned_before.sum((1, 2)).mean()), float(burned_after.sum((1, 2)).mean()), n_fires)
    print(
        f"plan: {budget} break cells ({100 * budget / land.n_cells:.1f} % of the tile) in {len(steps)} steps"
    )
    for line in score_text(score, land):
        print(line)

    bp_before, bp_after = burned_before.mean(axis=0), burned_after.mean(axis=0)
    if any(land.planner_layer(k) is not None for k in ("value", "cost")):
        from fuelbreak.planning.summary import plan_summary

        breaks = break_mask(cells, land.shape)
        for line in plan_summary(land, breaks, bp_before, bp_after, n_fires, getattr(args, "objective", "area")).lines():
            print(line)
    policy_name = f"{ckpt.model_type} policy {short_path(ckpt_path)}"
    heading = (
        f"{policy_name}: {steps_text(steps)}; scored on {n_fires} random fires (seed {args.seed})"
        f"\nweather: {weather_source}"
    )
    written = [
        plot_overlay(
            bg_land,
            cells,
            args.bg_raster_key,
            out.path(OVERLAY),
            burn_probability_after=bp_after,
            title_extra=heading,
            budget=budget,
            reduction=score.reduction,
        ),
        plot_qvalue_evolution(
            [(i, s.q_map, s.cells) for i, s in enumerate(steps, start=1)],
            out.path(QVALUES),
            landscape=land,
            title=f"{land.name}, {policy_name}, {policy.cells_per_step} cells per step",
        ),
        plot_burn_probability(
            bp_before,
            bp_after,
            out.path(BURN_PROBABILITY),
            landscape=land,
            cells=cells,
            title=f"{land.name}, {policy_name}, {n_fires} random fires\nweather: {weather_source}",
        ),
    ]
    missing = []
    try:
        written.append(plot_training_summary(metrics, out.path(TRAINING)))
    except InputError as exc:
        missing.append(f"{TRAINING} not written: {exc}")
        if out.final(TRAINING).exists():
            missing.append(f"  (the {TRAINING} of an earlier run in {out.dest} is removed: it is not this checkpoint's)")
    if args.gif:
        frames, placed = [], []
        for s in steps:
            placed.extend(int(c) for c in s.cells)
            area = burned_areas(fires, break_mask(placed, land.shape)).mean()
            frames.append((list(placed), float(area)))
        written.append(
            episode_gif(bg_land, args.bg_raster_key, frames, out.path(GIF), baseline_area=score.before)
        )
    return [out.final(Path(p).name) for p in written], missing


def short_path(path: Path, parts: int = 3) -> str:
    """The last folders of a path (run/checkpoints/best.pt): enough to tell runs apart in a title."""
    return "/".join(Path(path).parts[-parts:])


def steps_text(steps) -> str:
    """'5 steps of 25 cells', or '5 steps of up to 4 cells' when the last step was cut by the budget."""
    sizes = {len(s.cells) for s in steps}
    n = "1 step" if len(steps) == 1 else f"{len(steps)} steps"
    return f"{n} of {max(sizes)} cells" if len(sizes) == 1 else f"{n} of up to {max(sizes)} cells"
