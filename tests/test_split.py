"""Spatially held-out splits: no two splits share a cell, for any tile size and overlap; the CLI shows them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from fuelbreak.cli import data as data_cli
from fuelbreak.errors import FuelbreakError
from fuelbreak.evaluation.leakage import footprint_overlaps, trained_tiles
from fuelbreak.landscape.dataset import (
    dataset_split,
    default_split_block,
    is_spatial,
    load_dataset,
    spatial_split,
    split_indices,
)
from fuelbreak.landscape.tiling import tile_windows
from fuelbreak.viz.splits import split_cover


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="fuelbreak")
    sub = parser.add_subparsers(dest="command")
    data_cli.register(sub)
    args = parser.parse_args(["data", *argv])
    try:
        return args.func(args)
    except FuelbreakError as exc:
        print(f"error: {exc}")
        return exc.exit_code


def covered(offsets, size, indices, shape) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for i in indices:
        r, c = offsets[i]
        mask[r : r + size, c : c + size] = True
    return mask


@pytest.mark.parametrize(
    ("shape", "size", "overlap", "seed"),
    [
        ((613, 549), 50, 25, 0),
        ((613, 549), 50, 0, 1),
        ((613, 549), 32, 16, 2),
        ((613, 549), 64, 48, 3),
        ((300, 420), 20, 10, 4),
        ((300, 420), 25, 24, 5),
        ((211, 97), 16, 5, 6),
    ],
)
def test_spatial_split_never_shares_a_cell(shape, size, overlap, seed):
    offsets = tile_windows(shape, size, overlap)
    block = default_split_block((size, size), overlap)
    split = spatial_split(offsets, (size, size), block, seed)
    parts = [split[k] for k in ("train", "val", "test", "dropped")]
    # Every tile is in exactly one part.
    assert sorted(i for p in parts for i in p) == list(range(len(offsets)))
    masks = {k: covered(offsets, size, split[k], shape) for k in ("train", "val", "test")}
    assert not (masks["train"] & masks["test"]).any()
    assert not (masks["train"] & masks["val"]).any()
    assert not (masks["val"] & masks["test"]).any()
    assert all(split[k] for k in ("train", "val", "test")), {k: len(v) for k, v in split.items()}
    # Most tiles are kept and training holds the most.
    assert len(split["dropped"]) < 0.5 * len(offsets)
    assert len(split["train"]) > len(split["val"]) and len(split["train"]) > len(split["test"])
    assert split == spatial_split(offsets, (size, size), block, seed)
    # The random split over tiles, which this replaces, does leak when tiles overlap.
    if overlap:
        rand = split_indices(len(offsets), seed)
        assert (
            covered(offsets, size, rand["train"], shape) & covered(offsets, size, rand["test"], shape)
        ).any()


def test_split_cover_catches_a_shared_cell():
    offsets = [(0, 0), (0, 5)]
    grid, origin = split_cover(offsets, (10, 10), {"train": [0], "val": [], "test": [], "dropped": [1]})
    assert (
        origin == (0, 0)
        and grid.shape == (10, 15)
        and (grid[:, :10] == 0).all()
        and (grid[:, 10:] == 3).all()
    )
    with pytest.raises(ValueError, match="shares cells"):
        split_cover(offsets, (10, 10), {"train": [0], "test": [1]})


def test_synthetic_datasets_keep_the_random_split():
    class Fake:
        manifest = {"source": "synthetic", "tiles": [{"offset": [0, 0]}] * 40}

        def __len__(self):
            return 40

    assert not is_spatial(Fake.manifest)
    assert dataset_split(Fake(), 3) == split_indices(40, 3)
    assert dataset_split(list(range(40)), 3) == split_indices(40, 3)


@pytest.fixture(scope="module")
def worcester_tiles(tmp_path_factory):
    """The real LANDFIRE window of tests/data cut into 50-cell tiles overlapping by 25."""
    from tests.conftest import LANDFIRE_WINDOW

    out = tmp_path_factory.mktemp("w") / "tiles"
    argv = ["tile", "--src", str(LANDFIRE_WINDOW), "--size", "50", "--overlap", "25", "--out", str(out)]
    assert run_cli(*argv) == 0
    return out


def test_real_dataset_split_by_footprint_and_info_map(worcester_tiles, tmp_path, capsys):
    ds = load_dataset(worcester_tiles)
    m = ds.manifest
    assert is_spatial(m) and m["split_block"] == 100
    split = dataset_split(ds, 0, with_dropped=True)
    offsets = [t["offset"] for t in m["tiles"]]
    shape = (700, 700)
    masks = {k: covered(offsets, 50, split[k], shape) for k in ("train", "val", "test")}
    assert (
        not (masks["train"] & masks["test"]).any()
        and not (masks["val"] & (masks["train"] | masks["test"])).any()
    )
    # Footprints in the CRS agree with the offsets: no test tile overlaps a training tile on the map.
    assert footprint_overlaps(ds, split["train"], ds) & set(split["test"] + split["val"]) == set()
    assert set(split["train"]) <= footprint_overlaps(ds, split["train"], ds)
    capsys.readouterr()
    png = tmp_path / "split.png"
    assert run_cli("info", str(worcester_tiles), "--map", str(png)) == 0
    text = capsys.readouterr().out
    counts = {k: len(v) for k, v in split.items()}
    assert (
        f"train {counts['train']}, val {counts['val']}, test {counts['test']}, dropped {counts['dropped']}"
        in text
    )
    assert "spatial blocks of 100 cells" in text and str(png) in text
    with rasterio.open(png) as img:  # a real PNG
        assert img.width > 300 and img.height > 300
    assert run_cli("info", str(worcester_tiles), "--json", "--no-map", "--split-seed", "1") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["split"]["seed"] == 1 and sum(
        info["split"][k] for k in ("train", "val", "test", "dropped")
    ) == len(ds)


def test_leakage_by_footprint_across_dataset_folders(worcester_tiles, tmp_path):
    from tests.conftest import LANDFIRE_WINDOW

    # The same land cut again with another tile size: indices differ, footprints still overlap.
    other = tmp_path / "other"
    argv = ["tile", "--src", str(LANDFIRE_WINDOW), "--size", "40", "--overlap", "0", "--out", str(other)]
    assert run_cli(*argv) == 0
    env = {"split_seed": 0, "synthetic_tiles": 500, "tile_size": 50, "synthetic_seed": 0}
    train_env = {**env, "data_dir": str(worcester_tiles)}
    ods = load_dataset(other)
    seen = trained_tiles(train_env, str(other), 50, 0, len(ods))
    assert seen and len(seen) > len(ods) // 2  # most of the other cut lies on training ground
    # Against its own dataset, the test split is clean and the train split is all "seen".
    ds = load_dataset(worcester_tiles)
    own = trained_tiles(train_env, str(worcester_tiles), 50, 0, len(ds))
    split = dataset_split(ds, 0, with_dropped=True)
    assert not own & set(split["test"]) and not own & set(split["val"]) and set(split["train"]) <= own
    assert own & set(split["dropped"])  # dropped tiles straddle training ground
    # The training folder gone: unknowable, not "clean".
    assert trained_tiles({**env, "data_dir": str(tmp_path / "gone")}, str(other), 50, 0, len(ods)) is None
    assert Path(worcester_tiles).is_dir()


def test_evaluate_refuses_a_checkpoint_trained_on_the_same_ground(worcester_tiles, tmp_path, capsys):
    from fuelbreak.cli import main
    from tests.test_evaluation import TRAIN_ENV, save_tiny_checkpoint

    ckpt = save_tiny_checkpoint(tmp_path / "c.pt", {"env": {**TRAIN_ENV, "data_dir": str(worcester_tiles)}})
    base = [
        "evaluate",
        "--data",
        str(worcester_tiles),
        "--ckpt",
        str(ckpt),
        "--methods",
        "random",
        "--fires",
        "2",
    ]
    base += ["--no-progress"]
    # Every tile, dropped ones included: some overlap training ground though they are no training tile.
    assert main([*base, "--split", "all", "--max-tiles", "1000", "--outdir", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "footprints overlap training tiles" in err and "--split test" in err
    assert not (tmp_path / "a").exists()
    # Its held-out test tiles are accepted.
    assert main([*base, "--max-tiles", "3", "--outdir", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "evaluation.json").is_file()


def test_footprints_of_a_manifest_without_bounds_come_from_the_files(worcester_tiles, tmp_path):
    import shutil

    from fuelbreak.landscape.dataset import MANIFEST

    ds = load_dataset(worcester_tiles)
    copy = tmp_path / "old"
    shutil.copytree(worcester_tiles, copy)
    m = json.loads((copy / MANIFEST).read_text())
    for t in m["tiles"]:
        del t["bounds"]
    (copy / MANIFEST).write_text(json.dumps(m))
    old = load_dataset(copy)
    assert old.footprints()[:20] == ds.footprints()[:20]
    left, bottom, right, top = ds.footprints()[0]
    assert right - left == 50 * 30 and top - bottom == 50 * 30
