"""County-level daily weather tables (e.g. HRRR county means for Iowa) -> daily county dataset.

Layout: one row per county and day, columns ``fips`` and ``date`` (ISO dates), and
variable columns whose unit is in parentheses, e.g. ``Avg Temperature (K)`` or
``Vapor Pressure Deficit (kPa)``; contract names (``TA``, ``P``...) are also accepted
with or without a unit. Units are converted to the contract's; an unknown unit is an
error naming the column.

Shortwave radiation check: a daily *mean* surface shortwave flux cannot exceed about
500 W m-2 (the top-of-atmosphere daily mean peaks near 560 W m-2). When a column
labelled W m-2 has values above :data:`MAX_DAILY_MEAN_SW` it is taken as a daily sum of
hourly means (Wh m-2 d-1) and divided by 24; the assumption is written in the
variable's ``unit_assumption`` attribute. Values that are still impossible are an error.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import geo, schema
from kgml_core.loaders._common import LoaderError, numeric_column, provenance, read_csv_checked

MAX_DAILY_MEAN_SW = 600.0
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


def check_shortwave(path, column: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    """Apply the radiation-unit check; returns (W m-2 daily means, assumption text)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or np.nanpercentile(finite, 99) <= MAX_DAILY_MEAN_SW:
        return values, "values are plausible daily mean fluxes in W m-2; used as is"
    scaled = values / 24.0
    if np.nanmax(scaled) > MAX_DAILY_MEAN_SW:
        raise LoaderError(path, f"column '{column}' reaches {np.nanmax(values):.0f}, impossible even as a "
                                "daily sum of hourly means", f"a daily mean below {MAX_DAILY_MEAN_SW:.0f} W m-2")
    return scaled, ("values up to %.0f are impossible as daily mean W m-2; assumed a daily sum of hourly "
                    "means (Wh m-2 d-1) and divided by 24" % np.nanmax(values))


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
            values, assumption = check_shortwave(path, column, values)
            extra["unit_assumption"] = assumption
            note = (note + "; " if note else "") + assumption.split("; ")[-1]
        grid = np.full((len(units), len(days)), np.nan)
        grid[row, col] = values
        schema.set_variable(ds, name, grid, provenance=provenance(path, column, note), extra_attrs=extra)
    ds.attrs.update({"source_files": Path(path).name, "source_format": "county daily weather table"})
    unknown = [u for u in units if not np.isfinite(counties.loc[u, "lat"])]
    if unknown:
        ds.attrs["coordinates_unknown"] = ", ".join(unknown)
    return schema.validate(ds, source=Path(path).name)
