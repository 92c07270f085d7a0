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
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import schema
from kgml_core.loaders import aggregate
from kgml_core.loaders._common import (LoaderError, check_unique_increasing, full_days, iter_members,
                                       name_of, numeric_column, parse_timestamps, provenance,
                                       read_csv_checked, require_some_data, site_dataset)

SITE_RE = re.compile(r"FLX_([A-Z]{2}-[A-Za-z0-9]{3})_")
RES_RE = re.compile(r"_(DD|HH|HR|WW|MM|YY)_")
PARTITIONS = ("NT", "DT")

DRIVERS: dict[str, tuple[tuple[str, ...], str]] = {
    "TA": (("TA_F", "TA_F_MDS"), "mean"),
    "SW_IN": (("SW_IN_F", "SW_IN_F_MDS"), "mean"),
    "VPD": (("VPD_F", "VPD_F_MDS"), "mean"),
    "P": (("P_F",), "sum"),
    "WS": (("WS_F",), "mean"),
    "SWC": (("SWC_F_MDS_1",), "mean"),
    "TS": (("TS_F_MDS_1",), "mean"),
}
EXTRA_ATTRS = {
    "GPP_DT": ("g C m-2 d-1", "gross primary production, daytime partitioning"),
    "RECO_DT": ("g C m-2 d-1", "ecosystem respiration, daytime partitioning"),
    "GPP_NT": ("g C m-2 d-1", "gross primary production, night-time partitioning"),
    "RECO_NT": ("g C m-2 d-1", "ecosystem respiration, night-time partitioning"),
}


def flux_columns(partition: str) -> dict[str, str]:
    """Contract/extra name -> FLUXNET column of the carbon fluxes for ``partition`` (NT or DT)."""
    if partition not in PARTITIONS:
        raise ValueError(f"partition {partition!r}: expected one of {list(PARTITIONS)}")
    other = "DT" if partition == "NT" else "NT"
    return {"NEE": "NEE_VUT_REF", "GPP": f"GPP_{partition}_VUT_REF", "RECO": f"RECO_{partition}_VUT_REF",
            f"GPP_{other}": f"GPP_{other}_VUT_REF", f"RECO_{other}": f"RECO_{other}_VUT_REF"}


def site_id(path: str | Path) -> str:
    """Site id (e.g. ``US-Ne1``) from a FLUXNET file name; raises when the name has none."""
    match = SITE_RE.search(name_of(path))
    if not match:
        raise LoaderError(path, "the file name carries no FLUXNET site id",
                          "a name like FLX_US-Ne1_FLUXNET2015_SUBSET_DD_2001-2013_1-4.csv")
    return match.group(1)


def _wanted_columns(partition: str) -> set[str]:
    cols = {"TIMESTAMP", "TIMESTAMP_START", "TIMESTAMP_END", "NEE_VUT_REF_QC"}
    for names, _ in DRIVERS.values():
        cols.update(names)
    cols.update(flux_columns(partition).values())
    return cols


def _pick(columns: Iterable[str], candidates: tuple[str, ...]) -> str | None:
    present = set(columns)
    return next((c for c in candidates if c in present), None)


def _check_fraction(path, column: str, qc: np.ndarray, header_line: int) -> None:
    bad = np.flatnonzero((qc < 0) | (qc > 1))
    if bad.size:
        i = int(bad[0])
        raise LoaderError(path, f"column '{column}' has value {qc[i]:g} on line {header_line + 1 + i}",
                          "a daily quality fraction between 0 and 1")


def _daily_values(path, table, header_line, partition) -> tuple[pd.DatetimeIndex, dict]:
    stamps = parse_timestamps(path, table, "TIMESTAMP", header_line, "%Y%m%d")
    check_unique_increasing(path, stamps, "TIMESTAMP", header_line)
    out: dict[str, tuple[np.ndarray, str]] = {}
    for name, (candidates, _) in DRIVERS.items():
        col = _pick(table.columns, candidates)
        if col:
            out[name] = (numeric_column(path, table, col, header_line), provenance(path, col))
    for name, col in flux_columns(partition).items():
        if col in table.columns:
            out[name] = (numeric_column(path, table, col, header_line), provenance(path, col))
    if "NEE_VUT_REF_QC" in table.columns:
        qc = numeric_column(path, table, "NEE_VUT_REF_QC", header_line)
        _check_fraction(path, "NEE_VUT_REF_QC", qc, header_line)
        for flux in ("NEE", "GPP", "RECO"):
            if flux in out:
                out[f"{flux}_QC"] = (qc, provenance(path, "NEE_VUT_REF_QC"))
    days = pd.DatetimeIndex(stamps)
    return days, out


def _subdaily_values(path, table, header_line, partition, min_coverage) -> tuple[pd.DatetimeIndex, dict]:
    stamps = parse_timestamps(path, table, "TIMESTAMP_START", header_line, "%Y%m%d%H%M")
    check_unique_increasing(path, stamps, "TIMESTAMP_START", header_line)
    per_day = aggregate.records_per_day(path, stamps)
    idx, days = aggregate.day_index(stamps)
    n = len(days)
    agg = f"daily {{}} of {'half-hourly' if per_day == 48 else 'hourly'} values, coverage >= {min_coverage:g}"
    out: dict[str, tuple[np.ndarray, str]] = {}
    for name, (candidates, how) in DRIVERS.items():
        col = _pick(table.columns, candidates)
        if not col:
            continue
        raw = numeric_column(path, table, col, header_line)
        out[name] = (aggregate.daily(raw, idx, n, per_day, how, min_coverage), provenance(path, col, agg.format(how)))
        if name == "TA":
            for ext, how_ext in (("TA_MAX", "max"), ("TA_MIN", "min")):
                out[ext] = (aggregate.daily(raw, idx, n, per_day, how_ext, min_coverage),
                            provenance(path, col, agg.format(how_ext)))
    note = agg.format("mean") + ", umol CO2 m-2 s-1 x 1.0377 -> g C m-2 d-1"
    for name, col in flux_columns(partition).items():
        if col in table.columns:
            raw = numeric_column(path, table, col, header_line)
            out[name] = (aggregate.daily(raw, idx, n, per_day, "mean", min_coverage)
                         * aggregate.UMOL_TO_G_C_PER_DAY, provenance(path, col, note))
    if "NEE_VUT_REF_QC" in table.columns:
        flags = numeric_column(path, table, "NEE_VUT_REF_QC", header_line)
        qc = aggregate.good_fraction(flags, idx, n, per_day)
        for flux in ("NEE", "GPP", "RECO"):
            if flux in out:
                out[f"{flux}_QC"] = (qc, provenance(path, "NEE_VUT_REF_QC", "share of half-hours flagged 0 or 1"))
    return days, out


def read_table(path: str | Path, source: bytes | None = None, partition: str = "NT",
               min_coverage: float = 0.8) -> xr.Dataset:
    """One FLUXNET CSV (daily or sub-daily) as a one-site contract dataset without coordinates."""
    name = name_of(path)
    res = RES_RE.search(name)
    if res and res.group(1) in ("WW", "MM", "YY"):
        raise LoaderError(path, f"is a {res.group(1)} (weekly/monthly/yearly) FLUXNET file",
                          "a daily (DD) or half-hourly/hourly (HH/HR) file")
    site = site_id(path)
    wanted = _wanted_columns(partition)
    table, header_line = read_csv_checked(path, usecols=lambda c: c.strip() in wanted,
                                          kind="FLUXNET", source=source)
    if not set(table.columns) - {"TIMESTAMP", "TIMESTAMP_START", "TIMESTAMP_END", "NEE_VUT_REF_QC"}:
        raise LoaderError(path, "has none of the FLUXNET columns TA_F, SW_IN_F, VPD_F, P_F, NEE_VUT_REF",
                          "a FLUXNET2015/ONEFlux SUBSET or FULLSET file (an AmeriFlux BASE file? "
                          "use the ameriflux loader)")
    if "TIMESTAMP" in table.columns:
        days, values = _daily_values(path, table, header_line, partition)
    elif "TIMESTAMP_START" in table.columns:
        days, values = _subdaily_values(path, table, header_line, partition, min_coverage)
    else:
        raise LoaderError(path, "missing column 'TIMESTAMP' (daily) or 'TIMESTAMP_START' (HH/HR)",
                          "a FLUXNET2015/ONEFlux file")
    if not values:
        raise LoaderError(path, "has none of the FLUXNET columns TA_F, SW_IN_F, VPD_F, P_F, NEE_VUT_REF",
                          "a FLUXNET2015/ONEFlux SUBSET or FULLSET file (an AmeriFlux BASE file? "
                          "use the ameriflux loader)")
    days, arrays = full_days(path, days, {k: v[0] for k, v in values.items()})
    contract = {k: (arrays[k], values[k][1]) for k in values if k in schema.VARIABLES}
    ds = site_dataset(site, days, contract)
    for k in values:
        if k not in schema.VARIABLES:
            units, long_name = EXTRA_ATTRS[k]
            ds[k] = (("unit", "time"), arrays[k][None, :],
                     {"units": units, "long_name": long_name, "provenance": values[k][1]})
    require_some_data(path, ds, "FLUXNET")
    ds.attrs.update({"source_files": name, "partition": partition, "source_format": "FLUXNET2015"})
    return ds


def _pick_member(path: Path, members: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """The daily file of a FLUXNET zip (else the HH, else the HR one); ERA-Interim files are skipped."""
    usable = [(n, b) for n, b in members if SITE_RE.search(Path(n).name) and "_ERAI_" not in n]
    for res in ("DD", "HH", "HR"):
        for member in usable:
            if f"_{res}_" in Path(member[0]).name:
                return member
    raise LoaderError(path, f"contains no FLUXNET DD/HH/HR CSV file ({len(members)} CSV member(s))",
                      "a FLUXNET2015/ONEFlux zip archive as downloaded")


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.name.startswith("FLX_")
                           and q.suffix.lower() in (".csv", ".zip"))
            if not found:
                raise LoaderError(p, "folder holds no FLX_*.csv or FLX_*.zip file", "FLUXNET files")
            files += found
        elif not p.exists():
            raise LoaderError(p, "does not exist", "an existing file or folder")
        else:
            files.append(p)
    return files


def load_one(path: str | Path, partition: str = "NT", min_coverage: float = 0.8) -> xr.Dataset:
    """One FLUXNET CSV or zip archive as a one-site dataset (coordinates unknown)."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        member, data = _pick_member(path, iter_members(path))
        ds = read_table(Path(member), source=data, partition=partition, min_coverage=min_coverage)
        for var in ds.data_vars:
            ds[var].attrs["provenance"] = f"{path.name}!" + ds[var].attrs["provenance"]
        ds.attrs["source_files"] = f"{path.name}!{Path(member).name}"
        return ds
    return read_table(path, partition=partition, min_coverage=min_coverage)


def load_fluxnet(paths: str | Path | Iterable[str | Path], site_list: str | Path | xr.Dataset | None = None,
                 partition: str = "NT", min_coverage: float = 0.8) -> xr.Dataset:
    """FLUXNET2015/ONEFlux files, zips or folders as one site dataset (``unit`` = site id).

    Parameters
    ----------
    paths : files (CSV or zip) and/or folders of ``FLX_*`` files; one file per site.
    site_list : site metadata CSV (or a dataset from :func:`kgml_core.loaders.sites.load_sites`)
        giving lat, lon, state and IGBP; without it coordinates are NaN and listed in
        ``attrs['coordinates_unknown']``.
    partition : "NT" (night-time, default) or "DT" for GPP and RECO.
    min_coverage : share of valid half-hours needed for a daily value (sub-daily files).

    Returns
    -------
    Contract dataset with dims (unit, time), time spanning the union of the sites' rows.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    parts: dict[str, xr.Dataset] = {}
    for f in _expand(paths):
        ds = load_one(f, partition, min_coverage)
        site = str(ds["unit"].values[0])
        if site in parts:
            raise LoaderError(f, f"is a second file for site {site} (first: {parts[site].attrs['source_files']})",
                              "one file per site")
        parts[site] = ds
    out = concat_units(list(parts.values()))
    out.attrs["source_files"] = ", ".join(p.attrs["source_files"] for p in parts.values())
    out.attrs.update({"partition": partition, "source_format": "FLUXNET2015"})
    out = attach_sites(out, site_list)
    return schema.validate(out, source=out.attrs["source_files"])


def concat_units(parts: list[xr.Dataset]) -> xr.Dataset:
    """Concatenate one-unit datasets along ``unit`` (outer join in time), joining provenance."""
    out = xr.concat(parts, dim="unit", join="outer", combine_attrs="override", data_vars="all",
                    coords="different", compat="equals")
    for var in out.data_vars:
        provs = [p[var].attrs["provenance"] for p in parts if var in p and "provenance" in p[var].attrs]
        units = [str(p["unit"].values[0]) for p in parts if var in p and "provenance" in p[var].attrs]
        out[var].attrs["provenance"] = "; ".join(f"{u}: {v}" for u, v in zip(units, provs))
    return out


def attach_sites(ds: xr.Dataset, site_list: str | Path | xr.Dataset | None) -> xr.Dataset:
    """Set lat, lon, state and IGBP of site units from a site list (NaN/'' where not listed)."""
    from kgml_core.loaders.sites import load_sites

    units = [str(u) for u in ds["unit"].values]
    if site_list is None:
        ds.attrs["coordinates_unknown"] = ", ".join(units)
        return ds.assign_coords(igbp=("unit", np.array([""] * len(units), dtype=object)))
    meta = site_list if isinstance(site_list, xr.Dataset) else load_sites(site_list)
    known = set(map(str, meta["unit"].values))
    sel = meta.reindex(unit=units)
    ds = ds.assign_coords(lat=("unit", sel["lat"].values.astype(float)),
                          lon=("unit", sel["lon"].values.astype(float)),
                          state=("unit", np.array([s if isinstance(s, str) else "" for s in sel["state"].values],
                                                  dtype=object)),
                          igbp=("unit", np.array([s if isinstance(s, str) else "" for s in sel["igbp"].values],
                                                 dtype=object)))
    for static in ("ELEV", "MAT", "MAP"):
        if static in sel:
            ds[static] = sel[static]
    missing = [u for u in units if u not in known]
    if missing:
        ds.attrs["coordinates_unknown"] = ", ".join(missing)
    ds.attrs["site_list"] = meta.attrs.get("source_files", "")
    return ds
