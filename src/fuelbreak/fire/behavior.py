"""Fire behaviour per cell for one scenario, computed by pyretechnics.

Rothermel's surface model with wind and slope, Van Wagner's crown fire initiation and Cruz's crown
spread all come from `pyretechnics.burn_cells.burn_all_cells_toward_azimuth`; nothing here
re-derives them. What this module adds is the bridge between the two grid conventions and units:

* our rasters have row 0 at the north edge (GeoTIFF); pyretechnics' row 0 is the south edge, so
  every array is flipped on the way in and out;
* slope in degrees becomes rise/run, canopy cover % becomes a fraction, every non-burnable code
  (91-99) becomes 91, a code pyretechnics knows (it crashes on unknown ones, see DESIGN.md);
* pyretechnics reports spread rates along the slope plane; a spread engine working on the map
  needs the horizontal component, so each rate is multiplied by the horizontal length of
  pyretechnics' own 3-D spread direction (the cosine of the slope along the azimuth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fuelbreak.fire.scenario import Scenario
from fuelbreak.landscape.core import NONBURNABLE, Landscape

# The 16-neighbour stencil as (d_row, d_col) with row 0 north: 4 cardinal, 4 diagonal, 8 knight moves.
STENCIL16: tuple[tuple[int, int], ...] = (
    (-1, 0), (0, 1), (1, 0), (0, -1),
    (-1, 1), (1, 1), (1, -1), (-1, -1),
    (-2, 1), (-1, 2), (1, 2), (2, 1), (2, -1), (1, -2), (-1, -2), (-2, -1),
)  # fmt: skip
STENCIL8 = STENCIL16[:8]


def azimuth_of(d_row: int, d_col: int) -> float:
    """Compass azimuth (degrees clockwise from north) of a move on a north-up grid."""
    return math.degrees(math.atan2(d_col, -d_row)) % 360.0


def pyretechnics_cubes(landscape: Landscape, scenario: Scenario, bands: int = 1) -> dict:
    """The dict of pyretechnics SpaceTimeCubes for a landscape (flipped south-up) and a scenario."""
    from pyretechnics.space_time_cube import SpaceTimeCube

    lay = landscape.layers
    h, w = landscape.shape
    shape = (bands, h, w)

    def grid(a: np.ndarray) -> SpaceTimeCube:
        return SpaceTimeCube(shape, np.ascontiguousarray(np.flipud(a), dtype=np.float32))

    def const(v: float) -> SpaceTimeCube:
        return SpaceTimeCube(shape, float(v))

    fuel = lay["fbfm"].astype(np.int32)
    fuel = np.where(np.isin(fuel, sorted(NONBURNABLE)), 91, fuel)
    return {
        "slope": grid(np.tan(np.radians(lay["slp"]))),
        "aspect": grid(lay["asp"]),
        "fuel_model": grid(fuel.astype(np.float32)),
        "canopy_cover": grid(lay["cc"] / 100.0),
        "canopy_height": grid(lay["ch"]),
        "canopy_base_height": grid(lay["cbh"]),
        "canopy_bulk_density": grid(lay["cbd"]),
        "wind_speed_10m": const(scenario.wind_speed),
        "upwind_direction": const(scenario.wind_direction % 360.0),
        "fuel_moisture_dead_1hr": const(scenario.m1h),
        "fuel_moisture_dead_10hr": const(scenario.m10h),
        "fuel_moisture_dead_100hr": const(scenario.m100h),
        "fuel_moisture_live_herbaceous": const(scenario.herb),
        "fuel_moisture_live_woody": const(scenario.woody),
        "foliar_moisture": const(scenario.foliar),
    }


@dataclass
class FireBehavior:
    """Directional fire behaviour of every cell, north-up.

    ros[k]        horizontal speed at which fire travels from the cell toward stencil direction k,
                  m/min: the radius of the spread ellipse (ignition at its rear focus) in that
                  direction, projected onto the map; 0 where non-burnable
    intensity[k]  fireline intensity of a front facing direction k, kW/m (pyretechnics' value)
    fire_type     most severe type over directions: 0 none, 1 surface, 2 passive crown, 3 active crown
    """

    stencil: tuple[tuple[int, int], ...]
    ros: np.ndarray
    intensity: np.ndarray
    fire_type: np.ndarray

    def intensity_toward(self, azimuth: float) -> np.ndarray:
        """Intensity toward the stencil direction closest to `azimuth` (degrees clockwise from north)."""
        az = np.array([azimuth_of(*d) for d in self.stencil])
        k = int(np.argmin(np.abs((az - azimuth + 180.0) % 360.0 - 180.0)))
        return self.intensity[k]


def ray_speed(max_spread_rate: float, eccentricity: float, cos_w: float) -> float:
    """Distance per minute from the ignition point of an elliptical fire, at angle w from its head.

    With the ignition at the rear focus, the ellipse in polar form is r(w) = a(1-e^2)/(1-e cos w) and
    the head distance is a(1+e), so r(w) = R_head (1-e)/(1-e cos w). pyretechnics gives the
    front-normal rate (what a level set needs); a path-based engine needs this ray speed instead,
    which is slower on the flanks (using the normal rate there widens fires by about a third).
    """
    return max_spread_rate * (1.0 - eccentricity) / (1.0 - eccentricity * cos_w)


def _surface_max(fuel: int, slope: float, aspect: float, cc: float, ch: float, scenario: Scenario) -> dict:
    """Pyretechnics' surface fire in its direction of maximum spread, for one cell's inputs."""
    import pyretechnics.conversion as conv
    import pyretechnics.fuel_models as fm
    import pyretechnics.surface_fire as sf

    fuel_model = fm.get_fuel_model(int(fuel))
    moisture = (scenario.m1h, scenario.m10h, scenario.m100h, 0.0, scenario.herb, scenario.woody)
    moist_model = fm.moisturize(fuel_model, moisture)
    wind_20ft = conv.km_hr_to_m_min(conv.wind_speed_10m_to_wind_speed_20ft(scenario.wind_speed))
    midflame = sf.calc_midflame_wind_speed(wind_20ft, fuel_model["delta"], conv.m_to_ft(ch), cc)
    surface_min = sf.calc_surface_fire_behavior_no_wind_no_slope(moist_model, 1.0)
    upwind = scenario.wind_direction % 360.0
    return sf.calc_surface_fire_behavior_max(surface_min, midflame, upwind, slope, aspect, True, "behave")


def _crowning_cell(params: tuple, surface_max: dict, scenario: Scenario, azimuths: list[float]):
    """Rates (ray, horizontal) and intensities toward each azimuth for a cell whose head fire crowns.

    Follows `burn_cell_toward_azimuth` call for call: the front facing each azimuth is tested for
    crown initiation, and where it crowns, crown and surface fronts are combined.
    """
    import pyretechnics.conversion as conv
    import pyretechnics.crown_fire as cf
    import pyretechnics.fuel_models as fm
    import pyretechnics.surface_fire as sf
    import pyretechnics.vector_utils as vu

    fuel, slope, aspect, cc, ch, cbh, cbd = params
    upwind = scenario.wind_direction % 360.0
    heat = conv.Btu_lb_to_kJ_kg(fm.get_fuel_model(int(fuel))["h"][0])
    crown_max = cf.calc_crown_fire_behavior_max(
        ch, cbh, cbd, heat, scenario.m1h, scenario.wind_speed, upwind, slope, aspect, 1e10
    )
    slope_vector = conv.azimuthal_to_cartesian(slope, conv.opposite_direction(aspect))
    rates, intensities, fire_type = [], [], 1
    for az in azimuths:
        u = vu.as_unit_vector_3d(vu.to_slope_plane(conv.azimuthal_to_cartesian(1.0, az), slope_vector))
        front = sf.calc_surface_fire_behavior_in_direction(surface_max, u)
        rate = ray_speed(
            surface_max["max_spread_rate"],
            surface_max["eccentricity"],
            vu.dot_3d(surface_max["max_spread_direction"], u),
        )
        if cf.van_wagner_crown_fire_initiation(front["fireline_intensity"], cc, cbh, scenario.foliar):
            crown_front = cf.calc_crown_fire_behavior_in_direction(crown_max, u)
            front = cf.calc_combined_fire_behavior(front, crown_front)
            if crown_front["spread_rate"] > 0.0:
                cos_c = vu.dot_3d(crown_max["max_spread_direction"], u)
                rate = max(rate, ray_speed(crown_max["max_spread_rate"], crown_max["eccentricity"], cos_c))
            fire_type = max(fire_type, front["fire_type"])
        rates.append(rate * math.hypot(u[0], u[1]))
        intensities.append(front["fireline_intensity"])
    return rates, intensities, fire_type


def _surface_directional(maxima: np.ndarray, slope: np.ndarray, aspect: np.ndarray, azimuths: list[float]):
    """Ray speeds (horizontal) and front-normal intensities toward each azimuth, for many cells at once.

    maxima rows: max spread rate, eccentricity, direction x, y, z, max fireline intensity. The
    directions are pyretechnics' own (`to_slope_plane` of the azimuth's unit vector, normalised); the
    front-normal adjustment is that of `calc_surface_fire_behavior_in_direction` (a test checks the
    result against pyretechnics cell by cell).
    """
    rate, ecc, dx, dy, dz, imax = (maxima[:, i : i + 1].astype(np.float64) for i in range(6))
    up = np.radians((aspect + 180.0) % 360.0)[:, None]
    gx, gy = slope[:, None] * np.sin(up), slope[:, None] * np.cos(up)  # elevation gradient
    az = np.radians(np.asarray(azimuths))[None, :]
    vx, vy = np.sin(az), np.cos(az)
    vz = vx * gx + vy * gy
    norm = np.sqrt(1.0 + vz * vz)
    cos_w = (dx * vx + dy * vy + dz * vz) / norm
    ray = rate * (1.0 - ecc) / (1.0 - ecc * cos_w) / norm  # 1 / norm: horizontal share of the move
    e1i = 1.0 / (1.0 + ecc)
    adjustment = e1i * ecc * cos_w + np.sqrt(e1i * (1.0 - ecc) + (ecc * cos_w * e1i) ** 2)
    return ray, imax * adjustment


def _cell_params(landscape: Landscape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and float32 inputs (fuel, slope rise/run, aspect, cc 0-1, ch, cbh, cbd) of burnable cells."""
    lay = landscape.layers
    rows, cols = np.nonzero(landscape.burnable)
    params = np.empty((len(rows), 7), dtype=np.float32)
    for j, key in enumerate(("fbfm", "slp", "asp", "cc", "ch", "cbh", "cbd")):
        params[:, j] = lay[key][rows, cols]
    # in float32 on contiguous arrays, as over the whole layers: the same values as pyretechnics gets
    params[:, 1] = np.tan(np.radians(lay["slp"][rows, cols]))
    params[:, 3] = lay["cc"][rows, cols] / 100.0
    return rows, cols, params


def compute_behavior(landscape: Landscape, scenario: Scenario, stencil=STENCIL16) -> FireBehavior:
    """Fire behaviour toward every stencil direction, from pyretechnics' equations, for a validated landscape.

    Mirrors `pyretechnics.burn_cells.burn_cell_toward_azimuth` (surface fire, Van Wagner crown
    initiation on the front facing each direction, Cruz crown spread, combined behaviour) and adds
    the ray speed a path-based engine needs. The per-fuel-model part comes from pyretechnics (cached,
    `fastbehavior.fuel_constants`); the per-cell equations run compiled over all cells at once
    (`fastbehavior`), in pyretechnics' own float32 arithmetic, so every value equals that of
    `compute_behavior_cellwise`, which calls pyretechnics cell by cell. The directional values of
    cells whose head fire does not crown follow from the ellipse (`_surface_directional`).
    """
    import pyretechnics.conversion as conv

    from fuelbreak.fire import fastbehavior as fb

    landscape.validate()  # pyretechnics crashes the process on fuel codes it does not know
    h, w = landscape.shape
    n = len(stencil)
    ros = np.zeros((n, h, w), dtype=np.float32)
    intensity = np.zeros((n, h, w), dtype=np.float32)
    fire_type = np.zeros((h, w), dtype=np.uint8)
    rows, cols, params = _cell_params(landscape)
    if len(rows) == 0:
        return FireBehavior(tuple(stencil), ros, intensity, fire_type)
    codes = params[:, 0].astype(np.int64)  # validated Scott & Burgan codes, all below 256
    present = np.zeros(256, dtype=bool)
    present[codes] = True
    fuels = np.flatnonzero(present)
    lookup = np.zeros(256, dtype=np.int64)
    lookup[fuels] = np.arange(len(fuels))
    fuel_index = lookup[codes]
    moist = (scenario.m1h, scenario.m10h, scenario.m100h, scenario.herb, scenario.woody)
    consts = np.array([fb.fuel_constants(int(f), *moist) for f in fuels], dtype=np.float32)
    fmins, deltas, heats = consts[:, :8], consts[:, 8].copy(), consts[:, 9].copy()
    upwind = np.float32(scenario.wind_direction % 360.0)
    wind_20ft = np.float32(conv.km_hr_to_m_min(conv.wind_speed_10m_to_wind_speed_20ft(scenario.wind_speed)))
    foliar = np.float32(scenario.foliar)
    maxima = np.empty((len(rows), 6), dtype=np.float64)
    crowning = np.empty(len(rows), dtype=np.bool_)
    fb.surface_maxima(fuel_index, fmins, deltas, params, wind_20ft, upwind, foliar, maxima, crowning)
    azimuths = [azimuth_of(*d) for d in stencil]
    up = np.radians((params[:, 2] + 180.0) % 360.0)  # float32, exactly as in _surface_directional
    slope = params[:, 1]
    az = np.radians(np.asarray(azimuths))
    fb.surface_directional(
        maxima, slope * np.sin(up), slope * np.cos(up), np.sin(az), np.cos(az), rows, cols, ros, intensity
    )
    fire_type[rows, cols] = 1
    crowned = np.flatnonzero(crowning)
    if len(crowned):
        fb.crowning_cells(
            crowned, fuel_index, heats, params, maxima, np.array(azimuths, dtype=np.float32),
            np.float32(scenario.wind_speed), upwind, np.float32(scenario.m1h), foliar,
            rows, cols, ros, intensity, fire_type,
        )  # fmt: skip
    return FireBehavior(tuple(stencil), ros, intensity, fire_type)


def compute_behavior_cellwise(landscape: Landscape, scenario: Scenario, stencil=STENCIL16) -> FireBehavior:
    """`compute_behavior` the slow way, calling pyretechnics cell by cell: the reference its tests use.

    Mirrors `pyretechnics.burn_cells.burn_cell_toward_azimuth` (surface fire, Van Wagner crown
    initiation on the front facing each direction, Cruz crown spread, combined behaviour) and adds
    the ray speed a path-based engine needs. pyretechnics computes each cell's maximum surface fire
    (cells with identical inputs once); the directional values of cells whose head fire does not
    crown follow from the ellipse, vectorised; cells whose head fire crowns go through pyretechnics
    direction by direction.
    """
    import pyretechnics.crown_fire as cf

    landscape.validate()  # pyretechnics crashes the process on fuel codes it does not know
    lay = landscape.layers
    h, w = landscape.shape
    n = len(stencil)
    ros = np.zeros((n, h, w), dtype=np.float32)
    intensity = np.zeros((n, h, w), dtype=np.float32)
    fire_type = np.zeros((h, w), dtype=np.uint8)
    azimuths = [azimuth_of(*d) for d in stencil]
    cells = np.argwhere(landscape.burnable)
    if len(cells) == 0:
        return FireBehavior(tuple(stencil), ros, intensity, fire_type)
    rows, cols = cells[:, 0], cells[:, 1]
    params = np.stack(
        [
            lay["fbfm"],
            np.tan(np.radians(lay["slp"])),
            lay["asp"],
            lay["cc"] / 100.0,
            lay["ch"],
            lay["cbh"],
            lay["cbd"],
        ],
        axis=-1,
    ).astype(np.float32)[rows, cols]
    maxima = np.zeros((len(cells), 6), dtype=np.float64)
    crowning = np.zeros(len(cells), dtype=bool)
    surface_cache: dict[bytes, dict] = {}
    for i, p in enumerate(params):
        key = p[:5].tobytes()
        sm = surface_cache.get(key)
        if sm is None:
            sm = surface_cache[key] = _surface_max(*(float(x) for x in p[:5]), scenario)
        maxima[i] = (
            sm["max_spread_rate"],
            sm["eccentricity"],
            *sm["max_spread_direction"],
            sm["max_fireline_intensity"],
        )
        # The head fire has the largest front intensity: if it does not crown, no front of the cell does.
        crowning[i] = cf.van_wagner_crown_fire_initiation(
            sm["max_fireline_intensity"], float(p[3]), float(p[5]), scenario.foliar
        )
    ray, front_intensity = _surface_directional(maxima, params[:, 1], params[:, 2], azimuths)
    ros[:, rows, cols] = ray.T
    intensity[:, rows, cols] = front_intensity.T
    fire_type[rows, cols] = 1
    crown_cache: dict[bytes, tuple] = {}
    for i in np.flatnonzero(crowning):
        p = params[i]
        key = p.tobytes()
        if key not in crown_cache:
            sm = surface_cache[p[:5].tobytes()]
            crown_cache[key] = _crowning_cell(tuple(float(x) for x in p), sm, scenario, azimuths)
        rates, ints, ftype = crown_cache[key]
        ros[:, rows[i], cols[i]] = rates
        intensity[:, rows[i], cols[i]] = ints
        fire_type[rows[i], cols[i]] = ftype
    return FireBehavior(tuple(stencil), ros, intensity, fire_type)
