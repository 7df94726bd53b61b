"""Maps of a plan: breaks over a landscape layer, and burn probability before and after treatment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from fuelbreak.landscape.core import Landscape
from fuelbreak.viz.style import (
    BACKGROUND_ALPHA,
    BREAK_COLOUR,
    LAYER_CMAPS,
    LAYER_LABELS,
    LOG_LAYERS,
    NONBURNABLE_COLOUR,
    ORDER_CMAP,
    PROBABILITY_CMAP,
    Grid,
    add_suptitle,
    area_text,
    cell_list,
    change_text,
    check_grid,
    check_layer,
    count,
    fuel_classes,
    legend_below,
    map_figsize,
    mask_outline,
    new_figure,
    probability_norm,
    save_figure,
    side_colorbar,
)

PROBABILITY_LABEL = "burn probability (fraction of fires; square-root scale)"
PROBABILITY_TICKS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
# Up to this many breaks, each break cell also carries its placement number.
NUMBERED_MAX = 20
# Maps with more cells than this on a side are drawn for a whole landscape (see burn_probability_figure).
LARGE_MAP_CELLS = 150


def draw_background(ax, landscape: Landscape, key: str, grid: Grid):
    """Draw layer `key` faded under the breaks; returns (image, legend handles or None for a colour bar)."""
    layer = check_layer(landscape, key)
    extent = grid.extent()
    if key == "fbfm":
        index, cmap, norm, handles = fuel_classes(layer)
        image = ax.imshow(
            index, cmap=cmap, norm=norm, extent=extent, alpha=BACKGROUND_ALPHA, interpolation="nearest"
        )
        return image, handles
    norm = Normalize(0.0, 360.0) if key == "asp" else None
    positive = layer[layer > 0]
    if key in LOG_LAYERS and positive.size and positive.max() > positive.min():
        norm = LogNorm(float(positive.min()), float(positive.max()))  # zero (non-burnable) stays blank
    image = ax.imshow(
        layer,
        cmap=LAYER_CMAPS.get(key, "Greys"),
        norm=norm,
        extent=extent,
        alpha=BACKGROUND_ALPHA,
        interpolation="nearest",
    )
    return image, None


def add_background_key(fig, ax, image, handles, key: str, slot: int = 1) -> None:
    """A colour bar with units for a continuous layer (in colour-bar `slot`), or a fuel legend for fbfm."""
    if handles is None:
        cbar = side_colorbar(fig, ax, image, LAYER_LABELS[key], slot=slot)
        cbar.solids.set_alpha(BACKGROUND_ALPHA)
    else:
        legend_below(ax, handles, ncols=2, title="fuel (background)", fontsize=7, title_fontsize=8)


def order_colorbar(fig, ax, image, label: str = "placement order (1 = first break placed)"):
    """The placement-order colour bar (slot 0, next to the map), with whole-number ticks."""
    cbar = side_colorbar(fig, ax, image, label, slot=0)
    cbar.locator = MaxNLocator(integer=True)
    cbar.update_ticks()
    return cbar


def order_image(cells: np.ndarray, shape: tuple[int, int]) -> np.ma.MaskedArray:
    """Placement order (1, 2, ...) on break cells, masked elsewhere."""
    grid = np.zeros(shape[0] * shape[1], dtype=np.float64)
    grid[cells] = np.arange(1, len(cells) + 1)
    grid = grid.reshape(shape)
    return np.ma.masked_equal(grid, 0.0)


def draw_breaks_by_order(ax, cells: np.ndarray, grid: Grid, n_total: int | None = None):
    """Break cells coloured by placement order, outlined; returns the image for a colour bar."""
    n_total = max(int(n_total if n_total is not None else len(cells)), 1)
    image = ax.imshow(
        order_image(cells, grid.shape),
        cmap=ORDER_CMAP,
        norm=Normalize(1, max(n_total, 2)),
        extent=grid.extent(),
        interpolation="nearest",
    )
    mask = np.zeros(grid.shape[0] * grid.shape[1], dtype=bool)
    mask[cells] = True
    ax.add_collection(mask_outline(mask.reshape(grid.shape), grid, colors="black", linewidths=0.6))
    return image


def number_breaks(ax, cells: np.ndarray, grid: Grid, cmap, norm) -> None:
    """Write each break's placement number on its cell, sized to the cell, dark or light by contrast."""
    cell = grid.cell_points(ax)
    xs, ys = grid.centres(cells)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True), start=1):
        r, g, b, _ = cmap(norm(i))
        colour = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
        size = float(np.clip((0.85 if i < 10 else 0.62) * cell, 4.5, 11.0))
        ax.text(x, y, str(i), ha="center", va="center", fontsize=size, color=colour, fontweight="bold")


def draw_probability(ax, probability: np.ndarray, grid: Grid, landscape: Landscape | None):
    """Burn probability on a fixed 0-1 scale, non-burnable cells of the landscape in grey."""
    image = ax.imshow(
        probability,
        cmap=PROBABILITY_CMAP,
        norm=probability_norm(),
        extent=grid.extent(),
        interpolation="nearest",
    )
    if landscape is not None:
        nonburnable = np.ma.masked_equal((~landscape.burnable).astype(np.float64), 0.0)
        ax.imshow(
            nonburnable,
            cmap=ListedColormap([NONBURNABLE_COLOUR]),
            extent=grid.extent(),
            interpolation="nearest",
        )
    return image


def draw_break_network(ax, cells: np.ndarray, grid: Grid, fill: bool = True) -> None:
    """The breaks as blue cells (or blue outlines) on a burn-probability map."""
    mask = np.zeros(grid.shape[0] * grid.shape[1], dtype=bool)
    mask[cells] = True
    mask = mask.reshape(grid.shape)
    if fill:
        ax.imshow(
            np.ma.masked_equal(mask.astype(np.float64), 0.0),
            cmap=ListedColormap([BREAK_COLOUR]),
            extent=grid.extent(),
            interpolation="nearest",
        )
        ax.add_collection(mask_outline(mask, grid, colors="black", linewidths=0.5))
    else:
        ax.add_collection(mask_outline(mask, grid, colors=BREAK_COLOUR, linewidths=1.6))


VALUE_COLOUR = "#006d2c"  # outline and dots of cells holding value at risk
EXCLUDE_COLOUR = "#6b3fa0"  # hatching of cells a break may not go on


def draw_planner_layers(ax, landscape: Landscape | None, grid) -> list:
    """Values at risk (dotted and outlined) and exclusions (hatched) of the landscape on `ax`; legend handles."""
    if landscape is None:
        return []
    h, w = landscape.shape
    xs, ys = grid.x(np.arange(w) + 0.5), grid.y(np.arange(h) + 0.5)
    handles = []
    layers = (
        ("value", landscape.planner_layer("value"), VALUE_COLOUR, "....", "value at risk"),
        ("exclude", landscape.planner_layer("exclude"), EXCLUDE_COLOUR, "////", "excluded from treatment"),
    )
    from scipy import ndimage

    for _key, layer, colour, hatch, label in layers:
        if layer is None or not (layer > 0).any():
            continue
        mask = (layer > 0).astype(np.float64)
        if min(h, w) >= 2:
            filled = ax.contourf(xs, ys, mask, levels=[0.5, 1.5], colors="none", hatches=[hatch])
            if hasattr(filled, "set_hatchcolor"):  # matplotlib >= 3.10
                filled.set_hatchcolor(colour)
            else:
                filled.set_edgecolor(colour)
            filled.set_linewidth(0.0)
            ax.contour(xs, ys, mask, levels=[0.5], colors=[colour], linewidths=1.0)
        if _key == "value":  # cells too small to see as areas (points, scattered houses) get a marker
            alone = (layer > 0) & (ndimage.uniform_filter((layer > 0).astype(np.float64), 3) < 0.3)
            if 0 < alone.sum() <= 500:
                rows, cols = np.nonzero(alone)
                ax.scatter(grid.x(cols + 0.5), grid.y(rows + 0.5), s=30, marker="o", facecolors="none",
                           edgecolors=colour, linewidths=1.5)  # fmt: skip
        handles.append(Patch(facecolor="none", edgecolor=colour, hatch=hatch, label=label))
    return handles


def probability_legend(
    ax, landscape: Landscape | None, outlined: bool, n_breaks: int, extra: list | None = None
) -> None:
    """A legend under `ax` for the breaks (filled or outlined) and the non-burnable cells, where the map has them."""
    handles = []
    if n_breaks:
        if outlined:
            handles.append(Line2D([], [], color=BREAK_COLOUR, linewidth=2, label="fuel break (outline)"))
        else:
            handles.append(Patch(facecolor=BREAK_COLOUR, edgecolor="black", label="fuel break"))
    if landscape is not None and (~landscape.burnable).any():
        handles.append(Patch(facecolor=NONBURNABLE_COLOUR, edgecolor="0.4", label="non-burnable before"))
    handles += extra or []
    if handles:
        legend_below(ax, handles, ncols=len(handles))


def _tile_name(landscape: Landscape) -> str:
    h, w = landscape.shape
    name = landscape.name or "unnamed tile"
    return f"{name} ({h} x {w} cells of {landscape.cell_size:g} m)"


def overlay_figure(
    landscape: Landscape,
    cells,
    bg_key: str,
    burn_probability_after=None,
    title_extra: str = "",
    budget: int | None = None,
    reduction: float | None = None,
) -> Figure:
    """The figure of `plot_overlay`, unsaved (tests read its titles, legends and colour bars)."""
    shape = landscape.shape
    cells = cell_list(cells, shape)
    check_layer(landscape, bg_key)
    after = None
    if burn_probability_after is not None:
        after = check_grid("burn probability after treatment", burn_probability_after, shape)
    grid = Grid.of(landscape, shape)
    n_panels = 1 if after is None else 2
    fig = new_figure(*map_figsize(shape, n_panels), layout="compressed")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]

    ax = axes[0]
    bg_image, handles = draw_background(ax, landscape, bg_key, grid)
    order = draw_breaks_by_order(ax, cells, grid)
    grid.label(ax)
    ax.set_title(f"(a) breaks by placement order over {LAYER_LABELS[bg_key].split(' (')[0]}")
    if len(cells):
        order_colorbar(fig, ax, order)
    add_background_key(fig, ax, bg_image, handles, bg_key, slot=1 if len(cells) else 0)
    if 0 < len(cells) <= NUMBERED_MAX:
        fig.canvas.draw()  # settle the layout so that the numbers can be sized to the cells
        number_breaks(ax, cells, grid, order.get_cmap(), order.norm)

    if after is not None:
        ax = axes[1]
        image = draw_probability(ax, after, grid, landscape)
        draw_break_network(ax, cells, grid, fill=True)
        grid.label(ax)
        ax.set_title(
            f"(b) final break network over burn probability after\n"
            f"expected burned area {area_text(after.sum(), landscape)}"
        )
        side_colorbar(fig, ax, image, PROBABILITY_LABEL, ticks=PROBABILITY_TICKS)
        probability_legend(ax, landscape, outlined=False, n_breaks=len(cells))

    budget = len(cells) if budget is None else int(budget)
    title = f"{_tile_name(landscape)}: budget {count(budget, 'cell')} ({100 * budget / landscape.n_cells:.1f} % of tile)"
    if reduction is not None:
        title += f", expected burned area {100 * reduction:.1f} % lower than with no breaks"
    if title_extra:
        title += f"\n{title_extra}"
    return add_suptitle(fig, title)


def plot_overlay(
    landscape: Landscape,
    cells,
    bg_key: str,
    path,
    burn_probability_after=None,
    title_extra: str = "",
    budget: int | None = None,
    reduction: float | None = None,
) -> Path:
    """Write the breaks over layer `bg_key`, and beside them the break network over burn probability after.

    `cells` are flat indices in placement order; `reduction` is a fraction (0.25 = 25 % less expected
    burned area); `budget` defaults to the number of cells. Without `burn_probability_after` only the
    first panel is drawn. Returns the path written.
    """
    fig = overlay_figure(landscape, cells, bg_key, burn_probability_after, title_extra, budget, reduction)
    return save_figure(fig, path)


def burn_probability_figure(
    before, after, landscape: Landscape | None = None, cells=None, title=""
) -> Figure:
    """The figure of `plot_burn_probability`, unsaved."""
    before = check_grid("burn probability before treatment", before)
    shape = before.shape
    after = check_grid("burn probability after treatment", after, shape)
    if landscape is not None:
        check_grid("burn probability before treatment", before, landscape.shape)
    cells = cell_list(cells, shape)
    grid = Grid.of(landscape, shape)
    # Whole landscapes: wider panels (about 1.5 pixels a cell) and filled breaks, as outlines of
    # thousands of cells would cover the map.
    large = max(shape) > LARGE_MAP_CELLS
    panel = float(np.clip(shape[1] / 80.0, 4.6, 14.0)) if large else 4.6
    fig = new_figure(*map_figsize(shape, 2, panel_width=panel), layout="compressed")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    area0, area1 = float(before.sum()), float(after.sum())
    image = draw_probability(axes[0], before, grid, landscape)
    axes[0].set_title(f"before treatment\nexpected burned area {area_text(area0, landscape)}")
    draw_probability(axes[1], after, grid, landscape)
    if large:
        mask = np.zeros(shape[0] * shape[1], dtype=bool)
        mask[cells] = True
        axes[1].imshow(
            np.ma.masked_equal(mask.reshape(shape).astype(np.float64), 0.0),
            cmap=ListedColormap([BREAK_COLOUR]),
            extent=grid.extent(),
            interpolation="nearest",
        )
    else:
        draw_break_network(axes[1], cells, grid, fill=False)
    axes[1].set_title(
        f"after treatment ({count(len(cells), 'break cell')})\n"
        f"expected burned area {area_text(area1, landscape)}{change_text(area0, area1)}"
    )
    layer_handles = draw_planner_layers(axes[0], landscape, grid)
    draw_planner_layers(axes[1], landscape, grid)
    grid.label(axes[0])
    grid.label(axes[1], ylabel=False)
    side_colorbar(fig, axes[1], image, PROBABILITY_LABEL, ticks=PROBABILITY_TICKS)
    probability_legend(axes[1], landscape, outlined=not large, n_breaks=len(cells), extra=layer_handles)
    heading = title or (_tile_name(landscape) if landscape is not None else "")
    return add_suptitle(
        fig, f"{heading}{': ' if heading else ''}burn probability before and after fuel breaks"
    )


def plot_burn_probability(
    before, after, path, landscape: Landscape | None = None, cells=None, title=""
) -> Path:
    """Write burn probability before and after treatment side by side, on one 0-1 colour scale.

    Subplot titles give the expected burned area (the sum of probabilities: cells, and hectares when
    the landscape is given); the breaks are outlined on the "after" map. Returns the path written.
    """
    return save_figure(burn_probability_figure(before, after, landscape, cells, title), path)
