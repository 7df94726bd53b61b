"""`fuelbreak data fetch` against a real HTTP server on 127.0.0.1 (byte ranges) serving the Worcester
sample in the pyrecast layout: the window only, units recorded and checked, resume, and each failure."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds

from fuelbreak.cli import main
from fuelbreak.landscape.dataset import load_dataset
from fuelbreak.landscape.geotiff import read_layer_folder
from tests.conftest import LANDFIRE_NAMES
from tests.range_server import RangeServer

PYRECAST = {
    "dem": "dem",
    "slp": "slp",
    "asp": "asp",
    "fbfm": "fbfm40",
    "cc": "cc",
    "ch": "ch",
    "cbh": "cbh",
    "cbd": "cbd",
}


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """The real LANDFIRE window of tests/data as a pyrecast-layout server folder: tiled GeoTIFFs, slope
    in degrees."""
    from tests.conftest import LANDFIRE_WINDOW

    root = tmp_path_factory.mktemp("remote")
    for key, name in LANDFIRE_NAMES.items():
        with rasterio.open(LANDFIRE_WINDOW / name) as src:
            data, profile = src.read(1), src.profile
        if key == "slp":  # LANDFIRE stores percent; the pyrecast layout stores degrees
            valid = data != profile["nodata"]
            data = np.where(valid, np.rint(np.degrees(np.arctan(data / 100.0))), data).astype(data.dtype)
        profile.update(driver="GTiff", tiled=True, blockxsize=64, blockysize=64, compress=None)  # 5 x 5 blocks
        with rasterio.open(root / f"{PYRECAST[key]}.tif", "w", **profile) as dst:
            dst.write(data, 1)
    with rasterio.open(root / "dem.tif") as src:
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    return root, lonlat


def inner_box(lonlat, f0=0.45, f1=0.55):
    lon0, lat0, lon1, lat1 = lonlat
    return [
        lon0 + f0 * (lon1 - lon0),
        lat0 + f0 * (lat1 - lat0),
        lon0 + f1 * (lon1 - lon0),
        lat0 + f1 * (lat1 - lat0),
    ]


def fetch_cli(url, box, out, *extra) -> int:
    argv = [
        "data",
        "fetch",
        "--bbox",
        *map(str, box),
        "--out",
        str(out),
        "--source",
        url,
        "--no-progress",
        *extra,
    ]
    return main(argv)


def test_fetch_reads_only_the_window_and_records_units(remote, tmp_path, capsys):
    root, lonlat = remote
    out = tmp_path / "box"
    box = inner_box(lonlat)
    with RangeServer(root) as srv:
        assert fetch_cli(srv.url, box, out) == 0
        sent = srv.bytes_sent()
    total = sum(p.stat().st_size for p in root.glob("*.tif"))
    assert 0 < sent < 0.35 * total, (sent, total)  # a small box does not download the whole raster
    record = json.loads((out / "fetch.json").read_text())
    assert record["complete"] and record["bbox"] == box and record["url"] == srv.url
    assert (
        record["scalings"]["cbd"] == 0.01
        and record["scalings"]["ch"] == 0.1
        and record["slope_units"] == "degrees"
    )
    assert record["stored_units"]["cbd"] == "kg/m^3 x 100"
    cbd = record["layers"]["cbd"]
    assert 0 < cbd["max"] <= 2.0 and cbd["stored_max"] == pytest.approx(cbd["max"] * 100)
    w = record["window"]
    # Each layer is the source's window, as stored, on the source's grid.
    for stem in PYRECAST.values():
        with rasterio.open(out / f"{stem}.tif") as got, rasterio.open(root / f"{stem}.tif") as src:
            win = rasterio.windows.Window(w["col_off"], w["row_off"], w["width"], w["height"])
            np.testing.assert_array_equal(got.read(1), src.read(1, window=win))
            assert (
                got.crs == src.crs and got.transform == src.window_transform(win) and got.nodata == src.nodata
            )
    # The window covers the box: its lon/lat bounds hold the box.
    with rasterio.open(out / "dem.tif") as got:
        b = transform_bounds(got.crs, "EPSG:4326", *got.bounds)
    assert b[0] <= box[0] and b[1] <= box[1] and b[2] >= box[2] and b[3] >= box[3]
    assert "fetched 8 layers" in capsys.readouterr().out
    # `data tile` reads the folder with the recorded scalings: same landscape as the LANDFIRE files.
    tiles = tmp_path / "tiles"
    assert (
        main(["data", "tile", "--src", str(out), "--size", "20", "--overlap", "0", "--out", str(tiles)]) == 0
    )
    ds = load_dataset(tiles)
    assert ds.manifest["scalings"]["cbd"] == 0.01 and len(ds) > 0
    from tests.conftest import LANDFIRE_WINDOW

    full = read_layer_folder(LANDFIRE_WINDOW)
    tile = ds[0]
    r, c = w["row_off"] + tile.meta["row_offset"], w["col_off"] + tile.meta["col_offset"]
    for key in ("cbd", "ch", "fbfm", "cc", "dem"):
        np.testing.assert_allclose(tile[key], full[key][r : r + 20, c : c + 20], atol=1e-5)
    np.testing.assert_allclose(tile["slp"], full["slp"][r : r + 20, c : c + 20], atol=0.51)  # rounded degrees
    # The fetched folder is a landscape that plans and simulations take as it is.
    bp = tmp_path / "bp.tif"
    assert (
        main(["simulate", "--tile", str(out), "--ignitions", "3", "--weather", "seed", "--out", str(bp)]) == 0
    )
    assert bp.is_file()


def test_a_rerun_resumes(remote, tmp_path, capsys):
    root, lonlat = remote
    out = tmp_path / "box"
    box = inner_box(lonlat, 0.2, 0.3)  # it reaches past the sample's town boundary: --allow-partial
    with RangeServer(root) as srv:
        assert fetch_cli(srv.url, box, out, "--allow-partial") == 0
        (out / "cbd.tif").unlink()  # a layer lost
        (out / "ch.tif").write_bytes(b"garbage")  # and one damaged
        srv.log.clear()
        assert fetch_cli(srv.url, box, out, "--allow-partial") == 0
        fetched = {p.rsplit("/", 1)[-1] for p, n in srv.log if n > 0}
    assert fetched == {"cbd.tif", "ch.tif"}, fetched
    out_text = capsys.readouterr().out
    assert out_text.count("already fetched") == 6
    record = json.loads((out / "fetch.json").read_text())
    assert record["complete"]
    with rasterio.open(out / "ch.tif") as ch:
        assert ch.read(1).shape == (record["window"]["height"], record["window"]["width"])
    # Another box into the same folder is refused unless --overwrite.
    with RangeServer(root) as srv:
        assert fetch_cli(srv.url, inner_box(lonlat, 0.6, 0.7), out) == 2
    assert "another box" in capsys.readouterr().err


def test_an_unfinished_fetch_is_not_tiled(remote, tmp_path, capsys):
    root, lonlat = remote
    out = tmp_path / "box"
    (root / "cbd.tif").rename(root / "cbd.hidden")
    try:
        with RangeServer(root) as srv:
            assert fetch_cli(srv.url, inner_box(lonlat), out) == 6
            err = capsys.readouterr().err
            assert f"{srv.url}cbd.tif" in err and "no such file" in err and "Traceback" not in err
    finally:
        (root / "cbd.hidden").rename(root / "cbd.tif")
    assert main(["data", "tile", "--src", str(out), "--out", str(tmp_path / "t")]) == 2
    assert "unfinished fetch" in capsys.readouterr().err


def test_a_box_outside_the_coverage(remote, tmp_path, capsys):
    root, _ = remote
    with RangeServer(root) as srv:
        assert fetch_cli(srv.url, [-121.67, 39.71, -121.47, 39.91], tmp_path / "ca") == 6
    err = capsys.readouterr().err
    assert "outside the coverage" in err and "--bbox -121.67 39.71 -121.47 39.91" in err


def test_a_server_that_is_down(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    url = f"http://127.0.0.1:{port}/fuelscape/"
    assert fetch_cli(url, [-72.6, 44.4, -72.5, 44.5], tmp_path / "x") == 6
    err = capsys.readouterr().err
    assert f"{url}dem.tif" in err and "down or unreachable" in err


def test_a_truncated_file(remote, tmp_path, capsys):
    root, lonlat = remote
    cut = tmp_path / "cut"
    cut.mkdir()
    for p in root.glob("*.tif"):
        data = p.read_bytes()
        (cut / p.name).write_bytes(data if p.name != "fbfm40.tif" else data[: len(data) // 2])
    with RangeServer(cut) as srv:
        code = fetch_cli(srv.url, inner_box(lonlat, 0.05, 0.95), tmp_path / "t", "--allow-partial")
    err = capsys.readouterr().err
    assert code == 6, err
    assert f"{srv.url}fbfm40.tif" in err and "truncated or corrupt" in err


def test_a_wrong_scaling_is_caught(remote, tmp_path, capsys):
    root, lonlat = remote
    with RangeServer(root) as srv:
        assert fetch_cli(srv.url, inner_box(lonlat), tmp_path / "s", "--scale", "cbd=1") == 6
    err = capsys.readouterr().err
    assert "layer cbd" in err and "--scale cbd=FACTOR" in err


def test_bad_flags(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fuelbreak",
            "data",
            "fetch",
            "--bbox",
            "10",
            "5",
            "9",
            "6",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "--bbox" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "fuelbreak", "data", "fetch", "--bbox", "1", "1", "2", "2", "--out", str(tmp_path),
         "--source", "nowhere"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert out.returncode == 2 and "--source 'nowhere'" in out.stderr
    assert Path(tmp_path).is_dir()


# ----------------------------------------------------------------------------- issue 25: deadline, coverage, sets


def window_box(root: Path, row: int, col: int, height: int, width: int) -> list[float]:
    """A lon/lat box around the cells [row, row + height) x [col, col + width) of the test window's grid.

    The window (tests/data) is clipped to a town boundary: its south-west corner holds a triangle with no
    data (rows 249-299; from 1 cell wide at row 249 to 13 at row 299)."""
    with rasterio.open(root / "dem.tif") as src:
        win = rasterio.windows.Window(col, row, width, height)
        return list(transform_bounds(src.crs, "EPSG:4326", *rasterio.windows.bounds(win, src.transform)))


def test_a_box_partly_outside_the_data_needs_allow_partial(remote, tmp_path, capsys):
    root, lonlat = remote
    out = tmp_path / "p"
    box = window_box(root, 260, 0, 30, 30)  # across the town boundary: about a quarter without data
    with RangeServer(root) as srv:
        assert fetch_cli(srv.url, box, out) == 6
        err = capsys.readouterr().err
        assert "only " in err and "cells (" in err and "have data in layer dem" in err and "--allow-partial" in err
        assert not out.exists()  # nothing in place, nothing marked complete
        assert fetch_cli(srv.url, box, out, "--allow-partial") == 0
    record = json.loads((out / "fetch.json").read_text())
    assert record["complete"] and record["allow_partial"]
    assert record["layers"]["dem"]["valid_cells"] < record["box_cells"]


def test_a_box_without_data_is_an_error_before_anything_is_complete(remote, tmp_path, capsys):
    root, _ = remote
    out = tmp_path / "none"
    with RangeServer(root) as srv:
        assert fetch_cli(srv.url, window_box(root, 293, 0, 6, 3), out, "--allow-partial") == 6
    err = capsys.readouterr().err
    assert "no cell of the box has data in layer dem" in err
    assert not out.exists()
    assert main(["data", "tile", "--src", str(out), "--out", str(tmp_path / "t")]) == 2  # nothing to tile


class HangingServer:
    """Accepts connections on 127.0.0.1 and never answers (a server that hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_a_server_that_hangs_meets_the_deadline(tmp_path, capsys):
    with HangingServer() as srv:
        code = fetch_cli(srv.url, [-72.6, 44.4, -72.5, 44.5], tmp_path / "h", "--timeout", "1")
    err = capsys.readouterr().err
    assert code == 6, err
    assert f"{srv.url}dem.tif" in err and "did not answer within --timeout 1 s" in err
    assert "truncated" not in err
    assert not (tmp_path / "h").exists()


def test_backoff_never_waits_past_the_deadline(monkeypatch):
    """A server that keeps refusing: three tries, the pauses clipped to what is left of the deadline."""
    from fuelbreak.errors import FetchError
    from fuelbreak.landscape import fetch as fetch_mod

    clock = {"t": 0.0}
    pauses = []
    monkeypatch.setattr(fetch_mod.time, "monotonic", lambda: clock["t"])

    def sleep(s):
        pauses.append(s)
        clock["t"] += s

    monkeypatch.setattr(fetch_mod.time, "sleep", sleep)

    def refused(url, seconds):
        clock["t"] += 0.4  # each try takes a while
        raise fetch_mod._Unreachable("could not connect: [Errno 111] Connection refused")

    monkeypatch.setattr(fetch_mod, "_probe", refused)
    with pytest.raises(FetchError, match="down or unreachable"):
        fetch_mod._remote("http://127.0.0.1:9/dem.tif", "cannot read", lambda: None, timeout=10.0)
    assert pauses == [0.5, 1.0]  # backoff doubles; 3 tries in all
    clock["t"], pauses[:] = 0.0, []
    with pytest.raises(FetchError, match="did not answer within --timeout 1 s|down or unreachable"):
        fetch_mod._remote("http://127.0.0.1:9/dem.tif", "cannot read", lambda: None, timeout=1.0)
    assert clock["t"] <= 1.0 + 0.4 and sum(pauses) <= 1.0  # no pause runs past the deadline


def test_an_interrupted_fetch_keeps_its_layers_and_resumes(remote, tmp_path, capsys, monkeypatch):
    from fuelbreak.landscape import fetch as fetch_mod

    root, lonlat = remote
    out = tmp_path / "box"
    box = inner_box(lonlat)
    real = fetch_mod._write_layer
    written = []

    def stop_after_three(path, data, profile):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(path.name)
        return real(path, data, profile)

    monkeypatch.setattr(fetch_mod, "_write_layer", stop_after_three)
    with RangeServer(root) as srv:
        assert fetch_cli(srv.url, box, out) == 130
        err = capsys.readouterr().err
        partial = tmp_path / ".box.partial"
        assert "kept what was done so far" in err and str(partial) in err and "rerun the same command" in err
        assert not out.exists() and len(list(partial.glob("*.tif"))) == 3
        monkeypatch.setattr(fetch_mod, "_write_layer", real)
        srv.log.clear()
        assert fetch_cli(srv.url, box, out) == 0
        assert capsys.readouterr().out.count("already fetched") == 3
    assert json.loads((out / "fetch.json").read_text())["complete"] and not partial.exists()
