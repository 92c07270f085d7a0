"""County-level daily weather tables (e.g. HRRR county means for Iowa) -> daily county dataset.

Layout: one row per county and day, columns ``fips`` and ``date`` (ISO dates), and
variable columns whose unit is in parentheses, e.g. ``Avg Temperature (K)`` or
``Vapor Pressure Deficit (kPa)``; contract names (``TA``, ``P``...) are also accepted
with or without a unit. Units are converted to the contract's; an unknown unit is an
error naming the column.

Shortwave radiation check: a daily *mean* surface shortwave flux cannot exceed the
top-of-atmosphere daily mean at that latitude and day (FAO-56 eq. 21; at most about
560 W m-2). When more than 1 % of the values labelled W m-2 exceed it, the column is
taken as a daily sum of hourly means (Wh m-2 d-1) and divided by 24; days still above
the top-of-atmosphere value are set missing and counted. What was assumed is written
in the variable's ``unit_assumption`` attribute; a column implausible either way is an
error.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import geo, schema
from kgml_core.loaders._common import LoaderError, numeric_column, provenance, read_csv_checked

SOLAR_CONSTANT = 1361.0  # W m-2
MAX_SHARE_ABOVE_TOA = 0.01  # a few days above TOA can be noise; more means the unit is wrong
MAX_SHARE_ABOVE_TOA_SCALED = 0.2
COLUMN_RE = re.compile(r"^(?P<name>.*?)\s*\((?P<unit>[^)]*)\)\s*$")

# words in a column name -> contract variable (first match wins; order matters)
NAMES: tuple[tuple[str, str], ...] = (
    ("max temperature", "TA_MAX"), ("min temperature", "TA_MIN"), ("avg temperature", "TA"),
    ("mean temperature", "TA"), ("precipitation", "P"), ("relative humidity", "RH_AIR"),
    ("wind speed", "WS"), ("downward shortwave", "SW_IN"), ("vapor pressure deficit", "VPD"),
    ("vapour pressure deficit", "VPD"),
)

# (contract unit, normalised found unit) -> (scale, offset): contract = found * scale + offset
CONVERSIONS: dict[tuple[str, str], tuple[float, float]] = {
    ("degC", "K"): (1.0, -273.15), ("degC", "kelvin"): (1.0, -273.15),
    ("hPa", "kPa"): (10.0, 0.0), ("hPa", "Pa"): (0.01, 0.0),
    ("mm d-1", "kg m-2"): (1.0, 0.0), ("mm d-1", "mm"): (1.0, 0.0),
    ("m s-1", "m s-1"): (1.0, 0.0), ("W m-2", "W m-2"): (1.0, 0.0),
}


def normalise_unit(unit: str) -> str:
    """'kg m**-2' -> 'kg m-2', 'm s^-1' -> 'm s-1'."""
    return re.sub(r"\s+", " ", unit.replace("**", "").replace("^", "")).strip()


def conversion(path, column: str, name: str, unit: str | None) -> tuple[float, float, str]:
    """(scale, offset, note) to bring ``unit`` to the contract unit of ``name``; raises if unknown."""
    target = schema.VARIABLES[name].units
    if unit is None or schema.units_match(normalise_unit(unit), target):
        return 1.0, 0.0, ""
    key = (target, normalise_unit(unit))
    if key not in CONVERSIONS:
        raise LoaderError(path, f"column '{column}' is in unknown unit '{unit}'",
                          f"'{target}' or one of {sorted(u for t, u in CONVERSIONS if t == target)}")
    scale, offset = CONVERSIONS[key]
    return scale, offset, f"{unit} -> {target}" if (scale, offset) != (1.0, 0.0) else ""


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


def toa_daily_mean(lat_deg: np.ndarray, day_of_year: np.ndarray) -> np.ndarray:
    """Top-of-atmosphere daily mean shortwave flux (W m-2) at latitude and day of year (FAO-56 eq. 21)."""
    lat = np.radians(lat_deg)
    dec = 0.409 * np.sin(2 * np.pi * day_of_year / 365 - 1.39)
    ws = np.arccos(np.clip(-np.tan(lat) * np.tan(dec), -1, 1))
    dr = 1 + 0.033 * np.cos(2 * np.pi * day_of_year / 365)
    return SOLAR_CONSTANT / np.pi * dr * (ws * np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.sin(ws))


def check_shortwave(path, column: str, values: np.ndarray, toa: np.ndarray) -> tuple[np.ndarray, str]:
    """Radiation-unit check against the top-of-atmosphere daily mean ``toa`` (same shape).

    Returns (daily mean W m-2 with impossible days set missing, the assumption made).
    """
    ok = np.isfinite(values) & np.isfinite(toa)
    above = lambda v: float(np.mean(v[ok] > toa[ok])) if ok.any() else 0.0  # noqa: E731
    if above(values) <= MAX_SHARE_ABOVE_TOA:
        out, what = values.copy(), "values are plausible daily mean fluxes in W m-2; used as is"
    elif above(values / 24.0) <= MAX_SHARE_ABOVE_TOA_SCALED:
        out = values / 24.0
        what = (f"{100 * above(values):.0f}% of values exceed the top-of-atmosphere daily mean, so they are "
                "not mean fluxes; assumed a daily sum of hourly means (Wh m-2 d-1) and divided by 24")
    else:
        raise LoaderError(path, f"column '{column}' exceeds the top-of-atmosphere daily mean on "
                                f"{100 * above(values / 24.0):.0f}% of days even divided by 24",
                          "a daily mean shortwave flux in W m-2 (or a daily sum of hourly means)")
    impossible = ok & (out > toa)
    if impossible.any():
        out[impossible] = np.nan
        what += f"; {int(impossible.sum())} day(s) still above the top-of-atmosphere value set missing"
    return out, what


def _dates(path, table: pd.DataFrame, header: int) -> pd.DatetimeIndex:
    text = table["date"].fillna("").astype(str).str.strip()
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LoaderError(path, f"column 'date' has {text.iloc[i]!r} on line {header + 1 + i}",
                          "a real date written YYYY-MM-DD")
    return pd.DatetimeIndex(parsed).as_unit("ns")


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
        scale, offset, note = conversion(path, column, name, unit)
        values = numeric_column(path, table, column, header) * scale + offset
        extra = {}
        if name == "SW_IN":
            lat = counties["lat"].to_numpy(dtype=float)[row]
            values, assumption = check_shortwave(path, column, values, toa_daily_mean(lat, dates.day_of_year.to_numpy()))
            extra["unit_assumption"] = assumption
            note = (note + "; " if note else "") + assumption
        grid = np.full((len(units), len(days)), np.nan)
        grid[row, col] = values
        schema.set_variable(ds, name, grid, provenance=provenance(path, column, note), extra_attrs=extra)
    ds.attrs.update({"source_files": Path(path).name, "source_format": "county daily weather table"})
    unknown = [u for u in units if not np.isfinite(counties.loc[u, "lat"])]
    if unknown:
        ds.attrs["coordinates_unknown"] = ", ".join(unknown)
    return schema.validate(ds, source=Path(path).name)
