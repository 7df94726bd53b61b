"""fuelbreak: learn where to put wildfire fuel breaks."""

from importlib.metadata import PackageNotFoundError, version

from fuelbreak.errors import FuelbreakError

try:  # the installed distribution's version (pyproject.toml's), so it has one source
    __version__ = version("fuelbreak")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
__all__ = ["FuelbreakError", "__version__"]

# Register the environment id without importing the environment (gymnasium imports it on make).
import gymnasium as _gym

if "fuelbreak/FuelBreak-v0" not in _gym.registry:
    _gym.register(id="fuelbreak/FuelBreak-v0", entry_point="fuelbreak.env.fuelbreak_env:FuelBreakEnv")
