"""Synthetic tiles that look like real LANDFIRE ones: the built-in default landscapes.

Each tile is drawn from its own seed, so a tile is the same whatever else is generated with it:

- elevation: a fractal (spectral, power ~ 1/f^beta) surface scaled to a relief of tens to a few
  hundred metres, like 1.5 km windows of real terrain (the Worcester, VT sample: 106-443 m, median 214);
- slope and aspect derived from it with `np.gradient` at the cell size (aspect: the downslope
  direction, degrees clockwise from north; row 0 is north);
- fuel families (grass, grass-shrub, shrub, timber understory, timber litter) in patches that follow
  terrain and each other: each family has a score made of a terrain preference plus a smooth noise
  field, and a cell takes the family with the highest score; a second noise field picks the model
  inside the family, so models form sub-patches;
- non-burnable features on some tiles: a road (91) across the tile, a lake (98) filling a low spot,
  rock (99) on steep high ground;
- canopy only on timber (TU, TL) cells, from smooth fields: cover 30-80 %, height 8-30 m, base height
  0.5-6 m and below the height, bulk density 0.03-0.25 kg/m^3.

With `planner_layers=True` a tile also carries the planner's four layers (`synthetic_planner_layers`),
drawn from a stream of their own (the tile's seed with `PLANNER_TAG` appended to its spawn key), so the
eight LANDFIRE layers are bit for bit those of the same tile without them:

- roads: the tile's road (fuel 91), if it has one, and one or two tracks, gently curving polylines
  from edge to edge that people drive along but that do not stop a fire (their fuel is left as is);
- communities: one to three clusters of valued cells at the edge of the fuel, as a wildland-urban
  interface: each is centred on a burnable cell next to non-burnable ground (a road, water or rock)
  or, on a tile without any, near the tile's edge (a town beyond it). Its core (a disc of radius 1-3
  cells) holds `COMMUNITY_VALUE` per cell and the fuel around it value decaying with distance
  (`COMMUNITY_VALUE * exp(-d / COMMUNITY_REACH_M)` out to `COMMUNITY_RING` cells), so what matters is
  the fuel that carries a fire into the community. The community cells keep their fuel (it would
  be urban, 91, or low fuel on real land; keeping it leaves the tile's fire behaviour unchanged);
- ignition density: `1 + 9 exp(-d / IGNITION_LENGTH_M)` with `d` the distance to the nearest road,
  track or community core cell (`fuelbreak.landscape.planner_layers.ignition_density`; a length of
  120 m, shorter than the default for real land, so that a 1.5 km tile shows the contrast);
- cost: ``1 + 3 tan(slope) + d_road / 1000 m`` per cell (steep, remote ground costs more; the unit is
  that of a flat cell beside a road);
- an exclusion zone: a riparian buffer of two cells around the tile's lake when it has one, else a
  wilderness block (a smooth blob of 4-10 % of the tile away from the communities).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from fuelbreak.errors import ConfigError
from fuelbreak.landscape.core import Landscape

# Fuel models per family, in the order a family's model noise field picks them.
FAMILIES: dict[str, tuple[int, ...]] = {
    "GR": (101, 102, 103, 104),
    "GS": (121, 122, 123),
    "SH": (141, 142, 143, 144, 145),
    "TU": (161, 162, 163, 164, 165),
    "TL": (181, 182, 183, 184, 185, 186, 187, 188, 189),
}
# How often each model is drawn inside its family: the slow, light models (GR1, SH1-SH3, TU1, TL1-TL4)
# exist but are rare, so that fires under summer fire weather cross a good share of a tile.
MODEL_WEIGHTS: dict[str, tuple[float, ...]] = {
    "GR": (0.1, 0.4, 0.25, 0.25),
    "GS": (0.3, 0.4, 0.3),
    "SH": (0.05, 0.1, 0.1, 0.45, 0.3),
    "TU": (0.05, 0.3, 0.35, 0.15, 0.15),
    "TL": (0.04, 0.04, 0.08, 0.08, 0.16, 0.16, 0.12, 0.16, 0.16),
}
# Family shares vary from tile to tile around these score biases: mostly open grass and shrub with
# timber patches (about 20 % of cells), since sheltered timber litter barely spreads in 240 min.
FAMILY_BIAS: tuple[float, ...] = (1.4, 1.0, 0.8, -0.2, -0.6)
ROAD, WATER, ROCK = 91, 98, 99

# Chance that a tile carries each non-burnable feature.
P_ROAD, P_WATER, P_ROCK = 0.7, 0.5, 0.5


def _spectral_fields(rng: np.random.Generator, k: int, shape: tuple[int, int], beta: float) -> np.ndarray:
    """`k` fractal fields of `shape`, zero mean and unit standard deviation, power spectrum ~ 1/f^beta.

    Drawn on a grid twice as large and cropped, so the fields do not wrap around at the edges.
    """
    h, w = shape
    ph, pw = 2 * h, 2 * w
    fy = np.fft.fftfreq(ph)[:, None]
    fx = np.fft.rfftfreq(pw)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = np.inf  # no mean component
    amp = f ** (-beta / 2.0)
    noise = np.fft.rfft2(rng.standard_normal((k, ph, pw)))
    fields = np.fft.irfft2(noise * amp, s=(ph, pw))[:, :h, :w]
    fields -= fields.mean(axis=(1, 2), keepdims=True)
    fields /= fields.std(axis=(1, 2), keepdims=True) + 1e-12
    return fields


def slope_aspect(dem: np.ndarray, cell_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Slope (degrees) and aspect (degrees clockwise from north, downslope; 0 where flat) of `dem`.

    Row 0 is north, so the northward gradient is minus the row gradient.
    """
    d_row, d_col = np.gradient(dem.astype(np.float64), cell_size)
    d_north, d_east = -d_row, d_col
    slope = np.degrees(np.arctan(np.hypot(d_north, d_east)))
    aspect = np.mod(np.degrees(np.arctan2(-d_east, -d_north)), 360.0)
    aspect[slope < 1e-6] = 0.0
    return slope, aspect


def _rescale(field: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map a standard-normal field onto [lo, hi] through a logistic squash (keeps patch structure)."""
    return lo + (hi - lo) / (1.0 + np.exp(-1.5 * field))


def _road_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A gently curving 4-connected road from one edge of the tile to the opposite one."""
    h, w = shape
    n = 4 * max(h, w)
    t = np.linspace(0.0, 1.0, n)
    bend = rng.uniform(-0.15, 0.15) * np.sin(np.pi * t * rng.uniform(0.5, 2.0) + rng.uniform(0, np.pi))
    a, b = rng.uniform(0.1, 0.9, size=2)
    across = (a + (b - a) * t + bend).clip(0.0, 1.0)
    if rng.random() < 0.5:  # runs north-south
        rows, cols = t * (h - 1), across * (w - 1)
    else:  # runs west-east
        rows, cols = across * (h - 1), t * (w - 1)
    rows, cols = np.rint(rows).astype(int), np.rint(cols).astype(int)
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    # Where the path steps diagonally, also mark the corner cell so fire cannot slip through the gap.
    diag = (np.diff(rows) != 0) & (np.diff(cols) != 0)
    mask[rows[1:][diag], cols[:-1][diag]] = True
    return mask


def _lake(rng: np.random.Generator, dem: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Cells of a lake filling the lowest basin, when that basin is flat enough; else no cell."""
    level = np.quantile(dem, rng.uniform(0.03, 0.10))
    low, _ = ndimage.label(dem <= level)
    lake = low == low.flat[np.argmin(dem)]
    if slope[lake].mean() > 12.0:  # a steep gully holds no lake
        return np.zeros_like(lake)
    return lake


def _rock(rng: np.random.Generator, z: np.ndarray, slope: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Rock outcrops: the steepest high ground, broken up by noise, on at most a few % of the tile."""
    score = 1.2 * z + slope / max(float(slope.max()), 1e-6) + 0.4 * noise
    return score >= np.quantile(score, 1.0 - rng.uniform(0.02, 0.06))


def _fuels(rng: np.random.Generator, z: np.ndarray, slope: np.ndarray, aspect: np.ndarray) -> np.ndarray:
    """Fuel model codes in patches: terrain preference plus smooth noise per family, argmax."""
    shape = z.shape
    noise = _spectral_fields(rng, 2 * len(FAMILIES), shape, beta=3.2)
    southness = -np.cos(np.radians(aspect)) * np.sin(np.radians(slope))  # sun-exposed, drier slopes
    steep = slope / 30.0
    # Terrain preferences: grass in low flat ground, shrub on dry steep slopes, timber high and shaded.
    terrain = {
        "GR": -1.5 * z - 1.0 * steep + 0.3,
        "GS": -0.5 * z + 0.6 * southness,
        "SH": 1.5 * southness + 0.5 * steep,
        "TU": 0.8 * z - 1.0 * southness,
        "TL": 1.0 * z - 0.5 * southness + 0.3 * steep,
    }
    bias = rng.normal(0.0, 0.6, size=len(FAMILIES)) + np.array(FAMILY_BIAS)  # tile-to-tile variety
    scores = np.stack([terrain[k] + 1.0 * noise[i] + bias[i] for i, k in enumerate(FAMILIES)])
    family = np.argmax(scores, axis=0)
    fuel = np.zeros(shape, dtype=np.float32)
    for i, (key, models) in enumerate(FAMILIES.items()):
        cells = family == i
        if not cells.any():
            continue
        # Quantise a smooth field into one to three of the family's models, drawn by their weights.
        span = int(rng.integers(1, 4))
        chosen = rng.choice(models, size=span, replace=False, p=MODEL_WEIGHTS[key])
        pick = noise[len(FAMILIES) + i][cells]
        edges = np.quantile(pick, np.linspace(0, 1, span + 1)[1:-1])
        fuel[cells] = chosen[np.searchsorted(edges, pick)]
    return fuel


def _canopy(rng: np.random.Generator, fuel: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    """Canopy layers on timber cells (TU, TL) only, from smooth fields; zero elsewhere."""
    f = _spectral_fields(rng, 4, fuel.shape, beta=3.0)
    timber = (fuel >= 161) & (fuel <= 189)
    cc = _rescale(0.7 * f[0] + 0.3 * z, 30.0, 80.0)
    ch = _rescale(0.6 * f[1] + 0.4 * f[0], 8.0, 30.0)
    cbh = np.minimum(_rescale(f[2], 0.5, 6.0), 0.5 * ch)
    cbd = _rescale(0.6 * f[0] + 0.4 * f[3], 0.03, 0.25)
    return {k: np.where(timber, v, 0.0) for k, v in {"cc": cc, "ch": ch, "cbh": cbh, "cbd": cbd}.items()}


# The planner layers of synthetic tiles (module docstring).
PLANNER_TAG = 0x504C4E52  # "PLNR": appended to a tile's spawn key, the stream of its planner layers
COMMUNITY_VALUE = 10.0  # value per community core cell
COMMUNITY_REACH_M = 60.0  # value of the fuel around a community decays with this length
COMMUNITY_RING = 4  # cells around a core that hold value
IGNITION_LENGTH_M = 120.0  # decay length of the ignition density away from roads and communities


def planner_seed(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    """The seed of a tile's planner layers: the tile's seed with PLANNER_TAG appended to its spawn key."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, PLANNER_TAG))


def _track(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Cells of a gently curving track from one edge to the opposite one (a polyline drawn cell by cell)."""
    return _road_mask(rng, shape)


def _communities(rng: np.random.Generator, burnable: np.ndarray, cell_size: float) -> tuple[np.ndarray, np.ndarray]:
    """(value layer, core mask) of one to three communities at the edge of the fuel."""
    h, w = burnable.shape
    edge_of_fuel = burnable & ndimage.binary_dilation(~burnable, structure=np.ones((3, 3), bool))
    rows, cols = np.mgrid[0:h, 0:w]
    near_edge = np.minimum.reduce([rows, cols, h - 1 - rows, w - 1 - cols]) < max(2, min(h, w) // 8)
    candidates = np.flatnonzero(edge_of_fuel if edge_of_fuel.any() else (near_edge & burnable))
    if candidates.size == 0:
        candidates = np.flatnonzero(burnable) if burnable.any() else np.arange(h * w)
    n = int(rng.integers(1, 4))
    centres = rng.choice(candidates, size=min(n, candidates.size), replace=False)
    core = np.zeros((h, w), dtype=bool)
    for c in centres:
        r0, c0 = divmod(int(c), w)
        radius = rng.uniform(1.0, 3.0)
        core |= (rows - r0) ** 2 + (cols - c0) ** 2 <= radius**2
    d = ndimage.distance_transform_edt(~core)
    value = np.where(core, COMMUNITY_VALUE, 0.0)
    ring = (~core) & (d <= COMMUNITY_RING)
    value[ring] = COMMUNITY_VALUE * np.exp(-d[ring] * cell_size / COMMUNITY_REACH_M)
    return value, core


def _exclusion(rng: np.random.Generator, fuel: np.ndarray, core: np.ndarray) -> np.ndarray:
    """A riparian buffer around the tile's lake, else a wilderness block away from the communities."""
    h, w = fuel.shape
    water = fuel == WATER
    if water.any():
        return ndimage.binary_dilation(water, iterations=2) & ~water
    field = _spectral_fields(rng, 1, (h, w), beta=3.5)[0]
    far = ndimage.distance_transform_edt(~core) if core.any() else np.full((h, w), float(h + w))
    score = field + 2.0 * far / max(float(far.max()), 1e-9)  # far from the communities
    block = score >= np.quantile(score, 1.0 - rng.uniform(0.04, 0.10))
    labels, n = ndimage.label(block)
    if n > 1:  # keep the largest blob: one block
        sizes = ndimage.sum_labels(block, labels, np.arange(1, n + 1))
        block = labels == 1 + int(np.argmax(sizes))
    return block & ~core


def synthetic_planner_layers(tile: Landscape, seed: int | np.random.SeedSequence) -> dict[str, np.ndarray]:
    """The value, ignition, cost and exclude layers of a synthetic tile (module docstring), from `planner_seed(seed)`.

    They depend on the tile's fuel and slope and on their own stream only, never on the tile's draws.
    """
    from fuelbreak.landscape.planner_layers import cost_surface, ignition_density

    rng = np.random.default_rng(planner_seed(seed))
    fuel = tile.layers["fbfm"]
    burnable = tile.burnable
    shape = tile.shape
    roads = fuel == ROAD
    for _ in range(int(rng.integers(1, 3))):
        roads |= _track(rng, shape)
    value, core = _communities(rng, burnable, tile.cell_size)
    ignition = ignition_density(roads | core, tile.cell_size, length_m=IGNITION_LENGTH_M)
    cost = cost_surface(tile, roads)  # 1 + 3 tan(slope) + km to the nearest road or track
    exclude = _exclusion(rng, fuel, core)
    if not (burnable & ~exclude).any():  # never exclude every cell a break could go on
        exclude[:] = False
    return {
        "value": value.astype(np.float32),
        "ignition": ignition.astype(np.float32),
        "cost": cost.astype(np.float32),
        "exclude": exclude.astype(np.float32),
    }


def with_synthetic_planner_layers(tile: Landscape, seed: int | np.random.SeedSequence) -> Landscape:
    """`tile` with its synthetic planner layers added (the eight LANDFIRE layers untouched), validated."""
    layers = {**tile.layers, **synthetic_planner_layers(tile, seed)}
    meta = {**tile.meta, "planner_layers": "synthetic"}
    return Landscape(layers, tile.cell_size, tile.crs, tile.transform, tile.name, meta).validate()


def synthetic_tile(
    size: int = 50,
    seed: int | np.random.SeedSequence = 0,
    cell_size: float = 30.0,
    name: str = "",
    planner_layers: bool = False,
) -> Landscape:
    """One synthetic tile of `size` x `size` cells; the same seed gives the same tile.

    With `planner_layers`, it also carries value, ignition, cost and exclude layers (module docstring); its
    eight LANDFIRE layers are the same either way.
    """
    if int(size) < 4:
        raise ConfigError(f"tile size must be at least 4 cells, got {size}")
    if not cell_size > 0:
        raise ConfigError(f"cell size must be a positive number of metres, got {cell_size}")
    size = int(size)
    rng = np.random.default_rng(seed)
    shape = (size, size)
    # Relief scales with the tile's extent, log-uniform around that of real 1.5 km windows.
    extent = size * cell_size
    relief = np.exp(rng.uniform(np.log(40.0), np.log(400.0))) * (extent / 1500.0) ** 0.8
    surface = _spectral_fields(rng, 1, shape, beta=rng.uniform(3.6, 4.2))[0]
    dem = surface - surface.min()
    dem = rng.uniform(150.0, 2000.0) + dem * (relief / max(float(dem.max()), 1e-9))

    slope, aspect = slope_aspect(dem, cell_size)
    water = _lake(rng, dem, slope) if rng.random() < P_WATER else np.zeros(shape, dtype=bool)
    if water.any():  # a lake surface is flat: level it and re-derive the terrain
        dem[water] = dem[water].max()
        slope, aspect = slope_aspect(dem, cell_size)
    z = (dem - dem.min()) / max(float(np.ptp(dem)), 1e-9)

    fuel = _fuels(rng, z, slope, aspect)
    rock_noise = _spectral_fields(rng, 1, shape, beta=2.0)[0]
    if rng.random() < P_ROCK:
        fuel[_rock(rng, z, slope, rock_noise) & ~water] = ROCK
    if rng.random() < P_ROAD:
        fuel[_road_mask(rng, shape) & ~water] = ROAD
    fuel[water] = WATER
    slope[water] = 0.0
    aspect[water] = 0.0

    layers = {"dem": dem, "slp": slope, "asp": aspect, "fbfm": fuel, **_canopy(rng, fuel, z)}
    meta = {"source": "synthetic", "relief_m": float(np.ptp(dem))}
    tile = Landscape(layers, cell_size=float(cell_size), name=name, meta=meta).validate()
    return with_synthetic_planner_layers(tile, seed) if planner_layers else tile


def tile_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed of tile `index` in a set generated from `seed`: child `index` of SeedSequence(seed)."""
    return np.random.SeedSequence(seed, spawn_key=(int(index),))


def synthetic_tiles(
    n: int, size: int = 50, seed: int = 0, cell_size: float = 30.0, planner_layers: bool = False
) -> list[Landscape]:
    """`n` synthetic tiles; tile i is seeded from `SeedSequence(seed).spawn(...)[i]`, whatever `n` is."""
    if int(n) < 0:
        raise ConfigError(f"number of tiles must be non-negative, got {n}")
    return [
        synthetic_tile(size, tile_seed(seed, i), cell_size, name=f"synthetic-s{seed}-{i:05d}",
                       planner_layers=planner_layers)  # fmt: skip
        for i in range(int(n))
    ]
