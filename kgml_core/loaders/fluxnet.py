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
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import schema
from kgml_core.loaders.columns import check_unique_increasing, numeric_column, parse_dates
from kgml_core.loaders.csv_reader import read_csv_checked
from kgml_core.loaders.datasets import attach_sites, concat_units, require_some_data
from kgml_core.loaders.errors import LoaderError, name_of
from kgml_core.loaders.fluxnet_columns import (build_site, check_fraction, column_units, period_step, read_columns,
                                               site_arrays)
from kgml_core.loaders.sources import iter_members

SITE_RE = re.compile(r"(?:FLX|AMF|ICOSETC|ICOS)_([A-Z]{2}-[A-Za-z0-9]{3})_")
STAMP_COLUMNS = ("TIMESTAMP", "TIMESTAMP_START")
# long tables: spellings of the site and date columns (case-insensitive)
SITE_COLUMNS = ("site", "site_id", "siteid", "site id", "station", "tower", "site_code")
DATE_COLUMNS = ("timestamp", "timestamp_start", "date", "datetime", "time", "day", "month")


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


def _find_column(columns: Iterable[str], spellings: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): str(c) for c in columns}
    return next((lower[s] for s in spellings if s in lower), None)


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
        check_fraction(path, cols.qc[1], cols.qc[0], header_line)
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
        check_unique_increasing(path, stamps, stamp_col, header_line, rows, "each timestamp once per site")
        step = period_step(path, stamps[rows], resolution, stamp_col)
        periods, arrays = site_arrays(path, cols, stamps, rows, step, min_coverage)
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

