"""A map of a dataset's train/val/test split: which ground each split's tiles cover, and the blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from fuelbreak.viz.style import legend_below, new_figure, save_figure

SPLIT_COLOURS = {"train": "#4C72B0", "val": "#DD8452", "test": "#C44E52", "dropped": "#BBBBBB"}


def split_cover(offsets, size, split: dict[str, list[int]]) -> tuple[np.ndarray, tuple[int, int]]:
    """(grid, origin): per cell of the tiles' bounding box, 0 train, 1 val, 2 test, 3 only in dropped tiles, -1 none.

    Raises ValueError if a cell is covered by tiles of two splits (which a spatial split never does).
    """
    off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    h, w = (int(v) for v in size)
    origin = off.min(axis=0)
    rel = off - origin
    grid = np.full((int(rel[:, 0].max()) + h, int(rel[:, 1].max()) + w), -1, dtype=np.int8)
    for i in split.get("dropped", []):
        r, c = rel[i]
        grid[r : r + h, c : c + w] = 3
    for k, name in enumerate(("train", "val", "test")):
        for i in split.get(name, []):
            r, c = rel[i]
            cells = grid[r : r + h, c : c + w]
            if np.any((cells >= 0) & (cells < 3) & (cells != k)):
                raise ValueError(f"tile {i} of the {name} split shares cells with another split")
            cells[...] = k
    return grid, (int(origin[0]), int(origin[1]))


def plot_split_map(dataset, split: dict[str, list[int]], path, block: int | None = None) -> Path:
    """Write a PNG of where the train, val and test tiles (and dropped ones) of a dataset lie."""
    m = dataset.manifest
    offsets = [t["offset"] for t in m["tiles"]]
    grid, origin = split_cover(offsets, m["size"], split)
    colours = ["white", *SPLIT_COLOURS.values()]
    h, w = grid.shape
    scale = 6.0 / max(h, w)
    fig = new_figure(max(w * scale, 3.0) + 0.6, max(h * scale, 3.0) + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    extent = (origin[1], origin[1] + w, origin[0] + h, origin[0])
    ax.imshow(grid + 1, cmap=ListedColormap(colours), vmin=0, vmax=4, extent=extent, interpolation="nearest")
    block = block or m.get("split_block")
    if block:
        for x in range(0, w + 1, int(block)):
            ax.axvline(origin[1] + x, color="black", lw=0.4, alpha=0.35)
        for y in range(0, h + 1, int(block)):
            ax.axhline(origin[0] + y, color="black", lw=0.4, alpha=0.35)
    ax.set_xlabel("column in the source raster (cells)")
    ax.set_ylabel("row in the source raster (cells)")
    counts = {k: len(split.get(k, [])) for k in SPLIT_COLOURS}
    title = f"{Path(str(dataset.path)).name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + " tiles"
    if block:
        title += f"\nblocks of {block} cells (grey lines); a tile straddling two splits is dropped"
    ax.set_title(title, fontsize=9)
    handles = [Patch(facecolor=c, edgecolor="black", lw=0.4, label=k) for k, c in SPLIT_COLOURS.items()]
    legend_below(ax, handles, ncols=4)
    return save_figure(fig, path)
