"""Writers of small files in the networks' published layouts, for tests, demos and benchmarks.

The values follow simple diurnal and seasonal cycles (deterministic given ``seed``);
only the layouts matter: column names, timestamps, -9999 for missing, comment lines.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _cycles(stamps: pd.DatetimeIndex, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    doy = stamps.day_of_year.to_numpy()
    hour = (stamps.hour + stamps.minute / 60).to_numpy()
    season = np.sin(2 * np.pi * (doy - 105) / 365)
    sun = np.clip(np.sin(np.pi * (hour - 6) / 12), 0, None)
    n = len(stamps)
    ta = 10 + 15 * season + 5 * sun + rng.normal(0, 1, n)
    gpp = np.clip(15 * (season + 0.3), 0, None) * sun
    reco = 2 + 0.15 * np.clip(ta, 0, None)
    return {"TA": ta, "SW_IN": 800 * sun * (0.6 + 0.4 * season), "VPD": np.clip(2 + 0.5 * ta, 0, None),
            "P": np.where(rng.random(n) < 0.02, rng.exponential(1.0, n), 0.0),
            "SWC": 30 + 5 * np.cos(2 * np.pi * doy / 365), "TS": 10 + 12 * season,
            "GPP": gpp, "RECO": reco, "NEE": reco - gpp, "WS": 3 + rng.random(n)}


def subdaily_stamps(start: str, days: int, minutes: int = 30) -> pd.DatetimeIndex:
    """Record start times: ``days`` days of ``minutes``-minute records from ``start``."""
    return pd.date_range(start, periods=days * 1440 // minutes, freq=f"{minutes}min")


def ameriflux_frame(start: str = "2010-01-01", days: int = 30, minutes: int = 30, seed: int = 0,
                    missing_fraction: float = 0.0) -> pd.DataFrame:
    """An AmeriFlux BASE table (TIMESTAMP_START/END, TA_1_1_1, SWC_1_1_1/_2_1_1, FC, ... -9999)."""
    stamps = subdaily_stamps(start, days, minutes)
    v = _cycles(stamps, seed)
    rng = np.random.default_rng(seed + 1)
    frame = pd.DataFrame({
        "TIMESTAMP_START": stamps.strftime("%Y%m%d%H%M"),
        "TIMESTAMP_END": (stamps + pd.Timedelta(minutes=minutes)).strftime("%Y%m%d%H%M"),
        "FC": v["NEE"], "TA_1_1_1": v["TA"], "SW_IN": v["SW_IN"], "VPD_PI": v["VPD"],
        "P": v["P"] * minutes / 30, "SWC_1_1_1": v["SWC"], "SWC_2_1_1": v["SWC"] + 2,
        "SWC_1_2_1": v["SWC"] - 5, "TS_1_1_1": v["TS"], "WS": v["WS"], "RH": 60.0 + 0 * v["TA"],
    })
    if missing_fraction:
        for col in frame.columns[2:]:
            frame.loc[rng.random(len(frame)) < missing_fraction, col] = -9999
    return frame


def write_ameriflux(path: str | Path, site: str = "US-Xyz", **kwargs) -> Path:
    """Write a BASE file with the two comment lines AmeriFlux puts before the header."""
    path = Path(path)
    frame = ameriflux_frame(**kwargs)
    with open(path, "w", newline="") as fh:
        fh.write(f"# Site: {site}\n# Version: 1-5\n")
        frame.to_csv(fh, index=False, float_format="%.4f")
    return path


def fluxnet_hh_frame(start: str = "2010-01-01", days: int = 30, minutes: int = 30, seed: int = 0) -> pd.DataFrame:
    """A FLUXNET2015 SUBSET HH table (fluxes in umol CO2 m-2 s-1, QC flags 0-3)."""
    stamps = subdaily_stamps(start, days, minutes)
    v = _cycles(stamps, seed)
    rng = np.random.default_rng(seed + 2)
    n = len(stamps)
    frame = pd.DataFrame({
        "TIMESTAMP_START": stamps.strftime("%Y%m%d%H%M"),
        "TIMESTAMP_END": (stamps + pd.Timedelta(minutes=minutes)).strftime("%Y%m%d%H%M"),
        "TA_F": v["TA"], "TA_F_QC": 0, "SW_IN_F": v["SW_IN"], "VPD_F": v["VPD"], "P_F": v["P"],
        "WS_F": v["WS"], "SWC_F_MDS_1": v["SWC"], "TS_F_MDS_1": v["TS"],
        "NEE_VUT_REF": v["NEE"], "NEE_VUT_REF_QC": rng.choice([0, 1, 2, 3], n, p=[0.6, 0.2, 0.15, 0.05]),
        "GPP_NT_VUT_REF": v["GPP"], "RECO_NT_VUT_REF": v["RECO"],
        "GPP_DT_VUT_REF": v["GPP"] * 1.05, "RECO_DT_VUT_REF": v["RECO"] * 1.05,
    })
    return frame


def write_fluxnet_hh(folder: str | Path, site: str = "US-Xyz", **kwargs) -> Path:
    """Write ``FLX_{site}_FLUXNET2015_SUBSET_HH_{y0}-{y1}_1-4.csv`` into ``folder``."""
    frame = fluxnet_hh_frame(**kwargs)
    y0, y1 = frame["TIMESTAMP_START"].iloc[0][:4], frame["TIMESTAMP_START"].iloc[-1][:4]
    res = "HH" if kwargs.get("minutes", 30) == 30 else "HR"
    path = Path(folder) / f"FLX_{site}_FLUXNET2015_SUBSET_{res}_{y0}-{y1}_1-4.csv"
    frame.to_csv(path, index=False, float_format="%.4f")
    return path


def gridded_dataset(lat_range=(40.3, 43.6), lon_range=(-96.7, -90.1), step: float = 0.1, days: int = 5,
                    start: str = "2019-06-01", projected: bool = False) -> "xr.Dataset":
    """A Daymet-like daily grid (tmax/tmin degC, prcp mm/day, srad W/m2, dayl s, vp Pa).

    tmax equals the cell longitude (so county means can be checked against centroids);
    ``projected=True`` gives dims (y, x) with 2-D lat/lon coordinates on a rotated grid.
    """
    import xarray as xr

    lats = np.arange(lat_range[0], lat_range[1], step)
    lons = np.arange(lon_range[0], lon_range[1], step)
    time = pd.date_range(start, periods=days, freq="D")
    if projected:
        yy, xx = np.meshgrid(np.arange(len(lats)), np.arange(len(lons)), indexing="ij")
        lat2 = lat_range[0] + yy * step + 0.01 * xx * step
        lon2 = lon_range[0] + xx * step - 0.01 * yy * step
        dims, coords = ("y", "x"), {"lat": (("y", "x"), lat2), "lon": (("y", "x"), lon2)}
    else:
        lon2, lat2 = np.meshgrid(lons, lats)
        dims, coords = ("lat", "lon"), {"lat": ("lat", lats), "lon": ("lon", lons)}
    shape = (days,) + lat2.shape
    tmax = np.broadcast_to(lon2, shape).copy()
    base = np.ones(shape)
    data = {"tmax": (("time",) + dims, tmax, {"units": "degC"}),
            "tmin": (("time",) + dims, tmax - 10, {"units": "degC"}),
            "prcp": (("time",) + dims, 2 * base, {"units": "mm/day"}),
            "srad": (("time",) + dims, 400 * base, {"units": "W/m2"}),
            "dayl": (("time",) + dims, 43200 * base, {"units": "s"}),
            "vp": (("time",) + dims, 1000 * base, {"units": "Pa"})}
    ds = xr.Dataset(data, coords={"time": time, **coords})
    ds["lat"].attrs.update(standard_name="latitude", units="degrees_north")
    ds["lon"].attrs.update(standard_name="longitude", units="degrees_east")
    return ds
