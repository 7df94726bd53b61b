"""Landscapes: the eight LANDFIRE layers of a tile, synthetic tiles, GeoTIFF I/O, tiling and datasets."""

from fuelbreak.landscape.core import (
    DEFAULT_BREAK_FUEL,
    LAYERS,
    NONBURNABLE,
    SB40_BURNABLE,
    UNITS,
    VALID_FUELS,
    Landscape,
)

__all__ = ["DEFAULT_BREAK_FUEL", "LAYERS", "NONBURNABLE", "SB40_BURNABLE", "UNITS", "VALID_FUELS", "Landscape"]
