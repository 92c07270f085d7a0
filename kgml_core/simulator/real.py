"""A real-data world: the simulator's process model driven by real daily weather (and real soils where loaded).

The engine (:mod:`kgml_core.simulator.engine`) runs at the counties of a real weather
dataset (a county weather table such as the HRRR Iowa file, or a gridded NetCDF
aggregated to counties), so that pretraining data, simulated yields and fluxes share
the real weather. What the real data lack is filled and said:

* RH_MAX / RH_MIN (the KGML-ag inputs) from the daily mean humidity or VPD, holding the
  day's vapour pressure constant: e_a = e_s(TA) - VPD (or e_s(TA) RH_AIR / 100),
  RH_MAX = 100 e_a / e_s(TA_MIN), RH_MIN = 100 e_a / e_s(TA_MAX) (Tetens, hPa);
* gaps inside a series by linear interpolation in time; a driver absent from the file
  from the simulator's weather generator at the same places and days;
* soils from the loaded soil dataset where it has a value, else the simulator's fields;
* the spin-up year repeats the first real year.

Every driver carries a ``provenance`` attribute and ``filled_fraction``; the dataset's
``data_source`` attribute is "real weather" so that runs on it are labelled as such.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import schema
from kgml_core.simulator import engine
from kgml_core.simulator.parameters import default_parameters, spatial_parameters
from kgml_core.simulator.soils import soil_properties
from kgml_core.simulator.weather import generate_weather, saturation_vapour_pressure
from kgml_core.simulator.world import DRIVER_NAMES, SOIL_NAMES, _assemble

CROP_CODES = {"CORN": 0, "SOYBEANS": 1}


def full_years(weather: xr.Dataset) -> tuple[int, int]:
    """First and last calendar year that the weather covers from 1 January to 31 December."""
    time = pd.DatetimeIndex(weather["time"].values)
    first = time[0].year + (0 if (time[0].month, time[0].day) == (1, 1) else 1)
    last = time[-1].year - (0 if (time[-1].month, time[-1].day) == (12, 31) else 1)
    if last < first:
        raise ValueError(f"the weather covers no full calendar year ({time[0]:%Y-%m-%d} to {time[-1]:%Y-%m-%d})")
    return first, last


def _interpolate(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Linear interpolation of NaN gaps along time (edges held), per unit; and how many were filled."""
    out = np.array(values, dtype=np.float64)
    idx = np.arange(out.shape[1])
    filled = 0
    for row in out:
        ok = np.isfinite(row)
        if ok.all() or not ok.any():
            continue
        filled += int((~ok).sum())
        row[:] = np.interp(idx, idx[ok], row[ok])
    return out, filled


def _humidity_extremes(d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, str] | None:
    if "VPD" in d:
        ea, how = saturation_vapour_pressure(d["TA"]) - d["VPD"], "VPD"
    elif "RH_AIR" in d:
        ea, how = saturation_vapour_pressure(d["TA"]) * d["RH_AIR"] / 100.0, "RH_AIR"
    else:
        return None
    ea = np.clip(ea, 0.05, None)
    rh_max = np.clip(100 * ea / saturation_vapour_pressure(d["TA_MIN"]), 1, 100)
    rh_min = np.clip(100 * ea / saturation_vapour_pressure(d["TA_MAX"]), 1, 100)
    return rh_max, rh_min, f"from {how} and TA_MIN/TA_MAX at constant vapour pressure (Tetens)"


def real_drivers(weather: xr.Dataset, dates: pd.DatetimeIndex, seed: int) -> tuple[dict, dict]:
    """Drivers (n, T) on ``dates`` from the real weather, completed; and each driver's provenance.

    ``dates`` are the real full years; what is missing is filled as the module says.
    """
    lat, lon = weather["lat"].values.astype(float), weather["lon"].values.astype(float)
    sub = weather.reindex(time=dates)
    real = {k: sub[k].transpose("unit", "time").values.astype(np.float64)
            for k in ("TA", "TA_MAX", "TA_MIN", "SW_IN", "VPD", "P", "RH_AIR", "WS") if k in sub}
    if "TA" not in real and "TA_MAX" in real and "TA_MIN" in real:
        real["TA"] = (real["TA_MAX"] + real["TA_MIN"]) / 2
    simulated = None
    drivers, prov = {}, {}
    for name in ("TA", "TA_MAX", "TA_MIN", "SW_IN", "VPD", "P", "WS", "RH_AIR"):
        if name not in real:
            continue
        values, filled = _interpolate(real[name])
        drivers[name] = values
        source = weather[name].attrs.get("provenance", name) if name in weather else "(TA_MAX + TA_MIN) / 2"
        prov[name] = (source, filled / values.size)
    extremes = _humidity_extremes(drivers)
    if extremes is not None:
        drivers["RH_MAX"], drivers["RH_MIN"], how = extremes
        prov["RH_MAX"] = prov["RH_MIN"] = (how, 0.0)
    for name in DRIVER_NAMES:
        if name not in drivers or not np.isfinite(drivers[name]).all():
            simulated = simulated if simulated is not None else generate_weather(lat, lon, dates, seed)
            base = drivers.get(name, np.full(simulated[name].shape, np.nan))
            gap = ~np.isfinite(base)
            drivers[name] = np.where(gap, simulated[name], base)
            prov[name] = ("simulated weather generator (absent from the real data)" if gap.all()
                          else prov.get(name, ("", 0.0))[0], float(gap.mean()) if not gap.all() else 1.0)
    drivers.pop("RH_AIR", None)
    return {k: drivers[k].astype(np.float32) for k in DRIVER_NAMES}, prov


def real_soils(lat, lon, units, seed: int, soils: xr.Dataset | None) -> tuple[dict, dict]:
    """Soil properties (n,): the loaded soils where they have a value, the simulator's fields elsewhere."""
    out = soil_properties(lat, lon, seed)
    prov = {k: "simulated soil fields" for k in SOIL_NAMES}
    if soils is None:
        return out, prov
    sel = soils.reindex(unit=list(units))
    for name in SOIL_NAMES:
        if name in sel:
            real = sel[name].values.astype(np.float32)
            ok = np.isfinite(real)
            if ok.any():
                out[name] = np.where(ok, real, out[name]).astype(np.float32)
                prov[name] = f"{sel[name].attrs.get('provenance', name)} ({ok.mean():.0%} of units; simulated elsewhere)"
    out["SAT"] = np.clip(1 - out["BD"] / 2.65, out["FC"] + 0.02, 0.7).astype(np.float32)
    return out, prov


def _with_spinup(drivers: dict, dates: pd.DatetimeIndex) -> tuple[dict, pd.DatetimeIndex, int]:
    """Prepend a spin-up year that repeats the first real year (its length fitted to the calendar)."""
    first = dates[0].year
    spin_dates = pd.date_range(f"{first - 1}-01-01", f"{first - 1}-12-31", freq="D")
    n = len(spin_dates)
    take = np.minimum(np.arange(n), int((dates.year == first).sum()) - 1)
    out = {k: np.concatenate([v[:, take], v], axis=1) for k, v in drivers.items()}
    return out, spin_dates.append(dates), n


def real_world(weather: xr.Dataset, soils: xr.Dataset | None = None, seed: int = 0, world: str = "process",
               heterogeneity: float = 1.0, crop: str = "CORN") -> xr.Dataset:
    """The process model at the weather's counties, driven by their real daily weather.

    Parameters
    ----------
    weather : contract dataset (unit = county FIPS, daily time) with TA/TA_MAX/TA_MIN, SW_IN,
        VPD or RH_AIR, P and WS (what is missing is filled as the module says).
    soils : optional contract dataset with soil variables on ``unit`` (e.g. from a soil grid).
    seed : seed of the simulated soils and of the weather generator that fills absent drivers.
    world : "process" (default parameters: the process model) or "observed" (the simulator's
        location-dependent parameters, scaled by ``heterogeneity``).
    crop : the crop grown every year (CORN or SOYBEANS).

    Returns
    -------
    A contract dataset over the full calendar years of the weather: real drivers, soils,
    simulated GPP, RA, RH, RECO, NEE, SWC, LAI, YIELD and CROP; ``attrs['data_source']``.
    """
    if crop not in CROP_CODES:
        raise ValueError(f"crop must be one of {list(CROP_CODES)}, got {crop!r}")
    years = full_years(weather)
    dates = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31", freq="D")
    lat, lon = weather["lat"].values.astype(float), weather["lon"].values.astype(float)
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise ValueError("every weather unit needs coordinates (a county FIPS known to the Census boundaries)")
    units, states = weather["unit"].values.astype(str), weather["state"].values.astype(str)
    drivers, dprov = real_drivers(weather, dates, seed)
    soil, sprov = real_soils(lat, lon, units, seed, soils)
    params = default_parameters(len(units)) if world == "process" else \
        spatial_parameters(lat, lon, states, seed, float(heterogeneity))
    crop_years = np.full((len(units), years[1] - years[0] + 2), CROP_CODES[crop], np.int8)
    spun, all_dates, spin = _with_spinup(drivers, dates)
    res = engine.run(spun, all_dates, soil, params, crop_years, lat, lon, spinup_days=spin)
    ds = schema.empty_units(units, lat, lon, states, "county")
    ds = _assemble(ds, years, drivers, res, soil, params, crop_years[:, 1:])
    for name, (source, filled) in dprov.items():
        if name in ds:
            ds[name].attrs.update(provenance=source, filled_fraction=float(filled))
    for name, source in sprov.items():
        ds[name].attrs["provenance"] = source
    ds.attrs.update({"world": world, "heterogeneity": float(heterogeneity), "seed": int(seed), "crop": crop,
                     "data_source": "real weather", "title": f"process model ({world}) on real weather",
                     "source": f"kgml_core.simulator.real driven by {weather.attrs.get('source_files', 'real weather')}"})
    return ds
