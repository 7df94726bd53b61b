"""pyretechnics' per-cell surface and crown equations, compiled over all cells of a tile at once.

`compute_behavior` needs, for every burnable cell, pyretechnics' maximum surface fire
(`surface_fire.calc_surface_fire_behavior_max`, Rothermel 1972 with Albini 1976 and Andrews 2012),
Van Wagner's (1977) crown initiation test, and for cells whose head fire crowns, the surface and
crown fronts toward every stencil direction (`crown_fire.calc_crown_fire_behavior_max`, Cruz et al.
2005; `calc_combined_fire_behavior`). Called cell by cell from Python these took about 27 ms per
50x50 tile. Here each equation is one small compiled function that repeats pyretechnics' own
arithmetic **operation for operation and in its precision**: pyretechnics is Cython whose variables
are C `float` (32 bit), whose literals are C `double`, and whose `sqrt`, `exp`, `log`, `pow`, `sin`,
`cos` are the C library's double functions. So every value is rounded to float32 exactly where the
generated C rounds it (`f32(...)` below), and the results are bit-for-bit pyretechnics' own (a test
checks every value of every cell against the cell-by-cell path, on synthetic and LANDFIRE tiles
and on every fuel model).

What depends on the fuel model alone (moisturized fuel model, no-wind-no-slope behaviour,
`calc_surface_fire_behavior_no_wind_no_slope`) is still computed by pyretechnics itself, once per
(fuel model, moistures), and cached.

Units follow pyretechnics: rates m/min, intensities kW/m, slope rise/run, directions degrees
clockwise from north, wind km/h at 10 m (midflame wind m/min), canopy cover 0-1, heights m
(fuel bed depth and the canopy height fed to the wind adjustment factor: ft).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np

f32 = np.float32

# Fields of pyretechnics' FireBehaviorMin, in its struct order (cy_types.pxd), plus the fuel bed depth
# (ft) and the dead 1 h low heat content (Btu/lb) that the wind adjustment factor and crown intensity use.
MIN_FIELDS = (
    "base_spread_rate",
    "base_fireline_intensity",
    "max_effective_wind_speed",
    "_phiS_G",
    "_phiW_scalr",
    "_phiW_expnt",
    "_ws_scalr",
    "_ws_expnt",
)


@lru_cache(maxsize=4096)
def fuel_constants(fuel: int, m1h: float, m10h: float, m100h: float, herb: float, woody: float) -> tuple:
    """Pyretechnics' no-wind-no-slope surface fire of one fuel model under one set of moistures.

    Returns the 8 FireBehaviorMin fields (m/min, kW/m, m/min, then unitless and m/min
    intermediates), the fuel bed depth delta (ft) and the crown heat of combustion (kJ/kg,
    `Btu_lb_to_kJ_kg` of the fuel's dead 1 h heat content), each as pyretechnics' float32 value.
    """
    import pyretechnics.conversion as conv
    import pyretechnics.fuel_models as fm
    import pyretechnics.surface_fire as sf

    fuel_model = fm.get_fuel_model(int(fuel))
    moist_model = fm.moisturize(fuel_model, (m1h, m10h, m100h, 0.0, herb, woody))
    surface_min = sf.calc_surface_fire_behavior_no_wind_no_slope(moist_model, 1.0)
    heat = conv.Btu_lb_to_kJ_kg(fuel_model["h"][0])
    return (*(surface_min[k] for k in MIN_FIELDS), fuel_model["delta"], heat)


# --- conversion.py and vector_utils.py ------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def opposite_direction(theta):
    """conversion.opposite_direction: (theta + 180) mod 360, degrees."""
    return f32(np.fmod(np.float64(theta) + 180.0, 360.0))


@numba.njit(cache=True, inline="always")
def azimuthal_to_cartesian(r, azimuth):
    """conversion.azimuthal_to_cartesian: (r sin az, r cos az), az in degrees clockwise from north."""
    azimuth_rad = f32((np.float64(azimuth) * math.pi) / 180.0)
    return (
        f32(np.float64(r) * math.sin(np.float64(azimuth_rad))),
        f32(np.float64(r) * math.cos(np.float64(azimuth_rad))),
    )


@numba.njit(cache=True, inline="always")
def to_slope_plane(vx, vy, gx, gy):
    """vector_utils.to_slope_plane: lift a map vector onto the plane with elevation gradient (gx, gy)."""
    return vx, vy, vx * gx + vy * gy


@numba.njit(cache=True, inline="always")
def dot_3d(ax, ay, az, bx, by, bz):
    """vector_utils.dot_3d, in float32."""
    return ax * bx + ay * by + az * bz


@numba.njit(cache=True, inline="always")
def vector_magnitude_3d(x, y, z):
    """vector_utils.vector_magnitude_3d: sqrt of the float32 dot product, rounded to float32."""
    return f32(math.sqrt(np.float64(dot_3d(x, y, z, x, y, z))))


@numba.njit(cache=True, inline="always")
def as_unit_vector_3d(x, y, z):
    """vector_utils.as_unit_vector_3d (a zero vector is returned unchanged)."""
    m = vector_magnitude_3d(x, y, z)
    if m == 0.0:
        return x, y, z
    return x / m, y / m, z / m


# --- surface_fire.py --------------------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def calc_wind_adjustment_factor(fuel_bed_depth, canopy_height, canopy_cover):
    """Wind adjustment factor (unitless), Andrews 2012 eqs 2 (sheltered) and 6; depth, height in ft."""
    crown_fill_portion = f32(np.float64(canopy_cover) / 3.0)
    if crown_fill_portion >= 0.05 and canopy_height >= 6.0:
        a = f32(math.sqrt(np.float64(crown_fill_portion * canopy_height)))
        ch = np.float64(canopy_height)
        b = f32(math.log((20.0 + 0.36 * ch) / (0.13 * ch)))
        return f32(0.555 / np.float64(a * b))
    if fuel_bed_depth > 0.0:
        d = np.float64(fuel_bed_depth)
        a = f32(math.log((20.0 + 0.36 * d) / (0.13 * d)))
        return f32(1.83 / np.float64(a))
    return f32(0.0)


@numba.njit(cache=True, inline="always")
def get_phi_W(phiW_scalr, phiW_expnt, midflame_wind_speed):
    """Rothermel's wind factor phi_W (unitless) for a midflame wind in m/min."""
    return f32(np.float64(phiW_scalr) * math.pow(np.float64(midflame_wind_speed), np.float64(phiW_expnt)))


@numba.njit(cache=True, inline="always")
def get_wind_speed(ws_scalr, ws_expnt, phi_W):
    """The wind speed (m/min) whose wind factor is phi_W (the inverse of get_phi_W)."""
    return f32(np.float64(ws_scalr) * math.pow(np.float64(phi_W), np.float64(ws_expnt)))


@numba.njit(cache=True, inline="always")
def surface_length_to_width_ratio(effective_wind_speed):
    """Behave's length-to-width ratio (unitless, at most 8) for an effective wind in m/min."""
    mph = np.float64(f32(np.float64(effective_wind_speed) * 0.0372840909091))
    lw = 0.936 * math.exp(0.1147 * mph) + 0.461 * math.exp(-0.0692 * mph) - 0.397
    return f32(lw if lw < 8.0 else 8.0)


@numba.njit(cache=True, inline="always")
def fire_eccentricity(length_to_width_ratio):
    """Eccentricity of an ellipse from its length-to-width ratio, Albini and Chase 1980 eq. 8."""
    lw = length_to_width_ratio
    return f32(math.sqrt(np.float64(lw * lw) - 1.0) / np.float64(lw))


@numba.njit(cache=True, inline="always")
def calc_flame_length(fireline_intensity):
    """Byram's flame length (m) from fireline intensity (kW/m)."""
    return f32(0.07747042253266703 * math.pow(np.float64(fireline_intensity), 0.46))


@numba.njit(cache=True, inline="always")
def calc_surface_fire_behavior_max(fmin, midflame_wind_speed, upwind_direction, slope, aspect):
    """surface_fire.calc_surface_fire_behavior_max (wind limit on, Behave L/W).

    fmin: the 8 FireBehaviorMin fields (float32). Returns (max spread rate m/min, eccentricity,
    max spread direction x, y, z (unit, slope plane), max fireline intensity kW/m).
    """
    downwind_direction = opposite_direction(upwind_direction)
    upslope_direction = opposite_direction(aspect)
    wx, wy = azimuthal_to_cartesian(midflame_wind_speed, downwind_direction)
    sx, sy = azimuthal_to_cartesian(slope, upslope_direction)
    wx, wy, wz = to_slope_plane(wx, wy, sx, sy)
    sx, sy, sz = to_slope_plane(sx, sy, sx, sy)
    phi_W = get_phi_W(fmin[4], fmin[5], vector_magnitude_3d(wx, wy, wz))
    phi_S = fmin[3] * (slope * slope)
    if phi_W > 0.0:
        wx, wy, wz = as_unit_vector_3d(wx, wy, wz)
    ux, uy, uz = sx, sy, sz
    if phi_S > 0.0:
        ux, uy, uz = as_unit_vector_3d(sx, sy, sz)
    ex, ey, ez = phi_W * wx + phi_S * ux, phi_W * wy + phi_S * uy, phi_W * wz + phi_S * uz
    phi_E = vector_magnitude_3d(ex, ey, ez)
    if phi_E > 0.0:
        dx, dy, dz = as_unit_vector_3d(ex, ey, ez)
    elif phi_S > 0.0:
        dx, dy, dz = as_unit_vector_3d(sx, sy, sz)
    else:
        dx, dy, dz = f32(0.0), f32(1.0), f32(0.0)
    wind = get_wind_speed(fmin[6], fmin[7], phi_E)
    if wind > fmin[2]:  # maybe_limit_wind_speed
        wind = fmin[2]
        phi_E = get_phi_W(fmin[4], fmin[5], wind)
    rate = f32(fmin[0] * (1.0 + np.float64(phi_E)))
    intensity = f32(fmin[1] * (1.0 + np.float64(phi_E)))
    ecc = fire_eccentricity(surface_length_to_width_ratio(wind))
    return rate, ecc, dx, dy, dz, intensity


@numba.njit(cache=True, inline="always")
def front_adjustment(eccentricity, cos_w):
    """The factor on the head rate/intensity for a front facing cos_w off the head (both pyretechnics' `calc_*_fire_behavior_in_direction`)."""
    e1i = f32(1.0 / (1.0 + np.float64(eccentricity)))
    e_cos_w = eccentricity * cos_w
    sq = e_cos_w * e1i
    return f32(
        np.float64(e1i * e_cos_w)
        + math.sqrt(np.float64(e1i) * (1.0 - np.float64(eccentricity)) + np.float64(sq * sq))
    )


# --- crown_fire.py -----------------------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def van_wagner_critical_fireline_intensity(canopy_base_height, foliar_moisture):
    """Surface intensity (kW/m) that starts a crown fire, Van Wagner 1977 eq. 4; cbh m, moisture fraction."""
    h = f32(460.0 + 2600.0 * np.float64(foliar_moisture))
    v = f32((0.01 * np.float64(canopy_base_height)) * np.float64(h))
    return f32(np.float64(v) * math.sqrt(np.float64(v)))


@numba.njit(cache=True, inline="always")
def van_wagner_crown_fire_initiation(
    surface_fireline_intensity, canopy_cover, canopy_base_height, foliar_moisture
):
    """True where a surface front of this intensity (kW/m) starts a crown fire (canopy cover 0-1)."""
    return (
        surface_fireline_intensity > 0.0
        and canopy_cover > 0.4
        and surface_fireline_intensity
        >= van_wagner_critical_fireline_intensity(canopy_base_height, foliar_moisture)
    )


@numba.njit(cache=True, inline="always")
def cruz_active_crown_fire_spread_rate(wind_speed_10m, canopy_bulk_density, fine_fuel_moisture):
    """Active crown fire rate (m/min), Cruz et al. 2005; wind km/h, cbd kg/m^3, moisture fraction."""
    return f32(
        11.02
        * math.pow(np.float64(wind_speed_10m), 0.90)
        * math.pow(np.float64(canopy_bulk_density), 0.19)
        * math.exp(-17.0 * np.float64(fine_fuel_moisture))
    )


@numba.njit(cache=True, inline="always")
def cruz_crown_fire_spread_info(wind_speed_10m, canopy_bulk_density, fine_fuel_moisture):
    """(fire type 2 passive / 3 active, crown spread rate m/min), Cruz et al. 2005 with Van Wagner's critical rate 3/cbd."""
    active = cruz_active_crown_fire_spread_rate(wind_speed_10m, canopy_bulk_density, fine_fuel_moisture)
    critical = f32(3.0 / np.float64(canopy_bulk_density))
    if active > critical:
        return 3, active
    return 2, f32(np.float64(active) * math.exp(np.float64((-active) / critical)))


@numba.njit(cache=True, inline="always")
def calc_crown_fire_behavior_max(ch, cbh, cbd, heat, m1h, wind_speed_10m, upwind_direction, slope, aspect):
    """crown_fire.calc_crown_fire_behavior_max with no L/W cap (1e10).

    Returns (fire type, max spread rate m/min, eccentricity, direction x, y, z, max intensity kW/m).
    """
    downwind_direction = opposite_direction(upwind_direction)
    upslope_direction = opposite_direction(aspect)
    wx, wy = azimuthal_to_cartesian(wind_speed_10m, downwind_direction)
    sx, sy = azimuthal_to_cartesian(slope, upslope_direction)
    wx, wy, wz = to_slope_plane(wx, wy, sx, sy)
    sx, sy, sz = to_slope_plane(sx, sy, sx, sy)
    wind_3d = vector_magnitude_3d(wx, wy, wz)
    if wind_3d > 0.0:
        dx, dy, dz = as_unit_vector_3d(wx, wy, wz)
    elif slope > 0.0:
        dx, dy, dz = as_unit_vector_3d(sx, sy, sz)
    else:
        dx, dy, dz = f32(0.0), f32(1.0), f32(0.0)
    fire_type, rate = cruz_crown_fire_spread_info(wind_3d, cbd, m1h)
    intensity = f32(np.float64(((rate * cbd) * (ch - cbh)) * heat) / 60.0)  # calc_crown_fireline_intensity
    wind_20ft_mph = f32(np.float64(f32(np.float64(wind_3d) / 1.15)) * 0.621371192237334)
    lw = f32(1.0 + 0.125 * np.float64(wind_20ft_mph))
    cap = f32(1e10)
    lw = cap if cap < lw else lw
    return fire_type, rate, fire_eccentricity(lw), dx, dy, dz, intensity


@numba.njit(cache=True, inline="always")
def combined_intensity(surface_rate, surface_intensity, crown_type, crown_rate, crown_intensity):
    """(fire type, intensity kW/m) of crown_fire.calc_combined_fire_behavior for a crowning front."""
    if surface_rate == 0.0:
        return crown_type, crown_intensity
    if crown_rate == 0.0:
        return (crown_type, surface_intensity) if crown_type == 2 else (1, surface_intensity)
    if surface_rate > crown_rate:
        return crown_type, surface_intensity + crown_intensity * surface_rate / crown_rate
    return crown_type, surface_intensity * crown_rate / surface_rate + crown_intensity


@numba.njit(cache=True, inline="always")
def ray_speed(max_spread_rate, eccentricity, cos_w):
    """`behavior.ray_speed` in float64: the ellipse's radius (m/min) from its rear focus, cos_w off its head."""
    return max_spread_rate * (1.0 - eccentricity) / (1.0 - eccentricity * cos_w)


# --- all cells ----------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def surface_maxima(fuel_index, fmins, deltas, params, wind_20ft, upwind, foliar, maxima, crowning):
    """Every cell's maximum surface fire and whether its head fire crowns.

    params rows (float32): fuel code, slope rise/run, aspect deg, canopy cover 0-1, canopy height m,
    base height m, bulk density kg/m^3. Fills maxima (N, 6) float64 (rate, eccentricity, direction
    x, y, z, intensity) and crowning (N,) bool.
    """
    for i in range(params.shape[0]):
        f = fuel_index[i]
        cc = params[i, 3]
        ch_ft = f32(np.float64(params[i, 4]) * 3.281)  # conversion.m_to_ft
        midflame = wind_20ft * calc_wind_adjustment_factor(deltas[f], ch_ft, cc)
        rate, ecc, dx, dy, dz, intensity = calc_surface_fire_behavior_max(
            fmins[f], midflame, upwind, params[i, 1], params[i, 2]
        )
        maxima[i, 0] = rate
        maxima[i, 1] = ecc
        maxima[i, 2] = dx
        maxima[i, 3] = dy
        maxima[i, 4] = dz
        maxima[i, 5] = intensity
        crowning[i] = van_wagner_crown_fire_initiation(intensity, cc, params[i, 5], foliar)


@numba.njit(cache=True, nogil=True)
def crowning_cells(
    cells,
    fuel_index,
    heats,
    params,
    maxima,
    azimuths,
    wind_10m,
    upwind,
    m1h,
    foliar,
    rows,
    cols,
    ros,
    intensity,
    fire_type,
):
    """Directional ray speeds (horizontal, m/min), intensities (kW/m) and fire type of cells whose head fire crowns.

    The values are those `behavior._crowning_cell` computes through pyretechnics.

    For each index j in `cells`, writes ros/intensity (K, H, W) and fire_type (H, W) at the cell's
    (rows[j], cols[j]).
    """
    for j in cells:
        r, c = rows[j], cols[j]
        slope, aspect, cc = params[j, 1], params[j, 2], params[j, 3]
        ch, cbh, cbd = params[j, 4], params[j, 5], params[j, 6]
        s_rate, s_ecc = f32(maxima[j, 0]), f32(maxima[j, 1])
        s_dx, s_dy, s_dz = f32(maxima[j, 2]), f32(maxima[j, 3]), f32(maxima[j, 4])
        s_int = f32(maxima[j, 5])
        c_type, c_rate, c_ecc, c_dx, c_dy, c_dz, c_int = calc_crown_fire_behavior_max(
            ch, cbh, cbd, heats[fuel_index[j]], m1h, wind_10m, upwind, slope, aspect
        )
        gx, gy = azimuthal_to_cartesian(slope, opposite_direction(aspect))
        ftype = 1
        for k in range(azimuths.shape[0]):
            vx, vy = azimuthal_to_cartesian(f32(1.0), azimuths[k])
            vx, vy, vz = to_slope_plane(vx, vy, gx, gy)
            ux, uy, uz = as_unit_vector_3d(vx, vy, vz)
            cos_s = dot_3d(s_dx, s_dy, s_dz, ux, uy, uz)
            adj = front_adjustment(s_ecc, cos_s)
            front_rate = s_rate * adj
            front_int = s_int * adj
            rate = ray_speed(np.float64(s_rate), np.float64(s_ecc), np.float64(cos_s))
            if van_wagner_crown_fire_initiation(front_int, cc, cbh, foliar):
                cos_c = dot_3d(c_dx, c_dy, c_dz, ux, uy, uz)
                c_adj = front_adjustment(c_ecc, cos_c)
                crown_rate = c_rate * c_adj
                t, front_int = combined_intensity(front_rate, front_int, c_type, crown_rate, c_int * c_adj)
                if crown_rate > 0.0:
                    rate = max(rate, ray_speed(np.float64(c_rate), np.float64(c_ecc), np.float64(cos_c)))
                ftype = max(ftype, t)
            ros[k, r, c] = rate * math.hypot(np.float64(ux), np.float64(uy))
            intensity[k, r, c] = front_int
        fire_type[r, c] = ftype


@numba.njit(cache=True, nogil=True)
def surface_directional(maxima, gx, gy, vx, vy, rows, cols, ray, intensity):
    """`behavior._surface_directional` compiled, operation for operation (float64, then float32 out).

    maxima (N, 6) as `surface_maxima` fills it; (gx, gy) (N,) each cell's elevation gradient; (vx, vy)
    (K,) the unit map vectors of the stencil directions. Fills, at each cell's (rows[i], cols[i]),
    ray (K, H, W), the horizontal ray speed (m/min), and intensity (K, H, W), the front-normal
    intensity (kW/m) toward each direction.
    """
    for i in range(maxima.shape[0]):
        r, c = rows[i], cols[i]
        rate, ecc = maxima[i, 0], maxima[i, 1]
        dx, dy, dz, imax = maxima[i, 2], maxima[i, 3], maxima[i, 4], maxima[i, 5]
        e1i = 1.0 / (1.0 + ecc)
        for k in range(vx.shape[0]):
            vz = vx[k] * gx[i] + vy[k] * gy[i]
            norm = math.sqrt(1.0 + vz * vz)
            cos_w = (dx * vx[k] + dy * vy[k] + dz * vz) / norm
            ray[k, r, c] = rate * (1.0 - ecc) / (1.0 - ecc * cos_w) / norm
            sq = ecc * cos_w * e1i
            intensity[k, r, c] = imax * (e1i * ecc * cos_w + math.sqrt(e1i * (1.0 - ecc) + sq * sq))
