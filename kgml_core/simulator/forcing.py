"""The weather-only parts of the daily model: light use, temperature and drought factors, leaf-area targets.

Everything here depends on weather, calendar and parameters only, so it is computed for all
days at once, (n, T) float32, before the engine's loop over days (:mod:`kgml_core.simulator.engine`).
"""
from __future__ import annotations

import numpy as np

from kgml_core.simulator.vegetation import CROP_TRAITS, GRASS, NATURAL, SHRUB
from kgml_core.solar import day_length

PAR_FRACTION = 0.48
MJ_PER_WM2_DAY = 0.0864
SOY_LUE_RATIO = 0.60


def lai_shape(dev):
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


def crop_forcing(weather, cal, crop_by_day, params, pet) -> dict[str, np.ndarray]:
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
    shape = lai_shape(cal["dev"])
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


def natural_forcing(weather, veg, lat, doy, params, lai_scale=None) -> dict[str, np.ndarray]:
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
