"""The daily crop, soil-water and carbon model, vectorised over units.

One Python loop over days; every step is a numpy operation on arrays of all
units. Vegetation is a corn/soybean crop (phenology from growing degree days)
or, for the tower network, natural vegetation whose leaf area follows the
growing-season index of Jolly et al. (2005). The equations are documented in
``docs/simulator.md``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kgml_core.simulator import climate

ROOT_ZONE_MM = 1000.0
PAR_FRACTION = 0.48
MJ_PER_WM2_DAY = 0.0864
SOY_LUE_RATIO = 0.62
SHOOT_FRACTION = 0.82

# vegetation codes
CROP, GRASS, DECIDUOUS, EVERGREEN, SHRUB = 0, 1, 2, 3, 4
# natural vegetation traits by code: LAI_max, LAI_min fraction, extinction k, water-limited
NATURAL = {
    GRASS: (2.6, 0.10, 0.5, True),
    DECIDUOUS: (5.0, 0.0, 0.5, False),
    EVERGREEN: (4.5, 0.75, 0.5, False),
    SHRUB: (1.4, 0.25, 0.5, True),
}
# crop traits, index 0 corn, 1 soybean
CROP_TRAITS = {
    "lai_max": np.array([5.6, 5.0], np.float32),
    "k": np.array([0.55, 0.60], np.float32),
    "t_card": np.array([[8.0, 20.0, 32.0, 42.0], [5.0, 18.0, 30.0, 40.0]], np.float32),
    "sow_doy": np.array([110.0, 128.0], np.float32),
    "sow_temp": np.array([10.0, 12.0], np.float32),
    "gdd_emerge": np.array([80.0, 70.0], np.float32),
    "gdd_share": np.array([0.86, 0.74], np.float32),
    "flower": np.array([[0.45, 0.70], [0.50, 0.80]], np.float32),
}


@dataclass
class EngineOutput:
    """Daily (n, T) and annual (n, Y) results of :func:`run`, float32."""

    daily: dict[str, np.ndarray] = field(default_factory=dict)
    annual: dict[str, np.ndarray] = field(default_factory=dict)


def gdd_available(lat, lon, elev=None) -> np.ndarray:
    """Climatological growing degree days (base 10, cap 30 degC) from 10 May to 27 Sep, (n,)."""
    doy = np.arange(130, 271, dtype=float)
    tmean = (climate.mean_annual_temperature(lat, lon, elev)[:, None]
             + climate.temperature_amplitude(lat, lon)[:, None] * climate.doy_cycle(doy, 200.0)[None, :])
    half = climate.diurnal_range(lat, lon)[:, None] / 2
    return _gdd(tmean + half, tmean - half).sum(axis=1)


def _gdd(tmax, tmin):
    return np.maximum((np.clip(tmax, 10, 30) + np.clip(tmin, 10, 30)) / 2 - 10, 0)


def _trapezoid(t, card):
    """Temperature response 0-1 with cardinal temperatures card = (min, opt1, opt2, max), (n, 4)."""
    up = (t - card[:, 0]) / (card[:, 1] - card[:, 0])
    down = (card[:, 3] - t) / (card[:, 3] - card[:, 2])
    return np.clip(np.minimum(up, down), 0, 1)


def _lai_shape(dev):
    """Potential leaf area as a fraction of the maximum, by development stage 0-1."""
    grow = 1 / (1 + np.exp(-12 * (dev - 0.32)))
    sen = 1 - 0.75 * np.clip((dev - 0.68) / 0.32, 0, 1) ** 1.5
    return grow * sen


def priestley_taylor(ta, sw):
    """Potential evapotranspiration (mm d-1) from air temperature (degC) and shortwave (W m-2)."""
    es = 0.6108 * np.exp(17.27 * ta / (ta + 237.3))
    delta = 4098 * es / (ta + 237.3) ** 2
    rn = np.maximum(0.6 * sw * MJ_PER_WM2_DAY - 1.2, 0)
    return 1.26 * delta / (delta + 0.066) * rn / 2.45


def day_length(lat, doy: int) -> np.ndarray:
    """Day length (h) at latitudes ``lat`` (n,) on day-of-year ``doy``."""
    delta = 0.409 * np.sin(2 * np.pi * doy / 365 - 1.39)
    ws = np.arccos(np.clip(-np.tan(np.deg2rad(lat)) * np.tan(delta), -1, 1))
    return 24 / np.pi * ws


class _State:
    """Mutable per-unit state of the daily loop (arrays of shape (n,))."""

    def __init__(self, n: int, soils: dict, veg: np.ndarray):
        f32 = np.float32
        self.theta = (0.9 * soils["FC"]).astype(f32)
        self.snow = np.zeros(n, f32)
        self.ts = np.full(n, 5.0, f32)
        self.t5 = np.full(n, 5.0, f32)
        self.litter = np.where(veg == CROP, 450.0, 350.0).astype(f32)
        self.som = (soils["SOC"] * soils["BD"] * 3000.0).astype(f32)  # 0-30 cm, g C m-2
        self.stage = np.zeros(n, np.int8)
        self.gdd = np.zeros(n, f32)
        self.dev = np.zeros(n, f32)
        self.lai = np.zeros(n, f32)
        self.biomass = np.zeros(n, f32)
        self.flower_fw = np.zeros(n, f32)
        self.flower_days = np.zeros(n, f32)
        self.heat_days = np.zeros(n, f32)
        self.since_mature = np.zeros(n, f32)
        self.gsi = np.full(n, 0.5, f32)
        self.npp_mean = np.zeros(n, f32)
        self.crop = np.zeros(n, np.int8)


def _water_balance(s: _State, soils, params, p, ta, pet, lai) -> None:
    """Snow, infiltration, drainage and evapotranspiration of the root-zone bucket (in place)."""
    snowfall = np.where(ta < 0, p, 0)
    melt = np.minimum(s.snow + snowfall, 3.0 * np.maximum(ta, 0))
    s.snow += snowfall - melt
    w = s.theta * ROOT_ZONE_MM + (p - snowfall) + melt
    w = np.minimum(w, soils["SAT"] * ROOT_ZONE_MM)
    k_drain = np.clip(params["DRAINAGE"] * np.sqrt(soils["KSAT"] / 15.0), 0.02, 0.95)
    w -= k_drain * np.maximum(w - soils["FC"] * ROOT_ZONE_MM, 0)
    avail = np.clip((w / ROOT_ZONE_MM - soils["WP"]) / (0.6 * (soils["FC"] - soils["WP"])), 0, 1)
    kc = np.minimum(0.3 + 0.85 * (1 - np.exp(-0.6 * lai)), 1.1)
    et = np.where(s.snow > 1, 0.0, pet * kc * avail)
    s.theta = (np.maximum(w - et, 0.4 * soils["WP"] * ROOT_ZONE_MM) / ROOT_ZONE_MM).astype(np.float32)


def _soil_carbon(s: _State, soils, params, ta, litter_in):
    """Decay of litter and soil organic matter; returns Rh (g C m-2 d-1)."""
    s.ts += (ta - s.ts) / 8.0
    f_t = params["RH_Q10"] ** ((s.ts - 20.0) / 10.0) * np.where(s.ts < 0, 0.3, 1.0)
    rel = s.theta / soils["FC"]
    f_w = np.exp(-(((rel - params["RH_SWC_OPT"]) / params["RH_SWC_WIDTH"]) ** 2))
    scale = f_t * f_w
    dec_lit = params["RH_KLIT"] * scale * s.litter
    dec_som = params["RH_KSOM"] * scale * s.som
    hum = params["RH_HUMIFICATION"]
    s.litter += litter_in - dec_lit
    s.som += hum * dec_lit - dec_som
    return (1 - hum) * dec_lit + dec_som


def _respiration(params, ta, gpp, live):
    """Autotrophic respiration: maintenance (Q10) on living biomass plus growth."""
    rm = params["RA_MAINT"] * live * params["RA_Q10"] ** ((ta - 20.0) / 10.0)
    rg = params["RA_GROWTH"] * np.maximum(gpp - rm, 0)
    return rm + rg


def _crop_phenology(s: _State, doy, ta, tmax, tmin, p, fw, lat_sow, gdd_mat, residue, yields, yi, params):
    """Sowing, emergence, leaf area, maturity and harvest of the crop units (in place)."""
    c = s.crop.astype(np.intp)
    sow_doy = CROP_TRAITS["sow_doy"][c] + lat_sow
    sow = (s.stage == 0) & (doy >= sow_doy) & (((s.t5 >= CROP_TRAITS["sow_temp"][c]) & (p < 5))
                                             | (doy >= sow_doy + 40))
    s.stage[sow] = 1
    active = (s.stage == 1) | (s.stage == 2)
    s.gdd += np.where(active, _gdd(tmax, tmin), 0)
    emerge = (s.stage == 1) & (s.gdd >= CROP_TRAITS["gdd_emerge"][c])
    s.stage[emerge] = 2
    s.lai[emerge] = 0.03
    s.biomass[emerge] = 3.0
    growing = s.stage == 2
    mat = gdd_mat[np.arange(len(c)), c]
    dev_new = np.where(growing, np.minimum(s.gdd / mat, 1.0), s.dev)
    lai_max = CROP_TRAITS["lai_max"][c]
    d_pot = lai_max * (_lai_shape(dev_new) - _lai_shape(s.dev))
    grow_lai = np.where(d_pot > 0, d_pot * (0.25 + 0.75 * fw),
                        d_pot * s.lai / np.maximum(lai_max * _lai_shape(s.dev), 0.05))
    stress_sen = 0.015 * (1 - fw) * s.lai * (dev_new > 0.6)
    s.lai = np.where(growing, np.maximum(s.lai + grow_lai - stress_sen, 0), s.lai)
    s.dev = dev_new
    lo, hi = CROP_TRAITS["flower"][c, 0], CROP_TRAITS["flower"][c, 1]
    flowering = growing & (s.dev >= lo) & (s.dev <= hi)
    s.flower_fw += np.where(flowering, fw, 0)
    s.flower_days += flowering
    s.heat_days += flowering & (tmax > 35)
    frost = growing & (tmin < -2) & (s.dev > 0.3)
    mature = growing & ((s.dev >= 1) | frost | (doy >= 300))
    s.stage[mature] = 3
    s.lai[frost] *= 0.3
    s.since_mature += s.stage == 3
    s.lai = np.where(s.stage == 3, s.lai * 0.92, s.lai)
    harvest = (s.stage == 3) & ((s.since_mature >= 21) | (doy >= 320))
    if harvest.any():
        _harvest(s, harvest, residue, yields, yi, params)


def _harvest(s: _State, idx, residue, yields, yi, params) -> None:
    hi_max = np.where(s.crop == 0, params["HI_CORN"], params["HI_SOY"])
    fw_flower = s.flower_fw / np.maximum(s.flower_days, 1)
    hi = hi_max * np.clip(1 - 0.8 * (1 - fw_flower), 0.1, 1) * np.clip(1 - 0.03 * s.heat_days, 0.3, 1)
    grain = hi * SHOOT_FRACTION * s.biomass
    yields[idx, yi] = grain[idx]
    residue[idx] = np.maximum(s.biomass - grain, 0)[idx]
    s.stage[idx] = 4
    s.lai[idx] = 0
    s.biomass[idx] = 0


def _new_year(s: _State, crop_year: np.ndarray) -> None:
    s.crop = crop_year.astype(np.int8)
    for name in ("gdd", "dev", "flower_fw", "flower_days", "heat_days", "since_mature"):
        getattr(s, name)[:] = 0
    s.stage[:] = 0
    s.lai[:] = np.where(s.stage == 0, 0, s.lai)


def _natural_lai(s: _State, veg, lat, doy, tmin, vpd, fw):
    """Leaf area of natural vegetation from the growing-season index (Jolly et al. 2005)."""
    i_t = np.clip((tmin + 2.0) / 7.0, 0, 1)
    i_p = np.clip(day_length(lat, doy) - 10.0, 0, 1)
    i_v = np.clip(1 - (vpd - 9.0) / 32.0, 0, 1)
    water_limited = (veg == GRASS) | (veg == SHRUB)
    gsi = i_t * i_p * i_v * np.where(water_limited, 0.2 + 0.8 * fw, 1.0)
    s.gsi += (gsi - s.gsi) / 12.0
    lai_max = np.choose(np.clip(veg, 1, 4) - 1, [NATURAL[k][0] for k in (1, 2, 3, 4)])
    lai_min = lai_max * np.choose(np.clip(veg, 1, 4) - 1, [NATURAL[k][1] for k in (1, 2, 3, 4)])
    return (lai_min + (lai_max - lai_min) * np.clip(1.25 * s.gsi, 0, 1)).astype(np.float32), lai_max


def run(weather: dict[str, np.ndarray], dates: pd.DatetimeIndex, soils: dict[str, np.ndarray],
        params: dict[str, np.ndarray], crop: np.ndarray, lat, lon, veg: np.ndarray | None = None,
        spinup_days: int = 0) -> EngineOutput:
    """Run the model over ``dates``.

    Parameters
    ----------
    weather : daily drivers (n, T), as from :func:`weather.generate_weather`.
    dates : daily dates, length T (first day 1 January).
    soils : soil properties (n,), as from :func:`soils.soil_properties`.
    params : parameters (n,), see :mod:`kgml_core.simulator.parameters`.
    crop : (n, n_years) 0 corn / 1 soybean for each calendar year in ``dates``.
    lat, lon : (n,) degrees.
    veg : (n,) vegetation codes (default all CROP).
    spinup_days : leading days to run but drop from the output.

    Returns
    -------
    EngineOutput with daily GPP, RA, RH, LAI, SWC (%), RESIDUE (g C m-2 d-1) and
    annual YIELD (g C m-2), all float32, without the spin-up.
    """
    n, n_days = weather["TA"].shape
    lat = np.asarray(lat, float)
    veg = np.zeros(n, np.int8) if veg is None else np.asarray(veg, np.int8)
    is_crop = veg == CROP
    any_natural = bool((~is_crop).any())
    s = _State(n, soils, veg)
    gdd_mat = np.clip(gdd_available(lat, lon)[:, None] * CROP_TRAITS["gdd_share"][None, :],
                      [850.0, 750.0], [1700.0, 1450.0]).astype(np.float32)
    lat_sow = np.clip(2.5 * (lat - 40.0), -25, 20).astype(np.float32)
    card = CROP_TRAITS["t_card"]
    years = dates.year.values
    year_index = years - years[0]
    doys = dates.dayofyear.values
    keep = n_days - spinup_days
    out = {k: np.zeros((n, keep), np.float32) for k in ("GPP", "RA", "RH", "LAI", "SWC", "RESIDUE")}
    yields = np.zeros((n, int(year_index[-1]) + 1), np.float32)
    lue_factor = np.where(s.crop == 0, 1.0, SOY_LUE_RATIO)
    for t in range(n_days):
        doy, yi = int(doys[t]), int(year_index[t])
        ta, tmax, tmin = weather["TA"][:, t], weather["TA_MAX"][:, t], weather["TA_MIN"][:, t]
        sw, p, vpd = weather["SW_IN"][:, t], weather["P"][:, t], weather["VPD"][:, t]
        if doy == 1:
            _new_year(s, crop[:, yi])
            lue_factor = np.where(s.crop == 0, 1.0, SOY_LUE_RATIO).astype(np.float32)
        s.t5 += (ta - s.t5) / 5.0
        fw = np.clip((s.theta - soils["WP"]) / (0.55 * (soils["FC"] - soils["WP"])), 0, 1)
        residue = np.zeros(n, np.float32)
        _crop_phenology(s, doy, ta, tmax, tmin, p, fw, lat_sow, gdd_mat, residue, yields, yi, params)
        lai = np.where(is_crop, s.lai, 0)
        if any_natural:
            nat_lai, nat_max = _natural_lai(s, veg, lat, doy, tmin, vpd, fw)
            lai = np.where(is_crop, lai, nat_lai)
        c = s.crop.astype(np.intp)
        f_t = np.where(is_crop, _trapezoid(ta, card[c]), _trapezoid(ta, np.tile(card[1] - [3, 3, 5, 5], (n, 1))))
        f_vpd = np.clip(1 - 0.6 * (vpd - 10.0) / 30.0, 0.35, 1)
        k = np.where(is_crop, CROP_TRAITS["k"][c], 0.5)
        apar = PAR_FRACTION * sw * MJ_PER_WM2_DAY * (1 - np.exp(-k * lai))
        gpp = np.where(is_crop, params["LUE"] * lue_factor, params["LUE"]) * apar * f_t * f_vpd * fw
        crop_live = s.biomass * (0.15 + 0.6 * s.lai / CROP_TRAITS["lai_max"][c])
        live = np.where(is_crop, crop_live, 0)
        if any_natural:
            live = np.where(is_crop, live, 40.0 * lai + 30.0 * nat_max)
        ra = _respiration(params, ta, gpp, live)
        crop_on = is_crop & ((s.stage == 2) | (s.stage == 3))
        gpp = np.where(is_crop & ~crop_on, 0, gpp)
        ra = np.where(is_crop & ~crop_on, 0, ra)
        ra = np.where(is_crop, np.minimum(ra, gpp + 0.05 * s.biomass), ra)
        s.biomass = np.where(crop_on, np.maximum(s.biomass + gpp - ra, 0), s.biomass).astype(np.float32)
        litter_in = residue
        if any_natural:
            s.npp_mean += (gpp - ra - s.npp_mean) / 120.0
            litter_in = np.where(is_crop, residue, np.maximum(s.npp_mean, 0) * 0.95)
        rh = _soil_carbon(s, soils, params, ta, litter_in)
        _water_balance(s, soils, params, p, ta, priestley_taylor(ta, sw), lai)
        if t >= spinup_days:
            i = t - spinup_days
            out["GPP"][:, i], out["RA"][:, i], out["RH"][:, i] = gpp, ra, rh
            out["LAI"][:, i], out["SWC"][:, i], out["RESIDUE"][:, i] = lai, 100 * s.theta, residue
    first_year = int(year_index[spinup_days]) if keep else 0
    return EngineOutput(daily=out, annual={"YIELD": yields[:, first_year:]})
