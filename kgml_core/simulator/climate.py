"""Smooth climatology of the conterminous US as functions of latitude and longitude.

These are hand-fitted caricatures of the 1991-2020 normals: they put Des Moines
near 10 degC and 900 mm, Champaign near 11 degC and 1,000 mm, Minneapolis near
7 degC and 800 mm, Houston near 21 degC and 1,300 mm, and make the West dry,
high and, near the Pacific, winter-wet. Inputs are degrees (arrays of any
shape that broadcast); outputs float64.
"""
from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def elevation(lat, lon):
    """Elevation above sea level (m): plains rising west, Rockies, Great Basin, Appalachians."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    plains = 150 + 1300 * _sigmoid((-lon - 101.0) / 2.5)
    rockies = 900 * np.exp(-((lon + 107.5) / 3.5) ** 2) * _sigmoid((lat - 33) / 1.5)
    basin = (-400 * np.exp(-((lon + 119.0) / 3.0) ** 2) - 1300 * _sigmoid((-lon - 120.8) / 0.6)
             - 1100 * _sigmoid((34.5 - lat) / 1.0) * _sigmoid((-lon - 111.0) / 1.5))
    appalachia = 450 * np.exp(-((lon + 80.5 + 0.6 * (lat - 38)) / 1.6) ** 2) * _sigmoid((lat - 34) / 1.0)
    coast = -150 * _sigmoid((lon + 79) / 1.5) - 120 * _sigmoid((31.5 - lat) / 1.0)
    return np.clip(plains + rockies + basin + appalachia + coast, 2.0, 3000.0)


def mean_annual_temperature(lat, lon, elev=None):
    """Mean annual air temperature (degC), with an effective 3 K km-1 lapse rate (surface, not free air)."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    elev = elevation(lat, lon) if elev is None else np.asarray(elev, float)
    pacific = 2.5 * _sigmoid((-lon - 121.0) / 1.0)
    west = 2.0 * _sigmoid((-lon - 103.0) / 2.0)
    return 21.5 - 0.92 * (lat - 30.0) - 3.0e-3 * (elev - 200.0) + pacific + west


def temperature_amplitude(lat, lon):
    """Half the July-January difference of monthly mean temperature (K)."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    continental = 8.5 + 0.55 * (lat - 30.0)
    maritime = _sigmoid((-lon - 120.0) / 1.2)
    atlantic = 1.5 * _sigmoid((lon + 76.0) / 1.5)
    return np.clip(continental * (1 - 0.55 * maritime) - atlantic, 4.0, 20.0)


def mean_annual_precipitation(lat, lon):
    """Mean annual precipitation (mm yr-1): wetter south-east, dry West, wet Pacific North-West."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    east = 1100 + 35 * (38 - lat) + 15 * (lon + 90)
    pnw = 1400 * _sigmoid((-lon - 121.5) / 0.8) * _sigmoid((lat - 40.5) / 1.5)
    west = 260 + 100 * _sigmoid((lat - 40) / 3) + pnw + 60 * np.exp(-((lon + 106.5) / 2.5) ** 2)
    weight = _sigmoid((lon + 99.0) / 2.2)
    return np.clip(weight * east + (1 - weight) * west, 150.0, 2500.0)


def precipitation_seasonality(lat, lon):
    """Amplitude of the annual precipitation cycle peaking in mid-June (negative: winter-wet)."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    plains = 0.55 * np.exp(-((lon + 98.0) / 9.0) ** 2)
    pacific = -0.85 * _sigmoid((-lon - 115.0) / 2.0)
    return plains + pacific + 0.05


def dewpoint_depression(lat, lon):
    """Mean depression of the dew point below the daily minimum temperature (K)."""
    return np.clip(9.0 - 6.5 * (np.asarray(mean_annual_precipitation(lat, lon)) / 1000.0), 1.0, 9.0)


def diurnal_range(lat, lon):
    """Mean daily temperature range (K): 10-12 K in the humid East, up to 17 K in the arid West."""
    return np.clip(18.5 - 7.0 * (mean_annual_precipitation(lat, lon) / 1000.0), 8.0, 18.0)


def mean_wind(lat, lon):
    """Mean wind speed at 2-10 m (m s-1): windy Great Plains, calmer South-East and forests."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    return 3.0 + 1.6 * np.exp(-((lon + 99.0) / 6.0) ** 2) + 0.04 * (lat - 38) - 0.5 * _sigmoid((lon + 85) / 3)


def doy_cycle(doy, peak_doy: float):
    """cos of the annual cycle peaking on day-of-year ``peak_doy``."""
    return np.cos(2 * np.pi * (np.asarray(doy, float) - peak_doy) / 365.25)


def monthly_temperature(lat, lon, elev=None) -> np.ndarray:
    """Climatological monthly mean temperature (degC), shape (12, n)."""
    mid = np.array([15, 45, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349], float)
    return (mean_annual_temperature(lat, lon, elev)[None, :]
            + temperature_amplitude(lat, lon)[None, :] * doy_cycle(mid[:, None], 200.0))


def monthly_precipitation(lat, lon) -> np.ndarray:
    """Climatological monthly precipitation (mm month-1), shape (12, n)."""
    mid = np.array([15, 45, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349], float)
    shape = 1 + precipitation_seasonality(lat, lon)[None, :] * doy_cycle(mid[:, None], 166.0)
    return mean_annual_precipitation(lat, lon)[None, :] * shape / 12.0


def koeppen(lat, lon, elev=None) -> np.ndarray:
    """Koeppen-Geiger class from the climatology (e.g. "Dfa", "Cfa", "BSk", "Csb"), shape (n,)."""
    temp = monthly_temperature(lat, lon, elev)
    prec = monthly_precipitation(lat, lon)
    mat, annual = temp.mean(0), prec.sum(0)
    summer = np.r_[3:9]  # April-September (northern hemisphere)
    winter = np.r_[0:3, 9:12]
    summer_share = prec[summer].sum(0) / annual
    offset = np.where(summer_share >= 0.7, 280.0, np.where(summer_share <= 0.3, 0.0, 140.0))
    threshold = 20 * mat + offset
    tmin, tmax = temp.min(0), temp.max(0)
    dry_summer = (prec[summer].min(0) < 40) & (prec[summer].min(0) < prec[winter].max(0) / 3)
    n_warm = (temp >= 10).sum(0)
    third = np.where(tmax >= 22, "a", np.where(n_warm >= 4, "b", "c"))
    second = np.where(dry_summer, "s", "f")
    first = np.where(tmin > 0, "C", "D")
    out = np.char.add(np.char.add(first, second), third)
    arid = annual < threshold
    desert = annual < 0.5 * threshold
    arid_class = np.char.add(np.where(desert, "BW", "BS"), np.where(mat >= 18, "h", "k"))
    return np.where(arid, arid_class, out).astype(object)
