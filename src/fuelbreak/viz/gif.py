"""An episode as a GIF: the breaks appearing one step at a time, with the running burned area.

The figure is laid out once and each frame only updates the break layer and the title, so frames
line up exactly and each is rendered once. All frames share one palette (taken from the last frame,
which holds every colour) and are cropped to the union of their content; Pillow stores each frame
as its difference from the previous one, which keeps a 125-frame 50 x 50 episode well under 1 MB.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.transforms import Bbox
from PIL import Image

from fuelbreak.atomic import atomic_write_bytes
from fuelbreak.errors import InputError
from fuelbreak.landscape.core import Landscape
from fuelbreak.viz.maps import add_background_key, draw_background, order_colorbar, order_image
from fuelbreak.viz.style import (
    ORDER_CMAP,
    Grid,
    area_text,
    cell_list,
    change_text,
    count,
    mask_outline,
    new_figure,
)

# The last frame stays on screen at least this long (ms), so the final plan can be read.
FINAL_HOLD_MS = 2500
NEWEST_COLOUR = "#00d5ff"


def episode_gif(
    landscape: Landscape,
    bg_key: str,
    steps,
    path,
    fps: float = 4,
    baseline_area: float | None = None,
    dpi: int = 96,
) -> Path:
    """Write one GIF frame per entry of `steps`, a list of (cells placed so far, expected burned area).

    Burned areas are in cells. The reduction is shown against `baseline_area`, or against the first
    step's area when that step has no break. The last frame is held for FINAL_HOLD_MS or longer.
    """
    if not fps > 0:
        raise InputError(f"GIF frame rate must be positive, got {fps}")
    entries = _check_steps(steps, landscape.shape)
    if baseline_area is None and len(entries[0][0]) == 0:
        baseline_area = entries[0][1]
    first = 0 if len(entries[0][0]) == 0 else 1
    n_total = len(entries[-1][0])
    grid = Grid.of(landscape, landscape.shape)

    fig, ax, breaks, outline, newest = _frame_figure(landscape, bg_key, grid, n_total, dpi)

    def render(i: int) -> tuple[Image.Image, Bbox]:
        cells, area = entries[i]
        breaks.set_data(order_image(cells, grid.shape))
        mask = np.zeros(grid.shape[0] * grid.shape[1], dtype=bool)
        mask[cells] = True
        outline.set_segments(mask_outline(mask.reshape(grid.shape), grid).get_segments())
        added = cells[len(entries[i - 1][0]) :] if i > 0 else cells  # every cell this step placed
        newest.set_offsets(np.column_stack(grid.centres(added)) if len(added) else np.empty((0, 2)))
        ax.set_title(
            _frame_title(landscape, i + first, len(entries) - 1 + first, len(cells), area, baseline_area)
        )
        fig.canvas.draw()
        image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        return image, fig.get_tightbbox(fig.canvas.get_renderer())

    # The last frame holds every colour: its palette serves all frames, kept as 1 byte per pixel.
    palette = render(len(entries) - 1)[0].quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    frames, boxes = [], []
    for i in range(len(entries)):
        image, box = render(i)
        frames.append(image.quantize(palette=palette, dither=Image.Dither.NONE))
        boxes.append(box)
    crop = _pixel_box(fig, Bbox.union(boxes))
    return _write_gif([f.crop(crop) for f in frames], path, fps)


def _pixel_box(fig, inches: Bbox, pad_px: int = 8) -> tuple[int, int, int, int]:
    """(left, upper, right, lower) pixels of a box given in inches from the figure's lower-left corner."""
    dpi = fig.dpi
    width, height = fig.canvas.get_width_height()
    left = max(int(np.floor(inches.x0 * dpi)) - pad_px, 0)
    right = min(int(np.ceil(inches.x1 * dpi)) + pad_px, width)
    upper = max(int(np.floor(height - inches.y1 * dpi)) - pad_px, 0)
    lower = min(int(np.ceil(height - inches.y0 * dpi)) + pad_px, height)
    return left, upper, right, lower


def _frame_figure(landscape: Landscape, bg_key: str, grid: Grid, n_total: int, dpi: float):
    """The figure every frame is drawn on: background, an empty break layer, colour bars; layout frozen."""
    h, w = grid.shape
    aspect = float(np.clip(h / w, 0.35, 2.5))
    fig = new_figure(7.2, 4.4 * aspect + 1.5, layout="compressed", dpi=dpi)
    ax = fig.subplots()
    bg_image, handles = draw_background(ax, landscape, bg_key, grid)
    breaks = ax.imshow(
        np.ma.masked_all(grid.shape),
        cmap=ORDER_CMAP,
        norm=Normalize(1, max(n_total, 2)),
        extent=grid.extent(),
        interpolation="nearest",
    )
    outline = mask_outline(np.zeros(grid.shape, dtype=bool), grid, colors="black", linewidths=0.5)
    ax.add_collection(outline)
    newest = ax.scatter(
        [], [], s=max(2.4 * grid.cell_points(ax), 6.0) ** 2, facecolors="none", edgecolors=NEWEST_COLOUR
    )
    newest.set_linewidth(1.5)
    order_colorbar(fig, ax, breaks, "placement order (ring: this step)")
    add_background_key(fig, ax, bg_image, handles, bg_key)
    grid.label(ax)
    ax.set_title("\n")
    ax.set_xlim(grid.extent()[:2])
    ax.set_ylim(grid.extent()[2:])
    fig.canvas.draw()
    fig.set_layout_engine("none")  # freeze the layout so that frames line up
    return fig, ax, breaks, outline, newest


def _frame_title(landscape, step, n_steps, n_cells, area, baseline) -> str:
    name = landscape.name or "tile"
    line2 = f"expected burned area {area_text(area, landscape)}"
    if baseline is not None:
        line2 += change_text(baseline, area)
    return f"{name}: step {step} of {n_steps}, {count(n_cells, 'break cell')}\n{line2}"


def _write_gif(frames: list[Image.Image], path, fps: float) -> Path:
    step_ms = max(int(round(1000 / fps, -1)), 20)
    durations = [step_ms] * len(frames)
    durations[-1] = max(FINAL_HOLD_MS, 4 * step_ms)
    buf = io.BytesIO()
    frames[0].save(
        buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, disposal=1
    )
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def _check_steps(steps, shape) -> list[tuple[np.ndarray, float]]:
    entries = list(steps or [])
    if not entries:
        raise InputError("no episode steps to animate: the list of (cells placed, burned area) is empty")
    out = []
    for n, entry in enumerate(entries):
        try:
            cells, area = entry
            area = float(area)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"episode step {n} must be (cells placed so far, burned area), got {entry!r:.80}"
            ) from exc
        out.append((cell_list(cells, shape, f"cells placed by episode step {n}"), area))
    return out
