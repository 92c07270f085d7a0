"""Stochastic daily weather for points (counties or sites), vectorised over points.

Weather = climatology (:mod:`kgml_core.simulator.climate`) + anomalies. Anomalies
are spatio-temporal random fields: random Fourier features in space times AR(1)
series in time, so neighbours share weather, anomalies persist for days
(synoptic) to months (drought), and every point's weather depends only on its
location, the date and the seed. A per-year summer anomaly field plus a short
table of well-known Corn Belt summers (2012 drought and heat, 1993 flood, ...)
gives year-to-year variability.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import ndtr, ndtri

from kgml_core.simulator import climate
from kgml_core.solar import extraterrestrial_radiation
from kgml_core.simulator.fields import fourier_basis, rng, to_km

BURN_IN_YEARS = 3

# Known Corn Belt growing-season anomalies: (moisture index, temperature index) in
# standard deviations of the summer anomaly field; negative moisture = drought.
HISTORICAL_SUMMERS: dict[int, tuple[float, float]] = {
    1988: (-1.8, 1.0), 1993: (1.8, -0.8), 2004: (0.6, -0.8), 2005: (-0.8, 0.3),
    2011: (-0.4, 0.4), 2012: (-2.6, 0.8), 2014: (0.5, -0.7), 2019: (1.0, -0.3),
}
CORN_BELT_CENTRE = (40.5, -91.0)
CORN_BELT_RADIUS_KM = 900.0


@dataclass(frozen=True)
class Component:
    """One latent anomaly field: spatial length scale, features, AR(1) coefficient."""

    name: str
    length_km: float
    n_features: int
    phi: float


COMPONENTS = (
    Component("temp_synoptic", 1000.0, 48, 0.75),
    Component("temp_slow", 1000.0, 24, 0.97),
    Component("moist_synoptic", 500.0, 64, 0.45),
    Component("moist_slow", 800.0, 32, 0.985),
    Component("local_a", 60.0, 96, 0.0),
    Component("local_b", 60.0, 96, 0.0),
)


def saturation_vapour_pressure(t):
    """Saturation vapour pressure (hPa) at temperature ``t`` (degC), Tetens/FAO-56."""
    return np.float32(6.108) * np.exp(np.float32(17.27) * t / (t + np.float32(237.3)))


def _innovations(comp: Component, seed: int, first_year: int, last_year: int) -> np.ndarray:
    """Standard-normal innovations (K, days) for whole calendar years, keyed per year."""
    blocks = []
    for year in range(first_year, last_year + 1):
        n_days = 366 if pd.Timestamp(f"{year}-12-31").day_of_year == 366 else 365
        g = rng(seed, f"weather/z/{comp.name}/{year}")
        blocks.append(g.standard_normal((comp.n_features, n_days), dtype=np.float32))
    return np.concatenate(blocks, axis=1)


def _latent(comp: Component, lat, lon, seed: int, dates: pd.DatetimeIndex) -> np.ndarray:
    """Field of component ``comp`` at the points on ``dates`` (n, T) float32.

    The AR(1) filter starts from rest :data:`BURN_IN_YEARS` before the first year, so
    a date's weather is the same (to float precision) whatever the simulated period.
    """
    basis = fourier_basis(lat, lon, seed, "weather/" + comp.name, comp.length_km, comp.n_features)
    first = dates[0].year - (BURN_IN_YEARS if comp.phi > 0 else 0)
    eps = _innovations(comp, seed, first, dates[-1].year)
    if comp.phi > 0:
        eps = lfilter([np.sqrt(1 - comp.phi ** 2)], [1.0, -comp.phi], eps, axis=1).astype(np.float32)
    start = (dates[0] - pd.Timestamp(f"{first}-01-01")).days
    # float64 product: rounding then does not depend on how many points are simulated together
    return (basis.astype(np.float64) @ eps[:, start:start + len(dates)].astype(np.float64)).astype(np.float32)


def _summer_anomalies(lat, lon, seed: int, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-year summer (moisture, temperature) anomaly fields, each (n, n_years)."""
    out = []
    for which, idx in (("moist", 0), ("temp", 1)):
        basis = fourier_basis(lat, lon, seed, f"weather/year_{which}", 900.0, 32)
        z = rng(seed, f"weather/year_z_{which}").standard_normal((32, 2101 - 1900)).astype(np.float32)
        field = 0.6 * (basis @ z[:, years - 1900])
        centre = to_km(np.array([CORN_BELT_CENTRE[0]]), np.array([CORN_BELT_CENTRE[1]]))
        dist = np.linalg.norm(to_km(lat, lon) - centre, axis=1)
        weight = np.exp(-0.5 * (dist / CORN_BELT_RADIUS_KM) ** 2).astype(np.float32)
        hist = np.array([HISTORICAL_SUMMERS.get(int(y), (0.0, 0.0))[idx] for y in years], np.float32)
        out.append(field + weight[:, None] * hist[None, :])
    return out[0], out[1]


def _col(x) -> np.ndarray:
    return np.asarray(x, np.float32)[:, None]


def _row(x) -> np.ndarray:
    return np.asarray(x, np.float32)[None, :]


def generate_weather(lat, lon, dates: pd.DatetimeIndex, seed: int, elev=None) -> dict[str, np.ndarray]:
    """Daily weather at points.

    Parameters
    ----------
    lat, lon : (n,) degrees.
    dates : consecutive daily dates, length T.
    seed : world seed.
    elev : (n,) elevation in m (default: :func:`climate.elevation`).

    Returns
    -------
    dict of float32 arrays (n, T): TA, TA_MAX, TA_MIN (degC), SW_IN (W m-2), VPD (hPa),
    P (mm d-1), RH_MAX, RH_MIN (%), WS (m s-1).
    """
    lat = np.asarray(lat, float)
    lon = np.asarray(lon, float)
    elev = climate.elevation(lat, lon) if elev is None else np.asarray(elev, float)
    doy = dates.day_of_year.values
    f = {c.name: _latent(c, lat, lon, seed, dates) for c in COMPONENTS}
    summer = _row(np.clip(climate.doy_cycle(doy, 195.0), 0, 1) ** 1.5)
    uniq, inverse = np.unique(dates.year.values, return_inverse=True)
    year_m, year_t = _summer_anomalies(lat, lon, seed, uniq)
    moist_slow = 0.8 * f.pop("moist_slow") + summer * year_m[:, inverse]
    wet_index = 0.7 * f["moist_synoptic"] + 0.35 * moist_slow + 0.55 * f.pop("local_a")
    wet_index /= wet_index.std(axis=1, keepdims=True) + 1e-6
    precip, wet = _precipitation(lat, lon, doy, wet_index, moist_slow, f.pop("local_b"))
    del wet_index
    ta, tmax, tmin = _temperature(lat, lon, elev, doy, f.pop("temp_synoptic"), f.pop("temp_slow"),
                                  summer, year_t[:, inverse], moist_slow, wet)
    sw = _shortwave(lat, lon, doy, wet, f["moist_synoptic"], moist_slow)
    vpd, rh_max, rh_min = _humidity(lat, lon, tmax, tmin, wet, moist_slow)
    wind = (_col(climate.mean_wind(lat, lon)) * _row(1 + 0.15 * climate.doy_cycle(doy, 80.0))
            * np.exp(0.22 * f["moist_synoptic"] + 0.12 * wet_index_free(f["moist_synoptic"]))).astype(np.float32)
    return {"TA": ta, "TA_MAX": tmax, "TA_MIN": tmin, "SW_IN": sw, "VPD": vpd, "P": precip,
            "RH_MAX": rh_max, "RH_MIN": rh_min, "WS": wind}


def wet_index_free(x: np.ndarray) -> np.ndarray:
    """A lagged copy of a field (a cheap second, partly independent, wind anomaly)."""
    return np.roll(x, 3, axis=1)


def _precipitation(lat, lon, doy, wet_index, moist_slow, local_b):
    """Occurrence by thresholding a correlated Gaussian, skewed amounts (mm d-1), (n, T)."""
    map_ = _col(climate.mean_annual_precipitation(lat, lon))
    seas = _col(climate.precipitation_seasonality(lat, lon)) * _row(climate.doy_cycle(doy, 166.0))
    clim_daily = map_ / np.float32(365.25) * (1 + seas)
    p_wet = np.clip((0.10 + 0.20 * map_ / 1000.0) * (1 + 0.6 * seas), 0.04, 0.6)
    wet = wet_index > ndtri(1 - p_wet).astype(np.float32)
    u = np.minimum(ndtr(local_b), 0.9999).astype(np.float32)
    amount = (clim_daily / p_wet) * (-np.log1p(-u)) ** np.float32(1.3) * np.float32(1 / 1.166)
    amount *= np.exp(0.25 * moist_slow)
    return np.where(wet, amount, np.float32(0)).astype(np.float32), wet


def _temperature(lat, lon, elev, doy, syn, slow, summer, year_t, moist_slow, wet):
    """Daily mean, max and min air temperature (degC), (n, T) each."""
    cycle = _row(climate.doy_cycle(doy, 200.0))
    tmean = _col(climate.mean_annual_temperature(lat, lon, elev)) + _col(climate.temperature_amplitude(lat, lon)) * cycle
    sd = 2.4 + 0.8 * (1 - cycle)
    ta = tmean + sd * (0.85 * syn + 0.45 * slow) + summer * (1.0 * year_t - 0.6 * moist_slow - 0.8 * wet)
    dtr = _col(climate.diurnal_range(lat, lon)) * (1 - 0.35 * wet) * (1 - 0.08 * np.clip(moist_slow, -2, 2))
    half = dtr * np.float32(0.5)
    return ta.astype(np.float32), (ta + half).astype(np.float32), (ta - half).astype(np.float32)


def _shortwave(lat, lon, doy, wet, moist_syn, moist_slow):
    """Daily mean incoming shortwave radiation (W m-2): top of atmosphere times transmittance."""
    ra = extraterrestrial_radiation(np.asarray(lat)[:, None], np.arange(1, 367)[None, :]).astype(np.float32)[:, doy - 1]
    aridity = _col(np.clip(1 - climate.mean_annual_precipitation(lat, lon) / 1000.0, -0.5, 0.7))
    trans = 0.63 + 0.07 * aridity - 0.27 * wet - 0.05 * moist_syn - 0.02 * moist_slow
    np.clip(trans, 0.12, 0.78, out=trans)
    return (ra * trans * np.float32(1 / 0.0864)).astype(np.float32)


def _humidity(lat, lon, tmax, tmin, wet, moist_slow):
    """VPD (hPa) and max/min relative humidity (%) from a dew point below the minimum temperature."""
    dd = _col(climate.dewpoint_depression(lat, lon)) * (1 - 0.6 * wet) * (1 + 0.25 * np.clip(-moist_slow, -1.5, 2.5))
    ea = saturation_vapour_pressure(np.minimum(tmin - dd, tmin))
    es_max, es_min = saturation_vapour_pressure(tmax), saturation_vapour_pressure(tmin)
    vpd = np.maximum((es_max + es_min) * np.float32(0.5) - ea, 0)
    rh_max = np.minimum(100 * ea / es_min, 100)
    rh_min = np.minimum(100 * ea / es_max, 100)
    return vpd.astype(np.float32), rh_max.astype(np.float32), rh_min.astype(np.float32)
