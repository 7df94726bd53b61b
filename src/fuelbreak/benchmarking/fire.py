"""Speed and agreement of the fast engine against the level-set reference, measured side by side.

Both engines burn the same tiles, the same ignitions and the same weather in one run; the figures
are fires per second of each, their ratio, and their agreement (Pearson r of burned area per fire,
mean Jaccard index of the burned cells). Scaling runs the fast engine alone on larger grids.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from fuelbreak.fire.levelset import LevelSetEngine
from fuelbreak.fire.montecarlo import sample_ignitions
from fuelbreak.fire.mtt import MTTEngine
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
