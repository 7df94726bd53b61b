"""The tests' own guard (issue 27): nothing they run writes to the user's home or cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ISOLATED


def test_home_and_caches_point_into_the_sessions_temporary_folder(pytestconfig):
    root = pytestconfig.stash_fuelbreak_home
    for var, sub in ISOLATED.items():
        assert Path(os.environ[var]) == root / sub, var
    from fuelbreak.agents.demonstrations import default_cache_dir

    assert default_cache_dir().is_relative_to(root)
    assert Path("~").expanduser().is_relative_to(root)


def test_a_process_a_test_starts_inherits_them(pytestconfig):
    code = "from fuelbreak.agents.demonstrations import default_cache_dir as d; print(d())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()).is_relative_to(pytestconfig.stash_fuelbreak_home)
