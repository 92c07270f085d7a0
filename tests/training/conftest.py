import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kgml_core.training.data import SOIL_INPUTS


def fake_world(n_units=4, years=(2001, 2002), seed=0, kind="county", rh_scale=1.0):
    """A small contract-shaped world whose fluxes obey the carbon balance."""
    rng = np.random.default_rng(seed)
    time = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31", freq="D")
    doy = time.day_of_year.values
    n, t = n_units, len(time)
    season = np.clip(np.sin((doy - 120) / 150 * np.pi), 0, None)
    ta = 10 + 15 * np.sin((doy - 110) / 365 * 2 * np.pi) + rng.normal(0, 2, (n, t))
    gpp = 15 * season * (1 + 0.1 * rng.normal(size=(n, 1)))
    ra = 0.45 * gpp
    rh = rh_scale * (1.0 + 0.05 * np.clip(ta, 0, None)) * (1 + 0.2 * rng.random((n, 1)))
    ds = xr.Dataset(coords={
        "unit": np.array([f"17{i:03d}" for i in range(n)], dtype=object), "time": time,
        "year": np.arange(years[0], years[1] + 1),
        "lat": ("unit", 40 + rng.random(n)), "lon": ("unit", -89 + rng.random(n)),
        "state": ("unit", np.array(["IL", "IA"] * (n // 2) + ["IL"] * (n % 2), dtype=object)),
        "unit_kind": ("unit", np.array([kind] * n, dtype=object))})
    daily = {"TA": ta, "TA_MAX": ta + 5, "TA_MIN": ta - 5, "SW_IN": 100 + 200 * season + rng.random((n, t)),
             "VPD": 5 + rng.random((n, t)), "P": rng.exponential(2, (n, t)), "RH_MAX": 90 + rng.random((n, t)),
             "RH_MIN": 50 + rng.random((n, t)), "WS": 3 + rng.random((n, t)), "SWC": 30 + rng.random((n, t)),
             "GPP": gpp, "RA": ra, "RH": rh, "RECO": ra + rh, "NEE": ra + rh - gpp,
             "RESIDUE": np.where((doy > 280) & (doy < 300), 10.0, 0.0) * np.ones((n, 1))}
    for name, value in daily.items():
        ds[name] = (("unit", "time"), value.astype(np.float32), {"units": "x", "long_name": name})
    for name in SOIL_INPUTS:
        ds[name] = ("unit", rng.random(n) + 1, {"units": "x", "long_name": name})
    ds["CLAY"] = ("unit", rng.random(n) * 30)
    ds["CROP"] = (("unit", "year"), rng.integers(0, 2, (n, len(ds.year))).astype(float))
    ds["YIELD"] = (("unit", "year"), 300 + 50 * rng.random((n, len(ds.year))))
    return ds


@pytest.fixture
def world():
    return fake_world()
