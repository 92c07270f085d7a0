"""The daily crop, soil-water and carbon model, vectorised over units.

One Python loop over days; every step is a numpy operation on arrays of all
units. Vegetation is a corn/soybean crop (phenology from growing degree days)
or, for the tower network, natural vegetation whose leaf area follows the
growing-season index of Jolly et al. (2005). The crop calendar
(:mod:`~kgml_core.simulator.phenology`) and everything that depends on weather
alone (:mod:`~kgml_core.simulator.forcing`) are computed for all days first;
the loop here carries the state: soil water, snow, leaf area, biomass and soil
carbon. The equations are documented in ``docs/simulator.md``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from kgml_core.progress import check_cancelled
from kgml_core.simulator.forcing import crop_forcing, natural_forcing, priestley_taylor
from kgml_core.simulator.phenology import crop_calendar, gdd_available
from kgml_core.simulator.vegetation import CROP, CROP_TRAITS

ROOT_ZONE_MM = 1500.0
SHOOT_FRACTION = 0.82


@dataclass
class EngineOutput:
    """Daily (n, T) and annual (n, Y) results of :func:`run`, float32."""

    daily: dict[str, np.ndarray] = field(default_factory=dict)
    annual: dict[str, np.ndarray] = field(default_factory=dict)


def run(weather: dict[str, np.ndarray], dates: pd.DatetimeIndex, soils: dict[str, np.ndarray],
        params: dict[str, np.ndarray], crop: np.ndarray, lat, lon, veg: np.ndarray | None = None,
        spinup_days: int = 0, management: dict[str, np.ndarray] | None = None,
        crop_equilibrium_days: int = 0, som_reference_days: float = 0.0) -> EngineOutput:
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
    crop_equilibrium_days : with > 0 (at most ``spinup_days``), at the end of the
        first ``crop_equilibrium_days`` days crop units' litter is set to its
        steady state under those days' mean residue input and decay scale, and
        their soil organic matter (``SOC x BD x 3000`` at the soil map's
        reference date) is carried forward ``som_reference_days`` days (from the
        reference date to that day; negative: back) along the first-order
        solution of the SOM equation under the same mean inputs. The rest of the
        spin-up runs the pools day by day, so a county-year's fluxes hardly
        depend on the year a simulation starts. 0: the pools start at
        450 g C m-2 of litter and the soil map's SOM (engine version 3).

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
    cf = crop_forcing(weather, cal, crop_by_day, params, pet)
    is_crop = veg == CROP
    nf = natural_forcing(weather, veg, lat, doy, params, mg.get("lai_scale")) if (~is_crop).any() else None
    if not 0 <= crop_equilibrium_days <= spinup_days:
        raise ValueError(f"crop_equilibrium_days must be in [0, spinup_days={spinup_days}], "
                         f"got {crop_equilibrium_days}")
    spin = (spinup_days, crop_equilibrium_days, float(som_reference_days))
    return _loop(weather, soils, params, cal, cf, nf, is_crop, crop_by_day, pet, year_index, spin, mg)


CWD_K = 0.10 / 365  # d-1 at 20 degC: coarse woody debris half-life of about 7 years (Harmon et al. 1986)
IRRIGATION_MM = 25.0


def _loop(weather, soils, params, cal, cf, nf, is_crop, crop_by_day, pet, year_index, spin, mg):
    """The daily loop over the state variables (soil water, leaf area, biomass, soil carbon).

    ``spin``: (spin-up days, crop equilibrium days, SOM reference offset in days), see :func:`run`.
    """
    spinup_days, crop_eq_days, som_days = spin
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
            check_cancelled()  # a job's Cancel stops a world simulation within a simulated year
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
            if t == crop_eq_days - 1:
                litter, som = _crop_steady_state(litter, som, sums, t + 1, params, is_crop, som_days)
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


def _crop_steady_state(litter, som, sums, days, params, is_crop, som_days):
    """Crop units: litter at steady state, SOM carried ``som_days`` days along its first-order solution.

    Both pools obey linear equations with inputs that do not depend on them
    (residue input I, decay scale s): litter ``L* = I / (KLIT s)``; with the
    litter at steady state SOM relaxes toward ``S* = h I / (KSOM s)`` at rate
    ``KSOM s``, so ``S(t) = S* + (S0 - S*) exp(-KSOM s t)``. Means over the
    first ``days`` spin-up days (whole rotations).
    """
    inputs, scale = sums[0] / days, np.maximum(sums[1] / days, 1e-6)
    k_lit, k_som = params["RH_KLIT"] * scale, params["RH_KSOM"] * scale
    lit_eq = inputs / k_lit
    som_eq = params["RH_HUMIFICATION"] * inputs / k_som
    som_now = som_eq + (som - som_eq) * np.exp(-k_som * som_days)
    return (np.where(is_crop, lit_eq, litter).astype(np.float32),
            np.where(is_crop, som_now, som).astype(np.float32))


def _equilibrate(litter, som, sums, klit, ksom, hum, is_crop, som_factor=0.85):
    """Natural vegetation: litter at equilibrium, organic matter at ``som_factor`` of it (default 0.85: a small sink)."""
    inputs, scale = sums[0], np.maximum(sums[1], 1e-6)
    lit_eq = inputs / (klit * scale)
    som_eq = som_factor * hum * inputs / (ksom * scale)
    return (np.where(is_crop, litter, lit_eq).astype(np.float32),
            np.where(is_crop, som, som_eq).astype(np.float32))
