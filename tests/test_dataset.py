"""Dataset folders (write, load, errors), synthetic datasets, splits, and the `fuelbreak data` CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from fuelbreak.cli import data as data_cli
from fuelbreak.errors import ConfigError, FuelbreakError, InputError
from fuelbreak.landscape import (
    LAYERS,
    Dataset,
    Landscape,
    SyntheticDataset,
    load_dataset,
    open_dataset,
    read_layer_folder,
    split_indices,
    synthetic_tile,
    synthetic_tiles,
    write_dataset,
    write_landscape,
)
from fuelbreak.landscape.dataset import MANIFEST, fuel_class_fractions


def run_cli(*argv: str) -> int:
    """Run `fuelbreak data ...` through a parser holding only the data subcommand, as cli.main does."""
    parser = argparse.ArgumentParser(prog="fuelbreak")
    sub = parser.add_subparsers(dest="command")
    data_cli.register(sub)
    args = parser.parse_args(["data", *argv])
    try:
        return args.func(args)
    except FuelbreakError as exc:
        print(f"error: {exc}")
        return exc.exit_code


@pytest.fixture
def small_dataset(tmp_path):
    tiles = synthetic_tiles(5, size=12, seed=1)
    write_dataset(tiles, tmp_path / "ds", source="synthetic", seed=1, progress=False)
    return tmp_path / "ds", tiles


def test_write_and_load(small_dataset):
    path, tiles = small_dataset
    ds = load_dataset(path)
    assert isinstance(ds, Dataset) and len(ds) == 5 and ds.tile_shape == (12, 12)
    m = ds.manifest
    assert m["source"] == "synthetic" and m["seed"] == 1 and m["size"] == [12, 12] and m["count"] == 5
    assert m["layers"] == list(LAYERS) and m["units"]["cbd"] == "kg/m^3" and m["crs"] is None
    assert [t["file"] for t in m["tiles"]] == [f"tile_{i:05d}.tif" for i in range(5)]
    for i, tile in enumerate(tiles):
        got = ds[i]
        assert got.name == tile.name
        for key in LAYERS:
            np.testing.assert_array_equal(got[key], tile[key])
        assert m["tiles"][i]["fuel_fractions"] == fuel_class_fractions(tile["fbfm"])
    np.testing.assert_array_equal(ds[-1]["dem"], tiles[-1]["dem"])
    with pytest.raises(IndexError):
        ds[5]
    assert sorted(p.name for p in path.iterdir()) == [MANIFEST] + [f"tile_{i:05d}.tif" for i in range(5)]


def test_fuel_class_fractions():
    fuel = np.array([[101, 102, 122, 145], [165, 186, 91, 98]])
    f = fuel_class_fractions(fuel)
    assert f == {"GR": 0.25, "GS": 0.125, "SH": 0.125, "TU": 0.125, "TL": 0.125, "SB": 0.0, "NB": 0.25}


def test_write_refuses_existing_dataset_unless_overwrite(small_dataset):
    path, tiles = small_dataset
    with pytest.raises(InputError, match="already holds a dataset"):
        write_dataset(tiles[:2], path, source="synthetic", progress=False)
    write_dataset(tiles[:2], path, source="synthetic", overwrite=True, progress=False)
    assert len(load_dataset(path)) == 2
    assert len(list(path.glob("tile_*.tif"))) == 2  # no stale tiles left


def test_write_rejects_mixed_shapes_and_empty(tmp_path):
    with pytest.raises(InputError, match="shape"):
        write_dataset(
            [synthetic_tile(10, 0), synthetic_tile(12, 1)], tmp_path / "a", source="x", progress=False
        )
    with pytest.raises(InputError, match="no tiles"):
        write_dataset([], tmp_path / "b", source="x", progress=False)


def test_dataset_errors_name_the_path(small_dataset, tmp_path):
    path, _ = small_dataset
    with pytest.raises(InputError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty has no manifest\.json"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(InputError, match="not a folder"):
        load_dataset(path / "tile_00000.tif")

    manifest = json.loads((path / MANIFEST).read_text())
    (path / "tile_00003.tif").unlink()
    with pytest.raises(InputError, match="tile_00003.tif"):
        load_dataset(path)

    write_landscape(synthetic_tile(10, 9), path / "tile_00003.tif")  # wrong shape
    ds = load_dataset(path)
    with pytest.raises(InputError, match=r"tile_00003\.tif has shape \(10, 10\)"):
        ds[3]

    (path / MANIFEST).write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_dataset(path)
    del manifest["tiles"]
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="lacks field.*tiles"):
        load_dataset(path)


def test_corrupt_tile_file_is_an_error_naming_it(small_dataset):
    path, _ = small_dataset
    (path / "tile_00001.tif").write_bytes(b"\0" * 100)
    with pytest.raises(InputError, match="tile_00001.tif"):
        load_dataset(path)[1]


def test_synthetic_dataset_matches_synthetic_tiles():
    ds = SyntheticDataset(6, size=14, seed=2)
    tiles = synthetic_tiles(6, size=14, seed=2)
    assert len(ds) == 6 and ds.tile_shape == (14, 14)
    assert ds.manifest["source"] == "synthetic" and ds.manifest["seed"] == 2 and ds.manifest["count"] == 6
    for i in (0, 3, 5):
        np.testing.assert_array_equal(ds[i]["fbfm"], tiles[i]["fbfm"])
        assert ds[i].name == tiles[i].name
    with pytest.raises(IndexError):
        ds[6]
    with pytest.raises(ConfigError):
        SyntheticDataset(0)


def test_open_dataset(small_dataset):
    path, _ = small_dataset
    assert isinstance(open_dataset(path), Dataset)
    syn = open_dataset(None, n=3, size=10, seed=4)
    assert isinstance(syn, SyntheticDataset) and len(syn) == 3 and syn.tile_shape == (10, 10)
    with pytest.raises(InputError):
        open_dataset(path.parent / "missing")


def test_split_indices():
    split = split_indices(100, seed=0)
    assert [len(split[k]) for k in ("train", "val", "test")] == [80, 10, 10]
    together = split["train"] + split["val"] + split["test"]
    assert sorted(together) == list(range(100))
    assert split == split_indices(100, seed=0)
    assert split != split_indices(100, seed=1)
    small = split_indices(5, seed=3)
    assert sorted(sum(small.values(), [])) == list(range(5)) and all(small.values())
    assert split_indices(7, 0, (1.0, 0.0, 0.0)) == {"train": list(range(7)), "val": [], "test": []}
    assert sum(map(len, split_indices(0, 0).values())) == 0
    with pytest.raises(ConfigError):
        split_indices(10, 0, (0.5, 0.3, 0.3))
    with pytest.raises(ConfigError):
        split_indices(10, 0, (0.5, 0.5))


def test_cli_synth_and_info(tmp_path, capsys):
    out = tmp_path / "syn"
    assert run_cli("synth", "--n", "4", "--size", "12", "--seed", "3", "--out", str(out)) == 0
    ds = load_dataset(out)
    assert len(ds) == 4 and ds.manifest["seed"] == 3
    np.testing.assert_array_equal(ds[2]["dem"], synthetic_tiles(4, size=12, seed=3)[2]["dem"])
    assert run_cli("synth", "--n", "2", "--size", "12", "--out", str(out)) == 2  # exists, no --overwrite
    capsys.readouterr()
    assert run_cli("info", str(out)) == 0
    text = capsys.readouterr().out
    assert "4 of 12 x 12" in text and "synthetic (seed 3)" in text and "crs          none" in text
    assert run_cli("info", str(out), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["count"] == 4 and info["size"] == [12, 12]
    assert abs(sum(info["fuel_fractions"].values()) - 1.0) < 1e-3
    assert run_cli("info", str(tmp_path / "nothing")) == 2
    assert "nothing does not exist" in capsys.readouterr().out


def test_cli_tile_fake_landfire(landfire_dir, tmp_path, capsys):
    folder, _, nodata = landfire_dir
    out = tmp_path / "tiles"
    argv = ["tile", "--src", str(folder), "--size", "10", "--overlap", "5", "--out", str(out)]
    assert run_cli(*argv, "--max-nodata", "0.3") == 0
    ds = load_dataset(out)
    assert len(ds) == 7 * 11 - 3
    m = ds.manifest
    assert m["overlap"] == 5 and m["epsg"] == 5070 and m["windows"] == 77 and m["bbox"] is None
    assert m["source_nodata"]["fbfm"] == 100
    entry = next(t for t in m["tiles"] if t["nodata_fraction"] > 0)
    assert entry["offset"] == [5, 5] and entry["nodata_fraction"] == 0.25
    tile = ds[m["tiles"].index(entry)]
    np.testing.assert_array_equal(tile.meta["nodata_mask"], nodata[5:15, 5:15])
    full = read_layer_folder(folder)
    np.testing.assert_array_equal(tile["cbd"], full["cbd"][5:15, 5:15])
    assert tile.transform[2] == full.transform[2] + 5 * 30.0
    assert "wrote 74 of 77 tiles" in capsys.readouterr().out
    # A bbox, a layer mapping and a scaling travel into the manifest.
    bbox = ["-72.641", "44.4993", "-72.6319", "44.5058"]  # around rows 10-30, cols 20-40
    out2 = tmp_path / "tiles2"
    code = run_cli(
        "tile", "--src", str(folder), "--bbox", *bbox, "--size", "5", "--overlap", "0", "--out", str(out2),
        "--scale", "ch=0.05", "--layer", f"cc={folder / 'LC22_CC_230.tif'}",
    )  # fmt: skip
    assert code == 0
    m2 = load_dataset(out2).manifest
    assert m2["bbox"] == [float(v) for v in bbox] and m2["scalings"]["ch"] == 0.05
    r, c = m2["crop_offset"]
    h, w = m2["crop_shape"]
    assert 0 < r <= 10 and 0 < c <= 20 and r + h >= 30 and c + w >= 40 and h < 40 and w < 60
    assert all(t["offset"][0] >= r and t["offset"][1] >= c for t in m2["tiles"])


def test_cli_tile_errors(landfire_dir, tmp_path, capsys):
    folder, _, _ = landfire_dir
    (folder / "LC22_CBD_230.tif").unlink()
    assert run_cli("tile", "--src", str(folder), "--out", str(tmp_path / "o")) == 2
    assert "cbd" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        run_cli("tile", "--src", str(folder), "--out", str(tmp_path / "o"), "--scale", "zz=2")
    with pytest.raises(SystemExit):
        run_cli("tile", "--src", str(folder), "--out", str(tmp_path / "o"), "--max-nodata", "1.5")


def test_cli_tile_real_sample(worcester, tmp_path, capsys):
    out = tmp_path / "w"
    # Overlap 0 keeps the test quick; overlap 25 (360 tiles) is checked in memory in test_landscape.
    assert run_cli("tile", "--src", str(worcester), "--size", "50", "--overlap", "0", "--out", str(out)) == 0
    ds = load_dataset(out)
    assert 60 <= len(ds) <= 120 and ds.manifest["windows"] == 12 * 10
    assert ds.manifest["epsg"] == 5070 and ds.manifest["scalings"]["cbd"] == 0.01
    tile = ds[0]
    assert isinstance(tile, Landscape) and tile.shape == (50, 50) and tile.transform is not None
