"""`fuelbreak visualize`: every image written and readable, the GIF one frame per step, clear errors."""

from __future__ import annotations

import argparse
import math
import re

import numpy as np
import pytest
from PIL import Image

from fuelbreak.cli import main
from fuelbreak.cli.plan import load_policy
from fuelbreak.cli.visualize import choose_tile, metrics_path
from fuelbreak.errors import ConfigError, InputError
from fuelbreak.landscape.core import Landscape
from fuelbreak.landscape.dataset import split_indices
from fuelbreak.landscape.geotiff import write_landscape
from tests.test_cli_plan import CELLS_PER_STEP, TILE, geo_tile, make_checkpoint, make_run

PNGS = ("fuelbreaks_overlay.png", "qvalue_evolution.png", "burn_probability.png", "training_summary.png")
FAST = ("--fires", "6")


def tile_args(**flags) -> argparse.Namespace:
    return argparse.Namespace(**{"tile": None, "data": None, "raster_idx": None, "metrics": None, **flags})


def visualize(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["visualize", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def check_png(path, min_size=(400, 300)) -> tuple[int, int]:
    """A complete, decodable PNG of a plausible size for a figure with titles, labels and a colour bar."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()  # decodes every byte: a truncated file fails here
        w, h = im.size
    assert w >= min_size[0] and h >= min_size[1], f"{path.name} is only {w} x {h} pixels"
    assert w <= 4000 and h <= 4000, f"{path.name} is {w} x {h} pixels"
    return w, h


def test_writes_every_image_and_one_gif_frame_per_policy_step(tmp_path, capsys):
    ckpt = make_run(tmp_path / "run")
    outdir = tmp_path / "viz"
    rc, out, err = visualize(capsys, "--ckpt", ckpt, "--gif", "--budget", 18, "--outdir", outdir, *FAST)
    assert rc == 0, err
    for name in PNGS:
        check_png(outdir / name)
    w_overlay, h_overlay = check_png(outdir / "fuelbreaks_overlay.png")
    assert w_overlay > h_overlay  # two map panels side by side
    steps = math.ceil(18 / CELLS_PER_STEP)  # 4 full steps and a last one of 2 cells
    with Image.open(outdir / "episode.gif") as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == steps
        assert gif.size[0] >= 300 and gif.size[1] >= 300
        for i in range(gif.n_frames):
            gif.seek(i)
            gif.load()
    assert f"18 break cells (4.5 % of the tile) in {steps} steps" in out
    assert "reduction:" in out and "without breaks:" in out and "with the plan:" in out
    for name in (*PNGS, "episode.gif"):
        assert str(outdir / name) in out


PATH_ARG = {"overlay": 3, "gif": 3, "qvalues": 1, "training": 1, "bp": 2}  # where each plot takes its path


@pytest.fixture
def no_drawing(monkeypatch) -> dict:
    """Record what the command hands each plot (name -> (args, kwargs)) instead of drawing it."""
    import fuelbreak.viz as viz

    calls = {}

    def recorder(name):
        def record(*args, **kwargs):
            calls[name] = (args, kwargs)
            return args[PATH_ARG[name]]

        return record

    for name, fn in (
        ("overlay", "plot_overlay"),
        ("qvalues", "plot_qvalue_evolution"),
        ("bp", "plot_burn_probability"),
        ("gif", "episode_gif"),
        ("training", "plot_training_summary"),
    ):
        monkeypatch.setattr(viz, fn, recorder(name))
    return calls


def test_figures_get_the_plan_its_q_maps_and_consistent_areas(tmp_path, capsys, no_drawing):
    """What the command hands each plot, recorded instead of drawn: one rollout, one set of fires."""
    calls = no_drawing
    ckpt = make_run(tmp_path / "run")
    rc, out, err = visualize(
        capsys, "--ckpt", ckpt, "--gif", "--budget", 14, "--outdir", tmp_path / "v", *FAST
    )
    assert rc == 0, err
    before = float(re.search(r"without breaks: ([\d.]+) cells", out).group(1))
    after = float(re.search(r"with the plan: +([\d.]+) cells", out).group(1))
    percent = float(re.search(r"reduction: (-?[\d.]+) %", out).group(1))

    (land, cells, bg, _), kw = calls["overlay"]
    assert bg == "fbfm" and len(cells) == len(set(cells.tolist())) == kw["budget"] == 14
    assert land.burnable.ravel()[cells].all()
    assert kw["burn_probability_after"].sum() == pytest.approx(after, abs=0.06)
    assert 100 * kw["reduction"] == pytest.approx(percent, abs=0.06)  # a fraction, printed as a percent

    (q_maps, _), _ = calls["qvalues"]
    assert [step for step, _, _ in q_maps] == [1, 2, 3, 4]  # 4 + 4 + 4 + 2 cells
    placed = np.zeros(land.n_cells, dtype=bool)
    for _, q, chosen in q_maps:
        legal = land.burnable.ravel() & ~placed
        assert (np.isnan(q.ravel()) == ~legal).all()  # blank exactly where a break cannot go
        placed[chosen] = True
    assert np.concatenate([c for _, _, c in q_maps]).tolist() == cells.tolist()

    (bp_before, bp_after, _), kw = calls["bp"]
    assert bp_before.sum() == pytest.approx(before, abs=0.06) and (bp_after <= bp_before).all()
    assert kw["cells"].tolist() == cells.tolist()

    (_, _, frames, _), kw = calls["gif"]
    assert [len(c) for c, _ in frames] == [4, 8, 12, 14]
    assert frames[-1][0] == cells.tolist()
    areas = [area for _, area in frames]
    assert areas == sorted(areas, reverse=True)  # a break never lets a fire burn more
    assert areas[-1] == pytest.approx(after, abs=0.06) and kw["baseline_area"] == pytest.approx(
        before, abs=0.06
    )


def test_a_featureless_background_is_pointed_out(tmp_path, capsys, no_drawing):
    land = Landscape.uniform((TILE, TILE), fuel=102, slope=10.0, cc=0.0, name="grass-slope")
    tile = write_landscape(land, tmp_path / "grass.tif")
    ckpt = make_run(tmp_path / "run")
    outdir = ["--outdir", tmp_path / "viz"]  # not the default viz_out in the working directory
    rc, out, err = visualize(capsys, "--ckpt", ckpt, "--tile", tile, "--bg-raster-key", "cc", *FAST, *outdir)
    assert rc == 0, err
    assert "note: layer cc is 0 everywhere on this tile" in out
    assert no_drawing["overlay"][0][2] == "cc"
    rc, out, err = visualize(capsys, "--ckpt", ckpt, "--tile", tile, "--bg-raster-key", "dem", *FAST, *outdir)
    assert rc == 0, err
    assert "note:" not in out


def test_default_tile_is_the_first_test_split_tile_of_the_checkpoint_dataset(tmp_path):
    ckpt = make_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    _, _, cfg = load_policy(ckpt)
    splits = split_indices(10, 0)
    land, where = choose_tile(tile_args(), cfg, ckpt)
    first_test = splits["test"][0]
    assert land.name == f"synthetic-s0-{first_test:05d}" and land.shape == (TILE, TILE)
    assert (
        where
        == f"tile {first_test} of the 10 synthetic tiles of the checkpoint's config (test split, never trained on)"
    )
    land, where = choose_tile(tile_args(raster_idx=splits["train"][0]), cfg, ckpt)
    assert land.name == f"synthetic-s0-{splits['train'][0]:05d}"
    assert where.endswith("(train split, the policy trained on it)")
    with pytest.raises(ConfigError, match="--tile"):
        choose_tile(tile_args(tile="t.tif", raster_idx=1), cfg, ckpt)


def test_metrics_log_is_looked_for_in_the_run_folder(tmp_path):
    in_run = tmp_path / "run" / "checkpoints" / "best.pt"
    assert metrics_path(tile_args(), in_run) == (tmp_path / "run" / "metrics.jsonl").resolve()
    assert metrics_path(tile_args(), tmp_path / "model.pt") == (tmp_path / "metrics.jsonl").resolve()
    with pytest.raises(InputError, match="--metrics"):
        metrics_path(tile_args(metrics=str(tmp_path / "none.jsonl")), in_run)


def test_missing_metrics_log_still_writes_the_other_images(tmp_path, capsys):
    ckpt = make_run(tmp_path / "run", metrics=False)
    outdir = tmp_path / "viz"
    rc, out, err = visualize(capsys, "--ckpt", ckpt, "--gif", "--outdir", outdir, *FAST)
    assert rc == 0, err
    for name in PNGS[:3]:
        check_png(outdir / name)
    assert (outdir / "episode.gif").is_file()
    assert not (outdir / "training_summary.png").exists()
    assert "training_summary.png not written" in out
    assert str(tmp_path / "run" / "metrics.jsonl") in out and "no metrics log found" in out


def test_a_georeferenced_tile_file_and_another_background(tmp_path, capsys):
    ckpt = make_run(tmp_path / "run")
    tile = geo_tile(tmp_path / "tile.tif")
    outdir = tmp_path / "viz"
    rc, out, err = visualize(
        capsys, "--ckpt", ckpt, "--tile", tile, "--bg-raster-key", "slp", "--gif", "--outdir", outdir, *FAST
    )
    assert rc == 0, err
    assert f"tile file {tile}" in out and "geo-tile" in out
    for name in PNGS:
        check_png(outdir / name)
    with Image.open(outdir / "episode.gif") as gif:
        assert gif.n_frames == 20 // CELLS_PER_STEP


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["--model-type", "enhanced"], 3, ["--model-type enhanced", "'basic'", "best.pt"]),
        (["--raster-idx", 10], 2, ["--raster-idx 10", "10 tiles"]),
        (["--budget", 500], 2, ["--budget 500", "burnable cells"]),
        (["--fires", 0], 2, ["--fires"]),
        (["--tile", "nowhere.tif"], 2, ["--tile", "nowhere.tif"]),
        (["--data", "no-such-dataset"], 2, ["--data", "no-such-dataset"]),
        (["--metrics", "no-such-log.jsonl"], 2, ["--metrics", "no-such-log.jsonl"]),
    ],
)
def test_bad_flags_are_named(tmp_path, capsys, argv, code, words):
    ckpt = make_run(tmp_path / "run")
    rc, _, err = visualize(capsys, "--ckpt", ckpt, *FAST, *argv, "--outdir", tmp_path / "viz")
    assert rc == code
    for word in words:
        assert word in err
    assert not (tmp_path / "viz").exists()


def test_bad_checkpoints_are_named(tmp_path, capsys):
    ckpt = make_run(tmp_path / "run")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(ckpt.read_bytes()[: len(ckpt.read_bytes()) // 3])
    rc, _, err = visualize(capsys, "--ckpt", corrupt, "--outdir", tmp_path / "viz")
    assert rc == 3 and str(corrupt) in err and "corrupt" in err

    elsewhere = make_checkpoint(tmp_path / "other.pt", data_dir=str(tmp_path / "gone-dataset"))
    rc, _, err = visualize(capsys, "--ckpt", elsewhere, "--outdir", tmp_path / "viz")
    assert rc == 2 and "gone-dataset" in err and "--data" in err and "--tile" in err
    assert not (tmp_path / "viz").exists()
