"""The gymnasium environment `fuelbreak/FuelBreak-v0` (registered on `import fuelbreak`)."""

from fuelbreak.env.fuelbreak_env import FuelBreakEnv, Task, budget_cells
from fuelbreak.env.observation import CHANNELS

ENV_ID = "fuelbreak/FuelBreak-v0"

__all__ = ["CHANNELS", "ENV_ID", "FuelBreakEnv", "Task", "budget_cells"]
