"""Weather presets and scenario files: resolution, every error naming file/row/column, and the CLI flag."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import fuelbreak
from fuelbreak.agents.config import load_config
from fuelbreak.cli import main
from fuelbreak.errors import ConfigError, InputError
from fuelbreak.fire.presets import PRESETS, read_scenario_file, resolve_weather
from fuelbreak.fire.scenario import default_weather
from fuelbreak.landscape import Landscape
from fuelbreak.landscape.geotiff import write_landscape

HEADER = "wind_speed,wind_direction,m1h,m10h,m100h,herb,woody,foliar,duration,weight"


def test_presets():
    assert set(PRESETS) >= {"default", "seed", "dry-windy"}
    assert resolve_weather("default") == default_weather()
    seed = resolve_weather("seed")
    (s,) = seed.scenarios
    assert (s.wind_speed, s.m1h, s.m10h, s.m100h, s.herb, s.woody, s.duration) == (
        0.0, 0.10, 0.15, 0.25, 0.10, 0.10, 1440.0,
    )  # fmt: skip
    dry = resolve_weather("dry-windy")
    assert all(x.wind_speed >= 25 and x.m1h <= 0.04 for x in dry.scenarios)
    assert abs(sum(dry.weights) - 1) < 1e-9
    with pytest.raises(ConfigError, match="neither a preset"):
        resolve_weather("hurricane")


def test_broad_preset_is_the_mixture_of_the_others_with_their_shares():
    broad = resolve_weather("broad")
    parts = (("default", 0.5), ("dry-windy", 0.35), ("seed", 0.15))
    probability = dict(zip(broad.scenarios, broad.weights, strict=True))
    assert len(probability) == len(broad.scenarios)  # no scenario appears twice
    for name, share in parts:
        part = resolve_weather(name)
        assert sum(probability[s] for s in part.scenarios) == pytest.approx(share)
        for s, w in zip(part.scenarios, part.weights, strict=True):
            assert probability[s] == pytest.approx(share * w)  # each keeps its share within its preset
    assert sum(broad.weights) == pytest.approx(1.0)


def test_csv_and_toml_files(tmp_path):
    csv = tmp_path / "w.csv"
    csv.write_text(
        "# a comment line\n"
        + HEADER
        + "\n30,225,0.03,0.04,0.06,0.3,0.6,0.9,480,3\n\n10,90,0.08,0.1,0.12,0.9,1.2,1,120,1\n"
    )
    w = read_scenario_file(csv)
    assert len(w.scenarios) == 2 and w.weights == (0.75, 0.25)
    assert w.scenarios[1].wind_direction == 90 and w.scenarios[0].duration == 480
    toml = tmp_path / "w.toml"
    toml.write_text(
        "[[scenario]]\nwind_speed = 30\nwind_direction = 225\nm1h = 0.03\nm10h = 0.04\nm100h = 0.06\n"
        "herb = 0.3\nwoody = 0.6\nfoliar = 0.9\nduration = 480\n"
    )
    t = resolve_weather(str(toml))
    assert t.scenarios == w.scenarios[:1] and t.weights == (1.0,)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("30,225,abc,0.04,0.06,0.3,0.6,0.9,480,1", "row 2 (line 3), column m1h: 'abc' is not a number"),
        ("30,225,0.03,0.04,0.06,0.3,0.6,0.9,-5,1", "row 2 (line 3), column duration: -5 is outside"),
        ("30,225,0.03,0.04,0.9,0.3,0.6,0.9,480,1", "row 2 (line 3), column m100h: 0.9 is outside"),
        ("30,225,0.03,0.04,0.06,0.3,0.6,0.9,480,-1", "row 2 (line 3), column weight"),
        ("30,225,0.03,0.04,0.06,0.3,0.6,0.9,480", "row 2 (line 3): 9 values for 10 columns"),
        ("30,225,0.03,0.04,0.06,,0.6,0.9,480,1", "row 2 (line 3), column herb: missing"),
    ],
)
def test_a_bad_csv_row_names_file_row_and_column(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "\n30,225,0.03,0.04,0.06,0.3,0.6,0.9,480,1\n" + row + "\n")
    with pytest.raises(ConfigError) as exc:
        read_scenario_file(path)
    assert str(path) in str(exc.value) and message in str(exc.value)


def test_bad_headers_and_files(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("wind_speed,gust\n1,2\n")
    with pytest.raises(ConfigError, match="row 1 \\(line 2\\), column gust: unknown column"):
        read_scenario_file(p)
    p.write_text("wind_speed,wind_direction\n1,2\n")
    with pytest.raises(ConfigError, match="column m1h: missing"):
        read_scenario_file(p)
    p.write_text(HEADER + "\n")
    with pytest.raises(ConfigError, match="no scenarios"):
        read_scenario_file(p)
    t = tmp_path / "t.toml"
    t.write_text("[[scenario]]\nwind_speed = 'fast'\n")
    with pytest.raises(ConfigError, match="scenario 1, column wind_speed: 'fast' is not a number"):
        read_scenario_file(t)
    t.write_text("scenario = 3\n")
    with pytest.raises(ConfigError, match=r"\[\[scenario\]\]"):
        read_scenario_file(t)
    t.write_text("[[scenario\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_scenario_file(t)
    with pytest.raises(InputError, match="does not exist"):
        resolve_weather(str(tmp_path / "missing.csv"))


def test_train_config_accepts_a_preset_or_a_file(tmp_path):
    cfg = load_config(None, ["weather.preset=seed"])
    assert cfg.weather.to_weather() == resolve_weather("seed")
    csv = tmp_path / "w.csv"
    csv.write_text(HEADER + "\n30,225,0.03,0.04,0.06,0.3,0.6,0.9,480,1\n")
    assert load_config(None, [f"weather.preset={csv}"]).weather.to_weather().scenarios[0].wind_speed == 30
    csv.write_text(HEADER + "\n30,225,0.03,0.04,0.06,0.3,0.6,0.9,480,x\n")
    with pytest.raises(ConfigError, match="weather.preset: .*w.csv: row 1 \\(line 2\\), column weight"):
        load_config(None, [f"weather.preset={csv}"])
    with pytest.raises(ConfigError, match="weather.preset"):
        load_config(None, ["weather.preset=nope"])
    single = load_config(None, ["weather.preset=single", "weather.wind_speed=7"]).weather.to_weather()
    assert single.scenarios[0].wind_speed == 7


def test_simulate_takes_weather_and_records_it(tmp_path, capsys):
    tile = write_landscape(Landscape.uniform((20, 20), fuel=102, name="grass"), tmp_path / "t.tif")
    base = ["simulate", "--tile", str(tile), "--ignitions", "5", "--json"]
    assert main([*base, "--out", str(tmp_path / "a.tif"), "--weather", "seed"]) == 0
    seed = json.loads(capsys.readouterr().out)
    assert seed["weather_source"] == "preset seed"
    assert seed["weather"]["scenarios"][0]["duration"] == 1440
    csv = tmp_path / "w.csv"
    csv.write_text(HEADER + "\n0,270,0.1,0.15,0.25,0.1,0.1,1,60,1\n")
    assert main([*base, "--out", str(tmp_path / "b.tif"), "--weather", str(csv), "--m1h", "0.12"]) == 0
    short = json.loads(capsys.readouterr().out)
    assert "scenario file" in short["weather_source"] and "--m1h=0.12" in short["weather_source"]
    assert short["weather"]["scenarios"][0]["m1h"] == 0.12
    # The same fires burn less in 1 h than in 24 h.
    assert short["expected_burned_cells"] < seed["expected_burned_cells"]


def test_a_bad_row_exits_2_without_traceback(tmp_path):
    tile = write_landscape(Landscape.uniform((10, 10), fuel=102, name="grass"), tmp_path / "t.tif")
    csv = tmp_path / "bad.csv"
    csv.write_text(HEADER + "\n0,270,0.1,0.15,0.25,0.1,0.1,1,60,1\n0,270,0.1,0.15,0.25,0.1,wet,1,60,1\n")
    for command in (
        ["simulate", "--tile", str(tile), "--ignitions", "2", "--out", str(tmp_path / "x.tif")],
        ["plan", "--method", "random", "--tile", str(tile), "--out", str(tmp_path / "p")],
        [
            "evaluate",
            "--methods",
            "random",
            "--n-tiles",
            "10",
            "--tile-size",
            "10",
            "--outdir",
            str(tmp_path / "e"),
        ],
        ["train", "--outdir", str(tmp_path / "r")],
        ["visualize", "--ckpt", str(tmp_path / "none.pt")],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "fuelbreak", *command, "--weather", str(csv)],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2, (command, out.stderr)
        assert "Traceback" not in out.stderr
        assert f"{csv}: row 2 (line 3), column woody: 'wet' is not a number" in out.stderr, out.stderr


def test_train_records_the_resolved_weather(tmp_path):
    from fuelbreak.cli.train import record_weather

    csv = tmp_path / "w.csv"
    csv.write_text(HEADER + "\n30,225,0.03,0.04,0.06,0.3,0.6,0.9,480,1\n")
    cfg = load_config(None, [f"weather.preset={csv}", f"run.outdir={tmp_path / 'run'}"])
    path = record_weather(cfg)
    record = json.loads(path.read_text())
    assert path == tmp_path / "run" / "weather.json" and record["preset"] == str(csv)
    assert record["fuelbreak_version"] == fuelbreak.__version__
    assert record["weather"]["scenarios"][0]["wind_speed"] == 30 and record["weather"]["weights"] == [1.0]
