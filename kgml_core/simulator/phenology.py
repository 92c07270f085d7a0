"""Crop phenology from weather: growing degree days, sowing, emergence, maturity and harvest dates.

Vectorised over units and days (no loop over days); the equations are in ``docs/simulator.md``.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from kgml_core.simulator import climate
from kgml_core.simulator.vegetation import CROP_TRAITS


def gdd_available(lat, lon, elev=None) -> np.ndarray:
    """Climatological growing degree days (base 10, cap 30 degC) from 10 May to 27 Sep, (n,)."""
    doy = np.arange(130, 271, dtype=float)
    tmean = (climate.mean_annual_temperature(lat, lon, elev)[:, None]
             + climate.temperature_amplitude(lat, lon)[:, None] * climate.doy_cycle(doy, 200.0)[None, :])
    half = climate.diurnal_range(lat, lon)[:, None] / 2
    return growing_degree_days(tmean + half, tmean - half).sum(axis=1)


def growing_degree_days(tmax, tmin):
    """Daily growing degree days (base 10, cap 30 degC) from maximum and minimum temperature (degC)."""
    return np.maximum((np.clip(tmax, 10, 30) + np.clip(tmin, 10, 30)) / 2 - 10, 0)


def first_true(mask: np.ndarray, default: int) -> np.ndarray:
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
    gdd = growing_degree_days(weather["TA_MAX"], weather["TA_MIN"]).astype(np.float32)
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
        i_sow = first_true(ok, len(days) - 1)
        pos = np.arange(len(days))[None, :]
        cum = np.cumsum(np.where(pos >= i_sow[:, None], gdd[:, sl], 0), axis=1)
        i_emerge = first_true(cum >= CROP_TRAITS["gdd_emerge"][c][:, None], len(days) - 1)
        dv = np.minimum(cum / gdd_mat[rows, c][:, None], 1)
        emerged = pos >= i_emerge[:, None]
        frost = emerged & (weather["TA_MIN"][:, sl] < -2) & (dv > 0.3)
        i_mature = first_true(emerged & ((dv >= 1) | frost | (d >= 300)), len(days) - 1)
        i_mature = np.maximum(i_mature, i_emerge)
        i_harvest = np.minimum(i_mature + delay, first_true(np.broadcast_to(d >= 320, dv.shape), len(days) - 1))
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
