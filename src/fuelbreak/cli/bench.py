"""`fuelbreak bench`: the benchmarks whose figures the README quotes, each against its reference in one run.

`fuelbreak bench report` runs every command behind the README's and the docs' results tables and writes
them again (`fuelbreak.cli.bench_report`, over `fuelbreak.benchmarks.report`).
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub) -> None:
    """Add `fuelbreak bench` to the subparsers `sub`."""
    p = sub.add_parser("bench", help="measure speed and agreement against the references")
    p.add_argument(
        "what",
        nargs="?",
        default="fire",
        choices=["fire", "env", "train", "scale", "report", "flammap"],
        help="which benchmark (default: fire); report: every results table of the README and the docs, made "
        "again by the commands behind them; flammap: fuelbreak's engine against FlamMap's burn probability "
        "(and arrival time) on the same landscape",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown tables")
    p.add_argument("--tiles", type=int, default=5, help="fire: 50x50 tiles compared (default 5)")
    p.add_argument(
        "--fires",
        type=int,
        help="fire: fires per tile (default 6, so 30 fires); flammap: fuelbreak's random fires for its burn "
        "probability (default 1000)",
    )
    p.add_argument(
        "--sizes", type=int, nargs="*", default=[100, 200, 500], help="fire: grid sizes for scaling"
    )
    p.add_argument(
        "--plan-tiles",
        type=int,
        nargs=2,
        default=[5, 5],
        metavar=("SYNTHETIC", "REAL"),
        help="fire: tiles of the plan-agreement table (default 5 synthetic, 5 real; 0 0 skips it)",
    )
    p.add_argument(
        "--plan-fires", type=int, default=16, help="fire: fires per tile in the plan table (default 16)"
    )
    p.add_argument(
        "--plan-refine",
        type=int,
        default=3,
        metavar="K",
        help="fire: the plan table also scores plans with the level set on a grid K times finer (odd; "
        "default 3: 10 m for 30 m tiles; 1 skips it)",
    )
    p.add_argument(
        "--plan-workers",
        type=int,
        default=2,
        metavar="N",
        help="fire: processes that score the plan table's tiles (default 2; it times nothing)",
    )
    p.add_argument(
        "--real",
        default="../shared/data/landfire-worcester-vt",
        help="fire, report: LANDFIRE folder for the real tiles of the plan table and the real-land tables "
        "(skipped if absent)",
    )
    p.add_argument(
        "--speed-sizes",
        type=int,
        nargs="*",
        default=[50, 100, 500],
        help="fire: grids of the end-to-end speed table",
    )
    p.add_argument(
        "--seconds", type=float, default=240.0, help="train: seconds of the training loop, after its set-up (default 240)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="train: a config override, as `fuelbreak train` takes them (e.g. --set run.torch_threads=2); repeatable",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="scale: worker counts to measure (default 1 2)"
    )
    p.add_argument(
        "--scale-seconds", type=float, default=10.0, help="scale: seconds per measurement (default 10)"
    )
    p.add_argument("--no-ray", action="store_true", help="scale: the process pool only")
    p.add_argument(
        "--landscape-sizes",
        type=int,
        nargs="*",
        default=[250, 500],
        metavar="CELLS",
        help="scale: landscape sides of the size table (seconds and peak memory of planning and scoring; "
        "default 250 500; none skips it; 2000 takes many minutes)",
    )
    p.add_argument(
        "--size-method", default="tree_greedy", help="scale: the planner of the size table (default tree_greedy)"
    )
    p.add_argument(
        "--size-fires", type=int, default=200, help="scale: scoring fires of the size table (default 200)"
    )
    p.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="scale: measure Ray on this cluster (default: RAY_ADDRESS, else a private local Ray)",
    )
    from fuelbreak.cli import bench_flammap, bench_report

    bench_report.add_arguments(p)
    bench_flammap.add_arguments(p)
    p.set_defaults(func=run)


def _progress(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run `fuelbreak bench`; returns the exit code.

    Raises:
        ConfigError: a flag that does not apply to the benchmark chosen, or an invalid value.
    """
    from fuelbreak.cli import bench_flammap, bench_report
    from fuelbreak.errors import ConfigError

    if args.what == "flammap":
        bench_report.refuse_report_flags(args, allowed=("out",))
        return bench_flammap.run(args)
    bench_flammap.refuse_flammap_flags(args)
    if args.what == "report":
        return bench_report.run(args)
    bench_report.refuse_report_flags(args)
    if args.fires is None:
        args.fires = 6
    if args.set and args.what != "train":
        raise ConfigError(f"--set overrides the training config: it applies to `bench train`, not `bench {args.what}`")
    if args.what == "fire":
        from fuelbreak.benchmarks import fire as bf

        if args.plan_refine < 1 or args.plan_refine % 2 == 0:
            raise ConfigError(f"--plan-refine must be an odd whole number >= 1, got {args.plan_refine}")
        if args.plan_workers < 1:
            raise ConfigError(f"--plan-workers must be at least 1, got {args.plan_workers}")

        cmp = bf.compare_engines(args.tiles, args.fires, 50, args.seed, progress=_progress)
        scale = bf.scaling(tuple(args.sizes), seed=args.seed, progress=_progress)
        speed = bf.speed_end_to_end(tuple(args.speed_sizes), seed=args.seed, progress=_progress)
        n_syn, n_real = args.plan_tiles
        plans = (
            bf.plan_agreement(
                n_syn, n_real, args.plan_fires, args.real, refine=args.plan_refine, seed=args.seed,
                workers=args.plan_workers, progress=_progress,
            )
            if n_syn + n_real > 0
            else {}
        )
        if args.json:
            print(json.dumps({"engines": cmp, "scaling": scale, "speed": speed, "plans": plans}, indent=2))
        else:
            print(bf.format_fire_report(cmp, scale))
            print(bf.format_speed_report(speed))
            print(bf.format_plan_report(plans))
        return 0
    if args.what == "train":
        from fuelbreak.benchmarks.train import format_train_report, run_train_benchmark

        result = run_train_benchmark(args.seconds, tuple(args.set), progress=_progress)
        print(json.dumps(result, indent=2) if args.json else format_train_report(result))
        return 0
    if args.what == "scale":
        from fuelbreak.benchmarks.scale import format_scale_report, run_scale_benchmark

        if any(w < 1 for w in args.workers):
            raise ConfigError(f"--workers must be positive, got {args.workers}")
        result = run_scale_benchmark(
            tuple(args.workers),
            args.scale_seconds,
            ray=not args.no_ray,
            ray_address=args.ray_address,
            progress=_progress,
        )
        sized = None
        if args.landscape_sizes:
            from fuelbreak.benchmarks.landscape_size import format_size_report, run_size_benchmark

            sized = run_size_benchmark(
                tuple(args.landscape_sizes), tuple(args.workers), args.size_method, fires=args.size_fires, progress=_progress
            )
        if args.json:
            print(json.dumps({**result, "sizes": sized}, indent=2))
        else:
            print(format_scale_report(result) + ("\n\n" + format_size_report(sized) if sized else ""))
        return 0
    from fuelbreak.benchmarks.env import format_env_report, run_env_benchmark

    result = run_env_benchmark(seed=args.seed, progress=_progress)
    print(json.dumps(result, indent=2) if args.json else format_env_report(result))
    return 0
