"""Radiation at the top of the atmosphere (FAO-56 eq. 21) and day length (eq. 34).

The one copy for the simulator and the loaders.
"""
from __future__ import annotations

import numpy as np

SOLAR_CONSTANT_MJ_MIN = 0.0820   # MJ m-2 min-1 (FAO-56), about 1367 W m-2
W_M2_PER_MJ_M2_D = 1e6 / 86400.0


def extraterrestrial_radiation(lat_deg, doy) -> np.ndarray:
    """Daily extraterrestrial radiation (MJ m-2 d-1) at latitude ``lat_deg`` (degrees) on day of year ``doy``.

    Broadcasts like NumPy: ``lat[:, None]`` and ``doy[None, :]`` give (n, T).
    """
    phi = np.deg2rad(np.asarray(lat_deg, float))
    j = np.asarray(doy, float)
    dr = 1 + 0.033 * np.cos(2 * np.pi * j / 365)
    delta = _declination(j)
    ws = _sunset_hour_angle(phi, delta)
    return 24 * 60 / np.pi * SOLAR_CONSTANT_MJ_MIN * dr * (ws * np.sin(phi) * np.sin(delta)
                                                          + np.cos(phi) * np.cos(delta) * np.sin(ws))


def toa_daily_mean(lat_deg, doy) -> np.ndarray:
    """Top-of-atmosphere daily mean shortwave flux (W m-2), elementwise: :func:`extraterrestrial_radiation` in W m-2."""
    return extraterrestrial_radiation(lat_deg, doy) * W_M2_PER_MJ_M2_D


def day_length(lat_deg, doy) -> np.ndarray:
    """Daylight hours (h) at latitude ``lat_deg`` (degrees) on day of year ``doy`` (FAO-56 eq. 34); broadcasts."""
    phi = np.deg2rad(np.asarray(lat_deg, float))
    return 24 / np.pi * _sunset_hour_angle(phi, _declination(np.asarray(doy, float)))


def _declination(doy: np.ndarray) -> np.ndarray:
    """Solar declination (rad) on day of year ``doy`` (FAO-56 eq. 24)."""
    return 0.409 * np.sin(2 * np.pi * doy / 365 - 1.39)


def _sunset_hour_angle(phi: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Sunset hour angle (rad) at latitude ``phi`` (rad), declination ``delta`` (FAO-56 eq. 25; polar days clipped)."""
    return np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1, 1))
