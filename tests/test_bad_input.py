"""Issue 25, case by case: bad input and interrupted runs get a clear message naming the flag, file or
layer, the documented exit code (fuelbreak.errors.EXIT_CODES), never a traceback, and leave the
outputs either as they were or complete. docs/troubleshooting.md lists the same cases."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from fuelbreak.cli import main
from fuelbreak.errors import EXIT_CODES
from fuelbreak.landscape.core import Landscape
from fuelbreak.landscape.geotiff import write_landscape
from fuelbreak.landscape.synthetic import synthetic_tile
from fuelbreak.outputs import output_set
from tests.test_cli_plan import make_checkpoint

SMALL = ["--tile-size", "12"]  # synthetic 12 x 12 tiles: every command here runs in a second or two


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    assert rc in EXIT_CODES, (rc, err)
    assert rc != 70, err  # an internal error is a bug, never the answer to bad input
    return rc, out, err


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) and a digest of its bytes."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def under_a_file(tmp_path: Path) -> Path:
    """An unwritable output path even for root: a folder under a regular file (DESIGN.md)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    return blocker / "out"


@pytest.fixture
def tile(tmp_path) -> Path:
    return write_landscape(synthetic_tile(12, 3, name="t12"), tmp_path / "tile.tif")


@pytest.fixture
def dataset(tmp_path, capsys) -> Path:
    out = tmp_path / "ds"
    assert main(["data", "synth", "--n", "4", "--size", "12", "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def truncate(path: Path, keep: float = 0.7) -> Path:
    """Keep the head of a GeoTIFF: its header opens, its pixels do not."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# ----------------------------------------------------------------------------- outputs that cannot be written


def test_unwritable_outputs_fail_at_once_with_code_7(tmp_path, capsys, tile, landfire_dir):
    bad = under_a_file(tmp_path)
    ckpt = make_checkpoint(tmp_path / "c.pt")
    real = tmp_path / "real"  # tiles of real rasters: a spatial split, so a split map
    assert main(["data", "tile", "--src", str(landfire_dir[0]), "--size", "10", "--overlap", "0", "--out", str(real)]) == 0
    cases = [
        (["data", "synth", "--n", "2", "--size", "8", "--out", bad], "--out"),
        (["data", "tile", "--src", landfire_dir[0], "--size", "10", "--out", bad], "--out"),
        (["data", "info", real, "--map", bad / "m.png"], "--map"),
        (["simulate", "--tile", tile, "--ignitions", "2", "--out", bad / "bp.tif"], "--out"),
        (["plan", "--method", "random", "--tile", tile, "--fires", "2", "--out", bad / "p"], "--out"),
        (["evaluate", "--methods", "random", "--n-tiles", "10", *SMALL, "--max-tiles", "1", "--fires", "2",
          "--no-progress", "--outdir", bad], "--outdir"),
        (["visualize", "--ckpt", ckpt, "--tile", tile, "--fires", "2", "--outdir", bad], "--outdir"),
        (["policy", "export", ckpt, "--out", bad, "--name", "p"], "--out"),
    ]  # fmt: skip
    for argv, flag in cases:
        rc, _, err = run(capsys, *argv)
        assert rc == 7, (argv, err)
        assert flag in err and str(tmp_path / "blocker") in err, err
    assert (tmp_path / "blocker").read_text() == "a file, not a folder"


def test_a_tile_run_that_fails_leaves_no_output_folder(tmp_path, capsys, landfire_dir):
    folder, _, _ = landfire_dir
    (folder / "LC22_CBD_230.tif").unlink()
    out = tmp_path / "new" / "tiles"
    rc, _, err = run(capsys, "data", "tile", "--src", folder, "--out", out)
    assert rc == 2 and "cbd" in err
    assert not (tmp_path / "new").exists()  # neither the folder nor its parent made for it


def test_a_folder_where_a_file_goes(tmp_path, capsys, tile):
    (tmp_path / "bp.tif").mkdir()
    rc, _, err = run(capsys, "simulate", "--tile", tile, "--ignitions", "2", "--out", tmp_path / "bp.tif")
    assert rc == 7 and "--out" in err and "is a folder" in err
    po = tmp_path / "po"
    po.mkdir()
    rc, _, err = run(capsys, "plan", "--method", "random", "--tile", tile, "--fires", "2", "--out", f"{po}/")
    assert rc == 7 and "is a folder" in err and "--out" in err
    assert not list(tmp_path.glob("po.*")) and not list(po.iterdir())  # nothing beside or in it


def test_a_split_map_of_a_synthetic_dataset_is_refused(dataset, capsys, tmp_path):
    rc, _, err = run(capsys, "data", "info", dataset, "--map", tmp_path / "m.png")
    assert rc == 2 and "--map" in err and "no split map" in err


def test_a_file_where_a_dataset_folder_goes(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    rc, _, err = run(capsys, "data", "synth", "--n", "2", "--size", "8", "--out", tmp_path / "f")
    assert rc == 7 and "is a file" in err


# ----------------------------------------------------------------------------- seeds and numbers


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "synth", "--seed", "-1"],
        ["data", "info", ".", "--split-seed", "-1"],
        ["simulate", "--seed", "-1"],
        ["visualize", "--seed", "-1"],
        ["plan", "--method", "random", "--out", "x", "--seed", "-1"],
        ["simulate", "--tiles-seed", "-1"],
        ["evaluate", "--tiles-seed", "-1"],
        ["evaluate", "--split-seed", "-5"],
        ["train", "--seed", "-3"],
    ],
)
def test_negative_seeds_are_usage_errors(argv, capsys, tmp_path):
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "is not a seed" in err and "-seed" in err
    assert not any(tmp_path.iterdir())


def test_wind_direction_out_of_range(tmp_path, capsys, tile):
    rc, _, err = run(capsys, "simulate", "--tile", tile, "--wind-speed", "10", "--wind-direction", "720")
    assert rc == 2 and "--wind-direction" in err and "[0, 360)" in err
    csv = tmp_path / "w.csv"
    csv.write_text("wind_speed,wind_direction,m1h,m10h,m100h,herb,woody,foliar,duration\n10,360,0.06,0.08,0.1,0.6,0.9,1,240\n")
    rc, _, err = run(capsys, "simulate", "--tile", tile, "--weather", csv, "--out", tmp_path / "bp.tif")
    assert rc == 2 and "column wind_direction" in err and "[0, 360)" in err
    assert not (tmp_path / "bp.tif").exists()


def test_a_toml_string_is_not_a_number(tmp_path, capsys, tile):
    toml = tmp_path / "w.toml"
    toml.write_text(
        "[[scenario]]\nwind_speed = \"30\"\nwind_direction = 270\nm1h = 0.06\nm10h = 0.08\nm100h = 0.1\n"
        "herb = 0.6\nwoody = 0.9\nfoliar = 1.0\nduration = 240\n"
    )
    rc, _, err = run(capsys, "simulate", "--tile", tile, "--weather", toml)
    assert rc == 2 and "column wind_speed: '30' is not a number" in err and "without quotes" in err


# ----------------------------------------------------------------------------- damaged files


def test_truncated_geotiffs(tmp_path, capsys, tile, dataset, landfire_dir):
    cut = truncate(Path(tile))
    rc, _, err = run(capsys, "simulate", "--tile", cut, "--ignitions", "2", "--out", tmp_path / "bp.tif")
    assert rc == 2 and str(cut) in err and "truncated or corrupt" in err
    assert not (tmp_path / "bp.tif").exists()
    truncate(dataset / "tile_00001.tif")
    rc, _, err = run(capsys, "evaluate", "--data", dataset, "--split", "all", "--methods", "random",
                     "--fires", "2", "--no-progress", "--outdir", tmp_path / "ev")  # fmt: skip
    assert rc == 2 and "tile_00001.tif" in err and "truncated or corrupt" in err
    assert not (tmp_path / "ev").exists()
    folder, _, _ = landfire_dir
    truncate(folder / "LC22_F40_230.tif", 0.6)
    rc, _, err = run(capsys, "data", "tile", "--src", folder, "--size", "10", "--out", tmp_path / "t")
    assert rc == 2 and "LC22_F40_230.tif" in err
    assert not (tmp_path / "t").exists()


def test_data_info_reads_every_tile(dataset, capsys):
    (dataset / "tile_00002.tif").write_bytes(b"garbage, not a GeoTIFF")
    rc, _, err = run(capsys, "data", "info", dataset)
    assert rc == 2 and "1 of 4 tile files" in err and "tile_00002.tif" in err


@pytest.mark.parametrize(
    "plan, message",
    [
        (np.full((12, 12), np.nan), "NaN"),
        (np.where(np.eye(12) > 0, 1.0, np.nan), "NaN"),
        (np.full((12, 12), "1"), "text values, not numbers"),
        (np.full((12, 12), 2), "neither 0 nor 1"),
        (np.zeros((12, 11)), "shape"),
        (np.zeros(144), "dimension"),
    ],
)
def test_bad_plan_arrays(plan, message, tmp_path, capsys, tile):
    np.save(tmp_path / "plan.npy", plan)
    rc, _, err = run(capsys, "simulate", "--tile", tile, "--plan", tmp_path / "plan.npy", "--ignitions", "2",
                     "--out", tmp_path / "bp.tif")  # fmt: skip
    assert rc == 2 and "plan.npy" in err and message in err, err
    assert not (tmp_path / "bp.tif").exists()


def test_a_plan_of_another_tile(tmp_path, capsys, geo):
    from fuelbreak.export import write_plan_geotiff

    def placed(name, transform):
        return dataclasses.replace(Landscape.uniform((12, 12), fuel=102, name=name), crs=geo.crs, transform=transform)

    tile = write_landscape(placed("a", tuple(geo.transform)[:6]), tmp_path / "a.tif")
    other = placed("b", tuple(Affine.translation(300, 0) @ geo.transform)[:6])  # 10 cells east
    plan = write_plan_geotiff(tmp_path / "plan_b.tif", other, [5, 6, 7])
    rc, _, err = run(capsys, "simulate", "--tile", tile, "--plan", plan, "--ignitions", "2",
                     "--out", tmp_path / "bp.tif")  # fmt: skip
    assert rc == 2 and "not aligned with tile 'a'" in err
    # Neither geo-referenced: the plan's recorded tile name tells them apart.
    syn = write_landscape(synthetic_tile(12, 5, name="s5"), tmp_path / "s5.tif")
    plan = write_plan_geotiff(tmp_path / "plan_s6.tif", synthetic_tile(12, 6, name="s6"), [1, 2])
    rc, _, err = run(capsys, "simulate", "--tile", syn, "--plan", plan, "--ignitions", "2")
    assert rc == 2 and "made for tile 's6'" in err


def test_checkpoint_with_nan_weights(tmp_path, capsys, tile):
    import torch

    ckpt = make_checkpoint(tmp_path / "c.pt")
    data = torch.load(ckpt, weights_only=True)
    name = next(iter(data["model_state"]))
    data["model_state"][name][...] = float("nan")
    torch.save(data, ckpt)
    for argv in (
        ["plan", "--ckpt", ckpt, "--tile", tile, "--fires", "2", "--out", tmp_path / "p"],
        ["evaluate", "--ckpt", ckpt, "--methods", "dqn", *SMALL, "--n-tiles", "10", "--max-tiles", "1",
         "--no-progress", "--outdir", tmp_path / "ev"],
        ["policy", "export", ckpt, "--out", tmp_path / "pol"],
        ["visualize", "--ckpt", ckpt, "--tile", tile, "--outdir", tmp_path / "viz"],
    ):  # fmt: skip
        rc, _, err = run(capsys, *argv)
        assert rc == 3 and "NaN or infinite" in err and name in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "tile.tif"]


def test_visualize_a_malformed_metrics_log(tmp_path, capsys, tile):
    ckpt = make_checkpoint(tmp_path / "c.pt")
    log = tmp_path / "m.jsonl"
    log.write_text('{"kind": "train", "env_steps": 1}\n{not json\n')
    rc, _, err = run(capsys, "visualize", "--ckpt", ckpt, "--tile", tile, "--metrics", log, "--outdir", tmp_path / "v")
    assert rc == 2 and "m.jsonl line 2 is not valid JSON" in err
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("name", ["../../x", "a/b", "/abs", ".hidden", "", "x" * 200])
def test_policy_export_name_is_a_file_name(name, tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "c.pt")
    rc, _, err = run(capsys, "policy", "export", ckpt, "--out", tmp_path / "pol", "--name", name)
    assert rc == 2 and "--name" in err and "plain file name" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


# ----------------------------------------------------------------------------- sets, locks, interrupts


def plan_argv(tile, out, *extra):
    return ["plan", "--method", "random", "--tile", tile, "--fires", "2", "--out", out, *extra]


def test_plan_writes_a_whole_set_and_drops_the_stale_member(tmp_path, capsys, tile):
    prefix = tmp_path / "p"
    assert run(capsys, *plan_argv(tile, prefix, "--cell-geojson"))[0] == 0
    assert sorted(p.name for p in tmp_path.glob("p*")) == ["p.geojson", "p.json", "p.png", "p.tif", "p_cells.geojson"]
    assert run(capsys, *plan_argv(tile, prefix, "--seed", "1"))[0] == 0
    assert sorted(p.name for p in tmp_path.glob("p*")) == ["p.geojson", "p.json", "p.png", "p.tif"]  # no mixed set
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no stage or lock left


@pytest.mark.parametrize("how, code, word", [("int", 130, "interrupted"), ("term", 143, "SIGTERM")])
def test_an_interrupted_plan_leaves_the_previous_set(how, code, word, tmp_path, capsys, tile, monkeypatch):
    prefix = tmp_path / "p"
    assert run(capsys, *plan_argv(tile, prefix))[0] == 0
    before = snapshot(tmp_path)
    import fuelbreak.viz as viz

    def stop(*args, **kwargs):  # the PNG is the last file: the .tif and .geojson are staged by now
        if how == "int":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(viz, "plot_burn_probability", stop)
    rc, _, err = run(capsys, *plan_argv(tile, prefix, "--seed", "7"))
    assert rc == code and word in err
    assert "left as it was" in err and "none is half written" in err
    assert snapshot(tmp_path) == before


def test_a_second_run_to_the_same_output_fails_clearly(tmp_path, capsys, tile):
    prefix = tmp_path / "p"
    with output_set(prefix, folder=False, files=["p.tif"]):  # another run holds the lock
        rc, _, err = run(capsys, *plan_argv(tile, prefix))
    assert rc == 8 and "another fuelbreak run is writing it" in err and str(prefix) in err
    assert not list(tmp_path.glob("p.*"))
    assert run(capsys, *plan_argv(tile, prefix))[0] == 0  # once it is done, the output is free


def test_two_runs_at_once_never_mix(tmp_path, tile):
    """Two plans to one prefix from two threads: each either wrote its whole set or failed with code 8."""
    prefix = tmp_path / "p"
    codes = {}

    def one(seed):
        codes[seed] = main(plan_argv(str(tile), str(prefix), "--seed", str(seed), "--cell-geojson"))

    threads = [threading.Thread(target=one, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes.values()) in ([0, 0], [0, 8])
    gj = json.loads((tmp_path / "p.geojson").read_text())
    cells = json.loads((tmp_path / "p_cells.geojson").read_text())
    assert gj["properties"]["seed"] == cells["properties"]["seed"]  # both files of one run


def test_an_internal_error_is_one_line(monkeypatch, capsys, tile, tmp_path):
    import fuelbreak.cli.simulate as sim

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sim, "_simulate", boom)
    rc = main(["simulate", "--tile", str(tile), "--out", str(tmp_path / "bp.tif")])
    err = capsys.readouterr().err
    assert rc == 70 and "internal error" in err and "RuntimeError: boom" in err and "Traceback" not in err
    monkeypatch.setenv("FUELBREAK_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["simulate", "--tile", str(tile), "--out", str(tmp_path / "bp.tif")])


def test_help_lists_the_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for code in EXIT_CODES:
        assert f"{code:>3}  " in out
    doc = (Path(__file__).resolve().parents[1] / "docs" / "troubleshooting.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in doc


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("tiles", None, "field tiles is NoneType"),
        ("count", "3", "count '3' is not a whole number"),
        ("overlap", "x", "field overlap is 'x'"),
        ("tiles", [{"file": "../../etc/passwd"}], "is not a file name inside the dataset folder"),
        ("tiles", [{"file": "tile_00000.tif", "offset": ["a", 1]}], "tiles[0].offset"),
    ],
)
def test_a_damaged_manifest_names_its_field(field, value, message, dataset, capsys):
    """Found by the fuzz suite: a manifest whose tiles were null ended in a TypeError (an internal error)."""
    m = json.loads((dataset / "manifest.json").read_text())
    m[field] = value
    (dataset / "manifest.json").write_text(json.dumps(m))
    rc, _, err = run(capsys, "data", "info", dataset)
    assert rc == 2 and "manifest.json" in err and message in err, err


def test_a_metrics_log_that_is_not_text(tmp_path, capsys, tile):
    """Found by the fuzz suite: a binary metrics log ended in a UnicodeDecodeError (an internal error)."""
    ckpt = make_checkpoint(tmp_path / "c.pt")
    log = tmp_path / "m.jsonl"
    log.write_bytes(b"\x80\x81binary")
    rc, _, err = run(capsys, "visualize", "--ckpt", ckpt, "--tile", tile, "--metrics", log, "--outdir", tmp_path / "v")
    assert rc == 2 and "m.jsonl is not UTF-8 text" in err
