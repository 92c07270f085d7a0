"""FLUXNET2015 / ONEFlux files: SUBSET and FULLSET, daily (DD) and half-hourly/hourly (HH/HR).

Accepts plain CSV files, the zip archives users download (the daily file is taken
when present, else the half-hourly or hourly one) and folders of either. The site id
comes from the file name (``FLX_US-Ne1_...``); the date range comes from the rows.
Coordinates, state and IGBP class come from a site list when one is given.

Mapping to the contract (first column found wins):

======  =======================================  =========================
name    FLUXNET column(s)                        daily from HH/HR
======  =======================================  =========================
TA      TA_F, TA_F_MDS                           mean (also TA_MAX, TA_MIN)
SW_IN   SW_IN_F, SW_IN_F_MDS                     mean
VPD     VPD_F, VPD_F_MDS (hPa)                   mean
P       P_F (mm)                                 sum
WS      WS_F                                     mean
SWC     SWC_F_MDS_1 (%)                          mean
TS      TS_F_MDS_1                               mean
NEE     NEE_VUT_REF                              mean x 1.0377 (umol -> g C)
GPP     GPP_NT_VUT_REF (or DT with partition)    mean x 1.0377
RECO    RECO_NT_VUT_REF (or DT)                  mean x 1.0377
======  =======================================  =========================

The other partition is kept as ``GPP_DT``/``RECO_DT`` (or ``_NT``). Daily QC is the
fraction of measured or good-quality gap-filled data behind NEE (``NEE_VUT_REF_QC``
in daily files; the share of half-hours flagged 0 or 1 otherwise); GPP and RECO are
partitioned from NEE and share its QC.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import schema
from kgml_core.loaders import aggregate
from kgml_core.loaders import units
from kgml_core.loaders._common import (LoaderError, full_days, iter_members, name_of, numeric_column, parse_dates,
                                       provenance, read_csv_checked, require_some_data)

SITE_RE = re.compile(r"(?:FLX|AMF|ICOSETC|ICOS)_([A-Z]{2}-[A-Za-z0-9]{3})_")
RES_RE = re.compile(r"_(DD|HH|HR|WW|MM|YY)[_.]")
PARTITIONS = ("NT", "DT")
STAMP_COLUMNS = ("TIMESTAMP", "TIMESTAMP_START")
# long tables: spellings of the site and date columns (case-insensitive)
SITE_COLUMNS = ("site", "site_id", "siteid", "site id", "station", "tower", "site_code")
DATE_COLUMNS = ("timestamp", "timestamp_start", "date", "datetime", "time", "day", "month")
STEP_NAMES = {"D": "daily", "W": "weekly", "M": "monthly", "Y": "yearly"}

# contract name -> (columns in order of preference, daily aggregation of sub-daily records);
# the FLUXNET product names first, then the bare names of ONEFlux output and of long tables
DRIVERS: dict[str, tuple[tuple[str, ...], str]] = {
    "TA": (("TA_F", "TA_F_MDS", "TA"), "mean"),
    "TA_MAX": (("TA_MAX", "TMAX"), "max"),
    "TA_MIN": (("TA_MIN", "TMIN"), "min"),
    "SW_IN": (("SW_IN_F", "SW_IN_F_MDS", "SW_IN"), "mean"),
    "VPD": (("VPD_F", "VPD_F_MDS", "VPD"), "mean"),
    "P": (("P_F", "P"), "sum"),
    "WS": (("WS_F", "WS"), "mean"),
    "SWC": (("SWC_F_MDS_1", "SWC_1", "SWC"), "mean"),
    "TS": (("TS_F_MDS_1", "TS_1", "TS"), "mean"),
}
# per-period totals in yearly (YY) files, turned into mean daily rates
YEARLY_TOTALS = ("P", "NEE", "GPP", "RECO", "GPP_DT", "RECO_DT", "GPP_NT", "RECO_NT")
EXTRA_ATTRS = {
    "GPP_DT": ("g C m-2 d-1", "gross primary production, daytime partitioning"),
    "RECO_DT": ("g C m-2 d-1", "ecosystem respiration, daytime partitioning"),
    "GPP_NT": ("g C m-2 d-1", "gross primary production, night-time partitioning"),
    "RECO_NT": ("g C m-2 d-1", "ecosystem respiration, night-time partitioning"),
}


def flux_columns(partition: str) -> dict[str, tuple[str, ...]]:
    """Contract/extra name -> FLUXNET columns (in order of preference) of the carbon fluxes for ``partition``."""
    if partition not in PARTITIONS:
        raise ValueError(f"partition {partition!r}: expected one of {list(PARTITIONS)}")
    other = "DT" if partition == "NT" else "NT"
    return {"NEE": ("NEE_VUT_REF", "NEE"), "GPP": (f"GPP_{partition}_VUT_REF", "GPP"),
            "RECO": (f"RECO_{partition}_VUT_REF", "RECO"),
            f"GPP_{other}": (f"GPP_{other}_VUT_REF",), f"RECO_{other}": (f"RECO_{other}_VUT_REF",)}


def site_id(path: str | Path, preamble: dict | None = None) -> str:
    """Site id (e.g. ``US-Ne1``) from the file name or a ONEFlux preamble; raises when neither has one."""
    match = SITE_RE.search(name_of(path))
    if match:
        return match.group(1)
    if preamble and preamble.get("site"):
        return preamble["site"]
    raise LoaderError(path, "the file name carries no FLUXNET site id",
                      "a name like FLX_US-Ne1_FLUXNET2015_SUBSET_DD_2001-2013_1-4.csv, a ONEFlux 'site,' preamble "
                      "line or a long table with a site column")


def column_units(columns: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    """Upper-case bare name -> (column, declared unit or None), for names like ``SW_IN (MJ m-2 d-1)``."""
    out: dict[str, tuple[str, str | None]] = {}
    for col in columns:
        m = re.match(r"^(?P<name>[^()\[\]]*?)\s*[(\[](?P<unit>[^)\]]*)[)\]]\s*$", str(col))
        name, unit = (m.group("name"), m.group("unit")) if m else (str(col), None)
        out.setdefault(name.strip().upper(), (str(col), unit))
    return out


def _pick(found: dict[str, tuple[str, str | None]], candidates: tuple[str, ...]) -> tuple[str, str | None] | None:
    return next((found[c] for c in candidates if c in found), None)


def _find_column(columns: Iterable[str], spellings: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): str(c) for c in columns}
    return next((lower[s] for s in spellings if s in lower), None)


def _check_fraction(path, column: str, qc: np.ndarray, header_line: int) -> None:
    bad = np.flatnonzero((qc < 0) | (qc > 1))
    if bad.size:
        i = int(bad[0])
        raise LoaderError(path, f"column '{column}' has value {qc[i]:g} on line {header_line + 1 + i}",
                          "a daily quality fraction between 0 and 1")


@dataclass
class Columns:
    """The numeric columns of a FLUXNET-family table: contract name -> (values, column, declared unit)."""

    values: dict[str, tuple[np.ndarray, str, str | None]]
    qc: tuple[np.ndarray, str] | None


def read_columns(path, table: pd.DataFrame, header_line: int, partition: str) -> Columns:
    """Every variable the FLUXNET family knows, as float arrays over all rows (-9999/NA missing)."""
    found = column_units(table.columns)
    values: dict[str, tuple[np.ndarray, str, str | None]] = {}
    for name, candidates in {**{k: c for k, (c, _) in DRIVERS.items()}, **flux_columns(partition)}.items():
        hit = _pick(found, candidates)
        if hit:
            values[name] = (numeric_column(path, table, hit[0], header_line), hit[0], hit[1])
    qc = None
    if "NEE_VUT_REF_QC" in found:
        col = found["NEE_VUT_REF_QC"][0]
        qc = (numeric_column(path, table, col, header_line), col)
    if not values:
        raise LoaderError(path, "has none of the FLUXNET columns TA_F, SW_IN_F, VPD_F, P_F, NEE_VUT_REF",
                          "a FLUXNET2015/ONEFlux SUBSET or FULLSET file or a long table with such columns "
                          "(an AmeriFlux BASE file? use the ameriflux loader)")
    return Columns(values, qc)


def _site_stamps(path, stamps: pd.DatetimeIndex, rows: np.ndarray, column: str, header_line: int) -> None:
    """Duplicate or decreasing timestamps among one site's ``rows`` (0-based row numbers), naming the line."""
    sub = stamps[rows]
    dup = sub.duplicated()
    if dup.any():
        i = int(rows[np.flatnonzero(dup)[0]])
        raise LoaderError(path, f"column '{column}' repeats timestamp {stamps[i]:%Y-%m-%d %H:%M} "
                                f"on line {header_line + 1 + i}", "each timestamp once per site")
    back = np.flatnonzero(np.diff(sub.asi8) < 0)
    if back.size:
        i = int(rows[back[0] + 1])
        prev = int(rows[back[0]])
        raise LoaderError(path, f"column '{column}' goes back in time on line {header_line + 1 + i} "
                                f"({stamps[prev]:%Y-%m-%d %H:%M} then {stamps[i]:%Y-%m-%d %H:%M})",
                          "timestamps in increasing order")


def _period_step(path, stamps: pd.DatetimeIndex, resolution: str, column: str) -> str:
    """'sub', 'D', 'W', 'M' or 'Y' from how the dates are written and how far apart they are."""
    if resolution != "D" or len(stamps) < 2:
        return resolution
    gap = float(np.median(np.diff(stamps.asi8))) / 86_400e9
    if 6.5 <= gap <= 7.5:
        return "W"
    if gap > 1.5:
        raise LoaderError(path, f"column '{column}' steps {gap:g} days between rows",
                          "daily, weekly, monthly, yearly or half-hourly/hourly rows")
    return "D"


def _site_arrays(path, cols: Columns, stamps: pd.DatetimeIndex, rows: np.ndarray, step: str,
                 min_coverage: float) -> tuple[pd.DatetimeIndex, dict[str, tuple[np.ndarray, str, str | None, str]]]:
    """One site's (periods, name -> (values per period, column, declared unit, note))."""
    out: dict[str, tuple[np.ndarray, str, str | None, str]] = {}
    if step != "sub":
        periods = stamps[rows]
        for name, (arr, col, unit) in cols.values.items():
            out[name] = (arr[rows], col, unit, "")
        if cols.qc is not None and step == "D":
            qc, col = cols.qc[0][rows], cols.qc[1]
            for flux in ("NEE", "GPP", "RECO"):
                if flux in out:
                    out[f"{flux}_QC"] = (qc, col, None, "")
        return periods, out
    sub = stamps[rows]
    per_day = aggregate.records_per_day(path, sub)
    idx, periods = aggregate.day_index(sub)
    n = len(periods)
    label = "half-hourly" if per_day == 48 else "hourly"
    for name, (arr, col, unit) in cols.values.items():
        how = DRIVERS[name][1] if name in DRIVERS else "mean"
        note = f"daily {how} of {label} values, coverage >= {min_coverage:g}"
        daily = aggregate.daily(arr[rows], idx, n, per_day, how, min_coverage)
        if name not in DRIVERS:  # carbon fluxes in umol CO2 m-2 s-1
            daily = daily * aggregate.UMOL_TO_G_C_PER_DAY
            note += ", umol CO2 m-2 s-1 x 1.0377 -> g C m-2 d-1"
        out.setdefault(name, (daily, col, unit if name in DRIVERS else None, note))
        if name == "TA":
            for ext, how_ext in (("TA_MAX", "max"), ("TA_MIN", "min")):
                if ext not in cols.values:
                    out[ext] = (aggregate.daily(arr[rows], idx, n, per_day, how_ext, min_coverage), col, unit,
                                f"daily {how_ext} of {label} values, coverage >= {min_coverage:g}")
    if cols.qc is not None:
        qc = aggregate.good_fraction(cols.qc[0][rows], idx, n, per_day)
        for flux in ("NEE", "GPP", "RECO"):
            if flux in out:
                out[f"{flux}_QC"] = (qc, cols.qc[1], None, "share of half-hours flagged 0 or 1")
    return periods, out


def _per_day_rates(periods: pd.DatetimeIndex, arrays: dict, step: str) -> dict:
    """Yearly files give totals per year (g C m-2 y-1, mm y-1): divide by the days of each year."""
    if step != "Y":
        return arrays
    days = np.where(periods.is_leap_year, 366.0, 365.0)
    out = dict(arrays)
    for name in YEARLY_TOTALS:
        if name in out:
            arr, col, unit, note = out[name]
            out[name] = (arr / days, col, unit, (note + "; " if note else "") + "yearly total / days in the year")
    return out


def build_site(path, site: str, periods: pd.DatetimeIndex, arrays: dict, step: str,
               lat: float = np.nan, lon: float = np.nan) -> xr.Dataset:
    """One-site dataset from per-period arrays, with units checked and converted (:mod:`units`)."""
    arrays = _per_day_rates(periods, arrays, step)
    if step in ("sub", "D"):
        periods, filled = full_days(path, periods, {k: v[0] for k, v in arrays.items()})
        step = "D"
    else:
        filled = {k: v[0] for k, v in arrays.items()}
    toa = None
    if np.isfinite(lat) and step == "D":
        toa = units.toa_daily_mean(np.full(len(periods), lat), periods.day_of_year.to_numpy())
    ds = schema.empty_units([site], [lat], [lon], "", "site")
    ds = ds.assign_coords(time=("time", periods.values.astype("datetime64[ns]")))
    for name, (_, col, unit, note) in arrays.items():
        checked, assumption = units.to_contract(path, col, name.split("_")[0] if name in EXTRA_ATTRS else name,
                                                filled[name], unit, toa if name == "SW_IN" else None)
        prov = provenance(path, col, "; ".join(t for t in (note, units.notable(assumption)) if t))
        extra = {"unit_assumption": assumption} if assumption else {}
        if name in schema.VARIABLES:
            schema.set_variable(ds, name, checked[None, :], provenance=prov, extra_attrs=extra)
        else:
            u, long_name = EXTRA_ATTRS[name]
            ds[name] = (("unit", "time"), checked[None, :], {"units": u, "long_name": long_name, "provenance": prov})
    if step != "D":
        ds.attrs["time_step"] = step
    return ds


def read_frame(path, table: pd.DataFrame, header_line: int, partition: str = "NT", min_coverage: float = 0.8,
               site_column: str | None = None) -> list[xr.Dataset]:
    """One-site datasets from a FLUXNET-family table (one file per site, or a long table with a site column)."""
    found = column_units(table.columns)
    stamp_col = next((found[c][0] for c in STAMP_COLUMNS if c in found), None) \
        or _find_column(table.columns, DATE_COLUMNS)
    if stamp_col is None:
        raise LoaderError(path, "missing column 'TIMESTAMP' (daily and coarser), 'TIMESTAMP_START' (HH/HR) or 'date'",
                          "a FLUXNET2015/ONEFlux file or a long table with a date column")
    cols = read_columns(path, table, header_line, partition)
    stamps, resolution = parse_dates(path, table, stamp_col, header_line)
    if cols.qc is not None and resolution != "sub":
        _check_fraction(path, cols.qc[1], cols.qc[0], header_line)
    preamble = table.attrs.get("preamble", {})
    if site_column is None:
        groups = {site_id(path, preamble): np.arange(len(table))}
    else:
        ids = table[site_column].fillna("").astype(str).str.strip()
        if (ids == "").any():
            i = int(np.flatnonzero((ids == "").to_numpy())[0])
            raise LoaderError(path, f"column '{site_column}' is blank on line {header_line + 1 + i}", "a site id")
        groups = {s: np.flatnonzero((ids == s).to_numpy()) for s in dict.fromkeys(ids)}
    coords = _row_coordinates(path, table, header_line, preamble)
    parts = []
    for site, rows in groups.items():
        _site_stamps(path, stamps, rows, stamp_col, header_line)
        step = _period_step(path, stamps[rows], resolution, stamp_col)
        periods, arrays = _site_arrays(path, cols, stamps, rows, step, min_coverage)
        lat, lon = (coords[0][rows[0]], coords[1][rows[0]]) if coords else (np.nan, np.nan)
        parts.append(build_site(path, site, periods, arrays, step, lat, lon))
    return parts


def _row_coordinates(path, table, header_line, preamble) -> tuple[np.ndarray, np.ndarray] | None:
    """Latitude and longitude per row: from lat/lon columns of a long table or a ONEFlux preamble."""
    from kgml_core.loaders.sites import COLUMNS

    lat_col, lon_col = _find_column(table.columns, COLUMNS["lat"]), _find_column(table.columns, COLUMNS["lon"])
    if lat_col and lon_col:
        return (numeric_column(path, table, lat_col, header_line), numeric_column(path, table, lon_col, header_line))
    if "lat" in preamble and "lon" in preamble:
        try:
            lat, lon = float(preamble["lat"]), float(preamble["lon"])
        except ValueError:
            raise LoaderError(path, f"preamble lat/lon {preamble['lat']!r}, {preamble['lon']!r} are not numbers",
                              "decimal degrees") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise LoaderError(path, f"preamble lat/lon {lat:g}, {lon:g} are out of range", "decimal degrees")
        n = len(table)
        return np.full(n, lat), np.full(n, lon)
    return None


def read_table(path: str | Path, source: bytes | None = None, partition: str = "NT",
               min_coverage: float = 0.8) -> list[xr.Dataset]:
    """One FLUXNET-family CSV (any resolution, one site or a long table) as one-site datasets."""
    table, header_line = read_csv_checked(path, kind="FLUXNET", source=source)
    site_column = _find_column(table.columns, SITE_COLUMNS) if not SITE_RE.search(name_of(path)) else None
    parts = read_frame(path, table, header_line, partition, min_coverage, site_column)
    for ds in parts:
        require_some_data(path, ds, "FLUXNET")
        ds.attrs.update({"source_files": name_of(path), "partition": partition,
                         "source_format": "long table" if site_column else "FLUXNET2015"})
    return parts


def _pick_member(path: Path, members: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """The daily file of a FLUXNET zip (else HH, HR, WW, MM, YY); ERA-Interim files are skipped."""
    usable = [(n, b) for n, b in members if SITE_RE.search(Path(n).name) and "_ERAI_" not in n]
    for res in ("DD", "HH", "HR", "WW", "MM", "YY"):
        for member in usable:
            if f"_{res}_" in Path(member[0]).name:
                return member
    raise LoaderError(path, f"contains no FLUXNET DD/HH/HR/WW/MM/YY CSV file ({len(members)} CSV member(s))",
                      "a FLUXNET2015/ONEFlux/ICOS/AmeriFlux-FLUXNET zip archive as downloaded")


def is_fluxnet_name(name: str) -> bool:
    """True for file names of the FLUXNET family: FLX_*, AMF_*_FLUXNET_*, ICOSETC_*_FLUXNET_*."""
    return name.startswith("FLX_") or (name.startswith(("AMF_", "ICOSETC_", "ICOS_")) and "_FLUXNET" in name)


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if is_fluxnet_name(q.name) and q.suffix.lower() in (".csv", ".zip"))
            if not found:
                raise LoaderError(p, "folder holds no FLX_*.csv or FLX_*.zip file (nor AMF_/ICOSETC_ FLUXNET files)",
                                  "FLUXNET files")
            files += drop_extracted(found)
        elif not p.exists():
            raise LoaderError(p, "does not exist", "an existing file or folder")
        else:
            files.append(p)
    return files


def drop_extracted(files: list[Path]) -> list[Path]:
    """Files without those a zip beside them already holds (a download and its unzipped copy are one site)."""
    import zipfile

    inside: set[str] = set()
    for f in files:
        if f.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(f) as zf:
                    inside |= {Path(n).name for n in zf.namelist()}
            except zipfile.BadZipFile:
                continue  # the loader reports it
    return [f for f in files if f.suffix.lower() == ".zip" or f.name not in inside]


def load_one(path: str | Path, partition: str = "NT", min_coverage: float = 0.8) -> list[xr.Dataset]:
    """One FLUXNET CSV or zip archive as one-site datasets (several for a long table)."""
    path = Path(path)
    if path.suffix.lower() != ".zip":
        return read_table(path, partition=partition, min_coverage=min_coverage)
    member, data = _pick_member(path, iter_members(path))
    parts = read_table(Path(member), source=data, partition=partition, min_coverage=min_coverage)
    for ds in parts:
        for var in ds.data_vars:
            ds[var].attrs["provenance"] = f"{path.name}!" + ds[var].attrs["provenance"]
        ds.attrs["source_files"] = f"{path.name}!{Path(member).name}"
    return parts


def load_fluxnet(paths: str | Path | Iterable[str | Path], site_list: str | Path | xr.Dataset | None = None,
                 partition: str = "NT", min_coverage: float = 0.8) -> xr.Dataset:
    """FLUXNET-family files, zips, folders or long tables as one site dataset (``unit`` = site id).

    Parameters
    ----------
    paths : FLUXNET2015/ONEFlux/ICOS/AmeriFlux-FLUXNET files (CSV or zip, HH/HR/DD/WW/MM/YY),
        ONEFlux output with its ``key,value`` preamble, long tables with a site column,
        and/or folders of such files; one file per site (a zip and its extracted CSV count once).
    site_list : site metadata CSV (or a dataset from :func:`kgml_core.loaders.sites.load_sites`)
        filling lat, lon, state and IGBP where the files do not give them; sites still without
        coordinates are listed in ``attrs['coordinates_unknown']``.
    partition : "NT" (night-time, default) or "DT" for GPP and RECO.
    min_coverage : share of valid half-hours needed for a daily value (sub-daily files).

    Returns
    -------
    Contract dataset with dims (unit, time). Daily unless every file is weekly, monthly or
    yearly: then ``time`` holds period starts, ``attrs['time_step']`` is W, M or Y and
    fluxes and precipitation are mean daily rates over each period.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    parts: dict[str, xr.Dataset] = {}
    for f in _expand(paths):
        for ds in load_one(f, partition, min_coverage):
            site = str(ds["unit"].values[0])
            if site in parts:
                raise LoaderError(f, f"is a second file for site {site} (first: {parts[site].attrs['source_files']})",
                                  "one file per site")
            parts[site] = ds
    steps = {p.attrs.get("time_step", "D") for p in parts.values()}
    if len(steps) > 1:
        raise LoaderError(Path(list(map(str, paths))[0]), f"mixes time steps {sorted(steps)} across files",
                          "files of one resolution per load (daily, or weekly, monthly, yearly for validation)")
    out = concat_units(list(parts.values()))
    out.attrs["source_files"] = ", ".join(dict.fromkeys(p.attrs["source_files"] for p in parts.values()))
    formats = {p.attrs["source_format"] for p in parts.values()}
    out.attrs.update({"partition": partition, "source_format": formats.pop() if len(formats) == 1 else "FLUXNET2015"})
    if steps != {"D"}:
        out.attrs["time_step"] = steps.pop()
    out = attach_sites(out, site_list)
    return schema.validate(out, source=out.attrs["source_files"])


def concat_units(parts: list[xr.Dataset]) -> xr.Dataset:
    """Concatenate one-unit datasets along ``unit`` (outer join in time), joining provenance.

    Variables or site labels (igbp, crop) that only some parts have are missing/'' in the others.
    """
    names = {v: p[v] for p in parts for v in p.data_vars}
    labels = {c for p in parts for c in ("igbp", "crop") if c in p.coords}
    padded = []
    for p in parts:
        p = p.copy()
        for v, da in names.items():
            if v not in p:
                shape = tuple(p.sizes.get(d, 1) for d in da.dims)
                p[v] = (da.dims, np.full(shape, np.nan), {k: a for k, a in da.attrs.items() if k != "provenance"})
        for c in labels - set(p.coords):
            p = p.assign_coords({c: ("unit", np.array([""] * p.sizes["unit"], dtype=object))})
        padded.append(p)
    parts = padded
    out = xr.concat(parts, dim="unit", join="outer", combine_attrs="override", data_vars="all",
                    coords="different", compat="equals")
    for var in out.data_vars:
        provs = [p[var].attrs["provenance"] for p in parts if var in p and "provenance" in p[var].attrs]
        units = [str(p["unit"].values[0]) for p in parts if var in p and "provenance" in p[var].attrs]
        out[var].attrs["provenance"] = "; ".join(f"{u}: {v}" for u, v in zip(units, provs))
    return out


def attach_sites(ds: xr.Dataset, site_list: str | Path | xr.Dataset | None) -> xr.Dataset:
    """Fill lat, lon, state and IGBP of site units from a site list where the files did not give them."""
    from kgml_core.loaders.sites import load_sites, states_of_points

    units_ = [str(u) for u in ds["unit"].values]
    lat, lon = ds["lat"].values.astype(float), ds["lon"].values.astype(float)
    igbp = ds["igbp"].values.astype(object) if "igbp" in ds.coords else np.array([""] * len(units_), dtype=object)
    if site_list is not None:
        meta = site_list if isinstance(site_list, xr.Dataset) else load_sites(site_list)
        sel = meta.reindex(unit=units_)
        known = np.isfinite(sel["lat"].values.astype(float))
        take = ~np.isfinite(lat) & known
        lat = np.where(take, sel["lat"].values.astype(float), lat)
        lon = np.where(take, sel["lon"].values.astype(float), lon)
        listed = np.array([s if isinstance(s, str) else "" for s in sel["igbp"].values], dtype=object)
        igbp = np.where((igbp == "") & (listed != ""), listed, igbp)
        for static in ("ELEV", "MAT", "MAP"):
            if static in sel and static not in ds:
                ds[static] = sel[static]
        ds.attrs["site_list"] = meta.attrs.get("source_files", "")
    ds = ds.assign_coords(lat=("unit", lat), lon=("unit", lon),
                          state=("unit", np.asarray(states_of_points(lat, lon), dtype=object)),
                          igbp=("unit", np.asarray(igbp, dtype=object)))
    missing = [u for u, la in zip(units_, lat) if not np.isfinite(la)]
    if missing:
        ds.attrs["coordinates_unknown"] = ", ".join(missing)
    else:
        ds.attrs.pop("coordinates_unknown", None)
    return ds
