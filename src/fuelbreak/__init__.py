"""fuelbreak: learn where to put wildfire fuel breaks."""

from fuelbreak.errors import FuelbreakError

__version__ = "0.1.0"
__all__ = ["FuelbreakError", "__version__"]
