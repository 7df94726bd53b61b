"""fuelbreak's engine against FlamMap's outputs on the same landscape (`fuelbreak bench flammap`).

FlamMap (USDA Forest Service) is a Windows program this project cannot run, so no FlamMap figure is
published here; this module is what a user with FlamMap needs to make the comparison in one command.
It reads FlamMap's outputs as FlamMap writes them (ESRI ASCII grids or GeoTIFFs, with rasterio),
checks that each lies on the tile's grid, burns fuelbreak's fires under the same weather on the same
landscape and measures the agreement:

* **burn probability** (a FlamMap MTT run with random ignitions): Pearson and Spearman correlation of
  the two maps over the tile's burnable cells, their mean absolute difference, and the burned
  footprints (cells with a burn probability above zero) compared by Sørensen (Dice) and Jaccard;
* **arrival time** (a FlamMap MTT run from one ignition, `--ignition ROW,COL`): Pearson and Spearman
  correlation of the arrival minutes over the cells both fires reach, the ratio of burned areas
  (fuelbreak's over FlamMap's) and the footprints' Sørensen and Jaccard.

No-data cells of a FlamMap grid (its NODATA value, or a negative value) are "not burned" in an arrival
grid and left out of a burn-probability comparison.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fuelbreak.errors import ConfigError, InputError
from fuelbreak.fire.scenario import Weather
from fuelbreak.landscape.core import Landscape

# How far a FlamMap grid's corner may lie from the tile's, as a share of a cell (float rounding of
# coordinates written as text in an ASCII grid).
ALIGN_TOLERANCE = 1e-3
CHUNK = 64  # fires burned at once: their masks are CHUNK x the tile's cells


@dataclass
class FlamMapComparison:
    """The agreement figures and the grids behind them.

    Attributes:
        figures: name -> value (see `compare_burn_probability` and `compare_arrival`), plus the run's
            description (tile, fires, weather, files).
        grids: named (H, W) float32 grids for the difference map: each side's burn probability and
            their difference (fuelbreak minus FlamMap), and the same for arrival minutes when compared.
    """

    figures: dict
    grids: dict[str, np.ndarray] = field(default_factory=dict)


def read_flammap_grid(path: str | os.PathLike, land: Landscape, flag: str) -> np.ndarray:
    """A FlamMap output grid (ESRI ASCII or GeoTIFF, band 1) on the tile's grid, as float64 with NaN for no data.

    The grid must have the tile's rows and columns and, where both carry a geo-reference, its transform
    (within `ALIGN_TOLERANCE` of a cell) and CRS. A grid without a CRS (an ASCII grid without its .prj)
    is checked by its transform alone.

    Raises:
        InputError: no such file, not a raster, or not on the tile's grid (the message names `flag`
            and the file).
    """
    import rasterio
    from affine import Affine
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{flag} {path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                h, w = src.height, src.width
                transform, crs, nodata = src.transform, src.crs, src.nodata
                grid = src.read(1).astype(np.float64)
    except RasterioIOError as exc:
        raise InputError(f"{flag} {path}: not a raster rasterio can read ({exc})") from None
    H, W = land.shape
    if (h, w) != (H, W):
        raise InputError(
            f"{flag} {path}: {h} x {w} cells, the tile has {H} x {W}: export FlamMap's output on the "
            "landscape's own grid (the same extent and resolution)"
        )
    if land.transform is not None:
        ours = Affine(*land.transform[:6])
        if transform == Affine.identity():
            raise InputError(f"{flag} {path}: no geo-reference, so it cannot be checked against the tile's grid")
        cell = max(abs(ours.a), abs(ours.e))
        if not np.allclose(tuple(transform)[:6], tuple(ours)[:6], rtol=0, atol=ALIGN_TOLERANCE * cell):
            raise InputError(
                f"{flag} {path}: its grid (corner x {transform.c:.3f}, y {transform.f:.3f}, cells "
                f"{transform.a:g} x {-transform.e:g}) is not the tile's (corner x {ours.c:.3f}, y {ours.f:.3f}, "
                f"cells {ours.a:g} x {-ours.e:g}): export FlamMap's output on the landscape's own grid"
            )
        if crs is not None and land.crs is not None and crs != rasterio.crs.CRS.from_user_input(land.crs):
            raise InputError(f"{flag} {path}: its CRS ({crs.to_string()}) is not the tile's ({land.crs})")
    bad = ~np.isfinite(grid) | (grid < 0)
    if nodata is not None:
        bad |= grid == nodata
    grid[bad] = np.nan
    return grid


def _correlations(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Pearson and Spearman of two samples; NaN where either is constant or there are fewer than 3 values."""
    from scipy import stats

    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan, math.nan
    return float(stats.pearsonr(a, b)[0]), float(stats.spearmanr(a, b)[0])


def _overlap(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """Sørensen (Dice) and Jaccard of two boolean footprints; NaN when both are empty."""
    both, either = int((ours & theirs).sum()), int((ours | theirs).sum())
    total = int(ours.sum() + theirs.sum())
    if either == 0:
        return math.nan, math.nan
    return 2 * both / total, both / either


def compare_burn_probability(ours: np.ndarray, theirs: np.ndarray, burnable: np.ndarray) -> dict:
    """Agreement of two burn-probability maps over the burnable cells where FlamMap has data.

    Returns:
        bp_cells (cells compared), bp_pearson, bp_spearman, bp_mean_abs_difference, bp_mean_fuelbreak,
        bp_mean_flammap (mean burn probability of each), footprint_sorensen and footprint_jaccard (the
        cells with a burn probability above zero).
    """
    cells = burnable & np.isfinite(theirs)
    a, b = ours[cells].astype(np.float64), theirs[cells]
    pearson, spearman = _correlations(a, b)
    sorensen, jaccard = _overlap(a > 0, b > 0)
    return {
        "bp_cells": int(cells.sum()),
        "bp_pearson": pearson,
        "bp_spearman": spearman,
        "bp_mean_abs_difference": float(np.abs(a - b).mean()) if a.size else math.nan,
        "bp_mean_fuelbreak": float(a.mean()) if a.size else math.nan,
        "bp_mean_flammap": float(b.mean()) if b.size else math.nan,
        "footprint_sorensen": sorensen,
        "footprint_jaccard": jaccard,
    }


def compare_arrival(ours: np.ndarray, theirs: np.ndarray) -> dict:
    """Agreement of two arrival-time grids (minutes; inf or NaN where a fire did not reach).

    Returns:
        arrival_cells_both (cells both fires reach), arrival_pearson, arrival_spearman (over those cells),
        burned_cells_fuelbreak, burned_cells_flammap, burned_area_ratio (fuelbreak's over FlamMap's),
        arrival_sorensen and arrival_jaccard (the two footprints).
    """
    a_burn, b_burn = np.isfinite(ours), np.isfinite(theirs)
    both = a_burn & b_burn
    pearson, spearman = _correlations(ours[both].astype(np.float64), theirs[both].astype(np.float64))
    sorensen, jaccard = _overlap(a_burn, b_burn)
    n_a, n_b = int(a_burn.sum()), int(b_burn.sum())
    return {
        "arrival_cells_both": int(both.sum()),
        "arrival_pearson": pearson,
        "arrival_spearman": spearman,
        "burned_cells_fuelbreak": n_a,
        "burned_cells_flammap": n_b,
        "burned_area_ratio": n_a / n_b if n_b else math.nan,
        "arrival_sorensen": sorensen,
        "arrival_jaccard": jaccard,
    }


def parse_ignition(text: str | None, land: Landscape) -> tuple[int, int] | None:
    """`--ignition ROW,COL` (row 0 the north edge, as in the GeoTIFF) as a burnable cell of the tile.

    Raises:
        ConfigError: not two whole numbers, outside the tile, or a non-burnable cell.
    """
    if text is None:
        return None
    try:
        row, col = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--ignition {text!r}: expected ROW,COL, e.g. --ignition 120,85") from None
    h, w = land.shape
    if not (0 <= row < h and 0 <= col < w):
        raise ConfigError(f"--ignition {row},{col} is outside the tile's {h} x {w} cells")
    if not land.burnable[row, col]:
        raise ConfigError(f"--ignition {row},{col} is a non-burnable cell (fuel model {int(land['fbfm'][row, col])})")
    return row, col


def compare_with_flammap(
    land: Landscape,
    weather: Weather,
    flammap_bp: str | os.PathLike,
    n_fires: int,
    seed: int = 0,
    flammap_arrival: str | os.PathLike | None = None,
    ignition: tuple[int, int] | None = None,
    progress: Callable[[str], None] | None = None,
) -> FlamMapComparison:
    """Burn fuelbreak's fires on `land` under `weather` (one scenario) and compare them with FlamMap's grids.

    Args:
        land: the landscape FlamMap ran on (read with `fuelbreak.landscape.geotiff`).
        weather: one scenario, the conditions of the FlamMap run (wind at 10 m in km/h, moistures as
            fractions: see the fire engine's page for the conversions).
        flammap_bp: FlamMap's burn-probability grid.
        n_fires: fuelbreak's random ignitions for its burn probability (uniform over burnable cells).
        seed: seed of those ignitions.
        flammap_arrival: FlamMap's arrival-time grid (minutes) of one fire from `ignition`.
        ignition: (row, col) of that fire, needed with `flammap_arrival`.
        progress: called with a line per step.

    Raises:
        ConfigError: a weather of several scenarios, fewer than 1 fire, an arrival grid without its
            ignition or the reverse.
        InputError: a FlamMap file missing, unreadable or not on the tile's grid.
    """
    from fuelbreak.fire.montecarlo import draw_fires

    progress = progress or (lambda msg: None)
    if len(weather.scenarios) != 1:
        raise ConfigError(
            f"bench flammap compares one FlamMap run, under one weather: the weather has {len(weather.scenarios)} "
            "scenarios; give one (--wind-speed ... --duration ..., or --weather FILE of one row)"
        )
    if n_fires < 1:
        raise ConfigError(f"--fires must be at least 1, got {n_fires}")
    if (flammap_arrival is None) != (ignition is None):
        raise ConfigError("--flammap-arrival and --ignition go together: FlamMap's arrival grid is one fire's, from that cell")
    theirs_bp = read_flammap_grid(flammap_bp, land, "--flammap-bp")
    theirs_arrival = read_flammap_grid(flammap_arrival, land, "--flammap-arrival") if flammap_arrival else None
    progress(f"burning {n_fires} fires on {land.shape[0]} x {land.shape[1]} cells")
    fires = draw_fires(land, weather, n_fires, seed)
    engine = fires.engines[0]
    counts = np.zeros(land.shape, dtype=np.int64)
    for start in range(0, n_fires, CHUNK):  # a chunk of fires' masks at a time, not all of them
        counts += engine.burn(fires.groups[0][start : start + CHUNK]).burned.sum(axis=0)
    ours_bp = (counts / n_fires).astype(np.float32)
    figures = {
        "tile": land.name,
        "cells": land.n_cells,
        "burnable_cells": int(land.burnable.sum()),
        "fires": n_fires,
        "seed": seed,
        "engine": "mtt",
        "weather": weather.to_dict(),
        "flammap_bp": str(flammap_bp),
        **compare_burn_probability(ours_bp, theirs_bp, land.burnable),
    }
    nan = np.float32(np.nan)
    grids = {
        "fuelbreak burn probability": ours_bp,
        "FlamMap burn probability": theirs_bp.astype(np.float32),
        "burn probability difference (fuelbreak - FlamMap)": np.where(
            land.burnable & np.isfinite(theirs_bp), ours_bp - theirs_bp, nan
        ).astype(np.float32),
    }
    if theirs_arrival is not None:
        progress(f"burning one fire from row {ignition[0]}, column {ignition[1]}")
        ours_arrival = engine.burn(np.array([ignition]), None).arrival[0].astype(np.float64)
        ours_arrival[~np.isfinite(ours_arrival)] = np.nan
        figures.update(flammap_arrival=str(flammap_arrival), ignition=list(ignition))
        figures.update(compare_arrival(ours_arrival, theirs_arrival))
        grids.update(
            {
                "fuelbreak arrival (min)": ours_arrival.astype(np.float32),
                "FlamMap arrival (min)": theirs_arrival.astype(np.float32),
                "arrival difference (fuelbreak - FlamMap, min)": (ours_arrival - theirs_arrival).astype(np.float32),
            }
        )
    return FlamMapComparison(figures, grids)


def _fmt(value: float, spec: str = ".3f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def format_report(result: FlamMapComparison) -> str:
    """The agreement as Markdown tables: burn probability, and arrival time when compared."""
    f = result.figures
    lines = [
        f"fuelbreak (mtt, {f['fires']} random fires, seed {f['seed']}) against FlamMap on {f['tile']} "
        f"({f['cells']} cells, {f['burnable_cells']} burnable).",
        "",
        "| burn probability (burnable cells with FlamMap data) | value |",
        "| --- | ---: |",
        f"| cells compared | {f['bp_cells']} |",
        f"| Pearson | {_fmt(f['bp_pearson'])} |",
        f"| Spearman | {_fmt(f['bp_spearman'])} |",
        f"| mean absolute difference | {_fmt(f['bp_mean_abs_difference'], '.4f')} |",
        f"| mean burn probability, fuelbreak / FlamMap | {_fmt(f['bp_mean_fuelbreak'], '.4f')} / "
        f"{_fmt(f['bp_mean_flammap'], '.4f')} |",
        f"| burned footprint (probability > 0): Sørensen / Jaccard | {_fmt(f['footprint_sorensen'])} / "
        f"{_fmt(f['footprint_jaccard'])} |",
    ]
    if "arrival_pearson" in f:
        r, c = f["ignition"]
        lines += [
            "",
            f"| arrival time, one fire from row {r}, column {c} | value |",
            "| --- | ---: |",
            f"| cells both fires reach | {f['arrival_cells_both']} |",
            f"| Pearson / Spearman of arrival minutes | {_fmt(f['arrival_pearson'])} / {_fmt(f['arrival_spearman'])} |",
            f"| burned cells, fuelbreak / FlamMap | {f['burned_cells_fuelbreak']} / {f['burned_cells_flammap']} |",
            f"| burned area ratio (fuelbreak / FlamMap) | {_fmt(f['burned_area_ratio'])} |",
            f"| footprint Sørensen / Jaccard | {_fmt(f['arrival_sorensen'])} / {_fmt(f['arrival_jaccard'])} |",
        ]
    return "\n".join(lines) + "\n"


def difference_figure(result: FlamMapComparison):
    """The maps side by side: each burn probability and their difference (and the arrival times'), a Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(result.grids)
    rows = 1 if len(names) <= 3 else 2
    fig = Figure(figsize=(13, 4.2 * rows))
    FigureCanvasAgg(fig)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, 3, i + 1)
        grid = np.ma.masked_invalid(result.grids[name])
        if "difference" in name:
            lim = float(np.nanmax(np.abs(result.grids[name]))) if grid.count() else 1.0
            im = ax.imshow(grid, cmap="RdBu_r", vmin=-(lim or 1.0), vmax=lim or 1.0)
        elif "arrival" in name:
            im = ax.imshow(grid, cmap="viridis")
        else:
            im = ax.imshow(grid, cmap="inferno", vmin=0, vmax=max(1e-9, float(np.nanmax(result.grids[name]))))
        ax.set_title(name.replace(" (", "\n("), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    f = result.figures
    fig.suptitle(
        f"fuelbreak against FlamMap on {f['tile']}: burn probability Pearson {_fmt(f['bp_pearson'])}, "
        f"Spearman {_fmt(f['bp_spearman'])}, mean |difference| {_fmt(f['bp_mean_abs_difference'], '.4f')}",
        fontsize=10,
    )
    return fig


def write_difference_maps(out: str | os.PathLike, land: Landscape, result: FlamMapComparison) -> list[Path]:
    """OUT.tif (every grid of `result` as a band, on the tile's grid) and OUT.png (`difference_figure`), as a set.

    Raises:
        OutputError: the files cannot be written (nothing is then left half written).
    """
    from fuelbreak.export import write_grids_geotiff
    from fuelbreak.outputs import output_set

    out = Path(out)
    names = [f"{out.name}.tif", f"{out.name}.png"]
    with output_set(out, folder=False, flag="--out", files=names) as outputs:
        tags = {k: result.figures[k] for k in ("fires", "seed", "engine", "flammap_bp") if k in result.figures}
        write_grids_geotiff(outputs.path(names[0]), land, result.grids, tags)
        difference_figure(result).savefig(outputs.path(names[1]), dpi=110)
    return [out.parent / n for n in names]
