"""fuelbreak: learn where to put wildfire fuel breaks."""

from fuelbreak.errors import FuelbreakError

__version__ = "0.1.0"
__all__ = ["FuelbreakError", "__version__"]

# Register the environment id without importing the environment (gymnasium imports it on make).
import gymnasium as _gym

if "fuelbreak/FuelBreak-v0" not in _gym.registry:
    _gym.register(id="fuelbreak/FuelBreak-v0", entry_point="fuelbreak.env.fuelbreak_env:FuelBreakEnv")
