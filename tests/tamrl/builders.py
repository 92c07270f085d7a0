"""Tiny hand-built contract datasets of flux sites for the TAM-RL tests."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import schema

DRIVERS = ("TA", "SW_IN", "VPD", "P", "LAI")
IGBP = ("CRO", "GRA", "ENF", "DBF")
CLIMATE = ("Dfa", "Cfa", "BSk")


def make_sites(n_sites: int = 8, years: tuple[int, int] = (2010, 2011), seed: int = 0,
               kind: str = "site") -> xr.Dataset:
    """A contract dataset whose fluxes respond to drivers with a site-specific light-use efficiency."""
    rng = np.random.default_rng(seed)
    time = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31", freq="D").values
    doy = (time.astype("datetime64[D]") - time.astype("datetime64[Y]")).astype(int)
    season = np.sin(2 * np.pi * (doy - 100) / 365.25)
    n, t = n_sites, len(time)
    lat = rng.uniform(32, 47, n)
    ta = 12 + 12 * season[None] - 0.4 * (lat[:, None] - 40) + rng.normal(0, 3, (n, t))
    sw = np.clip(200 + 120 * season[None] + rng.normal(0, 40, (n, t)), 5, None)
    vpd = np.clip(8 + 6 * season[None] + rng.normal(0, 2, (n, t)), 0.1, None)
    p = rng.gamma(0.5, 5, (n, t))
    lai = np.clip(3 * np.clip(season, 0, None)[None] + rng.normal(0, 0.1, (n, t)), 0, None)
    lue = rng.uniform(0.02, 0.05, n)  # the site-specific "task" parameter
    gpp = lue[:, None] * sw * np.clip(lai, 0, None) / 3 * np.exp(-0.03 * vpd)
    reco = 1.0 + 0.4 * gpp + 0.5 * np.exp(0.07 * ta) * rng.uniform(0.7, 1.3, n)[:, None]
    nee = reco - gpp
    ds = schema.empty_units([f"S{i:03d}" if kind == "site" else f"{19001 + 2 * i:05d}" for i in range(n)],
                            lat, rng.uniform(-100, -85, n), "IA", kind)
    ds = ds.assign_coords(time=time, IGBP=("unit", np.array([IGBP[i % 4] for i in range(n)], object)),
                          climate=("unit", np.array([CLIMATE[i % 3] for i in range(n)], object)))
    for name, v in zip(DRIVERS, (ta, sw, vpd, p, lai)):
        schema.set_variable(ds, name, v.astype(np.float32))
    if kind == "site":
        for name, v in (("GPP", gpp), ("RECO", reco), ("NEE", nee)):
            noisy = v + rng.normal(0, 0.2, v.shape)
            qc = rng.uniform(0.5, 1.0, v.shape)
            noisy[rng.random(v.shape) < 0.05] = np.nan
            schema.set_variable(ds, name, noisy.astype(np.float32))
            schema.set_variable(ds, f"{name}_QC", qc.astype(np.float32))
    schema.set_variable(ds, "ELEV", rng.uniform(100, 1500, n))
    schema.set_variable(ds, "MAT", ta.mean(axis=1))
    schema.set_variable(ds, "MAP", p.sum(axis=1) / (t / 365.25))
    schema.set_variable(ds, "SAND", rng.uniform(10, 60, n))
    return schema.validate(ds)
