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

__all__ = [
    "DEFAULT_BREAK_FUEL",
    "LAYERS",
    "NONBURNABLE",
    "SB40_BURNABLE",
    "UNITS",
    "VALID_FUELS",
    "Landscape",
]

from fuelbreak.landscape.dataset import (  # noqa: E402
    Dataset,
    SyntheticDataset,
    fuel_class_fractions,
    load_dataset,
    open_dataset,
    split_indices,
    write_dataset,
)
from fuelbreak.landscape.geotiff import SCALINGS, read_landscape, read_layer_folder, write_landscape  # noqa: E402
from fuelbreak.landscape.synthetic import slope_aspect, synthetic_tile, synthetic_tiles  # noqa: E402
from fuelbreak.landscape.tiling import crop_bbox, cut_tiles, sub_landscape, tile_windows  # noqa: E402

__all__ += [
    "SCALINGS",
    "Dataset",
    "SyntheticDataset",
    "crop_bbox",
    "cut_tiles",
    "fuel_class_fractions",
    "load_dataset",
    "open_dataset",
    "read_landscape",
    "read_layer_folder",
    "slope_aspect",
    "split_indices",
    "sub_landscape",
    "synthetic_tile",
    "synthetic_tiles",
    "tile_windows",
    "write_dataset",
    "write_landscape",
]
