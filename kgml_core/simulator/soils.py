"""Soil properties as smooth spatial fields with pedotransfer functions.

Texture follows broad US patterns (loess silt loams of Iowa and Illinois, sandier
soils in northern Indiana, Michigan, the coastal plain and the arid West, clay
in the lower Mississippi and Texas Blacklands) plus smooth random variation at
about 150 km. Water retention and conductivity follow Saxton & Rawls (2006,
SSSAJ 70:1569), equations 1-2 and 16 (organic matter = 1.72 x organic carbon).
"""
from __future__ import annotations

import numpy as np

from kgml_core.simulator import climate
from kgml_core.simulator.fields import smooth_field


def _bump(lat, lon, lat0, lon0, scale_deg):
    return np.exp(-(((lat - lat0) / scale_deg) ** 2 + ((lon - lon0) / (1.3 * scale_deg)) ** 2))


def texture(lat, lon, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sand, silt and clay (%) summing to 100, shape (n,) each."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    loess = 32 * _bump(lat, lon, 41.0, -91.5, 3.5)
    sandy = (35 * _bump(lat, lon, 42.5, -86.0, 2.0) + 30 * _bump(lat, lon, 32.0, -82.0, 3.0)
             + 25 * _bump(lat, lon, 42.0, -100.5, 2.0) + 25 * (lon < -105))
    clayey = 18 * _bump(lat, lon, 33.5, -91.0, 2.5) + 15 * _bump(lat, lon, 31.5, -97.0, 2.5)
    sand = 30 + sandy - 0.6 * loess + 9 * smooth_field(lat, lon, seed, "soil/sand", 150.0)
    clay = 20 + clayey + 0.15 * loess + 4 * smooth_field(lat, lon, seed, "soil/clay", 150.0)
    sand = np.clip(sand, 4, 90)
    clay = np.clip(clay, 4, 55)
    silt = np.clip(100 - sand - clay, 3, 85)
    total = sand + silt + clay
    return 100 * sand / total, 100 * silt / total, 100 * clay / total


def organic_carbon(lat, lon, clay, seed: int) -> np.ndarray:
    """Topsoil organic carbon (% by mass): high under former tall-grass prairie, low in the South and arid West."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    prairie = 1.4 * _bump(lat, lon, 42.5, -93.5, 3.0)
    cool = 0.06 * (lat - 38)
    wet = 0.9 * np.clip(climate.mean_annual_precipitation(lat, lon) / 1000.0, 0.2, 1.3)
    soc = 0.3 + prairie + cool + wet + 0.02 * clay + 0.35 * smooth_field(lat, lon, seed, "soil/soc", 120.0)
    return np.clip(soc, 0.2, 6.0)


def saxton_rawls(sand, clay, om) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wilting point, field capacity, saturation (m3 m-3) and saturated conductivity (mm h-1).

    ``sand``/``clay`` in %, ``om`` organic matter in %.
    """
    s, c, o = np.asarray(sand) / 100, np.asarray(clay) / 100, np.asarray(om)
    t1500t = -0.024 * s + 0.487 * c + 0.006 * o + 0.005 * s * o - 0.013 * c * o + 0.068 * s * c + 0.031
    wp = t1500t + (0.14 * t1500t - 0.02)
    t33t = -0.251 * s + 0.195 * c + 0.011 * o + 0.006 * s * o - 0.027 * c * o + 0.452 * s * c + 0.299
    fc = t33t + (1.283 * t33t ** 2 - 0.374 * t33t - 0.015)
    ts33t = 0.278 * s + 0.034 * c + 0.022 * o - 0.018 * s * o - 0.027 * c * o - 0.584 * s * c + 0.078
    ts33 = ts33t + (0.636 * ts33t - 0.107)
    sat = fc + ts33 - 0.097 * s + 0.043
    lam = (np.log(fc) - np.log(wp)) / (np.log(1500) - np.log(33))
    ksat = 1930 * np.clip(sat - fc, 1e-3, None) ** (3 - lam)
    return wp, fc, sat, ksat


def soil_properties(lat, lon, seed: int) -> dict[str, np.ndarray]:
    """Soil properties of points (float32 arrays of shape (n,)).

    Returns BD (g cm-3), SAND, SILT, CLAY (%), FC, WP (m3 m-3), KSAT (mm h-1),
    SOC (%), PH, CEC (cmol kg-1), and SAT (m3 m-3, used internally).
    """
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    sand, silt, clay = texture(lat, lon, seed)
    soc = organic_carbon(lat, lon, clay, seed)
    wp, fc, sat, ksat = saxton_rawls(sand, clay, 1.72 * soc)
    bd = np.clip((1 - sat) * 2.65 * 1.07, 0.9, 1.8)
    map_ = climate.mean_annual_precipitation(lat, lon)
    ph = np.clip(8.6 - 2.4 * map_ / 1000.0 + 0.4 * smooth_field(lat, lon, seed, "soil/ph", 150.0), 4.5, 8.5)
    cec = np.clip(0.45 * clay + 2.5 * 1.72 * soc + 1.5 * smooth_field(lat, lon, seed, "soil/cec", 150.0), 2, 60)
    out = {"BD": bd, "SAND": sand, "SILT": silt, "CLAY": clay, "FC": fc, "WP": wp, "KSAT": ksat,
           "SOC": soc, "PH": ph, "CEC": cec, "SAT": sat}
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
