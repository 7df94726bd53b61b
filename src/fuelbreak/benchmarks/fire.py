"""Speed and agreement of the fast engine against the level-set reference, measured side by side.

Both engines burn the same tiles, the same ignitions and the same weather in one run; the figures
are fires per second of each, their ratio, and their agreement (Pearson r of burned area per fire,
mean Jaccard index of the burned cells). Scaling runs the fast engine alone on larger grids.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np

from fuelbreak.errors import InputError
from fuelbreak.fire.levelset import LevelSetEngine
from fuelbreak.fire.montecarlo import sample_ignitions
from fuelbreak.fire.mtt import BurnResult, MTTEngine
from fuelbreak.fire.scenario import Scenario
from fuelbreak.landscape.synthetic import synthetic_tile

SCENARIOS = {
    "no wind": Scenario(wind_speed=0.0, duration=1440.0),
    "20 km/h wind": Scenario(wind_speed=20.0, wind_direction=270.0, duration=1440.0),
}


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def compare_engines(
    n_tiles: int = 5, fires_per_tile: int = 6, size: int = 50, seed: int = 0, progress=None
) -> dict:
    """Burn the same fires with `mtt` and `levelset`; return speed and agreement per scenario."""
    tiles = [synthetic_tile(size, seed=seed + i, name=f"synthetic-{seed + i}") for i in range(n_tiles)]
    rows = {}
    for label, scenario in SCENARIOS.items():
        areas = {"mtt": [], "levelset": []}
        seconds = {"mtt": 0.0, "levelset": 0.0}
        jaccard, cells = [], 0
        for i, land in enumerate(tiles):
            ign = sample_ignitions(land, fires_per_tile, np.random.default_rng([seed, i]))
            fast_engine = MTTEngine(land, scenario)
            fast_engine.burn(ign[:1])  # compile/load the numba kernels outside the timing
            fast, dt_fast = _timed(lambda e=fast_engine, g=ign: e.burn(g))
            ref, dt_ref = _timed(lambda land=land, g=ign, s=scenario: LevelSetEngine(land, s).burn(g))
            seconds["mtt"] += dt_fast
            seconds["levelset"] += dt_ref
            areas["mtt"].extend(fast.area.tolist())
            areas["levelset"].extend(ref.area.tolist())
            cells += int(fast.area.sum())
            for a, b in zip(fast.burned, ref.burned, strict=True):
                union = (a | b).sum()
                jaccard.append(float((a & b).sum() / union) if union else 1.0)
            if progress:
                progress(f"{label}: tile {i + 1}/{n_tiles}")
        n = n_tiles * fires_per_tile
        fa, ra = np.asarray(areas["mtt"], float), np.asarray(areas["levelset"], float)
        rows[label] = {
            "fires": n,
            "tiles": n_tiles,
            "mtt_fires_per_s": n / seconds["mtt"],
            "levelset_fires_per_s": n / seconds["levelset"],
            "speedup": seconds["levelset"] / seconds["mtt"],
            "burned_area_pearson_r": float(np.corrcoef(fa, ra)[0, 1])
            if fa.std() > 0 and ra.std() > 0
            else float("nan"),
            "mean_jaccard": float(np.mean(jaccard)),
            "mtt_mean_burned_cells": float(fa.mean()),
            "levelset_mean_burned_cells": float(ra.mean()),
            "mtt_ns_per_burned_cell": 1e9 * seconds["mtt"] / max(cells, 1),
        }
    return rows


def scaling(sizes=(50, 100, 200, 500), fires: int = 20, seed: int = 0, progress=None) -> dict:
    """Fires per second of `mtt` on larger grids, with the burned cells, to show cost ~ burned area."""
    scenario = replace(SCENARIOS["20 km/h wind"])
    out = {}
    for size in sizes:
        land = synthetic_tile(size, seed=seed, name=f"synthetic-{size}")
        engine = MTTEngine(land, scenario)
        ign = sample_ignitions(land, fires, seed)
        engine.burn(ign[:1])
        res, dt = _timed(lambda e=engine, g=ign: e.burn(g))
        burned = int(res.area.sum())
        out[f"{size}x{size}"] = {
            "fires_per_s": fires / dt,
            "mean_burned_cells": burned / fires,
            "ns_per_burned_cell": 1e9 * dt / max(burned, 1),
        }
        if progress:
            progress(f"scaling {size}x{size}")
    return out


def format_fire_report(cmp: dict, scale: dict) -> str:
    """The figures as Markdown tables, for the README."""
    lines = [
        "| weather (24 h burns, 50x50) | fires | mtt fires/s | levelset fires/s | speed-up | burned-area r | mean Jaccard |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in cmp.items():
        lines.append(
            f"| {label} | {r['fires']} | {r['mtt_fires_per_s']:,.0f} | {r['levelset_fires_per_s']:,.1f} | "
            f"{r['speedup']:,.0f}x | {r['burned_area_pearson_r']:.3f} | {r['mean_jaccard']:.3f} |"
        )
    lines += [
        "",
        "| grid (mtt, 20 km/h, 24 h) | fires/s | mean burned cells | ns per burned cell |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, r in scale.items():
        lines.append(
            f"| {label} | {r['fires_per_s']:,.1f} | {r['mean_burned_cells']:,.0f} | {r['ns_per_burned_cell']:.0f} |"
        )
    return "\n".join(lines)


# --- plan-level agreement (issue 12) ---------------------------------------------------------------

PLAN_WEATHERS = {
    "4 h, 15 km/h wind": Scenario(wind_speed=15.0, wind_direction=225.0, duration=240.0),
    "24 h, calm": Scenario(wind_speed=0.0, duration=1440.0),
}
# (label, baseline, fraction of the tile's cells); random plans at three budgets, the others at 5 %.
PLANS = (
    ("random 2 %", "random", 0.02),
    ("random 5 %", "random", 0.05),
    ("random 10 %", "random", 0.10),
    ("domirank 5 %", "domirank", 0.05),
    ("burn_probability 5 %", "burn_probability", 0.05),
)
GREEDY = ("greedy 5 %", "greedy", 0.05)
WORCESTER = Path("..") / "shared" / "data" / "landfire-worcester-vt"


def real_tiles(folder: str | Path, n: int, size: int = 50, seed: int = 0, min_burnable: float = 0.9) -> list:
    """`n` size x size windows of a LANDFIRE folder with at least `min_burnable` burnable cells, drawn by seed."""
    from fuelbreak.landscape.geotiff import read_layer_folder

    land = read_layer_folder(folder)
    h, w = land.shape
    windows = [
        (r, c)
        for r in range(0, h - size + 1, size)
        for c in range(0, w - size + 1, size)
        if land.burnable[r : r + size, c : c + size].mean() >= min_burnable
    ]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(windows), size=min(n, len(windows)), replace=False)
    return [
        land.window(*windows[i], size, size, name=f"{Path(folder).name}@{windows[i]}") for i in sorted(picks)
    ]


def _reduction(area_none: np.ndarray, area_plan: np.ndarray) -> float:
    """Percent fall in total burned area over the same fires."""
    total = float(area_none.sum())
    return 100.0 * (1.0 - float(area_plan.sum()) / total) if total > 0 else 0.0


def _plan_rows(land, scenario, fires: int, plans, refine: int, seed: int, i: int) -> tuple[dict, list[dict]]:
    """Tile `i` in one weather, a pure task.

    Its open-land row (burned cells of its fires with no plan, summed, under each engine) and its plan rows
    (tile, plan, reduction under each engine).
    """
    from fuelbreak.baselines import plan as baseline_plan
    from fuelbreak.fire.scenario import Weather

    ign = sample_ignitions(land, fires, np.random.default_rng([seed, 12, i]))
    engines = {"mtt": MTTEngine(land, scenario), "levelset": LevelSetEngine(land, scenario)}
    if refine > 1:
        engines[f"levelset x{refine}"] = LevelSetEngine(land, scenario, refine=refine)
    none = {name: e.burn(ign).area for name, e in engines.items()}
    open_land = {"tile": land.name, **{name: float(area.sum()) for name, area in none.items()}}
    rows = []
    for name, method, fraction in plans:
        budget = int(round(fraction * land.n_cells))
        cells = baseline_plan(method, land, Weather.single(scenario), budget, seed + i)
        breaks = np.zeros(land.n_cells, dtype=bool)
        breaks[cells] = True
        breaks = breaks.reshape(land.shape)
        row = {"tile": land.name, "plan": name}
        for engine_name, e in engines.items():
            row[engine_name] = _reduction(none[engine_name], e.burn(ign, breaks).area)
        rows.append(row)
    return open_land, rows


def plan_agreement(
    n_synthetic: int = 5,
    n_real: int = 5,
    fires: int = 16,
    real: str | Path | None = WORCESTER,
    greedy: bool = False,
    refine: int = 3,
    seed: int = 0,
    workers: int = 2,
    progress=None,
) -> dict:
    """Reduction of every baseline's plan under `mtt` and under the level set, on the same fires.

    The level set runs on the tiles' 30 m grid and, with `refine` k > 1, on a grid k times finer
    (`LevelSetEngine(refine=k)`: the same cells, breaks and ignitions, burned fractions of cells),
    whose answer does not carry the 30 m grid's unburned line behind every isolated break. For each
    weather: per (tile, plan) the reductions; for `mtt` against each level set, and for the two level
    sets against each other, the Spearman correlation over (tile, plan), the mean absolute difference
    in points, per method the mean signed difference and on how many tiles it is positive, and the
    share of tiles whose best 5 % plan is the same. Tiles are scored on `workers` processes (nothing
    here is timed).
    """
    from fuelbreak.parallel import make_executor

    if refine < 1 or refine % 2 == 0:
        raise InputError(f"--plan-refine must be an odd whole number >= 1, got {refine}")
    tiles = [
        synthetic_tile(50, seed=1000 + seed + i, name=f"synthetic-{1000 + seed + i}")
        for i in range(n_synthetic)
    ]
    if real is not None and n_real > 0 and Path(real).is_dir():
        tiles += real_tiles(real, n_real, seed=seed)
    plans = PLANS + ((GREEDY,) if greedy else ())
    refs = ["levelset"] + ([f"levelset x{refine}"] if refine > 1 else [])
    out = {}
    executor = make_executor("process", workers=workers) if workers > 1 else make_executor("serial")
    with executor:
        for label, scenario in PLAN_WEATHERS.items():
            tasks = [(land, scenario, fires, plans, refine, seed, i) for i, land in enumerate(tiles)]
            results = executor.map(_plan_rows, tasks)
            rows = [row for _, tile_rows in results for row in tile_rows]
            if progress:
                progress(f"plans, {label}: {len(tiles)} tiles")
            pairs = [("mtt", ref) for ref in refs] + ([(refs[0], refs[1])] if len(refs) > 1 else [])
            out[label] = {
                "tiles": len(tiles),
                "fires": fires,
                "engines": ["mtt", *refs],
                "methods": {
                    name: {e: float(np.mean([r[e] for r in rows if r["plan"] == name])) for e in ["mtt", *refs]}
                    for name, _, _ in plans
                },
                "agreement": {f"{a} vs {b}": _agreement(rows, plans, a, b) for a, b in pairs},
                "open_land": [open_land for open_land, _ in results],
                "rows": rows,
            }
    return out


def _agreement(rows: list[dict], plans, a: str, b: str) -> dict:
    """How the reductions of engine `a` and engine `b` agree over the rows (tile, plan)."""
    from scipy.stats import spearmanr

    x, y = np.array([r[a] for r in rows]), np.array([r[b] for r in rows])
    per_method = {}
    for name, _, _ in plans:
        sel = np.array([r["plan"] == name for r in rows])
        d = x[sel] - y[sel]
        per_method[name] = {
            "mean_difference": float(d.mean()),
            "mean_abs_difference": float(np.abs(d).mean()),
            "positive": f"{int((d > 0).sum())}/{int(sel.sum())}",
        }
    five = [name for name, _, fraction in plans if fraction == 0.05]
    tiles = list(dict.fromkeys(r["tile"] for r in rows))
    best_same = 0
    for tile in tiles:
        sub = [r for r in rows if r["tile"] == tile and r["plan"] in five]
        best_same += max(sub, key=lambda r: r[a])["plan"] == max(sub, key=lambda r: r[b])["plan"]
    return {
        "spearman": float(spearmanr(x, y).statistic),
        "mean_abs_difference": float(np.abs(x - y).mean()),
        "best_plan_agreement": f"{best_same}/{len(tiles)}",
        "methods": per_method,
    }


def _engine_label(name: str) -> str:
    """'levelset x3' -> 'level set x3' (its grid k times finer than the tiles')."""
    return name.replace("levelset", "level set")


def format_plan_report(plans: dict) -> str:
    """The plan-level agreement as Markdown tables (reductions in percent of burned area).

    Per weather, each method's mean reduction under every engine and mtt's difference from each level set; the
    open-land burned area of the tiles' fires, mtt's over each level set's (mean over tiles, range); then the
    agreement of every pair of engines over all plans.
    """
    lines = []
    for label, r in plans.items():
        refs = r["engines"][1:]
        head = " | ".join(
            ["mtt"]
            + [_engine_label(e) for e in refs]
            + [f"mtt - {_engine_label(e)}: mean (abs), tiles above" for e in refs]
        )
        lines += [
            "",
            f"| reduction, {label} ({r['tiles']} tiles, {r['fires']} fires) | {head} |",
            "| --- |" + " ---: |" * (1 + 2 * len(refs)),
        ]
        for name, means in r["methods"].items():
            cells = [f"{means[e]:.1f} %" for e in r["engines"]]
            for e in refs:
                m = r["agreement"][f"mtt vs {e}"]["methods"][name]
                cells.append(f"{m['mean_difference']:+.1f} ({m['mean_abs_difference']:.1f}), {m['positive']}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if plans:
        refs = next(iter(plans.values()))["engines"][1:]
        lines += [
            "",
            "| open land (the same fires, no plan): mtt's burned area over the level set's | weather "
            "| synthetic tiles | real tiles |",
            "| --- | --- | ---: | ---: |",
        ]
        for ref in refs:
            for label, r in plans.items():
                cells = []
                for real in (False, True):
                    ratios = [
                        t["mtt"] / t[ref] for t in r["open_land"] if t["tile"].startswith("synthetic") != real and t[ref] > 0
                    ]
                    cells.append(
                        f"{np.mean(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})" if ratios else "-"
                    )
                lines.append(f"| against {_engine_label(ref)} | {label} | {cells[0]} | {cells[1]} |")
        lines += [
            "",
            "| agreement over all plans | weather | Spearman | mean abs difference (points) | best 5 % plan same |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        pairs = list(next(iter(plans.values()))["agreement"])
        for pair in pairs:
            for label, r in plans.items():
                a = r["agreement"][pair]
                lines.append(
                    f"| {_engine_label(pair)} | {label} | {a['spearman']:.3f} | {a['mean_abs_difference']:.1f} "
                    f"| {a['best_plan_agreement']} |"
                )
    return "\n".join(lines)


# --- speed per fire and end to end (issue 12) ------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _relax_in_order(travel, step, order, counts, duration, w, pad, arrival):
    """The floor of a search: each burned cell of each fire relaxes its moves once, in the order of its arrival, with no queue.

    order[f, :counts[f]] are fire f's burned cells (flat padded indices) by arrival time, its ignition first;
    arrival[f] gets the times (which equal the search's).
    """
    best = np.full(travel.shape[0], np.inf, dtype=np.float32)
    wp = w + 2 * pad
    for f in range(order.shape[0]):
        best[order[f, 0]] = 0.0
        for i in range(counts[f]):
            u = order[f, i]
            t = best[u]
            for k in range(travel.shape[1]):
                nt = t + travel[u, k]
                if nt <= duration:
                    v = u + step[k]
                    if nt < best[v]:
                        best[v] = nt
        for i in range(counts[f]):
            u = order[f, i]
            arrival[f, u // wp - pad, u % wp - pad] = best[u]
            best[u] = np.inf


def search_floor(engine: MTTEngine, fires: BurnResult) -> tuple[float, bool]:
    """Seconds `_relax_in_order` takes for `fires` (burned by `engine`, no plan), and whether it gave the same arrival times.

    What any label-setting search on this stencil must spend beyond its queue.
    """
    h, w = engine.shape
    pad = (engine.padded_width - w) // 2
    _, travel = engine.moves_through(None)
    counts = fires.burned.reshape(len(fires.arrival), -1).sum(axis=1)
    order = np.zeros((len(counts), max(int(counts.max()), 1)), dtype=np.int64)
    for f in range(len(counts)):
        flat = np.flatnonzero(fires.burned[f])
        flat = flat[np.argsort(fires.arrival[f].ravel()[flat], kind="stable")]
        order[f, : len(flat)] = (flat // w + pad) * engine.padded_width + flat % w + pad
    arrival = np.full(fires.arrival.shape, np.inf, dtype=np.float32)
    step = np.asarray(engine.step, dtype=np.int64)
    duration = np.float32(fires.duration)
    _relax_in_order(travel, step, order[:1, :1], np.ones(1, np.int64), duration, w, pad, arrival[:1].copy())
    t0 = time.perf_counter()
    _relax_in_order(travel, step, order, counts.astype(np.int64), duration, w, pad, arrival)
    seconds = time.perf_counter() - t0
    return seconds, bool(np.array_equal(arrival, fires.arrival))


def speed_end_to_end(
    sizes=(50, 100, 500),
    fires: int = 16,
    levelset_fires: dict | None = None,
    new_tiles: dict | None = None,
    seed: int = 0,
    progress=None,
) -> dict:
    """Milliseconds of `mtt` and the level set on new tiles: behaviour, engine, `fires` fires (4 h, 15 km/h).

    Per fire compares the fires alone; end to end adds everything a new tile costs (for `mtt` the
    behaviour build and the engine, for the level set its inputs). `mtt` figures are medians over
    `new_tiles[size]` tiles (default 5 at 50x50, 3 at 100x100, else 1), which damps the noise of a
    shared machine. The level set burns the first tile only, and only `levelset_fires[size]` fires
    on large grids (default 2 at 500x500): its 16-fire total is its per-fire time times 16. The
    search's floor (`search_floor`) is the time of the same fires' relaxations without a queue.
    """
    from fuelbreak.fire.behavior import compute_behavior
    from fuelbreak.landscape.core import Landscape

    levelset_fires = {500: 2} if levelset_fires is None else levelset_fires
    new_tiles = {50: 5, 100: 3} if new_tiles is None else new_tiles
    scenario = PLAN_WEATHERS["4 h, 15 km/h wind"]
    # Load every compiled kernel outside the timing: a tile whose head fires crown, and a search.
    timber = Landscape.uniform((8, 8), fuel=165, cc=70, ch=20, cbh=1.0, cbd=0.2)
    MTTEngine(timber, replace(scenario, wind_speed=40.0, foliar=0.6)).burn([27])
    out = {}
    for size in sizes:
        parts = []
        for t in range(new_tiles.get(size, 1)):
            land = synthetic_tile(size, seed=seed + 100 * size + t, name=f"synthetic-{size}-{t}")
            ign = sample_ignitions(land, fires, np.random.default_rng([seed, size, t]))
            behavior, t_behavior = _timed(lambda land=land: compute_behavior(land, scenario))
            engine, t_engine = _timed(lambda land=land, b=behavior: MTTEngine(land, scenario, behavior=b))
            res, t_fires = _timed(lambda e=engine, g=ign: e.burn(g))
            t_floor, same = search_floor(engine, res)
            if not same:
                raise RuntimeError("the search floor's arrival times differ from the search's")
            parts.append((t_behavior, t_engine, t_fires, float(res.area.mean()), t_floor))
            if t == 0:
                n_ls = min(fires, levelset_fires.get(size, fires))
                ref, t_ls = _timed(lambda land=land, g=ign[:n_ls]: LevelSetEngine(land, scenario).burn(g))
                ls_per_fire, ls_burned = t_ls / n_ls, float(ref.area.mean())
                mtt_burned_first = float(res.area[:n_ls].mean())
        t_behavior, t_engine, t_fires, burned, t_floor = np.median(np.array(parts), axis=0)
        mtt_total = t_behavior + t_engine + t_fires
        out[f"{size}x{size}"] = {
            "fires": fires,
            "new_tiles": len(parts),
            "levelset_fires_burned": n_ls,
            "mtt_behavior_ms": 1e3 * t_behavior,
            "mtt_engine_ms": 1e3 * t_engine,
            "mtt_ms_per_fire": 1e3 * t_fires / fires,
            "mtt_floor_ms_per_fire": 1e3 * t_floor / fires,
            "mtt_median_burned_cells": burned,
            "mtt_end_to_end_ms": 1e3 * mtt_total,
            "levelset_ms_per_fire": 1e3 * ls_per_fire,
            "levelset_end_to_end_ms": 1e3 * ls_per_fire * fires,
            "per_fire_speedup": ls_per_fire / (t_fires / fires),
            "end_to_end_speedup": ls_per_fire * fires / mtt_total,
            "mtt_mean_burned_cells": mtt_burned_first,
            "levelset_mean_burned_cells": ls_burned,
        }
        if progress:
            progress(f"speed {size}x{size}")
    return out


def format_speed_report(speed: dict) -> str:
    """Per-fire and end-to-end speed as a Markdown table."""
    lines = [
        "",
        "| grid (4 h, 15 km/h; new tile + 16 fires) | mtt behaviour | mtt engine | mtt per fire | burned cells a fire "
        "| search floor a fire (no queue) | levelset per fire | per-fire speed-up | mtt end to end "
        "| levelset end to end | end-to-end speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in speed.items():
        note = (
            ""
            if r["levelset_fires_burned"] == r["fires"]
            else f" (level set: {r['levelset_fires_burned']} fires)"
        )
        lines.append(
            f"| {label}{note} | {r['mtt_behavior_ms']:.1f} ms | {r['mtt_engine_ms']:.1f} ms | "
            f"{r['mtt_ms_per_fire']:.3f} ms | {r['mtt_median_burned_cells']:,.0f} | {r['mtt_floor_ms_per_fire']:.3f} ms | "
            f"{r['levelset_ms_per_fire']:,.0f} ms | {r['per_fire_speedup']:,.0f}x | "
            f"{r['mtt_end_to_end_ms']:.1f} ms | {r['levelset_end_to_end_ms']:,.0f} ms | {r['end_to_end_speedup']:,.0f}x |"
        )
    return "\n".join(lines)
