"""Shared drawing pieces: the map grid (axes in metres, north up), layer colours and labels, atomic saving.

Figures are built with `matplotlib.figure.Figure` and the Agg canvas directly, never with pyplot, so
nothing depends on a screen or on pyplot's global state, and figures are freed when they go out of scope.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import BoundaryNorm, ListedColormap, PowerNorm, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.transforms import ScaledTranslation

from fuelbreak.atomic import atomic_write_bytes
from fuelbreak.errors import ConfigError, InputError
from fuelbreak.export import order_grid
from fuelbreak.landscape.core import LAYERS, Landscape

# Axis and colour-bar labels of the eight layers, with units.
LAYER_LABELS: dict[str, str] = {
    "dem": "elevation (m)",
    "slp": "slope (degrees)",
    "asp": "aspect (degrees clockwise from north)",
    "fbfm": "fuel model (Scott & Burgan 40)",
    "cc": "canopy cover (%)",
    "ch": "canopy height (m)",
    "cbh": "canopy base height (m)",
    "cbd": "canopy bulk density (kg/m³)",
    # Layers derived from fire under a weather (see `fuelbreak.viz.derived`), drawn on log scales but
    # burn probability.
    "intensity_north": "fireline intensity of a front heading north (kW/m)",
    "intensity_east": "fireline intensity of a front heading east (kW/m)",
    "intensity_south": "fireline intensity of a front heading south (kW/m)",
    "intensity_west": "fireline intensity of a front heading west (kW/m)",
    "burn_probability": "burn probability, no breaks (fraction of fires)",
    "downstream_area": "downstream area (cells a break here could save per fire)",
}
DERIVED_LAYERS = (
    "intensity_north",
    "intensity_east",
    "intensity_south",
    "intensity_west",
    "burn_probability",
    "downstream_area",
)
LOG_LAYERS = ("intensity_north", "intensity_east", "intensity_south", "intensity_west", "downstream_area")
# Continuous backgrounds: grey ramps keep the coloured breaks readable; aspect is cyclic (0 = 360).
LAYER_CMAPS: dict[str, object] = {
    # gist_earth without its blue-purple low end, which read as water.
    "dem": ListedColormap(colormaps["gist_earth"](np.linspace(0.3, 0.95, 256)), name="earth_land"),
    "slp": "Greys",
    "asp": "twilight",
    "cc": "Greens",
    "ch": "Greens",
    "cbh": "Greens",
    "cbd": "Greens",
    "intensity_north": "inferno_r",
    "intensity_east": "inferno_r",
    "intensity_south": "inferno_r",
    "intensity_west": "inferno_r",
    "burn_probability": "YlOrRd",
    "downstream_area": "PuRd",
}
# How much of a background layer shows through (the rest is white), so that breaks stand out on it.
BACKGROUND_ALPHA = 0.55

# Fuel classes for the categorical fbfm map: Scott & Burgan families, and LANDFIRE's non-burnable codes.
FUEL_CLASSES: tuple[tuple[str, tuple[int, ...], str], ...] = (
    ("GR grass (101-109)", tuple(range(101, 110)), "#e3d46a"),
    ("GS grass-shrub (121-124)", tuple(range(121, 125)), "#b5bd5a"),
    ("SH shrub (141-149)", tuple(range(141, 150)), "#b88a5a"),
    ("TU timber-understory (161-165)", tuple(range(161, 166)), "#5fa35f"),
    ("TL timber litter (181-189)", tuple(range(181, 190)), "#23653a"),
    ("SB slash-blowdown (201-204)", tuple(range(201, 205)), "#8e5aa8"),
    ("91 urban / developed", (91,), "#7a7a7a"),
    ("92 snow / ice", (92,), "#dff1f7"),
    ("93 agriculture", (93,), "#f2c79b"),
    ("98 water", (98,), "#4f93c9"),
    ("99 barren", (99,), "#cfc6b4"),
    ("94-97 other non-burnable", (94, 95, 96, 97), "#b0b0b0"),
)
UNKNOWN_FUEL_COLOUR = "#ff00ff"

# Fixed colours of marks drawn on maps.
BREAK_COLOUR = "#1f5fd6"  # break cells on burn-probability maps (no blue in YlOrRd)
NONBURNABLE_COLOUR = "#c8c8c8"
# Placement order: plasma without its pale-yellow end, which vanished on grass (yellow) backgrounds.
ORDER_CMAP = ListedColormap(colormaps["plasma"](np.linspace(0.0, 0.85, 256)), name="plasma_trunc")
PROBABILITY_CMAP = "YlOrRd"


# Burn probability is always drawn on 0-1 (comparable between maps and tiles); the square-root scale
# spreads the low probabilities that most cells have over more of the colour ramp.
def probability_norm() -> PowerNorm:
    """The colour scale of burn probability: 0-1, square root."""
    return PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0)


@dataclass(frozen=True)
class Grid:
    """Where cells lie on a map's axes: metres from the south-west corner, or cell indices.

    With a cell size, x runs west to east and y south to north from the tile's south-west corner, so
    north is up. Without one, axes count columns and rows, row 0 (north) at the top.
    """

    shape: tuple[int, int]
    cell_size: float | None = None

    @classmethod
    def of(cls, landscape: Landscape | None, shape: tuple[int, int]) -> Grid:
        """The grid of `shape` cells, in metres when `landscape` gives a cell size, else in cell indices."""
        return cls(tuple(shape), None if landscape is None else float(landscape.cell_size))

    def x(self, col) -> np.ndarray:
        """X of a column edge (col may be fractional: col + 0.5 is a cell centre)."""
        col = np.asarray(col, dtype=np.float64)
        return col * self.cell_size if self.cell_size else col - 0.5

    def y(self, row) -> np.ndarray:
        """Y of a row edge (row 0 is the north edge)."""
        row = np.asarray(row, dtype=np.float64)
        return (self.shape[0] - row) * self.cell_size if self.cell_size else row - 0.5

    def extent(self) -> tuple[float, float, float, float]:
        """`imshow` extent (left, right, bottom, top) for an image with row 0 at the top."""
        h, w = self.shape
        return (float(self.x(0)), float(self.x(w)), float(self.y(h)), float(self.y(0)))

    def centres(self, cells) -> tuple[np.ndarray, np.ndarray]:
        """x, y of the centres of flat cell indices (row * W + col)."""
        rows, cols = np.divmod(np.asarray(cells, dtype=np.int64).reshape(-1), self.shape[1])
        return self.x(cols + 0.5), self.y(rows + 0.5)

    def label(self, ax, ylabel: bool = True) -> None:
        """Label `ax`'s axes in metres or cells (the y label only with `ylabel`)."""
        if self.cell_size:
            ax.set_xlabel("x (m, west → east)")
            if ylabel:
                ax.set_ylabel("y (m, south → north)")
        else:
            ax.set_xlabel("column (cells)")
            if ylabel:
                ax.set_ylabel("row (cells, north at top)")

    def cell_points(self, ax) -> float:
        """Approximate width of one cell on `ax` in points (for sizing markers and numbers)."""
        fig = ax.get_figure()
        bbox = ax.get_position()
        width_in = bbox.width * fig.get_figwidth()
        height_in = bbox.height * fig.get_figheight()
        h, w = self.shape
        return 72.0 * min(width_in / w, height_in / h)


def new_figure(width: float, height: float, layout: str = "constrained", dpi: float = 100) -> Figure:
    """A figure on an Agg canvas whose layout engine keeps labels from being clipped or overlapping.

    Maps use "compressed", the constrained layout for fixed-aspect panels: it closes the gaps that
    plain constrained layout leaves around maps narrower or shorter than their layout boxes.
    """
    fig = Figure(figsize=(width, height), layout=layout, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def map_figsize(shape: tuple[int, int], n_cols: int, n_rows: int = 1, panel_width: float = 4.6) -> tuple:
    """Figure size for a grid of map panels whose aspect follows the tile, plus room for labels."""
    h, w = shape
    aspect = float(np.clip(h / w, 0.35, 2.5))
    width = n_cols * (panel_width + 1.3) + 0.4
    height = n_rows * (panel_width * aspect + 1.1) + 0.9
    return width, height


def add_suptitle(
    fig: Figure, text: str, fontsize: float = 11, grow_in: float = 0.3, tries: int = 15
) -> Figure:
    """Title the figure, growing its height until the title clears every panel.

    Constrained layout can put a figure title over the title of a fixed-aspect (map) panel when the
    height is tight; a little more height always gives the layout room, and `bbox_inches="tight"`
    trims what is left over.
    """
    title = fig.suptitle(text, fontsize=fontsize)
    for _ in range(tries):
        fig.canvas.draw()
        if not title_overlaps(fig, title):
            break
        width, height = fig.get_size_inches()
        fig.set_size_inches(width, height + grow_in)
    return fig


def title_overlaps(fig: Figure, title) -> bool:
    """Whether `title` (a Text) overlaps any visible panel, its title, labels or colour bar."""
    renderer = fig.canvas.get_renderer()
    box = title.get_window_extent(renderer)
    return any(ax.get_visible() and box.overlaps(ax.get_tightbbox(renderer)) for ax in fig.axes)


# Colour bars beside a map: width as a fraction of the map's width, gaps in inches (room for tick labels).
CBAR_WIDTH = 0.045
CBAR_GAP_IN = 0.12
CBAR_STEP_IN = 1.05


def side_colorbar(fig: Figure, ax, mappable, label: str, slot: int = 0, ticks=None):
    """A colour bar exactly as tall as the map `ax`, to its right; `slot` 1 stands beside slot 0.

    Built as an inset of the map (constrained layout makes room for it), so it follows the map's
    fixed aspect instead of the taller layout box that `fig.colorbar(ax=...)` would fill.
    """
    shift = ScaledTranslation(CBAR_GAP_IN + slot * CBAR_STEP_IN, 0.0, fig.dpi_scale_trans)
    cax = ax.inset_axes([1.0 + slot * CBAR_WIDTH, 0.0, CBAR_WIDTH, 1.0], transform=ax.transAxes + shift)
    cbar = fig.colorbar(mappable, cax=cax, ticks=ticks)
    cbar.set_label(two_lines(label))
    return cbar


def two_lines(label: str, longer_than: int = 22) -> str:
    """'name (units)' on two lines when long, so that it fits beside a short map."""
    if len(label) > longer_than and " (" in label and "\n" not in label:
        name, rest = label.split(" (", 1)
        return f"{name}\n({rest}"
    return label


def legend_below(ax, handles, ncols: int, drop_in: float = 0.55, **kwargs):
    """A legend centred under the map `ax`, `drop_in` inches below it (clear of its x labels)."""
    shift = ScaledTranslation(0.0, -drop_in, ax.get_figure().dpi_scale_trans)
    kwargs.setdefault("fontsize", 8)
    return ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=ax.transAxes + shift,
        ncols=ncols,
        frameon=False,
        **kwargs,
    )


def save_figure(fig: Figure, path, dpi: int = 120) -> Path:
    """Render to PNG in memory, then replace `path` atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.12, facecolor="white")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def check_layer(landscape: Landscape, key: str) -> np.ndarray:
    """The background layer `key`, or a ConfigError that names it and the choices."""
    if key not in (*LAYERS, *DERIVED_LAYERS) or key not in landscape.layers:
        raise ConfigError(
            f"background layer '{key}' is not a layer of landscape '{landscape.name}'; choose one of "
            f"{', '.join(k for k in (*LAYERS, *DERIVED_LAYERS) if k in landscape.layers)}"
        )
    return landscape.layers[key]


def check_grid(name: str, array, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A 2-D float array, of `shape` when given; an InputError naming `name` otherwise."""
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or min(array.shape) < 1:
        raise InputError(f"{name} must be a non-empty 2-D grid, got shape {array.shape}")
    if shape is not None and array.shape != tuple(shape):
        raise InputError(f"{name} has shape {array.shape}, expected {tuple(shape)}")
    return array


def cell_list(cells, shape: tuple[int, int], what: str = "break cells") -> np.ndarray:
    """Flat cell indices as int64, checked to lie in the tile and not to repeat."""
    cells = np.asarray(cells if cells is not None else [], dtype=np.int64).reshape(-1)
    try:
        order_grid(cells, shape)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from exc
    return cells


def fuel_classes(fbfm: np.ndarray) -> tuple[np.ndarray, ListedColormap, BoundaryNorm, list[Patch]]:
    """Class index per cell, its colour map and norm, and legend patches of the classes present."""
    codes = np.rint(np.asarray(fbfm)).astype(np.int64)
    index = np.full(codes.shape, len(FUEL_CLASSES), dtype=np.int64)  # last index: unknown code
    for i, (_, members, _) in enumerate(FUEL_CLASSES):
        index[np.isin(codes, members)] = i
    colours = [c for _, _, c in FUEL_CLASSES] + [UNKNOWN_FUEL_COLOUR]
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(len(colours) + 1) - 0.5, len(colours))
    present = np.unique(index)
    handles = [
        Patch(
            facecolor=to_rgba(colours[i], BACKGROUND_ALPHA),
            edgecolor="0.4",
            linewidth=0.5,
            label=_class_label(i, codes, index),
        )
        for i in present
    ]
    return index, cmap, norm, handles


def _class_label(i: int, codes: np.ndarray, index: np.ndarray) -> str:
    if i < len(FUEL_CLASSES):
        return FUEL_CLASSES[i][0]
    return f"unknown code(s) {sorted(set(codes[index == i].tolist()))[:4]}"


def mask_outline(mask: np.ndarray, grid: Grid, **kwargs) -> LineCollection:
    """Line segments along the outer edges of a boolean mask's cells (exact cell borders, not contours)."""
    mask = np.asarray(mask, dtype=bool)
    padded = np.pad(mask, 1)
    segments = []
    # Vertical edges: between columns c-1 and c, for c = 0..W.
    rows, cols = np.nonzero(padded[1:-1, :-1] != padded[1:-1, 1:])
    for r, c in zip(rows, cols, strict=True):
        segments.append([(grid.x(c), grid.y(r)), (grid.x(c), grid.y(r + 1))])
    # Horizontal edges: between rows r-1 and r, for r = 0..H.
    rows, cols = np.nonzero(padded[:-1, 1:-1] != padded[1:, 1:-1])
    for r, c in zip(rows, cols, strict=True):
        segments.append([(grid.x(c), grid.y(r)), (grid.x(c + 1), grid.y(r))])
    kwargs.setdefault("colors", "black")
    kwargs.setdefault("linewidths", 0.8)
    return LineCollection(np.asarray(segments, dtype=np.float64).reshape(-1, 2, 2), **kwargs)


def hectares(cells: float, landscape: Landscape | None) -> float | None:
    """Area of `cells` cells in hectares, or None without a landscape (no cell size)."""
    if landscape is None:
        return None
    return float(cells) * float(landscape.cell_size) ** 2 / 1e4


def count(n: int, noun: str) -> str:
    """'1 break cell', '5 break cells'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def area_text(cells: float, landscape: Landscape | None) -> str:
    """'274.4 cells (24.7 ha)', or '274.4 cells' without a landscape."""
    ha = hectares(cells, landscape)
    return f"{cells:,.1f} cells" + (f" ({ha:,.1f} ha)" if ha is not None else "")


def change_text(before: float, after: float) -> str:
    """', 29.2 % less' (or more) than `before`; empty when `before` is zero."""
    if before <= 0:
        return ""
    pct = 100 * (before - after) / before
    return f", {abs(pct):.1f} % {'less' if pct >= 0 else 'more'}"
