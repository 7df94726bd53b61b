"""Pictures: every function writes a valid image, with the titles, keys and units a reader needs.

The figures are also checked before saving (colour-bar labels, legends, shared scales), and the
saved PNGs at pixel level where orientation matters. Burn-probability and Q maps here are made-up
arrays: the functions are pure functions of arrays, and the fire simulation is tested elsewhere.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib import colormaps
from PIL import Image

from fuelbreak.errors import ConfigError, InputError
from fuelbreak.landscape.synthetic import synthetic_tile
from fuelbreak.viz import (
    episode_gif,
    plot_burn_probability,
    plot_overlay,
    plot_qvalue_evolution,
    plot_training_summary,
)
from fuelbreak.viz.gif import FINAL_HOLD_MS
from fuelbreak.viz.maps import burn_probability_figure, overlay_figure
from fuelbreak.viz.qvalues import pick_steps, qvalue_figure
from fuelbreak.viz.style import FUEL_CLASSES, Grid, title_overlaps
from fuelbreak.viz.training import training_figure


@pytest.fixture(scope="module")
def tile():
    return synthetic_tile(50, seed=3, name="synthetic-s3")


@pytest.fixture(scope="module")
def wide():
    """A non-square tile: 37 rows (north-south) by 61 columns."""
    return synthetic_tile(61, seed=5, name="wide").window(0, 0, 37, 61, name="wide-37x61")


def probability(land, seed=0):
    """A smooth made-up burn-probability map in [0, 0.6], zero on non-burnable cells."""
    rng = np.random.default_rng(seed)
    h, w = land.shape
    rows, cols = np.mgrid[0:h, 0:w]
    p = 0.6 * np.exp(-(((rows - h / 2) / h) ** 2 + ((cols - w / 3) / w) ** 2) * 4) + 0.02 * rng.random((h, w))
    return np.where(land.burnable, np.clip(p, 0, 1), 0.0)


def top_cells(p, k):
    return np.argsort(-p.ravel(), kind="stable")[:k]


def colorbar_labels(fig) -> list[str]:
    labels = []
    for ax in fig.axes:
        for child in [ax, *ax.child_axes]:
            labels += [child.get_ylabel(), child.get_xlabel()]
    return [label.replace("\n", " ") for label in labels if label]


def png(path) -> Image.Image:
    im = Image.open(path)
    im.load()
    assert im.format == "PNG"
    return im


def assert_no_temp_files(folder):
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")], "temporary file left behind"


# --- overlay ------------------------------------------------------------------------------------


def test_overlay_png_with_title_units_and_both_panels(tile, tmp_path):
    p0 = probability(tile)
    cells = top_cells(p0, 125)
    fig = overlay_figure(tile, cells, "slp", p0 * 0.7, budget=125, reduction=0.292)
    labels = colorbar_labels(fig)
    assert "slope (degrees)" in labels
    assert any(label.startswith("placement order") for label in labels)
    assert any(label.startswith("burn probability") for label in labels)
    assert any("(m, west → east)" in label for label in labels)
    title = fig._suptitle.get_text()
    assert "synthetic-s3" in title and "budget 125 cells (5.0 % of tile)" in title and "29.2 %" in title
    assert not title_overlaps(fig, fig._suptitle)

    out = plot_overlay(tile, cells, "slp", tmp_path / "fuelbreaks_overlay.png", p0 * 0.7, budget=125)
    im = png(out)
    assert 900 <= im.width <= 2500 and 400 <= im.height <= 1500
    assert_no_temp_files(tmp_path)


@pytest.mark.parametrize("key", ["dem", "asp", "cc", "ch", "cbh", "cbd"])
def test_overlay_any_continuous_layer_gets_a_colour_bar_with_units(tile, key):
    fig = overlay_figure(tile, [0, 1, 2], key)
    unit = {"dem": "(m)", "asp": "degrees", "cc": "(%)", "ch": "(m)", "cbh": "(m)", "cbd": "kg/m³"}[key]
    assert any(unit in label for label in colorbar_labels(fig))


def test_overlay_fbfm_background_has_a_fuel_legend_of_the_classes_present(tile):
    fig = overlay_figure(tile, top_cells(probability(tile), 40), "fbfm", probability(tile))
    legend = fig.axes[0].get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    codes = set(np.unique(tile["fbfm"]).astype(int).tolist())
    expected = [label for label, members, _ in FUEL_CLASSES if codes & set(members)]
    assert texts == expected
    assert "GR grass (101-109)" in texts and "98 water" in texts  # this tile has grass and a lake
    assert not any("fuel model" in label for label in colorbar_labels(fig))  # a legend, not a colour bar


def test_overlay_numbers_few_breaks_in_placement_order(tile):
    cells = [1290, 1291, 1292, 1340, 1500]
    fig = overlay_figure(tile, cells, "dem")
    numbers = [t for t in fig.axes[0].texts if t.get_text().isdigit()]
    assert [t.get_text() for t in numbers] == ["1", "2", "3", "4", "5"]
    grid = Grid((50, 50), 30.0)
    xs, ys = grid.centres(cells)
    for text, x, y in zip(numbers, xs, ys, strict=True):
        assert text.get_position() == pytest.approx((x, y))
    assert len(fig.axes) == 1  # no burn probability given: one panel


def test_overlay_non_square_tile_is_north_up_with_metre_axes(wide, tmp_path):
    fig = overlay_figure(wide, [0], "slp", probability(wide))
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((0.0, 61 * 30.0))
    assert ax.get_ylim() == pytest.approx((0.0, 37 * 30.0))  # y grows northward
    # Cell 0 is the north-west corner: top-left of the map.
    x, y = Grid((37, 61), 30.0).centres([0])
    assert (x[0], y[0]) == pytest.approx((15.0, 37 * 30.0 - 15.0))
    im = png(plot_overlay(wide, [0], "slp", tmp_path / "o.png", probability(wide)))
    assert im.width > im.height


def test_overlay_rejects_bad_input_and_keeps_the_old_file(tile, tmp_path):
    path = tmp_path / "fuelbreaks_overlay.png"
    plot_overlay(tile, [5], "slp", path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="background layer 'nope'"):
        plot_overlay(tile, [5], "nope", path)
    with pytest.raises(InputError, match="outside the 50x50 tile"):
        plot_overlay(tile, [2500], "slp", path)
    with pytest.raises(InputError, match="repeats a cell"):
        plot_overlay(tile, [3, 3], "slp", path)
    with pytest.raises(InputError, match=r"burn probability after treatment has shape \(10, 10\)"):
        plot_overlay(tile, [5], "slp", path, np.zeros((10, 10)))
    assert path.read_bytes() == before
    assert_no_temp_files(tmp_path)


# --- burn probability ------------------------------------------------------------------------------


def test_burn_probability_shares_one_0_1_scale_and_reports_areas(tile, tmp_path):
    p0 = probability(tile)
    cells = top_cells(p0, 60)
    p1 = p0 * 0.5
    fig = burn_probability_figure(p0, p1, tile, cells)
    left, right = fig.axes[:2]
    for ax in (left, right):
        norm = ax.images[0].norm
        assert (norm.vmin, norm.vmax) == (0.0, 1.0)
    n_bars = sum(1 for ax in fig.axes for c in ax.child_axes if c.get_ylabel())
    assert n_bars == 1  # one shared colour bar
    ha = p0.sum() * 30 * 30 / 1e4
    assert f"{p0.sum():,.1f} cells ({ha:,.1f} ha)" in left.get_title()
    assert "50.0 % less" in right.get_title() and "60 break cells" in right.get_title()
    assert not title_overlaps(fig, fig._suptitle)
    png(plot_burn_probability(p0, p1, tmp_path / "burn_probability.png", tile, cells))

    bare = burn_probability_figure(p0, p1)  # no landscape: axes in cells, areas in cells only
    assert "ha" not in bare.axes[0].get_title() and "cells" in bare.axes[0].get_title()
    assert bare.axes[0].get_xlabel() == "column (cells)"


def test_burn_probability_is_drawn_north_up_on_a_non_square_tile(wide, tmp_path):
    before = np.zeros(wide.shape)
    before[0, 0] = 1.0  # the north-west cell burns in every fire
    im = png(plot_burn_probability(before, before * 0, tmp_path / "bp.png", title="orientation"))
    rgb = np.asarray(im.convert("RGB")).astype(int)
    hot = np.array(colormaps["YlOrRd"](1.0)[:3]) * 255
    ys, xs = np.nonzero(np.abs(rgb - hot).sum(axis=2) < 30)
    ys, xs = ys[xs < im.width * 0.45], xs[xs < im.width * 0.45]  # the "before" panel
    assert ys.size > 0
    # Top-left corner of the left panel: well above the middle and left of its centre.
    assert ys.max() < im.height * 0.4 and xs.max() < im.width * 0.2


def test_burn_probability_rejects_mismatched_maps(tile, tmp_path):
    with pytest.raises(InputError, match="burn probability after treatment has shape"):
        plot_burn_probability(np.zeros((50, 50)), np.zeros((40, 50)), tmp_path / "x.png")
    with pytest.raises(InputError, match="burn probability before treatment has shape"):
        plot_burn_probability(np.zeros((40, 50)), np.zeros((40, 50)), tmp_path / "x.png", tile)
    assert not (tmp_path / "x.png").exists()


# --- Q-value evolution -------------------------------------------------------------------------


def q_entries(land, n_steps, seed=0):
    rng = np.random.default_rng(seed)
    cells = top_cells(probability(land), n_steps)
    placed = np.zeros(land.n_cells, dtype=bool)
    entries = []
    for step, cell in enumerate(cells):
        q = rng.normal(size=land.n_cells) + step * 0.1
        q[placed | ~land.burnable.ravel()] = np.nan
        entries.append((step, q.reshape(land.shape), [int(cell)]))
        placed[cell] = True
    return entries


def test_pick_steps_is_even_and_keeps_first_and_last():
    assert pick_steps(4, 6) == [0, 1, 2, 3]
    picked = pick_steps(125, 6)
    assert picked[0] == 0 and picked[-1] == 124 and len(picked) == 6
    assert np.ptp(np.diff(picked)) <= 1


def test_qvalue_evolution_one_scale_masked_blank_marks(wide, tmp_path):
    entries = q_entries(wide, 20)
    fig = qvalue_figure(entries, wide, title="wide")
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.images and ax.get_title().startswith("step")]
    assert [ax.get_title().split(":")[0] for ax in panels] == [f"step {i}" for i in pick_steps(20, 6)]
    norms = {(ax.images[0].norm.vmin, ax.images[0].norm.vmax) for ax in panels}
    assert len(norms) == 1  # one colour scale
    finite = np.concatenate([entries[i][1][np.isfinite(entries[i][1])] for i in pick_steps(20, 6)])
    assert norms.pop() == pytest.approx((finite.min(), finite.max()))
    assert panels[0].images[0].cmap.get_bad()[:3] == pytest.approx((1.0, 1.0, 1.0))  # masked: blank
    assert len(panels[0].images) == 1  # nothing placed before the first step
    assert len(panels[-1].images) == 2  # breaks placed earlier drawn over the last step's map
    assert all(len(ax.collections[0].get_offsets()) == 1 for ax in panels)  # the chosen cell, ringed
    assert any(label.startswith("Q value") for label in colorbar_labels(fig))
    assert not title_overlaps(fig, fig._suptitle)
    im = png(plot_qvalue_evolution(entries, tmp_path / "qvalue_evolution.png", wide))
    assert im.width > im.height


def test_qvalue_evolution_few_steps_and_bad_input(tile, tmp_path):
    png(plot_qvalue_evolution(q_entries(tile, 2), tmp_path / "q.png"))  # no landscape: axes in cells
    with pytest.raises(InputError, match="no Q maps"):
        plot_qvalue_evolution([], tmp_path / "q.png")
    with pytest.raises(InputError, match=r"Q map of step 1 has shape \(10, 10\)"):
        plot_qvalue_evolution([(0, np.zeros((5, 5)), []), (1, np.zeros((10, 10)), [])], tmp_path / "q.png")
    with pytest.raises(InputError, match="fully masked"):
        plot_qvalue_evolution([(0, np.full((5, 5), np.nan), [])], tmp_path / "q.png")
    with pytest.raises(InputError, match="cells chosen at step 0"):
        plot_qvalue_evolution([(0, np.zeros((5, 5)), [25])], tmp_path / "q.png")


# --- training summary ------------------------------------------------------------------------------


def write_metrics(path, with_val=True, n=30):
    lines = []
    for i in range(n):
        steps = (i + 1) * 500
        lines.append(
            {
                "kind": "train",
                "env_steps": steps,
                "episodes": steps // 125,
                "grad_steps": max(0, steps - 2000) // 4,
                "epsilon": max(0.05, 1 - steps / 10000),
                "loss": None if steps < 2000 else 0.5 * np.exp(-steps / 5000),
                "mean_return": None if i == 0 else 0.1 * (1 - np.exp(-steps / 4000)),
                "mean_burned_fraction": 0.3 - 0.05 * (1 - np.exp(-steps / 4000)),
                "steps_per_s": 40.0,
                "elapsed_s": steps / 40,
            }
        )
        if with_val and steps % 2500 == 0:
            lines.append(
                {
                    "kind": "val",
                    "env_steps": steps,
                    "val_reduction": 0.1 + 0.02 * i / 5,
                    "val_reduction_random": 0.05,
                    "best": i < 20,
                }
            )
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_training_summary_panels_from_a_full_log(tmp_path):
    metrics = write_metrics(tmp_path / "metrics.jsonl")
    fig = training_figure(metrics)
    titles = {ax.get_title(): ax for ax in fig.axes}
    assert {"return", "burned area in training episodes", "validation on held-out tiles", "TD loss"} <= set(
        titles
    )
    assert titles["TD loss"].get_yscale() == "log"
    val = titles["validation on held-out tiles"]
    legend = [t.get_text() for t in val.get_legend().get_texts()]
    assert legend[:2] == ["learned policy (greedy)", "random placement"]
    assert legend[2].startswith("best checkpoint (17.6 %)")  # the last record flagged best: i = 19
    random_line = next(line for line in val.get_lines() if line.get_label() == "random placement")
    assert random_line.get_linestyle() == "--"
    assert all(ax.get_xlabel() == "environment steps" for ax in fig.axes[-2:])
    out = plot_training_summary(metrics, tmp_path / "training_summary.png")
    im = png(out)
    assert 800 <= im.width <= 2500 and 800 <= im.height <= 2500


def test_training_summary_with_train_lines_only(tmp_path):
    metrics = write_metrics(tmp_path / "metrics.jsonl", with_val=False)
    fig = training_figure(metrics)
    val = next(ax for ax in fig.axes if ax.get_title() == "validation on held-out tiles")
    assert any("no validation logged yet" in t.get_text() for t in val.texts)
    png(plot_training_summary(metrics, tmp_path / "training_summary.png"))


def test_training_summary_missing_or_empty_log_names_the_path(tmp_path):
    missing = tmp_path / "run" / "metrics.jsonl"
    out = tmp_path / "training_summary.png"
    with pytest.raises(InputError, match="no metrics log found") as err:
        plot_training_summary(missing, out)
    assert str(missing) in str(err.value)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="no metrics log found") as err:
        plot_training_summary(empty, out)
    assert str(empty) in str(err.value)
    assert not out.exists()


def test_training_summary_broken_line_is_named(tmp_path):
    metrics = write_metrics(tmp_path / "metrics.jsonl", n=3)
    with metrics.open("a") as fh:
        fh.write('{"kind": "train", "env_steps": \n')
    with pytest.raises(InputError, match=r"metrics\.jsonl line 4 is not valid JSON"):
        plot_training_summary(metrics, tmp_path / "t.png")


# --- GIF ---------------------------------------------------------------------------------------------


def episode_steps(land, n):
    p = probability(land)
    cells = top_cells(p, n)
    area0 = float(p.sum())
    return [(cells[:k].tolist(), area0 * (1 - 0.01 * k)) for k in range(n + 1)]


def test_episode_gif_one_frame_per_step_last_held(wide, tmp_path):
    steps = episode_steps(wide, 24)
    out = episode_gif(wide, "fbfm", steps, tmp_path / "episode.gif", fps=4)
    im = Image.open(out)
    assert im.format == "GIF" and im.n_frames == len(steps)
    assert im.width > im.height  # the wide tile stays wide
    durations = []
    for i in range(im.n_frames):
        im.seek(i)
        durations.append(im.info["duration"])
    assert durations[:-1] == [250] * (len(steps) - 1)
    assert durations[-1] >= FINAL_HOLD_MS
    assert out.stat().st_size < 1_000_000
    assert_no_temp_files(tmp_path)


def test_episode_gif_frames_change_as_breaks_appear(tile, tmp_path):
    steps = episode_steps(tile, 6)
    im = Image.open(episode_gif(tile, "slp", steps, tmp_path / "e.gif"))
    frames = []
    for i in range(im.n_frames):
        im.seek(i)
        frames.append(np.asarray(im.convert("RGB")).astype(int))
    assert all(np.abs(a - b).sum() > 0 for a, b in zip(frames, frames[1:], strict=False))


def test_episode_gif_rejects_bad_steps(tile, tmp_path):
    with pytest.raises(InputError, match="no episode steps"):
        episode_gif(tile, "slp", [], tmp_path / "e.gif")
    with pytest.raises(InputError, match="cells placed by episode step 1"):
        episode_gif(tile, "slp", [([], 10.0), ([9999], 9.0)], tmp_path / "e.gif")
    with pytest.raises(InputError, match="episode step 0 must be"):
        episode_gif(tile, "slp", [([1, 2],)], tmp_path / "e.gif")
    with pytest.raises(ConfigError, match="background layer 'xyz'"):
        episode_gif(tile, "xyz", [([], 10.0)], tmp_path / "e.gif")
    with pytest.raises(InputError, match="frame rate"):
        episode_gif(tile, "slp", [([], 10.0)], tmp_path / "e.gif", fps=0)
    assert not (tmp_path / "e.gif").exists()
