"""`fuelbreak evaluate`: every method's plans on held-out tiles, scored on the same fires, summarised."""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from fuelbreak.cli.common import (
    add_executor_args,
    add_planner_layer_args,
    add_request_args,
    add_synthetic_layers_arg,
    add_weather_args,
    count_int,
    planner_layer_specs,
    seed_int,
    weather_from_args,
    weather_label,
)
from fuelbreak.planning.request import parse_budget

BASELINE_NAMES = ("random", "domirank", "burn_probability", "tree_greedy", "greedy")
# The files of an evaluation folder: an old one a new evaluation does not write (its plot) is removed.
EVAL_FILES = ("tiles.csv", "summary.csv", "summary.md", "evaluation.json", "reduction_vs_budget.png")
FRONTIER_FILES = ("frontier.csv", "frontier.md", "frontier.png")


def register(sub) -> None:
    """Add `fuelbreak evaluate` to the subparsers `sub`."""
    p = sub.add_parser(
        "evaluate",
        help="compare plans of the baselines (and a trained DQN) on held-out tiles",
        description="Plan with each method on the held-out tiles at each budget, burn every plan with the "
        "same evaluation fires (drawn from --seed, independent of planning and training), and write per-tile "
        "and summary tables, summary.md and, for several budgets, a plot of reduction against budget.",
    )
    g = p.add_argument_group("tiles")
    g.add_argument(
        "--data", help="a dataset folder from `fuelbreak data` (default: built-in synthetic tiles)"
    )
    g.add_argument(
        "--n-tiles", type=count_int(1), default=500, help="synthetic dataset size before the split (default 500)"
    )
    g.add_argument("--tile-size", type=count_int(4), default=50, help="synthetic tile size in cells (default 50)")
    g.add_argument("--tiles-seed", type=seed_int, default=0, help="seed of the synthetic tiles (default 0)")
    add_synthetic_layers_arg(g)
    g.add_argument(
        "--split",
        default="test",
        choices=["test", "val", "all"],
        help="which tiles (default test: the split training never sees)",
    )
    g.add_argument(
        "--split-seed", type=seed_int, default=0, help="seed of the train/val/test split (default 0, as training)"
    )
    g.add_argument(
        "--max-tiles", type=count_int(1), default=20, help="evaluate the first N tiles of the split (default 20)"
    )
    m = p.add_argument_group("methods")
    m.add_argument(
        "--methods",
        nargs="+",
        metavar="METHOD",
        help=f"methods to compare: {', '.join(BASELINE_NAMES)}, dqn (default: all of them; dqn plans with "
        "--ckpt, or with the policy shipped in the package). METHOD@LABEL runs a method again under its own "
        "options, e.g. --methods dqn@256 tree_greedy@256 --option dqn@256.bp_fires=256 "
        "--option tree_greedy@256.n_fires=256",
    )
    m.add_argument(
        "--ckpt",
        action="append",
        metavar="[LABEL=]PATH",
        help="a checkpoint from `fuelbreak train` (e.g. runs/default/checkpoints/best.pt) for dqn (default: the "
        "shipped policy). Repeat it to compare policies on the same tiles and fires: each becomes a method "
        "dqn:LABEL (LABEL: as given, else the run folder's name). Refused when its recorded training split "
        "holds any of the evaluation tiles",
    )
    m.add_argument("--model-type", default="auto", help="model type the checkpoint must hold (default auto)")
    m.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="METHOD.KEY=VALUE",
        help="an option of a baseline, e.g. greedy.n_fires=100 or domirank.sigma=0.5 (repeatable)",
    )
    m.add_argument(
        "--frontier",
        action="store_true",
        help="the quality frontier: each planner at several efforts (tree_greedy and tree_greedy+prune 64/256/1024 "
        "planning fires, greedy 50/200, dqn_search 256/512/1024, dqn as shipped; --methods chooses among these "
        "planners), plus "
        "in-sample reference rows (tree_greedy and dqn_search planned on the scoring fires: not methods); "
        "writes frontier.csv, frontier.md and frontier.png (at the first --budget) beside the usual tables",
    )
    m.add_argument(
        "--frontier-efforts",
        nargs="+",
        metavar="PLANNER=N,N",
        help="efforts of a frontier's planners, e.g. tree_greedy=64,256 dqn_search=512 (planning fires)",
    )
    add_request_args(
        m,
        budget_help="budgets: 5%% of each tile, a fraction 0.05, hectares 120ha or cells 75cells (or 75); several "
        "give a plot (default 0.05)",
        several=True,
        budget_default=[parse_budget("0.05")],
    )
    add_planner_layer_args(p)
    s = p.add_argument_group("scoring")
    s.add_argument("--fires", type=count_int(1), default=200, help="evaluation fires per tile (default 200)")
    s.add_argument(
        "--seed", type=seed_int, default=0, help="seed of the evaluation fires and of planning (default 0)"
    )
    s.add_argument(
        "--engine",
        default="mtt",
        choices=["mtt", "levelset"],
        help="engine that scores the plans: mtt (fast, default) or levelset, pyretechnics' reference "
        "(slow: about 0.1 s per fire on 50x50, so minutes per tile)",
    )
    add_weather_args(p)
    r = add_executor_args(
        p, "how tiles run", 3600.0, "seconds one tile may take on process/ray (default 3600)"
    )
    r.add_argument("--outdir", default="eval_out", help="output folder (default eval_out)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def parse_options(items: list[str]) -> dict[str, dict]:
    """METHOD.KEY=VALUE items as {method: {key: value}}; values are Python literals, else strings."""
    from fuelbreak.errors import ConfigError

    out: dict[str, dict] = {}
    for item in items:
        key, sep, text = item.partition("=")
        method, dot, name = key.strip().partition(".")
        if not (sep and dot and method and name):
            raise ConfigError(f"--option {item!r}: expected METHOD.KEY=VALUE, e.g. greedy.n_fires=100")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        out.setdefault(method, {})[name.strip()] = value
    return out


def checkpoint_methods(ckpts: list[str] | None) -> dict[str, str]:
    """--ckpt values as {method: path}.

    One checkpoint is `dqn` (or `dqn:LABEL` when labelled), several are `dqn:LABEL` each, LABEL given as
    LABEL=PATH or else the name of the run folder.
    """
    from fuelbreak.errors import ConfigError, InputError

    out: dict[str, str] = {}
    for item in ckpts or []:
        label, sep, path = item.partition("=")
        plain = not sep or not label or "/" in label or label.endswith(".pt")
        if plain or (not Path(path).is_file() and Path(item).is_file()):  # a path that holds '='
            label, path = "", item
        if not Path(path).is_file():
            raise InputError(f"--ckpt {path}: no such checkpoint file")
        if not label and len(ckpts) > 1:
            p = Path(path).resolve()
            run = p.parent.parent if p.parent.name == "checkpoints" else p.parent
            label = run.name if p.stem == "best" else f"{run.name}/{p.stem}"
        method = f"dqn:{label}" if label else "dqn"
        if method in out:
            raise ConfigError(f"--ckpt: two checkpoints are both {method}; name them with --ckpt LABEL=PATH")
        out[method] = path
    return out


def choose_methods(args: argparse.Namespace) -> list[str]:
    """--methods (default: the baselines and dqn); dqn plans with each --ckpt, else with the shipped policy.

    Sets `args.checkpoints` ({method: path}) for every dqn method evaluated.
    """
    from fuelbreak.agents.shipped import shipped_policy_path
    from fuelbreak.errors import ConfigError
    from fuelbreak.planning import base_method

    methods = list(args.methods or (*BASELINE_NAMES, "dqn"))
    args.checkpoints = checkpoint_methods(args.ckpt)
    policies = [m for m in methods if base_method(m) == "dqn"]  # dqn and dqn@LABEL (the policy, other options)
    if not args.checkpoints:
        if policies:
            args.checkpoints = {m: str(shipped_policy_path()) for m in policies}
        return methods
    if any(m != "dqn" for m in policies):
        if list(args.checkpoints) != ["dqn"]:
            raise ConfigError(
                f"--methods {' '.join(m for m in policies if m != 'dqn')}: a dqn@LABEL method plans with the one "
                "unlabelled --ckpt (or the shipped policy); several checkpoints are compared as dqn:LABEL"
            )
        args.checkpoints = {m: args.checkpoints["dqn"] for m in policies}
        return methods
    named = [m for m in methods if m.startswith("dqn:")]
    stray = [m for m in named if m not in args.checkpoints]
    if stray:
        raise ConfigError(
            f"--methods {', '.join(stray)}: no --ckpt has that label ({', '.join(args.checkpoints)})"
        )
    if named:  # --methods chose some of the checkpoints by name
        args.checkpoints = {m: args.checkpoints[m] for m in named}
        return [m for m in methods if m != "dqn"]
    return [m for m in methods if m != "dqn"] + list(args.checkpoints)


def make_executor_from_args(args: argparse.Namespace):
    """The executor of --executor, --workers, --ray-address and --task-timeout (seconds).

    Raises:
        ConfigError: a flag that does not apply to the executor chosen.
    """
    from fuelbreak.errors import ConfigError
    from fuelbreak.parallel import make_executor

    if args.ray_address and args.executor != "ray":
        raise ConfigError(f"--ray-address applies to --executor ray, not {args.executor}")
    if args.executor == "serial":
        if args.workers is not None:
            raise ConfigError("--workers applies to --executor process or ray, not serial")
        return make_executor("serial")
    workers = 2 if args.workers is None else args.workers
    if args.executor == "process":
        return make_executor("process", workers=workers, timeout=args.task_timeout)
    from fuelbreak.cli.common import ray_executor_from_args

    return ray_executor_from_args(args, workers)


def check_not_trained_on(args: argparse.Namespace, indices: list[int], dataset) -> None:
    """Refuse to score a checkpoint on tiles its training run learned from (see evaluation.leakage)."""
    for path in args.checkpoints.values():
        check_checkpoint_not_trained_on(path, args, indices, dataset)


def check_checkpoint_not_trained_on(ckpt: str, args: argparse.Namespace, indices: list[int], dataset) -> None:
    """Refuse a checkpoint trained on any of the evaluation tiles `indices` of `dataset`.

    Its run's split is read from the checkpoint's config; where it cannot be rebuilt, a warning on stderr.

    Raises:
        ConfigError: the checkpoint was trained on some of the tiles (or, on a spatial split, on ground they cover).
    """
    from fuelbreak.agents.checkpoint import load_checkpoint
    from fuelbreak.errors import ConfigError
    from fuelbreak.evaluation.leakage import trained_tiles
    from fuelbreak.landscape.dataset import is_spatial

    n_tiles = len(dataset)
    env = load_checkpoint(ckpt, None).data["config"].get("env", {})
    real = args.data is not None
    seen = trained_tiles(
        env, args.data, args.tile_size, args.tiles_seed, n_tiles, eval_dataset=dataset if real else None
    )
    if seen is None:
        why = (
            f"its training dataset {env.get('data_dir')} is not readable here"
            if env.get("data_dir") and real
            else "it does not record its training split (env.split_seed, env.synthetic_tiles, ...)"
        )
        print(
            f"warning: checkpoint {ckpt}: {why}; cannot check that the evaluation tiles were not trained on",
            file=sys.stderr,
        )
        return
    overlap = sorted(seen & set(indices))
    if overlap and real and is_spatial(dataset.manifest):
        shown = ", ".join(map(str, overlap[:10])) + (" ..." if len(overlap) > 10 else "")
        raise ConfigError(
            f"--ckpt {ckpt} was trained on ground that {len(overlap)} of the evaluation tiles cover "
            f"({shown}): their footprints overlap training tiles of {env['data_dir']} (spatial split, "
            f"env.split_seed={env['split_seed']}); evaluate on that run's held-out tiles with "
            f"--data {env['data_dir']} --split-seed {env['split_seed']} --split test"
        )
    if overlap:
        shown = ", ".join(map(str, overlap[:10])) + (" ..." if len(overlap) > 10 else "")
        hint = "" if args.data else f" --n-tiles {env['synthetic_tiles']}"
        raise ConfigError(
            f"--ckpt {ckpt} was trained on {len(overlap)} of the evaluation tiles ({shown}): its run split "
            f"{env['synthetic_tiles'] if not args.data else n_tiles} tiles with env.split_seed={env['split_seed']}; "
            f"evaluate with{hint} --split-seed {env['split_seed']} to use its held-out tiles"
        )


def frontier_plan(args: argparse.Namespace) -> tuple[list[str], dict[str, dict]]:
    """The methods and options of `--frontier`.

    Each planner's efforts and the in-sample references; `--option PLANNER.KEY=VALUE` applies to every effort
    of that planner; a policy's planners use --ckpt (one) or the shipped policy. Sets `args.checkpoints` for
    the leakage check.
    """
    from fuelbreak.agents.shipped import shipped_policy_path
    from fuelbreak.errors import ConfigError
    from fuelbreak.evaluation.frontier import frontier_methods, parse_efforts
    from fuelbreak.evaluation.tile import base_method, uses_policy

    ckpts = checkpoint_methods(args.ckpt)
    if len(ckpts) > 1:
        raise ConfigError("--frontier takes one --ckpt (the policy of dqn and dqn_search)")
    path = next(iter(ckpts.values()), str(shipped_policy_path()))
    methods, options = frontier_methods(args.methods, parse_efforts(args.frontier_efforts))
    given = parse_options(args.option)
    stray = sorted(set(given) - {base_method(m) for m in methods})  # tree_greedy's options: +prune's too
    if stray:
        raise ConfigError(f"--option for {', '.join(stray)}, which the frontier does not run")
    for m in methods:
        options[m] = {**given.get(base_method(m), {}), **options.get(m, {})}
        if uses_policy(m):
            options[m].update(checkpoint=path, model_type=args.model_type)
    args.checkpoints = {"dqn": path} if any(map(uses_policy, methods)) else {}
    return methods, options


def run(args: argparse.Namespace) -> int:
    """Run `fuelbreak evaluate`: the methods of --methods (or of --frontier) on the held-out tiles; returns 0."""
    if args.frontier:
        methods, options = frontier_plan(args)
        return run_evaluation(args, methods, options, frontier=True)
    methods = choose_methods(args)
    options = parse_options(args.option)
    labelled = [m for m in args.checkpoints if m != "dqn"]
    shared_dqn = options.pop("dqn", {}) if labelled else {}  # --option dqn.X: every labelled policy
    for method, path in args.checkpoints.items():
        options[method] = {
            **shared_dqn,
            **options.get(method, {}),
            "checkpoint": path,
            "model_type": args.model_type,
        }
    if "dqn_search" in methods:  # the search guides with the policy evaluated beside it, else the shipped one
        guide = args.checkpoints.get("dqn") or (next(iter(args.checkpoints.values())) if len(args.checkpoints) == 1 else None)
        if guide:
            options.setdefault("dqn_search", {}).setdefault("checkpoint", guide)
            options["dqn_search"].setdefault("model_type", args.model_type)
    return run_evaluation(args, methods, options)


def run_evaluation(args: argparse.Namespace, methods: list[str], options: dict, frontier: bool = False) -> int:
    """Plan with `methods` (with their `options`) on the selected tiles, score and write the results as one set.

    With `frontier`, the results are a frontier of reduction against seconds a plan. Returns 0.

    Raises:
        ConfigError: a budget larger than the tiles, or a checkpoint trained on the evaluation tiles.
        SimulationError: no plan could be scored.
    """
    from fuelbreak.errors import ConfigError, SimulationError
    from fuelbreak.evaluation import select_tiles
    from fuelbreak.landscape.dataset import open_dataset
    from fuelbreak.outputs import add_note, output_set

    weather = weather_from_args(args)
    if args.synthetic_layers and args.data:
        raise ConfigError("--synthetic-layers applies to the built-in synthetic tiles, not to --data")
    dataset = open_dataset(
        args.data, n=args.n_tiles, size=args.tile_size, seed=args.tiles_seed, planner_layers=args.synthetic_layers
    )
    specs = planner_layer_specs(args)
    if specs:
        from fuelbreak.landscape.planner_layers import LayeredDataset

        dataset = LayeredDataset(dataset, specs)
    has = {*specs.keys, *(dataset.manifest.get("planner_layers") or ())}  # given, or carried by the tiles
    check_request(args, has)
    indices = select_tiles(dataset, args.split, args.split_seed, args.max_tiles)
    h, w = dataset.tile_shape
    cell_size = float(dataset.manifest.get("cell_size") or 30.0)
    args.budget_given = [b.text if hasattr(b, "text") else b for b in args.budget]
    args.budget = [b.tile_budget(h * w, cell_size) if hasattr(b, "tile_budget") else b for b in args.budget]
    for b in args.budget:  # a budget larger than the tiles is a bad flag: say so before any planning
        if isinstance(b, int | float) and b >= 1 and b > h * w:
            raise ConfigError(f"--budget {b:g} asks for {b:g} break cells, but the tiles have {h * w} ({h} x {w})")
    if args.checkpoints:
        check_not_trained_on(args, indices, dataset)
    add_note("an evaluation does not resume: rerun the same command to start it again")
    # The outputs are one set (fuelbreak.outputs), opened before the long run so a bad --outdir fails now.
    with output_set(args.outdir, flag="--outdir", owned=EVAL_FILES + FRONTIER_FILES) as out:
        ev, paths = _evaluate(args, dataset, indices, methods, options, weather, out, frontier)
    print(ev.markdown)
    if frontier:
        print(Path(paths["frontier"]).read_text())
    for f in ev.failures:
        print(f"warning: tile {f['tile_index']} ({f['tile_name']}) failed: {f['error']}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    if not any(r["status"] == "ok" for r in ev.records):
        raise SimulationError(f"no plan could be scored; the reasons are in {paths['tiles']}")
    return 0


def check_request(args: argparse.Namespace, layers) -> None:
    """--objective and --max-cost against the tiles' planner layers (a ConfigError naming the flag when one is missing).

    Every method then plans for them: `fuelbreak.evaluation.evaluate` passes them to each planner.
    """
    from fuelbreak.planning.request import check_max_cost, check_objective

    args.objective = check_objective(getattr(args, "objective", "area"), has_values="value" in layers)
    args.max_cost = check_max_cost(getattr(args, "max_cost", None), "cost" in layers)


def _evaluate(args, dataset, indices, methods, options, weather, out, frontier=False):
    from fuelbreak.evaluation import evaluate, write_outputs

    with make_executor_from_args(args) as executor:
        ev = evaluate(
            dataset,
            indices,
            methods,
            args.budget,
            weather,
            n_fires=args.fires,
            seed=args.seed,
            engine=args.engine,
            method_options=options,
            executor=executor,
            progress=not args.no_progress,
            split=args.split,
            objective=args.objective,
            max_cost=args.max_cost,
        )
    ev.info["dataset"] = (
        args.data or f"synthetic n={args.n_tiles} size={args.tile_size} seed={args.tiles_seed}"
    )
    ev.info["split_seed"] = args.split_seed
    ev.info["budgets_given"] = args.budget_given
    ev.info["planner_layers"] = planner_layer_specs(args).describe()
    ev.info["weather_source"] = weather_label(args)
    staged = write_outputs(ev, out.stage)
    if frontier:
        from fuelbreak.evaluation.frontier import write_frontier

        staged.update(write_frontier(ev, options, out.stage))
    return ev, {k: out.final(Path(p).name) for k, p in staged.items()}
