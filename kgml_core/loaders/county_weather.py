"""County-level daily weather tables (e.g. HRRR county means for Iowa) -> daily county dataset.

Layout: one row per county and day, columns ``fips`` and ``date`` (ISO dates), and
variable columns whose unit is in parentheses, e.g. ``Avg Temperature (K)`` or
``Vapor Pressure Deficit (kPa)``; contract names (``TA``, ``P``...) are also accepted
with or without a unit. Units are converted to the contract's; an unknown unit is an
error naming the column.

Every column goes through :func:`kgml_core.loaders.units.to_contract`: the labelled unit
is tried first, then the others known for the variable, and the first under which the
values are plausible (both bounds) is taken. The HRRR shortwave column labelled W m-2
(values up to 9000) only fits as a daily sum of hourly means (Wh m-2 d-1): it is divided
by 24, and days still above the top-of-atmosphere daily mean at the county's latitude
(FAO-56 eq. 21) are set missing and counted. What was assumed is written in the
variable's ``unit_assumption`` attribute; a column that fits no unit is an error naming
the range found and the ranges expected. Dates are ISO (2020-06-01) or compact (20200601).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import geo, schema
from kgml_core.loaders import units as unit_check
from kgml_core.loaders.columns import numeric_column, parse_dates
from kgml_core.loaders.csv_reader import read_csv_checked
from kgml_core.loaders.datasets import provenance
from kgml_core.loaders.errors import LoaderError

COLUMN_RE = re.compile(r"^(?P<name>.*?)\s*\((?P<unit>[^)]*)\)\s*$")

# words in a column name -> contract variable (first match wins; order matters)
NAMES: tuple[tuple[str, str], ...] = (
    ("max temperature", "TA_MAX"), ("min temperature", "TA_MIN"), ("avg temperature", "TA"),
    ("mean temperature", "TA"), ("precipitation", "P"), ("relative humidity", "RH_AIR"),
    ("wind speed", "WS"), ("downward shortwave", "SW_IN"), ("vapor pressure deficit", "VPD"),
    ("vapour pressure deficit", "VPD"),
)


def match_columns(columns: list[str]) -> dict[str, tuple[str, str | None]]:
    """Contract name -> (column, unit or None) for the columns this loader understands."""
    found: dict[str, tuple[str, str | None]] = {}
    for col in columns:
        m = COLUMN_RE.match(col)
        label, unit = (m.group("name"), m.group("unit")) if m else (col, None)
        if label.strip().upper() in schema.VARIABLES:
            name = label.strip().upper()
        else:
            name = next((v for words, v in NAMES if words in label.lower()), None)
        if name and name not in found:
            found[name] = (col, unit)
    return found


def _dates(path, table: pd.DataFrame, header: int) -> pd.DatetimeIndex:
    dates, resolution = parse_dates(path, table, "date", header)
    if resolution != "D":
        raise LoaderError(path, f"column 'date' has {str(table['date'].iloc[0])!r} on line {header + 1}",
                          "one date per row written YYYY-MM-DD or YYYYMMDD")
    return dates


def load_county_weather(path: str | Path) -> xr.Dataset:
    """County daily weather table -> contract dataset over (unit = FIPS, time).

    Raises :class:`LoaderError` on missing fips/date columns, malformed FIPS or dates,
    duplicate county-days, non-numeric values or unknown units.
    """
    table, header = read_csv_checked(path, required=("fips", "date"), dtype=str, kind="county weather")
    fips_text = table["fips"].fillna("").astype(str).str.strip()
    bad = ~fips_text.str.fullmatch(r"\d{4,5}").to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LoaderError(path, f"column 'fips' has {fips_text.iloc[i]!r} on line {header + 1 + i}",
                          "a 5-digit county FIPS code")
    fips = fips_text.str.zfill(5)
    dates = _dates(path, table, header)
    dup = pd.DataFrame({"f": fips, "d": dates}).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise LoaderError(path, f"county {fips.iloc[i]} on {dates[i]:%Y-%m-%d} repeats on line {header + 1 + i}",
                          "one row per county and day")
    columns = match_columns([c for c in table.columns if c not in ("fips", "date")])
    if not columns:
        raise LoaderError(path, "has no weather column the loader knows",
                          "columns such as 'Avg Temperature (K)' or 'P (mm)'")
    units = sorted(set(fips))
    days = pd.date_range(dates.min(), dates.max(), freq="D")
    row = np.searchsorted(units, fips.to_numpy())
    col = ((dates - days[0]) // pd.Timedelta(days=1)).to_numpy()
    counties = geo.load_counties(None).reindex(units)
    ds = schema.empty_units(units, counties["lat"].to_numpy(dtype=float), counties["lon"].to_numpy(dtype=float),
                            [geo.FIPS_TO_POSTAL.get(u[:2], "") for u in units], "county")
    ds = ds.assign_coords(time=("time", days.values))
    for name, (column, unit) in columns.items():
        toa = None
        if name == "SW_IN":
            toa = unit_check.toa_daily_mean(counties["lat"].to_numpy(dtype=float)[row], dates.day_of_year.to_numpy())
        values, assumption = unit_check.to_contract(path, column, name, numeric_column(path, table, column, header),
                                               unit, toa)
        extra = {"unit_assumption": assumption} if assumption else {}
        note = unit_check.notable(assumption)
        grid = np.full((len(units), len(days)), np.nan)
        grid[row, col] = values
        schema.set_variable(ds, name, grid, provenance=provenance(path, column, note), extra_attrs=extra)
    ds.attrs.update({"source_files": Path(path).name, "source_format": "county daily weather table"})
    unknown = [u for u in units if not np.isfinite(counties.loc[u, "lat"])]
    if unknown:
        ds.attrs["coordinates_unknown"] = ", ".join(unknown)
    return schema.validate(ds, source=Path(path).name)
