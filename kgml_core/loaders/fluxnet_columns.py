"""FLUXNET-family columns into a one-site dataset: which column is which variable, per-period arrays, units.

Half-hourly and hourly records are aggregated to days (:mod:`kgml_core.loaders.aggregate`),
yearly totals become mean daily rates, and every variable is checked and converted to the
contract's units (:mod:`kgml_core.loaders.units`). The AmeriFlux loader builds its sites
with :func:`build_site` too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import schema
from kgml_core.loaders import aggregate
from kgml_core.loaders import units
from kgml_core.loaders.columns import numeric_column
from kgml_core.loaders.datasets import full_days, provenance
from kgml_core.loaders.errors import LoaderError

PARTITIONS = ("NT", "DT")

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



def check_fraction(path, column: str, qc: np.ndarray, header_line: int) -> None:
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


def period_step(path, stamps: pd.DatetimeIndex, resolution: str, column: str) -> str:
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


def site_arrays(path, cols: Columns, stamps: pd.DatetimeIndex, rows: np.ndarray, step: str,
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
