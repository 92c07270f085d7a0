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
from kgml_core.simulator.fields import fourier_basis, rng, to_km

BASE_DATE = pd.Timestamp("1950-01-01")

# Known Corn Belt growing-season anomalies: (moisture index, temperature index) in
# standard deviations of the summer anomaly field; negative moisture = drought.
HISTORICAL_SUMMERS: dict[int, tuple[float, float]] = {
    1988: (-1.8, 1.0), 1993: (1.8, -0.8), 2004: (0.6, -0.8), 2005: (-0.8, 0.3),
    2011: (-0.4, 0.6), 2012: (-2.3, 1.6), 2014: (0.5, -0.7), 2019: (1.0, -0.3),
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


def extraterrestrial_radiation(lat, doy) -> np.ndarray:
    """Daily extraterrestrial radiation (MJ m-2 d-1), FAO-56 eq. 21; lat (n,), doy (T,) -> (n, T)."""
    phi = np.deg2rad(np.asarray(lat, float))[:, None]
    j = np.asarray(doy, float)[None, :]
    dr = 1 + 0.033 * np.cos(2 * np.pi * j / 365)
    delta = 0.409 * np.sin(2 * np.pi * j / 365 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1, 1))
    return 24 * 60 / np.pi * 0.0820 * dr * (ws * np.sin(phi) * np.sin(delta)
                                            + np.cos(phi) * np.cos(delta) * np.sin(ws))


def saturation_vapour_pressure(t):
    """Saturation vapour pressure (hPa) at temperature ``t`` (degC), Tetens/FAO-56."""
    return 6.108 * np.exp(17.27 * t / (t + 237.3))


def _latent(comp: Component, lat, lon, seed: int, day0: int, n_days: int) -> np.ndarray:
    """Field of component ``comp`` at the points for days [day0, day0 + n_days), (n, T) float32."""
    basis = fourier_basis(lat, lon, seed, "weather/" + comp.name, comp.length_km, comp.n_features)
    total = day0 + n_days
    eps = rng(seed, "weather/z/" + comp.name).standard_normal((comp.n_features, total)).astype(np.float32)
    if comp.phi > 0:
        eps = lfilter([np.sqrt(1 - comp.phi ** 2)], [1.0, -comp.phi], eps, axis=1).astype(np.float32)
    return basis @ eps[:, day0:]


def _summer_anomalies(lat, lon, seed: int, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-year summer (moisture, temperature) anomaly fields, each (n, n_years)."""
    out = []
    for which, idx in (("moist", 0), ("temp", 1)):
        basis = fourier_basis(lat, lon, seed, f"weather/year_{which}", 900.0, 32)
        z = rng(seed, f"weather/year_z_{which}").standard_normal((32, 2101 - 1950)).astype(np.float32)
        field = 0.8 * (basis @ z[:, years - 1950])
        centre = to_km(np.array([CORN_BELT_CENTRE[0]]), np.array([CORN_BELT_CENTRE[1]]))
        dist = np.linalg.norm(to_km(lat, lon) - centre, axis=1)
        weight = np.exp(-0.5 * (dist / CORN_BELT_RADIUS_KM) ** 2).astype(np.float32)
        hist = np.array([HISTORICAL_SUMMERS.get(int(y), (0.0, 0.0))[idx] for y in years], np.float32)
        out.append(field + weight[:, None] * hist[None, :])
    return out[0], out[1]


def generate_weather(lat, lon, dates: pd.DatetimeIndex, seed: int, elev=None) -> dict[str, np.ndarray]:
    """Daily weather at points.

    Parameters
    ----------
    lat, lon : (n,) degrees.
    dates : daily dates (consecutive), length T, not before 1950-01-01.
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
    day0 = int((dates[0] - BASE_DATE).days)
    n_days = len(dates)
    doy = dates.dayofyear.values.astype(float)
    f = {c.name: _latent(c, lat, lon, seed, day0, n_days) for c in COMPONENTS}

    summer = (np.clip(climate.doy_cycle(doy, 195.0), 0, 1) ** 1.5).astype(np.float32)[None, :]
    years = dates.year.values
    uniq, inverse = np.unique(years, return_inverse=True)
    year_m, year_t = _summer_anomalies(lat, lon, seed, uniq)
    moist_slow = 0.8 * f["moist_slow"] + summer * year_m[:, inverse]
    wet_index = 0.7 * f["moist_synoptic"] + 0.35 * moist_slow + 0.55 * f["local_a"]
    wet_index /= wet_index.std(axis=1, keepdims=True) + 1e-6

    # precipitation: occurrence by thresholding a correlated Gaussian, skewed amounts
    map_ = climate.mean_annual_precipitation(lat, lon)[:, None]
    seas = climate.precipitation_seasonality(lat, lon)[:, None] * climate.doy_cycle(doy, 166.0)[None, :]
    clim_daily = map_ / 365.25 * (1 + seas)
    p_wet = np.clip((0.10 + 0.20 * map_ / 1000.0) * (1 + 0.6 * seas), 0.04, 0.6)
    wet = wet_index > ndtri(1 - p_wet).astype(np.float32)
    u = ndtr(f["local_b"]).astype(np.float32)
    amount = (clim_daily / p_wet) * (-np.log1p(-np.minimum(u, 0.9999))) ** 1.3 / 1.166
    precip = np.where(wet, amount * np.exp(0.25 * moist_slow), 0.0).astype(np.float32)
    del u, amount

    # temperature: seasonal cycle, synoptic and slow anomalies, hot droughts
    tmean = climate.mean_annual_temperature(lat, lon, elev)[:, None] + (
        climate.temperature_amplitude(lat, lon)[:, None] * climate.doy_cycle(doy, 200.0)[None, :])
    sd = (2.4 + 1.6 * (1 - climate.doy_cycle(doy, 200.0)) / 2)[None, :]
    ta = (tmean + sd * (0.85 * f["temp_synoptic"] + 0.45 * f["temp_slow"])
          + summer * (1.2 * year_t[:, inverse] - 0.9 * moist_slow) - 0.8 * wet * summer).astype(np.float32)
    dtr = (climate.diurnal_range(lat, lon)[:, None] * (1 - 0.35 * wet)
           * (1 - 0.08 * np.clip(moist_slow, -2, 2))).astype(np.float32)
    tmax, tmin = ta + dtr / 2, ta - dtr / 2

    # radiation: extraterrestrial times a transmittance that drops on wet days
    ra = extraterrestrial_radiation(lat, doy).astype(np.float32)
    aridity = np.clip(1 - map_ / 1000.0, -0.5, 0.7)
    trans = np.clip(0.63 + 0.07 * aridity - 0.27 * wet - 0.05 * f["moist_synoptic"]
                    - 0.02 * moist_slow, 0.12, 0.78)
    sw = (ra * trans / 0.0864).astype(np.float32)

    # humidity from a dew point below the minimum temperature
    dd = climate.dewpoint_depression(lat, lon)[:, None] * (1 - 0.6 * wet) * (
        1 + 0.25 * np.clip(-moist_slow, -1.5, 2.5))
    td = np.minimum(tmin - dd, tmin).astype(np.float32)
    ea = saturation_vapour_pressure(td)
    es_max, es_min = saturation_vapour_pressure(tmax), saturation_vapour_pressure(tmin)
    vpd = np.maximum((es_max + es_min) / 2 - ea, 0.0).astype(np.float32)
    rh_max = np.clip(100 * ea / es_min, 0, 100).astype(np.float32)
    rh_min = np.clip(100 * ea / es_max, 0, 100).astype(np.float32)

    wind = (climate.mean_wind(lat, lon)[:, None] * (1 + 0.15 * climate.doy_cycle(doy, 80.0))[None, :]
            * np.exp(0.22 * f["moist_synoptic"] + 0.12 * f["local_b"])).astype(np.float32)
    return {"TA": ta, "TA_MAX": tmax.astype(np.float32), "TA_MIN": tmin.astype(np.float32),
            "SW_IN": sw, "VPD": vpd, "P": precip, "RH_MAX": rh_max, "RH_MIN": rh_min, "WS": wind}
