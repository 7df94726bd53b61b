"""The `Landscape` type: eight named LANDFIRE layers on one grid, and their validation.

Row 0 is the **north** edge, as in a GeoTIFF. Units (what every other module may rely on):

    dem  elevation, m                  cc   canopy cover, %
    slp  slope, degrees                ch   canopy height, m
    asp  aspect, degrees cw from north cbh  canopy base height, m
    fbfm Scott & Burgan 40 fuel model  cbd  canopy bulk density, kg/m^3
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from fuelbreak.errors import InputError

LAYERS: tuple[str, ...] = ("dem", "slp", "asp", "fbfm", "cc", "ch", "cbh", "cbd")

UNITS: dict[str, str] = {
    "dem": "m",
    "slp": "degrees",
    "asp": "degrees clockwise from north",
    "fbfm": "Scott & Burgan 40 fuel model code",
    "cc": "percent",
    "ch": "m",
    "cbh": "m",
    "cbd": "kg/m^3",
}

# Physical ranges a value must fall in (inclusive). Wide enough for any real landscape on Earth.
RANGES: dict[str, tuple[float, float]] = {
    "dem": (-500.0, 9000.0),
    "slp": (0.0, 90.0),
    "asp": (0.0, 360.0),
    "cc": (0.0, 100.0),
    "ch": (0.0, 150.0),
    "cbh": (0.0, 100.0),
    "cbd": (0.0, 2.0),
}

# Scott & Burgan (2005) 40 burnable fuel models, by family.
SB40_BURNABLE: frozenset[int] = frozenset(
    list(range(101, 110))  # GR1-GR9 grass
    + list(range(121, 125))  # GS1-GS4 grass-shrub
    + list(range(141, 150))  # SH1-SH9 shrub
    + list(range(161, 166))  # TU1-TU5 timber understory
    + list(range(181, 190))  # TL1-TL9 timber litter
    + list(range(201, 205))  # SB1-SB4 slash-blowdown
)
# 91 urban, 92 snow/ice, 93 agriculture, 98 water, 99 barren; LANDFIRE reserves 91-99.
NONBURNABLE: frozenset[int] = frozenset(range(91, 100))
VALID_FUELS: frozenset[int] = SB40_BURNABLE | NONBURNABLE

DEFAULT_BREAK_FUEL = 91

# The planner's own layers, each optional, on the landscape's grid (see `Landscape.planner_layer`):
#   value     value at risk of a cell, any unit >= 0 (absent: the objective counts burned cells)
#   ignition  relative chance that a fire starts in the cell, >= 0 (absent: uniform over burnable cells)
#   cost      cost of treating the cell, any unit >= 0 (absent: no cost limit can be given)
#   exclude   1 where a break may not go (wilderness, riparian buffer, habitat), else 0
PLANNER_LAYERS: tuple[str, ...] = ("value", "ignition", "cost", "exclude")
PLANNER_UNITS: dict[str, str] = {
    "value": "value at risk per cell (the user's unit)",
    "ignition": "relative ignition density",
    "cost": "cost of treating the cell (the user's unit)",
    "exclude": "1 = may not be treated",
}


def check_planner_values(values: np.ndarray, key: str, source: str, name: str = "") -> np.ndarray:
    """`values` as float32 when finite and >= 0 (exclusions 0 or 1); else an InputError naming `source`."""
    where = f" on landscape '{name}'" if name else ""
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            f"{source} has {int(bad.sum())} NaN or infinite value(s){where}, first at row {r}, col {c}"
        )
    neg = values < 0
    if neg.any():
        r, c = np.argwhere(neg)[0]
        raise InputError(
            f"{source} has {int(neg.sum())} negative value(s){where}, first {values[r, c]:g} at row {r}, col {c}; "
            "a planner layer is >= 0"
        )
    if key == "exclude" and not np.isin(values, (0.0, 1.0)).all():
        odd = np.unique(values[~np.isin(values, (0.0, 1.0))])[:5]
        raise InputError(
            f"{source} holds {', '.join(f'{v:g}' for v in odd)}: an exclusion mask holds 0 and 1 only"
        )
    return values.astype(np.float32)


@dataclass
class Landscape:
    """Named float32 layers of one shape, a cell size, and an optional geo-reference.

    `crs` is a WKT or EPSG string and `transform` the six GDAL-order affine coefficients
    (a, b, c, d, e, f) of rasterio's `Affine`; both are None for synthetic tiles.
    """

    layers: dict[str, np.ndarray]
    cell_size: float = 30.0
    crs: str | None = None
    transform: tuple[float, ...] | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layers = {k: np.asarray(v, dtype=np.float32) for k, v in self.layers.items()}

    @classmethod
    def uniform(
        cls,
        shape: tuple[int, int] = (50, 50),
        fuel: int = 102,
        slope: float = 0.0,
        aspect: float = 0.0,
        cc: float = 0.0,
        ch: float = 0.0,
        cbh: float = 0.0,
        cbd: float = 0.0,
        cell_size: float = 30.0,
        name: str = "uniform",
    ) -> Landscape:
        """A landscape with the same value everywhere: the hand-built tile of tests and examples.

        Elevation follows the slope (rising toward the up-slope side) so that terrain stays consistent.
        """
        h, w = shape
        rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
        up = np.radians((aspect + 180.0) % 360.0)  # aspect faces downslope
        # Distance along the up-slope direction; row index grows southward.
        along = (cols * np.sin(up) - rows * np.cos(up)) * cell_size
        dem = 500.0 + np.tan(np.radians(slope)) * (along - along.min())
        full = lambda v: np.full(shape, v, dtype=np.float32)  # noqa: E731
        layers = {
            "dem": dem,
            "slp": full(slope),
            "asp": full(aspect),
            "fbfm": full(fuel),
            "cc": full(cc),
            "ch": full(ch),
            "cbh": full(cbh),
            "cbd": full(cbd),
        }
        return cls(layers, cell_size, name=name)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.layers[key]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        return (
            self.layers[LAYERS[0]].shape
            if LAYERS[0] in self.layers
            else next(iter(self.layers.values())).shape
        )

    @property
    def n_cells(self) -> int:
        """Number of cells of the grid."""
        h, w = self.shape
        return h * w

    @property
    def burnable(self) -> np.ndarray:
        """Boolean mask of cells carrying a burnable fuel model."""
        return np.isin(self.layers["fbfm"].astype(np.int32), sorted(SB40_BURNABLE))

    def validate(self) -> Landscape:
        """Raise `InputError` naming the layer and the problem; return self when all is well."""
        where = f" in landscape '{self.name}'" if self.name else ""
        missing = [k for k in LAYERS if k not in self.layers]
        if missing:
            raise InputError(
                f"missing layer(s) {', '.join(missing)}{where}; a landscape needs {' '.join(LAYERS)}"
            )
        shape = self.layers[LAYERS[0]].shape
        if len(shape) != 2 or min(shape) < 1:
            raise InputError(f"layer 'dem'{where} must be a non-empty 2-D grid, got shape {shape}")
        for key in LAYERS:
            arr = self.layers[key]
            if arr.shape != shape:
                raise InputError(f"layer '{key}'{where} has shape {arr.shape}, but 'dem' has {shape}")
            bad = ~np.isfinite(arr)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise InputError(
                    f"layer '{key}'{where} has {int(bad.sum())} NaN or infinite value(s), first at row {r}, col {c}"
                )
            if key in RANGES:
                lo, hi = RANGES[key]
                out = (arr < lo) | (arr > hi)
                if out.any():
                    r, c = np.argwhere(out)[0]
                    raise InputError(
                        f"layer '{key}'{where} has {int(out.sum())} value(s) outside [{lo:g}, {hi:g}] {UNITS[key]}, "
                        f"first {arr[r, c]:g} at row {r}, col {c}"
                    )
        self._validate_planner_layers(shape, where)
        fuel = self.layers["fbfm"]
        if (fuel != np.round(fuel)).any():
            raise InputError(f"layer 'fbfm'{where} holds non-integer fuel codes")
        codes = np.unique(fuel.astype(np.int64))
        unknown = [int(c) for c in codes if int(c) not in VALID_FUELS]
        if unknown:
            raise InputError(
                f"layer 'fbfm'{where} has unknown fuel code(s) {unknown[:10]}: expected Scott & Burgan 40 "
                "codes (101-204) or non-burnable 91-99; clean no-data (e.g. 32767) before use"
            )
        if not (np.isfinite(self.cell_size) and self.cell_size > 0):
            raise InputError(f"cell size{where} must be a positive number of metres, got {self.cell_size}")
        return self

    def _validate_planner_layers(self, shape: tuple[int, int], where: str) -> None:
        """Raise `InputError` for a planner layer of another shape, NaN, a negative value or a non-0/1 exclusion."""
        unknown = sorted(set(self.layers) - set(LAYERS) - set(PLANNER_LAYERS))
        if unknown:
            raise InputError(
                f"unknown layer(s) {', '.join(unknown)}{where}; layers are {' '.join(LAYERS)} and the optional "
                f"planner layers {' '.join(PLANNER_LAYERS)}"
            )
        for key in PLANNER_LAYERS:
            if key not in self.layers:
                continue
            arr = self.layers[key]
            if arr.shape != shape:
                raise InputError(f"planner layer '{key}'{where} has shape {arr.shape}, but 'dem' has {shape}")
            check_planner_values(arr, key, f"planner layer '{key}'{where}")
        if "ignition" in self.layers:
            if not (self.layers["ignition"][self.burnable] > 0).any():
                raise InputError(f"planner layer 'ignition'{where} is 0 on every burnable cell: no fire can start")

    def planner_layer(self, key: str) -> np.ndarray | None:
        """The planner layer `key` (one of PLANNER_LAYERS) as float32, or None when the landscape has none."""
        if key not in PLANNER_LAYERS:
            raise KeyError(f"{key!r} is not a planner layer; they are {' '.join(PLANNER_LAYERS)}")
        return self.layers.get(key)

    @property
    def excluded(self) -> np.ndarray:
        """Boolean mask of cells a break may not go on (the 'exclude' layer; all False without one)."""
        ex = self.layers.get("exclude")
        return np.zeros(self.shape, dtype=bool) if ex is None else ex > 0.5

    @property
    def treatable(self) -> np.ndarray:
        """Boolean mask of cells a break may go on: burnable and not excluded."""
        return self.burnable & ~self.excluded

    @property
    def cell_values(self) -> np.ndarray:
        """Value at risk of each cell as float64: the 'value' layer, else 1 on every cell (burned area)."""
        v = self.layers.get("value")
        return np.ones(self.shape, dtype=np.float64) if v is None else v.astype(np.float64)

    def without_planner_layers(self) -> Landscape:
        """A copy carrying only the eight LANDFIRE layers."""
        return replace(self, layers={k: v for k, v in self.layers.items() if k in LAYERS}, meta=dict(self.meta))

    def with_breaks(self, breaks: np.ndarray, fuel: int = DEFAULT_BREAK_FUEL) -> Landscape:
        """A copy in which the break cells carry `fuel` (non-burnable 91 by default) and no canopy."""
        breaks = np.asarray(breaks, dtype=bool)
        if breaks.shape != self.shape:
            raise InputError(f"break mask has shape {breaks.shape}, landscape has {self.shape}")
        layers = {k: v.copy() for k, v in self.layers.items()}
        layers["fbfm"][breaks] = fuel
        if fuel in NONBURNABLE:
            for key in ("cc", "ch", "cbh", "cbd"):
                layers[key][breaks] = 0.0
        return replace(self, layers=layers, meta=dict(self.meta))

    def refined(self, factor: int) -> Landscape:
        """The same land on a grid `factor` times finer.

        Each cell split into factor x factor cells that keep its values (terrain included), cell size divided
        by `factor`; no geo-reference.
        """
        if int(factor) != factor or factor < 1:
            raise InputError(f"a refinement factor must be a whole number >= 1, got {factor}")
        k = int(factor)
        layers = {name: np.repeat(np.repeat(v, k, axis=0), k, axis=1) for name, v in self.layers.items()}
        return Landscape(layers, self.cell_size / k, name=f"{self.name} (x{k})" if self.name else "")

    def window(self, row: int, col: int, height: int, width: int, name: str = "") -> Landscape:
        """The sub-grid starting at (row, col), keeping its geo-reference (the transform is shifted)."""
        layers = {k: v[row : row + height, col : col + width].copy() for k, v in self.layers.items()}
        transform = None
        if self.transform is not None:
            a, b, c, d, e, f = self.transform[:6]
            transform = (a, b, c + col * a + row * b, d, e, f + col * d + row * e)
        # Per-cell arrays in meta (e.g. the no-data mask) are cut with the layers.
        meta = {
            k: v[row : row + height, col : col + width].copy()
            if isinstance(v, np.ndarray) and v.shape == self.shape
            else v
            for k, v in self.meta.items()
        }
        return Landscape(layers, self.cell_size, self.crs, transform, name or self.name, meta)
