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
from scipy.signal import lfilter

from kgml_core.simulator import climate

ROOT_ZONE_MM = 1500.0
PAR_FRACTION = 0.48
MJ_PER_WM2_DAY = 0.0864
SOY_LUE_RATIO = 0.60
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
    "gdd_share": np.array([0.93, 0.80], np.float32),
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


def _lai_shape(dev):
    """Potential leaf area as a fraction of the maximum, by development stage 0-1."""
    grow = 1 / (1 + np.exp(-11 * (dev - 0.42)))
    sen = 1 - 0.75 * np.clip((dev - 0.75) / 0.25, 0, 1) ** 1.5
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


def _first_true(mask: np.ndarray, default: int) -> np.ndarray:
    """Index of the first True along axis 1, ``default`` where there is none, (n,)."""
    idx = mask.argmax(axis=1)
    return np.where(mask.any(axis=1), idx, default)


def crop_calendar(weather: dict, doy: np.ndarray, year_index: np.ndarray, crop: np.ndarray,
                  lat, gdd_mat: np.ndarray, sow_shift: np.ndarray | None = None,
                  harvest_delay: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Phenology of the crop units from weather alone, vectorised over units and days.

    Sowing after a crop- and latitude-dependent date once the 5-day mean temperature
    is warm enough on a dry day (at the latest 40 days later); emergence and
    maturity by growing degree days (base 10, cap 30 degC) from sowing; a killing
    frost (below -2 degC) or 27 October ends the season early; harvest 21 days
    after maturity or by 16 November. Optional per-unit management (n,):
    ``sow_shift`` days added to the earliest sowing date, ``harvest_delay`` days
    from maturity to harvest (instead of 21).

    Returns (n, T) arrays: ``dev`` (development 0-1, float32), ``stage`` (int8:
    0 before sowing, 1 sown, 2 growing, 3 mature, 4 harvested), ``flower`` (bool),
    ``harvest`` (bool, the harvest day) and ``emerge`` (bool, the emergence day).
    """
    n, n_days = weather["TA"].shape
    lat = np.asarray(lat, float)
    t5 = lfilter(np.float32([0.2]), np.float32([1, -0.8]), weather["TA"], axis=1)
    gdd = _gdd(weather["TA_MAX"], weather["TA_MIN"]).astype(np.float32)
    dev = np.zeros((n, n_days), np.float32)
    stage = np.zeros((n, n_days), np.int8)
    flower = np.zeros((n, n_days), bool)
    harvest = np.zeros((n, n_days), bool)
    emerge = np.zeros((n, n_days), bool)
    rows = np.arange(n)
    lat_shift = np.clip(2.5 * (lat - 40.0), -25, 20)
    if sow_shift is not None:
        lat_shift = lat_shift + np.asarray(sow_shift, float)
    delay = np.full(n, 21, np.intp) if harvest_delay is None else np.asarray(harvest_delay).astype(np.intp)
    for yi in np.unique(year_index):
        days = np.flatnonzero(year_index == yi)
        sl = slice(days[0], days[-1] + 1)
        c = crop[:, yi].astype(np.intp)
        d = doy[sl][None, :]
        sow_doy = (CROP_TRAITS["sow_doy"][c] + lat_shift)[:, None]
        ok = (d >= sow_doy) & (((t5[:, sl] >= CROP_TRAITS["sow_temp"][c][:, None]) & (weather["P"][:, sl] < 5))
                               | (d >= sow_doy + 40))
        i_sow = _first_true(ok, len(days) - 1)
        pos = np.arange(len(days))[None, :]
        cum = np.cumsum(np.where(pos >= i_sow[:, None], gdd[:, sl], 0), axis=1)
        i_emerge = _first_true(cum >= CROP_TRAITS["gdd_emerge"][c][:, None], len(days) - 1)
        dv = np.minimum(cum / gdd_mat[rows, c][:, None], 1)
        emerged = pos >= i_emerge[:, None]
        frost = emerged & (weather["TA_MIN"][:, sl] < -2) & (dv > 0.3)
        i_mature = _first_true(emerged & ((dv >= 1) | frost | (d >= 300)), len(days) - 1)
        i_mature = np.maximum(i_mature, i_emerge)
        i_harvest = np.minimum(i_mature + delay, _first_true(np.broadcast_to(d >= 320, dv.shape), len(days) - 1))
        i_harvest = np.maximum(i_harvest, i_mature)
        st = ((pos >= i_sow[:, None]).astype(np.int8) + emerged + (pos >= i_mature[:, None])
              + (pos >= i_harvest[:, None]))
        stage[:, sl] = st
        dev[:, sl] = np.where(st == 2, dv, np.where(st >= 3, 1.0, 0.0))
        lo, hi = CROP_TRAITS["flower"][c, 0][:, None], CROP_TRAITS["flower"][c, 1][:, None]
        flower[:, sl] = (st == 2) & (dv >= lo) & (dv <= hi)
        harvest[rows, days[0] + i_harvest] = i_harvest < len(days) - 1
        emerge[rows, days[0] + i_emerge] = i_emerge < len(days) - 1
    return {"dev": dev, "stage": stage, "flower": flower, "harvest": harvest, "emerge": emerge}


def _crop_forcing(weather, cal, crop_by_day, params, pet) -> dict[str, np.ndarray]:
    """Everything of the crop model that depends on weather and calendar only, (n, T) float32."""
    c = crop_by_day
    card = CROP_TRAITS["t_card"]
    ta = weather["TA"]
    up = (ta - card[c, 0]) / (card[c, 1] - card[c, 0])
    down = (card[c, 3] - ta) / (card[c, 3] - card[c, 2])
    f_t = np.clip(np.minimum(up, down), 0, 1)
    f_vpd = np.clip(1 - 0.6 * (weather["VPD"] - 10.0) / 30.0, 0.35, 1)
    lue = params["LUE"][:, None] * np.where(c == 0, np.float32(1), np.float32(SOY_LUE_RATIO))
    par = PAR_FRACTION * MJ_PER_WM2_DAY * weather["SW_IN"]
    on = (cal["stage"] == 2) | (cal["stage"] == 3) | cal["harvest"]
    light = np.where(on, lue * par * f_t * f_vpd, 0).astype(np.float32)
    lai_max = CROP_TRAITS["lai_max"][c]
    shape = _lai_shape(cal["dev"])
    pot = lai_max * shape
    prev = np.concatenate([pot[:, :1], pot[:, :-1]], axis=1)
    d_pot = np.where(cal["stage"] == 2, pot - prev, 0)
    keep = np.where(cal["stage"] == 3, np.float32(0.92), np.float32(1))
    keep = np.where(on & ~cal["emerge"], keep, 0)
    return {
        "light": light,
        "k": CROP_TRAITS["k"][c].astype(np.float32),
        "d_pot": d_pot.astype(np.float32),
        "inv_prev": (1 / np.maximum(prev, 0.05)).astype(np.float32),
        "sen": np.where((cal["stage"] == 2) & (cal["dev"] > 0.6), 0.015, 0).astype(np.float32),
        "keep": keep.astype(np.float32),
        "keep_bio": (on & ~cal["emerge"]).astype(np.float32),
        "init_lai": np.where(cal["emerge"], 0.03, 0).astype(np.float32),
        "init_bio": np.where(cal["emerge"], 3.0, 0).astype(np.float32),
        "inv_laimax": (1 / lai_max).astype(np.float32),
        "maint": (params["RA_MAINT"][:, None] * params["RA_Q10"][:, None] ** ((ta - 20.0) / 10.0)).astype(np.float32),
        "heat": (cal["flower"] & (weather["TA_MAX"] > 35)).astype(np.float32),
    }


def _natural_forcing(weather, veg, lat, doy, params, lai_scale=None) -> dict[str, np.ndarray]:
    """Weather-only parts of the natural-vegetation model, (n, T) float32."""
    ta = weather["TA"]
    card = CROP_TRAITS["t_card"][1] - np.array([3, 3, 5, 5], np.float32)
    f_t = np.clip(np.minimum((ta - card[0]) / (card[1] - card[0]), (card[3] - ta) / (card[3] - card[2])), 0, 1)
    f_vpd = np.clip(1 - 0.6 * (weather["VPD"] - 10.0) / 30.0, 0.35, 1)
    par = PAR_FRACTION * MJ_PER_WM2_DAY * weather["SW_IN"]
    i_t = np.clip((weather["TA_MIN"] + 2.0) / 7.0, 0, 1)
    daylen = np.stack([day_length(lat, d) for d in range(1, 367)], axis=1)[:, doy - 1]
    i_p = np.clip(daylen - 10.0, 0, 1)
    i_v = np.clip(1 - (weather["VPD"] - 9.0) / 32.0, 0, 1)
    code = np.clip(veg, 1, 4) - 1
    lai_max = np.choose(code, [NATURAL[k][0] for k in (1, 2, 3, 4)]).astype(np.float32)
    if lai_scale is not None:
        lai_max = (lai_max * np.asarray(lai_scale, np.float32)).astype(np.float32)
    lai_min = (lai_max * np.choose(code, [NATURAL[k][1] for k in (1, 2, 3, 4)])).astype(np.float32)
    return {"light": (params["LUE"][:, None] * par * f_t * f_vpd).astype(np.float32),
            "gsi": (i_t * i_p * i_v).astype(np.float32), "lai_max": lai_max, "lai_min": lai_min,
            "water_limited": ((veg == GRASS) | (veg == SHRUB)),
            "maint": (params["RA_MAINT"][:, None] * params["RA_Q10"][:, None] ** ((ta - 20.0) / 10.0)).astype(np.float32)}


def run(weather: dict[str, np.ndarray], dates: pd.DatetimeIndex, soils: dict[str, np.ndarray],
        params: dict[str, np.ndarray], crop: np.ndarray, lat, lon, veg: np.ndarray | None = None,
        spinup_days: int = 0, management: dict[str, np.ndarray] | None = None) -> EngineOutput:
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
    spinup_days : leading days to run but drop from the output; natural vegetation's
        soil carbon pools are set near equilibrium at the end of the spin-up.
    management : optional per-unit (n,) arrays of site history and management
        (absent keys keep the defaults): ``sow_shift`` (days), ``harvest_delay``
        (days after maturity), ``irrigated`` (bool: 25 mm whenever the crop's
        root-zone water falls below half of the available water between sowing
        and maturity), ``som_factor`` (soil organic matter at the end of the
        spin-up as a fraction of its equilibrium, natural vegetation; default
        0.85), ``cwd`` (g C m-2 of coarse woody debris left by a past
        disturbance, decaying at ``CWD_K`` per day at 20 degC), ``lai_scale``
        (factor on natural vegetation's maximum leaf area).

    Returns
    -------
    EngineOutput with daily GPP, RA, RH, LAI, SWC (%), RESIDUE (g C m-2 d-1) and
    annual YIELD (g C m-2), all float32, without the spin-up.
    """
    n, n_days = weather["TA"].shape
    lat = np.asarray(lat, float)
    veg = np.zeros(n, np.int8) if veg is None else np.asarray(veg, np.int8)
    year_index = dates.year.values - dates.year.values[0]
    doy = dates.day_of_year.values
    gdd_mat = np.clip(gdd_available(lat, lon)[:, None] * CROP_TRAITS["gdd_share"][None, :],
                      [850.0, 750.0], [1700.0, 1450.0]).astype(np.float32)
    mg = management or {}
    cal = crop_calendar(weather, doy, year_index, crop, lat, gdd_mat, mg.get("sow_shift"), mg.get("harvest_delay"))
    crop_by_day = crop[:, year_index].astype(np.intp)
    pet = priestley_taylor(weather["TA"], weather["SW_IN"]).astype(np.float32)
    cf = _crop_forcing(weather, cal, crop_by_day, params, pet)
    is_crop = veg == CROP
    nf = _natural_forcing(weather, veg, lat, doy, params, mg.get("lai_scale")) if (~is_crop).any() else None
    return _loop(weather, soils, params, cal, cf, nf, is_crop, crop_by_day, pet, year_index, spinup_days, mg)


CWD_K = 0.10 / 365  # d-1 at 20 degC: coarse woody debris half-life of about 7 years (Harmon et al. 1986)
IRRIGATION_MM = 25.0


def _loop(weather, soils, params, cal, cf, nf, is_crop, crop_by_day, pet, year_index, spinup_days, mg):
    """The daily loop over the state variables (soil water, leaf area, biomass, soil carbon)."""
    n, n_days = weather["TA"].shape
    f32 = np.float32
    keep_days = n_days - spinup_days
    # time-major copies: a day's values are contiguous in memory
    tm = {k: np.ascontiguousarray(v.T) for k, v in cf.items()}
    if nf is not None:
        tm.update({f"nat_{k}": np.ascontiguousarray(nf[k].T) for k in ("light", "gsi", "maint")})
    flower_tm = np.ascontiguousarray(cal["flower"].T)
    harvest_tm = np.ascontiguousarray(cal["harvest"].T)
    out = {k: np.zeros((keep_days, n), f32) for k in ("GPP", "RA", "RH", "LAI", "SWC", "RESIDUE")}
    yields = np.zeros((n, int(year_index[-1]) + 1), f32)
    wp, fc = soils["WP"], soils["FC"]
    inv_aw = (1 / (0.5 * (fc - wp))).astype(f32)
    inv_aw_et = (1 / (0.6 * (fc - wp))).astype(f32)
    sat_mm, fc_mm = soils["SAT"] * ROOT_ZONE_MM, fc * ROOT_ZONE_MM
    floor_mm = 0.4 * wp * ROOT_ZONE_MM
    k_drain = np.clip(params["DRAINAGE"] * np.sqrt(soils["KSAT"] / 15.0), 0.02, 0.95).astype(f32)
    inv_fc = (1 / fc).astype(f32)
    opt, inv_width = params["RH_SWC_OPT"], (1 / params["RH_SWC_WIDTH"]).astype(f32)
    klit, ksom, hum = params["RH_KLIT"], params["RH_KSOM"], params["RH_HUMIFICATION"]
    ts = lfilter(np.float32([1 / 8.0]), np.float32([1, -7 / 8.0]), weather["TA"], axis=1,
                 zi=np.full((n, 1), 7 / 8.0 * 5.0, np.float32))[0]
    f_rh_t = np.ascontiguousarray((params["RH_Q10"][:, None] ** ((np.minimum(ts, 30.0) - 20.0) / 10.0)
                                   * np.where(ts < 0, 0.3, 1.0)).astype(f32).T)
    liquid, no_snow = _snow(weather)
    pet_snow = np.ascontiguousarray(pet.T) * no_snow
    crop_tm = np.ascontiguousarray(crop_by_day.T)
    theta = (0.9 * fc).astype(f32)
    litter = np.where(is_crop, 450.0, 350.0).astype(f32)
    som = (soils["SOC"] * soils["BD"] * 3000.0).astype(f32)
    lai = np.zeros(n, f32)
    biomass = np.zeros(n, f32)
    flower_fw = np.zeros(n, f32)
    flower_days = np.zeros(n, f32)
    heat_days = np.zeros(n, f32)
    gsi = np.full(n, 0.5, f32)
    irrigated = np.asarray(mg["irrigated"], bool) & is_crop if "irrigated" in mg else np.zeros(n, bool)
    irrigate = bool(irrigated.any())
    if irrigate:
        season_tm = np.ascontiguousarray(((cal["stage"] >= 1) & (cal["stage"] <= 2)).T)
    cwd = np.asarray(mg["cwd"], f32).copy() if "cwd" in mg else None
    som_factor = np.asarray(mg.get("som_factor", np.full(n, 0.85)), f32)
    npp_mean = np.zeros(n, f32)
    sums = np.zeros((2, n))  # spin-up sums of litter input and of the decay scale
    any_harvest = cal["harvest"].any(axis=0)
    zeros = np.zeros(n, f32)
    ra_growth = params["RA_GROWTH"]
    resp_lit = (1 - hum).astype(f32)
    new_year = np.r_[True, year_index[1:] != year_index[:-1]]
    for t in range(n_days):
        if new_year[t]:
            flower_fw[:] = 0
            flower_days[:] = 0
            heat_days[:] = 0
        fw = np.minimum(np.maximum((theta - wp) * inv_aw, 0), 1)
        dp = tm["d_pot"][t]
        grow = np.where(dp > 0, dp * (0.25 + 0.75 * fw), dp * lai * tm["inv_prev"][t])
        lai = np.maximum(lai + grow - tm["sen"][t] * (1 - fw) * lai, 0) * tm["keep"][t] + tm["init_lai"][t]
        gpp = tm["light"][t] * (1 - np.exp(-tm["k"][t] * lai)) * fw
        rm = tm["maint"][t] * biomass * (0.15 + 0.6 * lai * tm["inv_laimax"][t])
        ra = np.minimum(rm + ra_growth * np.maximum(gpp - rm, 0), gpp + 0.05 * biomass)
        biomass = np.maximum(biomass + gpp - ra, 0) * tm["keep_bio"][t] + tm["init_bio"][t]
        flower = flower_tm[t]
        flower_fw += flower * fw
        flower_days += flower
        heat_days += tm["heat"][t]
        residue = zeros
        if any_harvest[t]:
            h = harvest_tm[t]
            grain = _grain(biomass, flower_fw, flower_days, heat_days, crop_tm[t], params)
            yields[h, year_index[t]] = grain[h]
            residue = np.where(h, np.maximum(biomass - grain, 0), 0).astype(f32)
            biomass = np.where(h, 0, biomass)
            lai = np.where(h, 0, lai)
        litter_in = residue
        if nf is not None:
            nat_fw = np.where(nf["water_limited"], 0.2 + 0.8 * fw, 1)
            gsi += (tm["nat_gsi"][t] * nat_fw - gsi) / 12.0
            nat_lai = nf["lai_min"] + (nf["lai_max"] - nf["lai_min"]) * np.clip(1.25 * gsi, 0, 1)
            nat_gpp = tm["nat_light"][t] * (1 - np.exp(-0.5 * nat_lai)) * fw
            rm_n = tm["nat_maint"][t] * (40.0 * nat_lai + 30.0 * nf["lai_max"])
            nat_ra = rm_n + ra_growth * np.maximum(nat_gpp - rm_n, 0)
            npp_mean += (nat_gpp - nat_ra - npp_mean) / 120.0
            lai = np.where(is_crop, lai, nat_lai)
            gpp = np.where(is_crop, gpp, nat_gpp)
            ra = np.where(is_crop, ra, nat_ra)
            litter_in = np.where(is_crop, residue, np.maximum(npp_mean, 0) * 0.95)
        scale = f_rh_t[t] * np.exp(-np.square((theta * inv_fc - opt) * inv_width))
        dec_lit = klit * scale * litter
        dec_som = ksom * scale * som
        litter += litter_in - dec_lit
        som += hum * dec_lit - dec_som
        rh = resp_lit * dec_lit + dec_som
        if cwd is not None and t >= spinup_days:
            dec_cwd = CWD_K * scale * cwd
            cwd -= dec_cwd
            rh = rh + dec_cwd
        w = np.minimum(theta * ROOT_ZONE_MM + liquid[t], sat_mm)
        if irrigate:
            w = np.minimum(w + IRRIGATION_MM * (irrigated & season_tm[t] & (fw < 0.5)), sat_mm)
        w -= k_drain * np.maximum(w - fc_mm, 0)
        avail = np.minimum(np.maximum((w * (1 / ROOT_ZONE_MM) - wp) * inv_aw_et, 0), 1)
        kc = np.minimum(1.15 - 0.85 * np.exp(-0.6 * lai), 1.1)
        theta = np.maximum(w - pet_snow[t] * kc * avail, floor_mm) * (1 / ROOT_ZONE_MM)
        if t < spinup_days:
            sums[0] += litter_in
            sums[1] += scale
            if t == spinup_days - 1 and nf is not None:
                litter, som = _equilibrate(litter, som, sums, klit, ksom, hum, is_crop, som_factor)
            continue
        i = t - spinup_days
        out["GPP"][i], out["RA"][i], out["RH"][i] = gpp, ra, rh
        out["LAI"][i], out["SWC"][i], out["RESIDUE"][i] = lai, theta, residue
    out = {k: v.T for k, v in out.items()}
    out["SWC"] = out["SWC"] * np.float32(100)
    first_year = int(year_index[spinup_days]) if keep_days else 0
    return EngineOutput(daily=out, annual={"YIELD": yields[:, first_year:]})


def _snow(weather) -> tuple[np.ndarray, np.ndarray]:
    """Liquid water reaching the soil (rain + melt, mm d-1) and a snow-free mask, time-major (T, n)."""
    ta, p = np.ascontiguousarray(weather["TA"].T), np.ascontiguousarray(weather["P"].T)
    n_days, n = ta.shape
    liquid = np.where(ta < 0, np.float32(0), p)
    snowfall = p - liquid
    melt_cap = 3.0 * np.maximum(ta, 0)
    no_snow = np.empty((n_days, n), np.float32)
    snow = np.zeros(n, np.float32)
    for t in range(n_days):
        snow += snowfall[t]
        melt = np.minimum(snow, melt_cap[t])
        snow -= melt
        liquid[t] += melt
        no_snow[t] = snow <= 1
    return liquid, no_snow


def _grain(biomass, flower_fw, flower_days, heat_days, crop_now, params) -> np.ndarray:
    """Grain carbon (g C m-2): harvest index reduced by water stress and heat around flowering."""
    hi_max = np.where(crop_now == 0, params["HI_CORN"], params["HI_SOY"])
    fw = flower_fw / np.maximum(flower_days, 1)
    hi = hi_max * np.clip(1 - 0.4 * (1 - fw), 0.35, 1) * np.clip(1 - 0.015 * heat_days, 0.5, 1)
    return (hi * SHOOT_FRACTION * biomass).astype(np.float32)


def _equilibrate(litter, som, sums, klit, ksom, hum, is_crop, som_factor=0.85):
    """Natural vegetation: litter at equilibrium, organic matter at ``som_factor`` of it (default 0.85: a small sink)."""
    inputs, scale = sums[0], np.maximum(sums[1], 1e-6)
    lit_eq = inputs / (klit * scale)
    som_eq = som_factor * hum * inputs / (ksom * scale)
    return (np.where(is_crop, litter, lit_eq).astype(np.float32),
            np.where(is_crop, som, som_eq).astype(np.float32))
