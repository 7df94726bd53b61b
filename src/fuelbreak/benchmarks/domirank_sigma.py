"""Choose DomiRank's sigma: expected burned-area reduction per sigma on synthetic tiles.

For each synthetic tile, plans with DomiRank at several sigma values (a fraction of the admissible
maximum -1/lambda_N) on both graphs, at a budget of a share of the burnable cells, and scores every
plan on the same evaluation fires, drawn independently of the planning fires. Prints, per graph and
sigma, the mean reduction of the expected burned area over tiles with a 95 % confidence interval
(Student t over tiles), the paired difference to burn_probability on the same tiles (which removes the
tile-to-tile spread) and the seconds per plan; random, burn-probability and (with --greedy) greedy
plans are scored alongside as references.

    python -m fuelbreak.benchmarks.domirank_sigma                      # 10 tiles of 50x50, 5 % budget
    python -m fuelbreak.benchmarks.domirank_sigma --tiles 4 --greedy
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from fuelbreak.baselines import plan
from fuelbreak.fire import behaviors_for, default_weather, draw_fires, expected_burned_area
from fuelbreak.landscape.synthetic import synthetic_tiles

SIGMAS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


def parse_args() -> argparse.Namespace:
    """The command line's options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiles", type=int, default=10, help="number of synthetic tiles")
    p.add_argument("--size", type=int, default=50, help="tile side, cells")
    p.add_argument("--tile-seed", type=int, default=101, help="seed of the synthetic tiles")
    p.add_argument("--budget", type=float, default=0.05, help="share of the burnable cells to treat")
    p.add_argument("--eval-fires", type=int, default=500, help="evaluation fires per tile")
    p.add_argument(
        "--sigmas", default=",".join(str(s) for s in SIGMAS), help="comma-separated sigma fractions"
    )
    p.add_argument("--graphs", default="flow,spread", help="comma-separated DomiRank graphs")
    p.add_argument("--greedy", action="store_true", help="also score the (slower) greedy baseline")
    return p.parse_args()


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95 % confidence interval (Student t)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))


def main() -> None:
    """Score each method and DomiRank sigma on the synthetic tiles and print the table."""
    args = parse_args()
    weather = default_weather()
    sigmas = [float(s) for s in args.sigmas.split(",")]
    methods: list[tuple[str, str, dict]] = [("random", "-", {}), ("burn_probability", "-", {})]
    methods += [
        ("domirank", f"{g} sigma={s:g}", {"graph": g, "sigma": s})
        for g in args.graphs.split(",")
        for s in sigmas
    ]
    if args.greedy:
        methods.append(("greedy", "-", {}))
    reductions: dict[tuple[str, str], list[float]] = {(m, label): [] for m, label, _ in methods}
    seconds: dict[tuple[str, str], list[float]] = {(m, label): [] for m, label, _ in methods}
    tiles = synthetic_tiles(args.tiles, args.size, args.tile_seed)
    for i, tile in enumerate(tiles):
        behaviors = behaviors_for(tile, weather)
        evaluation = draw_fires(tile, weather, args.eval_fires, 10_000 + i, behaviors=behaviors)
        base = expected_burned_area(evaluation)
        budget = max(1, round(args.budget * int(tile.burnable.sum())))
        for method, label, options in methods:
            if method != "random":
                options = {**options, "behaviors": behaviors}
            t0 = time.perf_counter()
            cells = plan(method, tile, weather, budget, seed=i, **options)
            seconds[method, label].append(time.perf_counter() - t0)
            breaks = np.zeros(tile.n_cells, dtype=bool)
            breaks[cells] = True
            after = expected_burned_area(evaluation, breaks.reshape(tile.shape))
            reductions[method, label].append(100.0 * (base - after) / base)
        print(
            f"tile {i + 1}/{len(tiles)} {tile.name}: {base:.1f} cells burned per fire without breaks",
            flush=True,
        )

    print(
        f"\n{args.tiles} synthetic tiles {args.size}x{args.size} (seed {args.tile_seed}), default weather, "
        f"budget {100 * args.budget:g} % of burnable cells, {args.eval_fires} independent evaluation fires per tile\n"
    )
    reference = np.asarray(reductions["burn_probability", "-"])
    print(
        "| method | setting | reduction of expected burned area, % (95 % CI) | paired difference to burn_probability, points (95 % CI) | s/plan |"
    )
    print("| --- | --- | --- | --- | --- |")
    for method, label, _ in methods:
        m, h = mean_ci(reductions[method, label])
        dm, dh = mean_ci(list(np.asarray(reductions[method, label]) - reference))
        print(
            f"| {method} | {label} | {m:.1f} ± {h:.1f} | {dm:+.1f} ± {dh:.1f} | {np.mean(seconds[method, label]):.2f} |"
        )


if __name__ == "__main__":
    main()
