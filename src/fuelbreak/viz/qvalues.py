"""How the Q map changes over an episode: a few steps side by side on one colour scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from fuelbreak.errors import InputError
from fuelbreak.landscape.core import Landscape
from fuelbreak.viz.style import (
    Grid,
    add_suptitle,
    cell_list,
    check_grid,
    count,
    map_figsize,
    new_figure,
    save_figure,
)

Q_CMAP = "viridis"
CHOSEN_COLOUR = "#ff2a2a"
PLACED_COLOUR = "black"
MASKED_COLOUR = "white"


def pick_steps(n: int, k: int) -> list[int]:
    """Up to `k` evenly spaced indices of `n`, always the first and the last."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


def _panel_layout(k: int) -> tuple[int, int]:
    return (1, k) if k <= 3 else (2, int(np.ceil(k / 2)))


def plot_qvalue_evolution(
    q_maps,
    path,
    landscape: Landscape | None = None,
    max_panels: int = 6,
    title: str = "",
) -> Path:
    """Write the Q map at up to `max_panels` evenly spaced steps, sharing one colour scale.

    `q_maps` is a list of (step, q_map (H, W) with NaN on masked cells, cells chosen at that step).
    Masked cells are left blank; the chosen cells are ringed, and the breaks placed earlier (the cells
    chosen at every listed step before it, so pass every step for a full history) are filled black.
    With a landscape the axes are in metres, otherwise in cells. Returns the path written.
    """
    return save_figure(qvalue_figure(q_maps, landscape, max_panels, title), path)


def qvalue_figure(q_maps, landscape: Landscape | None = None, max_panels: int = 6, title: str = "") -> Figure:
    """The figure of `plot_qvalue_evolution`, unsaved."""
    entries = _check_entries(q_maps)
    shape = entries[0][1].shape
    grid = Grid.of(landscape, shape)
    shown = pick_steps(len(entries), max(int(max_panels), 1))
    finite = np.concatenate([entries[i][1][np.isfinite(entries[i][1])] for i in shown])
    if finite.size == 0:
        raise InputError("every Q map shown is fully masked (all NaN): nothing to plot")
    lo, hi = float(finite.min()), float(finite.max())
    norm = Normalize(lo, hi if hi > lo else lo + 1e-9)
    cmap = _q_cmap()

    n_rows, n_cols = _panel_layout(len(shown))
    fig = new_figure(*map_figsize(shape, n_cols, n_rows, panel_width=3.3), layout="compressed")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True)
    image = None
    for slot, ax in enumerate(axes.ravel()):
        if slot >= len(shown):
            ax.set_visible(False)
            continue
        i = shown[slot]
        step, q_map, chosen = entries[i]
        placed = np.concatenate([entries[j][2] for j in range(i) if entries[j][0] < step] or [[]]).astype(
            np.int64
        )
        image = ax.imshow(q_map, cmap=cmap, norm=norm, extent=grid.extent(), interpolation="nearest")
        _mark(ax, placed, chosen, grid)
        ax.set_title(f"step {step}: {count(len(placed), 'break')} placed before", fontsize=9)
        grid.label(ax, ylabel=slot % n_cols == 0)
        if slot // n_cols < n_rows - 1 and slot + n_cols < len(shown):
            ax.set_xlabel("")
    cbar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02)
    cbar.set_label("Q value\n(predicted return of a break there)")
    fig.legend(
        handles=_legend_handles(),
        loc="outside lower center",
        ncols=3,
        fontsize=8,
        frameon=False,
    )
    heading = f"{title}: " if title else ""
    return add_suptitle(fig, f"{heading}Q map over the episode (one colour scale for all steps)")


def _q_cmap():
    return colormaps[Q_CMAP].with_extremes(bad=MASKED_COLOUR)


def _mark(ax, placed: np.ndarray, chosen: np.ndarray, grid: Grid) -> None:
    if placed.size:
        mask = np.zeros(grid.shape[0] * grid.shape[1], dtype=np.float64)
        mask[placed] = 1.0
        ax.imshow(
            np.ma.masked_equal(mask.reshape(grid.shape), 0.0),
            cmap=ListedColormap([PLACED_COLOUR]),
            extent=grid.extent(),
            interpolation="nearest",
        )
    if chosen.size:
        xs, ys = grid.centres(chosen)
        size = max(2.2 * grid.cell_points(ax), 5.0) ** 2
        ax.scatter(xs, ys, s=size, facecolors="none", edgecolors=CHOSEN_COLOUR, linewidths=1.6, zorder=3)


def _legend_handles() -> list:
    return [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markerfacecolor="none",
            markeredgecolor=CHOSEN_COLOUR,
            markeredgewidth=1.6,
            markersize=9,
            label="cell chosen at this step",
        ),
        Patch(facecolor=PLACED_COLOUR, label="break placed earlier"),
        Patch(facecolor=MASKED_COLOUR, edgecolor="0.5", label="masked (not a legal cell)"),
    ]


def _check_entries(q_maps) -> list[tuple[int, np.ndarray, np.ndarray]]:
    entries = list(q_maps or [])
    if not entries:
        raise InputError("no Q maps to plot: the list of (step, Q map, chosen cells) is empty")
    out = []
    shape = None
    for n, entry in enumerate(entries):
        try:
            step, q_map, chosen = entry
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"Q map entry {n} must be (step, q_map, chosen cells), got {entry!r:.80}"
            ) from exc
        q_map = check_grid(f"Q map of step {step}", q_map, shape)
        shape = q_map.shape
        out.append((int(step), q_map, cell_list(chosen, shape, f"cells chosen at step {step}")))
    return out
