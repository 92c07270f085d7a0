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

    tmax is the cell longitude + 120 (degC, so that county means can be checked against centroids);
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
    tmax = np.broadcast_to(lon2 + 120.0, shape).copy()
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


def fluxnet_daily_frame(start: str = "2010-01-01", days: int = 365, seed: int = 0) -> pd.DataFrame:
    """A FLUXNET2015 SUBSET DD table: TIMESTAMP (YYYYMMDD), drivers, NT/DT fluxes in g C m-2 d-1, QC fractions."""
    stamps = pd.date_range(start, periods=days, freq="D")
    rng = np.random.default_rng(seed)
    season = np.sin(2 * np.pi * (stamps.day_of_year.to_numpy() - 105) / 365)
    ta = 10 + 14 * season + rng.normal(0, 2, days)
    gpp = np.clip(12 * (season + 0.2), 0, None)
    reco = 1.5 + 0.2 * np.clip(ta, 0, None)
    return pd.DataFrame({
        "TIMESTAMP": stamps.strftime("%Y%m%d").astype(int), "TA_F": ta,
        "SW_IN_F": np.clip(190 + 130 * season + rng.normal(0, 30, days), 5, None),
        "VPD_F": np.clip(6 + 6 * season + rng.normal(0, 1.5, days), 0, None),
        "P_F": np.where(rng.random(days) < 0.3, rng.exponential(6.0, days), 0.0),
        "SWC_F_MDS_1": 30 + 5 * np.cos(2 * np.pi * stamps.day_of_year.to_numpy() / 365),
        "NEE_VUT_REF": reco - gpp, "NEE_VUT_REF_QC": rng.uniform(0.5, 1, days),
        "GPP_NT_VUT_REF": gpp, "RECO_NT_VUT_REF": reco, "GPP_DT_VUT_REF": gpp * 1.05, "RECO_DT_VUT_REF": reco * 1.05,
    })


def write_oneflux(path: str | Path, site: str = "US-One", lat: float = 41.2, lon: float = -96.5,
                  days: int = 3) -> Path:
    """A ONEFlux intermediate file: ``key,value`` preamble (site, year, lat, lon, ...), then half-hourly bare names."""
    frame = fluxnet_hh_frame(days=days).rename(columns={"TA_F": "TA", "SW_IN_F": "SW_IN", "VPD_F": "VPD",
                                                        "P_F": "P", "NEE_VUT_REF": "NEE"})
    frame = frame[["TIMESTAMP_START", "TIMESTAMP_END", "TA", "SW_IN", "VPD", "P", "NEE"]]
    path = Path(path)
    with open(path, "w", newline="") as fh:
        fh.write(f"site,{site}\nyear,2010\nlat,{lat}\nlon,{lon}\ntimezone,-6\nhtower,3.0\ntimeres,halfhourly\n"
                 "sc_negl,1\nnotes,written by the test builder\n")
        frame.to_csv(fh, index=False, float_format="%.4f")
    return path


def coarse_frame(step: str, years: int = 2, start: int = 2010) -> pd.DataFrame:
    """A FLUXNET WW, MM or YY table (fluxes g C m-2 d-1, or g C m-2 y-1 and mm y-1 for YY)."""
    if step == "YY":
        stamps = pd.date_range(f"{start}-01-01", periods=years, freq="YS")
        return pd.DataFrame({"TIMESTAMP": stamps.year, "TA_F": 9.5, "SW_IN_F": 180.0, "VPD_F": 7.0,
                             "P_F": 730.0, "NEE_VUT_REF": -365.0, "GPP_NT_VUT_REF": 1460.0,
                             "RECO_NT_VUT_REF": 1095.0})
    if step == "MM":
        stamps = pd.date_range(f"{start}-01-01", periods=12 * years, freq="MS")
        col = {"TIMESTAMP": stamps.strftime("%Y%m").astype(int)}
    else:
        stamps = pd.date_range(f"{start}-01-01", periods=52 * years, freq="7D")
        col = {"TIMESTAMP_START": stamps.strftime("%Y%m%d").astype(int),
               "TIMESTAMP_END": (stamps + pd.Timedelta(days=6)).strftime("%Y%m%d").astype(int)}
    season = np.sin(2 * np.pi * (stamps.day_of_year.to_numpy() - 105) / 365)
    gpp = np.clip(12 * (season + 0.2), 0, None)
    return pd.DataFrame({**col, "TA_F": 10 + 14 * season, "SW_IN_F": 190 + 130 * season, "VPD_F": 6 + 5 * season,
                         "P_F": 2.0 + season, "NEE_VUT_REF": 3 - gpp, "GPP_NT_VUT_REF": gpp,
                         "RECO_NT_VUT_REF": 3 + 0 * gpp})


def write_bif_zip(folder: str | Path, site: str = "US-Bif", lat: float = 41.17, lon: float = -96.48,
                  igbp: str = "CRO", crop: str = "Zea mays (maize)", days: int = 3, extract: bool = False) -> Path:
    """An AmeriFlux BASE-BADM zip: the BASE CSV and a BIF sheet (xlsx) with location, IGBP and planting."""
    import zipfile

    folder = Path(folder)
    base = write_ameriflux(folder / f"AMF_{site}_BASE_HH_2-5.csv", site, days=days)
    bif = pd.DataFrame({"SITE_ID": site, "GROUP_ID": [1, 1, 2, 3, 4],
                        "VARIABLE_GROUP": ["GRP_LOCATION", "GRP_LOCATION", "GRP_IGBP", "GRP_DM_PLANTING",
                                           "GRP_CLIM_AVG"],
                        "VARIABLE": ["LOCATION_LAT", "LOCATION_LONG", "IGBP", "DM_PLANTING", "MAT"],
                        "DATAVALUE": [str(lat), str(lon), igbp, crop, "10.1"]})
    sheet = folder / f"AMF_{site}_BIF_20240101.xlsx"
    bif.to_excel(sheet, index=False)
    archive = folder / f"AMF_{site}_BASE-BADM_2-5.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(base, base.name)
        zf.write(sheet, sheet.name)
    sheet.unlink()
    if not extract:
        base.unlink()
    return archive


def soil_field(lat_range=(40.3, 43.6), lon_range=(-96.7, -90.1), step: float = 0.05) -> tuple[np.ndarray, ...]:
    """Cell-centre latitudes (north to south), longitudes, and a field equal to longitude + 130 (shape (ny, nx))."""
    lats = np.arange(lat_range[1], lat_range[0], -step)
    lons = np.arange(lon_range[0], lon_range[1], step)
    return lats, lons, np.broadcast_to(lons[None, :] + 130.0, (lats.size, lons.size)).copy()


def write_geotiff(path: str | Path, values: np.ndarray, lats: np.ndarray, lons: np.ndarray,
                  crs: str | None = "EPSG:4326", units: str | None = None) -> Path:
    """A single-band float32 GeoTIFF on a regular lon/lat grid (cell centres ``lats`` north to south, ``lons``)."""
    import rasterio
    from rasterio.transform import from_origin

    step = float(lons[1] - lons[0])
    transform = from_origin(lons[0] - step / 2, lats[0] + step / 2, step, step)
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1], count=1,
                       dtype="float32", crs=crs, transform=transform, nodata=-9999.0) as dst:
        dst.write(values.astype("float32"), 1)
        if units:
            dst.update_tags(1, units=units)
            dst.units = (units,)
    return Path(path)


def write_esri_ascii(path: str | Path, values: np.ndarray, lats: np.ndarray, lons: np.ndarray) -> Path:
    """An ESRI ASCII grid (ncols, nrows, xllcorner, yllcorner, cellsize, NODATA_value; no .prj)."""
    step = float(lons[1] - lons[0])
    head = (f"ncols {values.shape[1]}\nnrows {values.shape[0]}\nxllcorner {lons[0] - step / 2:.6f}\n"
            f"yllcorner {lats[-1] - step / 2:.6f}\ncellsize {step:.6f}\nNODATA_value -9999\n")
    body = "\n".join(" ".join(f"{v:.4f}" for v in row) for row in np.nan_to_num(values, nan=-9999.0))
    Path(path).write_text(head + body + "\n")
    return Path(path)
