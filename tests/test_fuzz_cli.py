"""Property-based guard for issue 25: every subcommand, driven with generated bad arguments and damaged
files, answers with a documented exit code and one clear line, never a traceback or an internal
error (70), and leaves its output folder either as it was or holding a complete new set.

Runs in-process through `fuelbreak.cli.main` (no subprocess per example). Two profiles:

* `ci` (default): a fixed, derandomised example budget, a minute or two on 2 cores; part of `pytest -q`.
* `nightly`: many more random examples; select it with `FUELBREAK_FUZZ=nightly pytest -q tests/test_fuzz_cli.py`.

Hypothesis keeps no example database, and its caches go to a temporary folder, not into the working
directory.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from fuelbreak.cli import main
from fuelbreak.errors import EXIT_CODES
from fuelbreak.landscape.geotiff import write_landscape
from fuelbreak.landscape.synthetic import synthetic_tile

# Hypothesis's caches go to a temporary folder (removed at exit), not into the working directory: set
# before any test runs (it collects constants when the first one starts).
_HOME = tempfile.mkdtemp(prefix="fuelbreak-hypothesis-")
set_hypothesis_home_dir(_HOME)
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)

settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "nightly",
    max_examples=600,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("FUELBREAK_FUZZ", "ci")
FUZZ = settings.get_profile(PROFILE)

TILE = 20  # the test checkpoint's tile size (tests.test_cli_plan.make_checkpoint)


# ----------------------------------------------------------------------------- the world the commands see


@dataclass
class World:
    root: Path
    tile: Path
    plan_tif: Path
    plan_npy: Path
    dataset: Path
    ckpt: Path
    metrics: Path
    csv: Path
    toml: Path
    landfire: Path
    previous: dict  # command -> folder holding that command's outputs of an earlier good run


def _landfire(folder: Path) -> Path:
    from tests.conftest import LANDFIRE_NAMES, landfire_stored, write_tif

    folder.mkdir()
    stored = landfire_stored(synthetic_tile(size=30, seed=11))
    for key, name in LANDFIRE_NAMES.items():
        write_tif(folder / name, stored[key][:20], nodata=32767)
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    from fuelbreak.export import write_plan_geotiff
    from tests.test_cli_plan import make_checkpoint, write_metrics

    root = tmp_path_factory.mktemp("fuzz")
    land = synthetic_tile(TILE, 3, name="fz")
    tile = write_landscape(land, root / "tile.tif")
    plan_tif = write_plan_geotiff(root / "plan.tif", land, [21, 22, 23, 42])
    plan_npy = root / "plan.npy"
    np.save(plan_npy, np.eye(TILE, dtype=np.int8))
    header = "wind_speed,wind_direction,m1h,m10h,m100h,herb,woody,foliar,duration,weight"
    csv = root / "w.csv"
    csv.write_text(f"{header}\n20,225,0.06,0.08,0.1,0.6,0.9,1.0,240,0.7\n0,270,0.06,0.08,0.1,0.6,0.9,1.0,240,0.3\n")
    toml = root / "w.toml"
    toml.write_text(
        "[[scenario]]\nwind_speed = 20\nwind_direction = 225\nm1h = 0.06\nm10h = 0.08\nm100h = 0.1\n"
        "herb = 0.6\nwoody = 0.9\nfoliar = 1.0\nduration = 240\n"
    )
    w = World(
        root=root,
        tile=tile,
        plan_tif=plan_tif,
        plan_npy=plan_npy,
        dataset=root / "ds",
        ckpt=make_checkpoint(root / "c.pt"),
        metrics=write_metrics(root / "m.jsonl"),
        csv=csv,
        toml=toml,
        landfire=_landfire(root / "lf"),
        previous={},
    )
    quiet(["data", "synth", "--n", "3", "--size", str(TILE), "--out", str(w.dataset)], expect=0)
    for name in COMMANDS:  # an earlier good run of each command: the outputs a failed run must leave alone
        out = root / f"prev-{name}"
        out.mkdir()
        quiet(argv_of(name, w, out), expect=0)
        w.previous[name] = out
    return w


def quiet(argv, expect=None) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main([str(a) for a in argv])
    if expect is not None:
        assert rc == expect, (argv, err.getvalue())
    return rc, err.getvalue()


# Each command's fast good run, writing into OUT; and the files a complete set of it holds.
COMMANDS = ("simulate", "plan", "data synth", "data tile", "evaluate", "visualize", "policy export", "data info")


def argv_of(name: str, w: World, out: Path) -> list:
    return {
        "simulate": ["simulate", "--tile", w.tile, "--ignitions", "2", "--out", out / "bp.tif"],
        "plan": ["plan", "--method", "random", "--tile", w.tile, "--fires", "2", "--out", out / "p"],
        "data synth": ["data", "synth", "--n", "2", "--size", "8", "--out", out / "ds"],
        "data tile": ["data", "tile", "--src", w.landfire, "--size", "10", "--overlap", "0", "--out", out / "t"],
        "evaluate": ["evaluate", "--data", w.dataset, "--split", "all", "--max-tiles", "1", "--methods", "random",
                     "--fires", "2", "--no-progress", "--outdir", out / "ev"],
        "visualize": ["visualize", "--ckpt", w.ckpt, "--tile", w.tile, "--fires", "2", "--metrics", w.metrics,
                      "--outdir", out / "viz"],
        "policy export": ["policy", "export", w.ckpt, "--out", out / "pol", "--name", "p"],
        "data info": ["data", "info", w.dataset, "--no-map"],
    }[name]  # fmt: skip


COMPLETE = {
    "simulate": {"bp.tif"},
    "plan": {"p.tif", "p.geojson", "p.json", "p.png"},
    "data synth": {"ds/manifest.json", "ds/tile_00000.tif", "ds/tile_00001.tif"},
    "data tile": {"t/manifest.json", "t/tile_00000.tif"},
    "evaluate": {"ev/tiles.csv", "ev/summary.csv", "ev/summary.md", "ev/evaluation.json"},
    "visualize": {"viz/fuelbreaks_overlay.png", "viz/qvalue_evolution.png", "viz/burn_probability.png",
                  "viz/training_summary.png"},
    "policy export": {"pol/p.pt", "pol/p.toml", "pol/p.json"},
    "data info": set(),
}  # fmt: skip


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def check(name: str, w: World, argv_for, must_fail: bool) -> None:
    """Run a command on a copy of its earlier outputs; check the exit code, the message and the outputs."""
    scratch = Path(tempfile.mkdtemp(dir=w.root, prefix="ex-"))
    try:
        out = scratch / "out"
        shutil.copytree(w.previous[name], out)
        before = files_of(out)
        rc, err = quiet(argv_for(out))
        assert "Traceback" not in err, err
        assert rc in EXIT_CODES and rc != 70, (rc, err)
        got = files_of(out)
        if rc != 0:
            assert err.strip(), "a failure says why"
        else:
            assert not must_fail, err
        if rc == 0 or got != before:  # a failed run leaves the outputs as they were, or a complete new set
            assert COMPLETE[name] <= set(got), ("a half-written set", rc, err, sorted(got))
            assert not [k for k in got if Path(k).name.startswith(".")], "a stage or lock was left behind"
        assert not [p for p in scratch.iterdir() if p.name != "out"], "something written beside the outputs"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ----------------------------------------------------------------------------- generated bad arguments

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
NOT_A_NUMBER = st.sampled_from(["nan", "inf", "-inf", "", " ", "abc", "1,5", "0x10", "1e999", "--"]) | TEXT.filter(
    lambda t: not _is_float(t)
)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def bad_int(minimum: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(max_value=minimum - 1).map(str),
        st.sampled_from(["1.5", "2e3", "abc", "", "nan", "0.0"]),
        TEXT.filter(lambda t: not t.strip().lstrip("+-").isdigit()),
    )


SEED = st.one_of(bad_int(0), st.integers(min_value=2**63, max_value=2**70).map(str))


def outside(lo: float, hi: float, open_above: bool = False) -> st.SearchStrategy[str]:
    below = st.floats(max_value=lo, exclude_max=True, allow_nan=False, allow_infinity=False)
    above = st.floats(min_value=hi, exclude_min=not open_above, allow_nan=False, allow_infinity=False)
    return st.one_of(below.map(repr), above.map(repr), NOT_A_NUMBER)


NOT_POSITIVE = st.one_of(st.floats(max_value=0, allow_nan=False).map(repr), NOT_A_NUMBER)
BUDGET = st.one_of(
    st.sampled_from(["0", "-1", "nan", "inf", "1.5", "1e9", "abc", "", "401"]),
    st.floats(max_value=0, allow_nan=False).map(repr),
)
CHOICE = TEXT.filter(lambda t: t not in ("mtt", "levelset", "fbfm", "dem", "random", "greedy", "domirank"))

# (command, flag, strategy of bad values): every value drawn is wrong for that flag.
BAD_FLAGS = [
    ("simulate", "--seed", SEED),
    ("simulate", "--tiles-seed", SEED),
    ("simulate", "--ignitions", bad_int(1)),
    ("simulate", "--wind-speed", outside(0, 200)),
    ("simulate", "--m1h", outside(0.01, 0.6)),
    ("simulate", "--duration", outside(1, 20160)),
    ("simulate", "--engine", CHOICE),
    ("simulate", "--workers", bad_int(1)),
    ("simulate", "--task-timeout", NOT_POSITIVE),
    ("plan", "--seed", SEED),
    ("plan", "--fires", bad_int(1)),
    ("plan", "--budget", BUDGET),
    ("plan", "--method", CHOICE),
    ("plan", "--raster-idx", bad_int(0)),
    ("data synth", "--n", bad_int(1)),
    ("data synth", "--size", bad_int(1)),
    ("data synth", "--seed", SEED),
    ("data synth", "--cell-size", NOT_POSITIVE),
    ("data tile", "--size", bad_int(1)),
    ("data tile", "--overlap", bad_int(0)),
    ("data tile", "--max-nodata", outside(0, 1)),
    ("data tile", "--split-block", bad_int(1)),
    ("data info", "--split-seed", SEED),
    ("evaluate", "--seed", SEED),
    ("evaluate", "--split-seed", SEED),
    ("evaluate", "--fires", bad_int(1)),
    ("evaluate", "--max-tiles", bad_int(1)),
    ("evaluate", "--budget", BUDGET),
    ("evaluate", "--option", TEXT.filter(lambda t: "=" not in t or "." not in t.partition("=")[0])),
    ("visualize", "--seed", SEED),
    ("visualize", "--fires", bad_int(1)),
    ("visualize", "--budget", BUDGET),
    ("visualize", "--bg-raster-key", CHOICE),
    ("policy export", "--name", st.one_of(st.sampled_from(["../x", "a/b", ".h", "", "/abs", "x" * 101]), TEXT.filter(
        lambda t: not t or t.startswith(".") or not all(c.isascii() and (c.isalnum() or c in "._-") for c in t)))),
]  # fmt: skip
BAD_WIND = ("simulate", "--wind-direction", outside(0, 360, open_above=True))


def with_flag(argv: list, flag: str, value: str) -> list:
    """argv with `flag` set to `value` (as --flag=VALUE, so a value starting with '-' stays a value)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == flag:
            skip = True
            continue
        out.append(a)
    return [*out, f"{flag}={value}"]


@given(data=st.data(), case=st.sampled_from(BAD_FLAGS + [BAD_WIND]))
@settings(FUZZ)
def test_bad_flag_values(world, data, case):
    name, flag, values = case
    value = data.draw(values, label=f"{name} {flag}")
    extra = ["--wind-speed", "10"] if flag == "--wind-direction" else []

    def argv_for(out):
        return with_flag([*argv_of(name, world, out), *extra], flag, value)

    check(name, world, argv_for, must_fail=True)


# ----------------------------------------------------------------------------- damaged files


def damage_bytes(data: bytes, how: str, draw) -> bytes:
    if how == "truncate":
        return data[: draw(st.integers(0, max(len(data) * 9 // 10, 0)))]
    if how == "garbage":
        return draw(st.binary(max_size=200))
    if how == "empty":
        return b""
    # flip: overwrite a few bytes (the file may still be valid)
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        if buf:
            buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
    return bytes(buf)


def bad_tile(path: Path, draw) -> None:
    """A tile file whose values are wrong: NaN, an unknown fuel code, an out-of-range slope."""
    import rasterio

    with rasterio.open(path, "r+") as ds:
        names = list(ds.descriptions)
        key = draw(st.sampled_from(["dem", "fbfm", "slp", "cc"]))
        band = ds.read(names.index(key) + 1)
        r, c = draw(st.integers(0, TILE - 1)), draw(st.integers(0, TILE - 1))
        band[r, c] = {"dem": np.nan, "fbfm": 32767, "slp": 95.0, "cc": -5.0}[key]
        ds.write(band, names.index(key) + 1)


def bad_plan_array(draw) -> np.ndarray:
    kind = draw(st.sampled_from(["nan", "strings", "values", "shape", "ndim", "object"]))
    a = np.zeros((TILE, TILE))
    if kind == "nan":
        a[draw(st.integers(0, TILE - 1)), 0] = np.nan
        return a
    if kind == "strings":
        return np.full((TILE, TILE), draw(TEXT))
    if kind == "values":
        a[0, 0] = draw(st.sampled_from([2, -1, 0.5, 255, np.inf]))
        return a
    if kind == "shape":
        return np.zeros((TILE, draw(st.integers(1, TILE - 1))))
    if kind == "ndim":
        return np.zeros(draw(st.sampled_from([(TILE * TILE,), (2, TILE, TILE), ()])))
    return np.array([[1, 0]], dtype=object)


# (kind, the file of the world it damages, the command that reads it, its argv with the damaged path)
FILE_CASES = {
    "tile": ("tile", "simulate", lambda w, p, o: ["simulate", "--tile", p, "--ignitions", "2", "--out", o / "bp.tif"]),
    "plan.tif": ("plan_tif", "simulate", lambda w, p, o: ["simulate", "--tile", w.tile, "--plan", p, "--ignitions", "2",
                                                           "--out", o / "bp.tif"]),
    "plan.npy": ("plan_npy", "simulate", lambda w, p, o: ["simulate", "--tile", w.tile, "--plan", p, "--ignitions", "2",
                                                           "--out", o / "bp.tif"]),
    "checkpoint": ("ckpt", "plan", lambda w, p, o: ["plan", "--ckpt", p, "--tile", w.tile, "--fires", "2", "--out", o / "p"]),
    "checkpoint export": ("ckpt", "policy export", lambda w, p, o: ["policy", "export", p, "--out", o / "pol", "--name", "p"]),
    "metrics": ("metrics", "visualize", lambda w, p, o: ["visualize", "--ckpt", w.ckpt, "--tile", w.tile, "--fires", "2",
                                                         "--metrics", p, "--outdir", o / "viz"]),
    "scenario csv": ("csv", "simulate", lambda w, p, o: ["simulate", "--tile", w.tile, "--weather", p, "--ignitions", "2",
                                                         "--out", o / "bp.tif"]),
    "scenario toml": ("toml", "simulate", lambda w, p, o: ["simulate", "--tile", w.tile, "--weather", p, "--ignitions", "2",
                                                           "--out", o / "bp.tif"]),
}  # fmt: skip
BINARY = {"tile", "plan.tif", "plan.npy", "checkpoint", "checkpoint export"}


@given(data=st.data(), kind=st.sampled_from(sorted(FILE_CASES)), how=st.sampled_from(["truncate", "garbage", "empty", "flip", "folder", "values"]))
@settings(FUZZ)
def test_damaged_files(world, data, kind, how):
    attr, name, argv = FILE_CASES[kind]
    src = getattr(world, attr)
    work = Path(tempfile.mkdtemp(dir=world.root, prefix="dmg-"))
    try:
        damaged = work / src.name
        must_fail = True
        if how == "folder":
            damaged.mkdir()
        elif how == "values" and kind == "tile":
            shutil.copy(src, damaged)
            bad_tile(damaged, data.draw)
        elif how == "values" and kind == "plan.npy":
            np.save(damaged, bad_plan_array(data.draw), allow_pickle=True)
        elif how == "values" and kind.startswith("scenario"):
            text = src.read_text()
            field = data.draw(st.sampled_from(["225", "0.06", "240", "20"]))
            new = data.draw(st.sampled_from(["-5", "nan", '"30"', "", "x", "1e9"]))  # out of every field's range
            damaged.write_text(text.replace(field, new, 1))
            # '"30"' is a quoted number in a CSV (valid: CSV quotes fields), a string in TOML (an error)
            must_fail = not (kind == "scenario csv" and new == '"30"') and damaged.read_text() != text
        else:
            how = "flip" if how == "values" else how
            damaged.write_bytes(damage_bytes(src.read_bytes(), how, data.draw))
            must_fail = how in ("garbage", "empty") or (how == "truncate" and kind in BINARY)
            if damaged.read_bytes() == src.read_bytes():
                must_fail = False
        check(name, world, lambda out: argv(world, damaged, out), must_fail=must_fail)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@given(data=st.data(), name=st.sampled_from([c for c in COMMANDS if c != "data info"]))
@settings(FUZZ)
def test_damaged_datasets(world, data, name):
    """A dataset folder with a damaged manifest or tile, read by data info and evaluate."""
    work = Path(tempfile.mkdtemp(dir=world.root, prefix="ds-"))
    try:
        ds = work / "ds"
        shutil.copytree(world.dataset, ds)
        target = ds / data.draw(st.sampled_from(["manifest.json", "tile_00000.tif", "tile_00002.tif"]))
        how = data.draw(st.sampled_from(["truncate", "garbage", "empty", "delete", "json"]))
        if how == "delete":
            target.unlink()
        elif how == "json" and target.suffix == ".json":
            m = json.loads(target.read_text())
            key = data.draw(st.sampled_from(["count", "size", "format", "tiles"]))
            m[key] = data.draw(st.sampled_from([None, -1, "x", [], [0, 0], 10**9]))
            target.write_text(json.dumps(m))
        else:
            target.write_bytes(damage_bytes(target.read_bytes(), "garbage" if how == "json" else how, data.draw))
        for cmd, argv in (
            ("data info", lambda o: ["data", "info", ds, "--no-map"]),
            ("evaluate", lambda o: ["evaluate", "--data", ds, "--split", "all", "--methods", "random", "--fires", "2",
                                    "--no-progress", "--outdir", o / "ev"]),
        ):  # fmt: skip
            check(cmd, world, argv, must_fail=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------- outputs that cannot be written


@given(name=st.sampled_from([c for c in COMMANDS if c != "data info"]), how=st.sampled_from(["under-file", "file-for-folder", "folder-for-file"]))
@settings(FUZZ, max_examples=min(FUZZ.max_examples, 21))
def test_unwritable_outputs(world, name, how):
    def argv_for(out):
        argv = [str(a) for a in argv_of(name, world, out)]
        flag = "--outdir" if "--outdir" in argv else "--out"
        i = argv.index(flag) + 1
        target = Path(argv[i])
        if how == "under-file":
            (out / "blocker").write_text("x")
            argv[i] = str(out / "blocker" / target.name)
        elif how == "file-for-folder":
            (out / "afile").write_text("x")
            argv[i] = str(out / "afile")
        else:
            (out / "adir").mkdir()
            argv[i] = str(out / "adir") + "/"
        return argv

    scratch = Path(tempfile.mkdtemp(dir=world.root, prefix="uw-"))
    try:
        out = scratch / "out"
        shutil.copytree(world.previous[name], out)
        argv = argv_for(out)
        before = files_of(out)
        rc, err = quiet(argv)
        assert "Traceback" not in err and rc != 70, err
        folder_output = name in ("data synth", "data tile", "evaluate", "visualize", "policy export")
        if (how == "folder-for-file" and folder_output) or (how == "file-for-folder" and not folder_output):
            assert rc == 0, err  # a folder for a folder output, or a file to replace for a file output, is right
        else:
            assert rc == 7, (argv, err)
            assert files_of(out) == before
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
