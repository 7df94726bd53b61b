"""The `fuelbreak` command: every subcommand's help renders, and bad input exits non-zero naming the culprit."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fuelbreak.cli import COMMANDS, build_parser, main
from fuelbreak.export import write_plan_geotiff
from fuelbreak.landscape import Landscape
from fuelbreak.landscape.geotiff import write_landscape


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_a_working_help(command, capsys):
    assert main([command, "--help"]) == 0  # main returns argparse's exit code rather than raising it
    assert "usage: fuelbreak" in capsys.readouterr().out


def test_the_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "fuelbreak", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("fuelbreak ")
    assert set(COMMANDS) <= set(build_parser()._subparsers._group_actions[0].choices)


def test_simulate_scores_a_plan_and_writes_the_map(tmp_path, capsys):
    land = Landscape.uniform((20, 20), fuel=102, name="grass")
    tile = write_landscape(land, tmp_path / "tile.tif")
    cells = np.arange(20) * 20 + 10  # a wall down the middle
    plan = write_plan_geotiff(tmp_path / "plan.tif", land, cells)
    out = tmp_path / "bp.tif"
    args = [
        "simulate",
        "--tile",
        str(tile),
        "--plan",
        str(plan),
        "--ignitions",
        "30",
        "--out",
        str(out),
        "--json",
    ]
    args += ["--wind-speed", "20", "--duration", "300"]
    assert main(args) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["fires"] == 30 and figures["breaks"] == 20
    assert figures["reduction_percent"] > 20 and out.exists()


def test_bad_input_exits_with_a_code_and_names_it(tmp_path, capsys):
    assert main(["simulate", "--tile", str(tmp_path / "missing.tif")]) == 2
    assert "missing.tif" in capsys.readouterr().err
    assert main(["simulate", "--ignitions", "0"]) == 2
    assert "--ignitions" in capsys.readouterr().err
    land = Landscape.uniform((10, 10))
    tile = write_landscape(land, tmp_path / "tile.tif")
    wrong = write_plan_geotiff(tmp_path / "small.tif", Landscape.uniform((5, 5)), [0])
    assert main(["simulate", "--tile", str(tile), "--plan", str(wrong)]) == 2
    assert "small.tif" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "norun")]) != 0
    assert "norun" in capsys.readouterr().err
    assert main(["train", "dqn.nosuchkey=1", "--outdir", str(tmp_path / "r")]) == 2
    assert "nosuchkey" in capsys.readouterr().err
    assert main(["train", f"dqn.init={tmp_path / 'none.pt'}", "--outdir", str(tmp_path / "w")]) == 3
    assert "none.pt does not exist" in capsys.readouterr().err and not (tmp_path / "w").exists()
