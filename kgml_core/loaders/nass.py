"""USDA NASS Quick Stats county exports (raw layout) and tidy county yield tables.

Raw Quick Stats layout: 21 columns including ``Year, Geo Level, State ANSI, County ANSI,
Commodity, Data Item, Value``. ``Value`` is a string with thousands separators
("87,230"); the codes ``(D)`` (withheld to avoid disclosing individual operations),
``(Z)`` (less than half the unit), ``(NA)``, ``(S)``, ``(X)`` become missing; rows
without a county code ("OTHER (COMBINED) COUNTIES") cannot be placed on a county
and are dropped (their count is in ``attrs['dropped_rows']``).

Tidy tables need a 5-digit ``fips`` (or ``state_ansi`` + ``county_ansi``), ``year``,
a commodity column (or the ``crop`` argument) and a yield column whose name states
its unit (``yield_bu_per_acre``, ``yield_bu_acre``, ``yield_g_c_m2``).

Yield as grain carbon (g C m-2)::

    Y_C = Y_bu * m_bu * (1 - w) * f_C / 4046.86 m2 acre-1 * 1000 g kg-1

with m_bu the bushel mass (corn 25.40 kg, soybean 27.22 kg), w the standard moisture
(corn 0.155, soybean 0.13) and f_C = 0.45 the carbon fraction of dry matter.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import geo, schema
from kgml_core.loaders.csv_reader import read_csv_checked
from kgml_core.loaders.datasets import provenance
from kgml_core.loaders.errors import LoaderError

M2_PER_ACRE = 4046.86
CARBON_FRACTION = 0.45
# commodity -> (kg per bushel, standard moisture fraction, contract CROP code)
CROPS: dict[str, tuple[float, float, int]] = {"CORN": (25.40, 0.155, 0), "SOYBEANS": (27.22, 0.13, 1)}
WITHHELD = {"(D)", "(Z)", "(NA)", "(S)", "(X)", "(H)", "(L)", ""}
RAW_REQUIRED = ("Year", "Geo Level", "State ANSI", "County ANSI", "Commodity", "Data Item", "Value")
# Data Item suffix -> (variable, units, long name)
ITEMS: dict[str, tuple[str, str, str]] = {
    "YIELD, MEASURED IN BU / ACRE": ("YIELD_BU", "bu acre-1", "grain yield in bushels per acre"),
    "ACRES HARVESTED": ("AREA_HARVESTED", "acre", "area harvested"),
    "PRODUCTION, MEASURED IN BU": ("PRODUCTION", "bu", "grain production"),
}


def bu_per_acre_to_g_c(yield_bu: np.ndarray, crop: str) -> np.ndarray:
    """Grain yield (bu/acre) -> grain carbon (g C m-2) for ``crop`` (CORN or SOYBEANS)."""
    kg_bu, moisture, _ = CROPS[crop]
    return np.asarray(yield_bu, dtype=float) * kg_bu * (1 - moisture) * CARBON_FRACTION / M2_PER_ACRE * 1000


def parse_values(path, values: pd.Series, header: int, column: str = "Value") -> np.ndarray:
    """Quick Stats ``Value`` strings -> float; withheld codes -> NaN; raises naming the bad row."""
    text = values.fillna("").astype(str).str.strip()
    cleaned = text.str.replace(",", "", regex=False)
    out = pd.to_numeric(cleaned.where(~text.isin(WITHHELD), None), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(out) & ~text.isin(WITHHELD).to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LoaderError(path, f"column '{column}' has {text.iloc[i]!r} on line {header + 1 + i}",
                          "a number (thousands separators allowed) or a code such as (D) or (Z)")
    return out


def _item(path, data_item: str, line: int) -> tuple[str, str, str]:
    for suffix, spec in ITEMS.items():
        if data_item.upper().endswith(suffix):
            return spec
    raise LoaderError(path, f"'Data Item' {data_item!r} on line {line} is not a supported statistic",
                      f"one of {[s for s in ITEMS]} (e.g. 'CORN, GRAIN - YIELD, MEASURED IN BU / ACRE')")


def _digits(path, series: pd.Series, column: str, width: int, header: int) -> pd.Series:
    text = series.fillna("").astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    bad = ~text.str.fullmatch(r"\d{1,%d}" % width).to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LoaderError(path, f"column '{column}' has {text.iloc[i]!r} on line {header + 1 + i}",
                          f"a numeric code of at most {width} digits")
    return text.str.zfill(width)


def _years(path, series: pd.Series, column: str, header: int) -> np.ndarray:
    text = series.fillna("").astype(str).str.strip()
    years = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(years) | (years < 1850) | (years > 2100) | (years % 1 != 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LoaderError(path, f"column '{column}' has {text.iloc[i]!r} on line {header + 1 + i}",
                          "a four-digit year")
    return years.astype(int)


def _raw_long(path, table: pd.DataFrame, header: int) -> tuple[pd.DataFrame, int]:
    """Long table (fips, year, crop, variable, value, line) from a raw Quick Stats export."""
    lines = header + 1 + np.arange(len(table))
    county = table["Geo Level"].fillna("").astype(str).str.upper().eq("COUNTY").to_numpy(dtype=bool)
    if not county.any():
        raise LoaderError(path, "has no row with 'Geo Level' = COUNTY", "a county-level Quick Stats export")
    if "Domain" in table.columns:
        county = county & table["Domain"].fillna("TOTAL").astype(str).str.upper().eq("TOTAL").to_numpy(dtype=bool)
    has_code = table["County ANSI"].fillna("").astype(str).str.strip().ne("").to_numpy(dtype=bool)
    keep = county & has_code
    sub, lines = table[keep].reset_index(drop=True), lines[keep]
    state = _digits(path, sub["State ANSI"], "State ANSI", 2, header)
    fips = state + _digits(path, sub["County ANSI"], "County ANSI", 3, header)
    items = sub["Data Item"].fillna("").astype(str)
    variables = [_item(path, it, ln)[0] for it, ln in zip(items.unique(), lines[~items.duplicated().to_numpy()])]
    var_of = dict(zip(items.unique(), variables))
    long = pd.DataFrame({"fips": fips, "year": _years(path, sub["Year"], "Year", header),
                         "crop": sub["Commodity"].fillna("").astype(str).str.upper().str.strip(),
                         "variable": items.map(var_of), "column": "Value", "line": lines})
    long["value"] = parse_values(path, sub["Value"], header)
    return long, int((~keep).sum())


TIDY_YIELD = {"yield_bu_per_acre": "bu", "yield_bu_acre": "bu", "yield_bu/acre": "bu", "yield_g_c_m2": "gc",
              "yield_gc_m2": "gc"}
# (state column, county column) pairs and single 5-digit columns of the usual tidy spellings
FIPS_PAIRS = (("state_fips", "county_fips"), ("state_ansi", "county_ansi"), ("state_fips_code", "county_code"),
              ("statefp", "countyfp"), ("state_code", "county_code"))
FIPS_SINGLE = ("fips", "fips_code", "geoid", "county_fips5", "fips5")
# Quick Stats API (lower-case) headers -> the web export's
QUICKSTATS_API = {"year": "Year", "agg_level_desc": "Geo Level", "state_ansi": "State ANSI",
                  "county_ansi": "County ANSI", "commodity_desc": "Commodity", "short_desc": "Data Item",
                  "value": "Value", "domain_desc": "Domain", "program": "Program"}
# largest plausible county yield (bu/acre); the US record county yields are near 250 (corn) and 80 (soybeans)
MAX_YIELD_BU = {"CORN": 350.0, "SOYBEANS": 120.0}


def yield_unit(column: str) -> str | None:
    """'bu', 'gc' or 't/ha' from a yield column name (``yield_bu_per_acre``, ``Yield (bu/acre)``, ``yield_t_ha``)."""
    low = column.lower().strip()
    if low in TIDY_YIELD:
        return TIDY_YIELD[low]
    flat = re.sub(r"[^a-z0-9]+", "_", low)
    if "bu" in flat.split("_") and any(t.startswith("ac") for t in flat.split("_")):
        return "bu"
    if re.search(r"g_?c_m_?2", flat):
        return "gc"
    if re.search(r"(^|_)(t|mg)_(per_)?ha($|_)", flat):
        return "t/ha"
    return None


def _tidy_fips(path, table: pd.DataFrame, cols: dict[str, str], header: int) -> pd.Series:
    for single in FIPS_SINGLE:
        if single in cols:
            return _digits(path, table[cols[single]], cols[single], 5, header)
    for state, county in FIPS_PAIRS:
        if state in cols and county in cols:
            return (_digits(path, table[cols[state]], cols[state], 2, header)
                    + _digits(path, table[cols[county]], cols[county], 3, header))
    raise LoaderError(path, "has no county code column",
                      "a 5-digit 'fips' column, or 'state_fips' + 'county_fips' (or state_ansi + county_ansi)")


def _tidy_long(path, table: pd.DataFrame, header: int, crop: str | None) -> pd.DataFrame:
    cols = {c.lower().strip(): c for c in table.columns}
    lines = header + 1 + np.arange(len(table))
    fips = _tidy_fips(path, table, cols, header)
    if "year" not in cols:
        raise LoaderError(path, "has no 'year' column", "a tidy county table with a year column")
    ycols = [c for c in cols if c.startswith("yield")]
    if not ycols:
        raise LoaderError(path, "has no yield column", "a column such as yield_bu_per_acre")
    unit = yield_unit(cols[ycols[0]])
    if unit is None:
        raise LoaderError(path, f"column '{cols[ycols[0]]}' does not say its unit",
                          "a name such as yield_bu_per_acre, 'Yield (bu/acre)', yield_g_c_m2 or yield_t_ha")
    ccol = cols.get("commodity") or cols.get("crop") or cols.get("commodity_desc")
    if ccol is None and crop is None:
        raise LoaderError(path, "has no 'commodity' column and no crop was given", "CORN or SOYBEANS")
    crops = table[ccol].fillna("").astype(str).str.upper().str.strip() if ccol else crop.upper()
    value = parse_values(path, table[cols[ycols[0]]], header, cols[ycols[0]])
    name = {"bu": "YIELD_BU", "gc": "YIELD", "t/ha": "YIELD_T_HA"}[unit]
    out = [pd.DataFrame({"fips": fips, "year": _years(path, table[cols["year"]], cols["year"], header),
                         "crop": crops, "variable": name, "column": cols[ycols[0]], "line": lines, "value": value})]
    if "production_bu" in cols:
        out.append(out[0].assign(variable="PRODUCTION", column=cols["production_bu"],
                                 value=parse_values(path, table[cols["production_bu"]], header, cols["production_bu"])))
    long = pd.concat(out, ignore_index=True)
    tha = long["variable"] == "YIELD_T_HA"
    if tha.any():  # t/ha at standard moisture -> bu/acre
        kg = long.loc[tha, "crop"].map(lambda c: CROPS.get(c, (np.nan,))[0]).to_numpy(dtype=float)
        long.loc[tha, "value"] = long.loc[tha, "value"] * 1000.0 / kg / (10000.0 / M2_PER_ACRE)
        long.loc[tha, "variable"] = "YIELD_BU"
        long.loc[tha, "column"] = long.loc[tha, "column"] + " (t/ha at standard moisture -> bu/acre)"
    return long


def flag_yields(long: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Set placeholder zeros and impossible yields missing; their counts by kind.

    A county yield of exactly 0 is a placeholder (NASS publishes no zero yields: a county
    without harvest has no row); a negative yield or one above :data:`MAX_YIELD_BU` is impossible.
    """
    long = long.copy()
    bu = long["variable"] == "YIELD_BU"
    gc = long["variable"] == "YIELD"
    value = long["value"].to_numpy(dtype=float)
    cap = long["crop"].map(MAX_YIELD_BU).to_numpy(dtype=float)
    cap_gc = np.array([bu_per_acre_to_g_c(m, c) if c in CROPS else np.nan
                       for m, c in zip(cap, long["crop"])]) if gc.any() else cap
    is_yield = (bu | gc).to_numpy()
    with np.errstate(invalid="ignore"):
        zero = is_yield & (value == 0)
        limit = np.where(bu.to_numpy(), cap, cap_gc)
        impossible = is_yield & ((value < 0) | (np.isfinite(limit) & (value > limit)))
    long.loc[zero | impossible, "value"] = np.nan
    return long, {"placeholder_zeros": int(zero.sum()), "impossible_yields": int(impossible.sum())}


def _check_duplicates(path, long: pd.DataFrame) -> pd.DataFrame:
    key = ["fips", "year", "crop", "variable"]
    dup = long.duplicated(key, keep=False)
    if dup.any():
        rows = long[dup].sort_values(key + ["line"])
        first = rows.iloc[0]
        twin = rows[(rows[key] == first[key]).all(axis=1)]
        raise LoaderError(path, f"county {first.fips} year {first.year} {first.crop} {first.variable} "
                                f"appears on lines {twin['line'].tolist()[:4]}", "one row per county, year and crop")
    return long


def _choose_crop(path, long: pd.DataFrame, crop: str | None) -> str:
    found = sorted(set(long["crop"]))
    if crop is not None:
        crop = crop.upper()
        if crop not in found:
            raise LoaderError(path, f"has no rows for crop {crop!r} (found {found})", f"rows for {crop}")
        return crop
    for c in CROPS:
        if c in found:
            return c
    return found[0]


def _to_dataset(path, long: pd.DataFrame, crop: str, dropped: int, flagged: dict[str, int]) -> xr.Dataset:
    sub = long[long["crop"] == crop]
    wide = sub.pivot(index=["fips", "year"], columns="variable", values="value")
    units = sorted(set(sub["fips"]))
    years = np.arange(sub["year"].min(), sub["year"].max() + 1)
    counties = geo.load_counties(None)
    known = counties.reindex(units)
    states = [geo.FIPS_TO_POSTAL.get(u[:2], "") for u in units]
    ds = schema.empty_units(units, known["lat"].to_numpy(dtype=float), known["lon"].to_numpy(dtype=float),
                            states, "county")
    ds = ds.assign_coords(year=("year", years))
    grid = wide.reindex(pd.MultiIndex.from_product([units, years], names=["fips", "year"]))
    shape = (len(units), len(years))
    col = sub["column"].iloc[0]
    if crop not in CROPS and "YIELD_BU" in grid:
        raise LoaderError(path, f"crop {crop!r} has no bushel weight", f"one of {list(CROPS)} for yield conversion")
    if "YIELD_BU" in grid:
        ybu = grid["YIELD_BU"].to_numpy().reshape(shape)
        ds["YIELD_BU"] = (("unit", "year"), ybu, {"units": "bu acre-1", "long_name": f"{crop.lower()} grain yield",
                                                   "provenance": provenance(path, col)})
        schema.set_variable(ds, "YIELD", bu_per_acre_to_g_c(ybu, crop), provenance=provenance(
            path, col, f"bu/acre x {CROPS[crop][0]} kg/bu x (1 - {CROPS[crop][1]}) x {CARBON_FRACTION} "
                       f"/ {M2_PER_ACRE} m2/acre x 1000"))
    elif "YIELD" in grid:
        schema.set_variable(ds, "YIELD", grid["YIELD"].to_numpy().reshape(shape), provenance=provenance(path, col))
    for name in ("AREA_HARVESTED", "PRODUCTION"):
        if name in grid:
            spec = next(s for s in ITEMS.values() if s[0] == name)
            ds[name] = (("unit", "year"), grid[name].to_numpy().reshape(shape),
                        {"units": spec[1], "long_name": spec[2], "provenance": provenance(path, "Value" if col == "Value" else name.lower())})
    if "YIELD" in ds:
        code = float(CROPS.get(crop, (0, 0, -1))[2])
        schema.set_variable(ds, "CROP", np.where(np.isfinite(ds["YIELD"].values), code, np.nan),
                            provenance=provenance(path, "Commodity"))
    unknown = [u for u in units if u not in counties.index]
    ds.attrs.update({"source_files": Path(path).name, "source_format": "NASS Quick Stats", "crop": crop,
                     "dropped_rows": dropped, "crops_in_file": ", ".join(sorted(set(long["crop"]))), **flagged})
    if any(flagged.values()):
        ds.attrs["excluded_values"] = (f"{flagged['placeholder_zeros']} placeholder zero yield(s) and "
                                       f"{flagged['impossible_yields']} impossible yield(s) (negative or above "
                                       f"{MAX_YIELD_BU.get(crop, 'the crop maximum')} bu/acre) set missing")
        if "YIELD" in ds:
            ds["YIELD"].attrs["provenance"] += "; " + ds.attrs["excluded_values"]
    if unknown:
        ds.attrs["coordinates_unknown"] = ", ".join(unknown)
    return ds


def load_nass(path: str | Path, crop: str | None = None, states=None) -> xr.Dataset:
    """NASS Quick Stats export or tidy county table -> annual county dataset (unit = FIPS, year).

    Parameters
    ----------
    path : CSV file.
    crop : commodity to keep (CORN, SOYBEANS); default CORN when present, else the only one.
    states : keep counties of these states (postal codes, names or FIPS); default all.

    Returns
    -------
    Dataset with YIELD (g C m-2), YIELD_BU (bu acre-1) and CROP over (unit, year), plus
    AREA_HARVESTED (acre) or PRODUCTION (bu) when the file has them.
    """
    table, header = read_csv_checked(path, dtype=str, kind="NASS")
    api = {c: QUICKSTATS_API[c.lower()] for c in table.columns if c.lower() in QUICKSTATS_API}
    if {"short_desc", "commodity_desc"} <= {c.lower() for c in table.columns}:
        table = table.rename(columns=api)  # a Quick Stats API export: the same content, lower-case names
    if all(c in table.columns for c in RAW_REQUIRED):
        long, dropped = _raw_long(path, table, header)
    elif "Value" in table.columns or "Data Item" in table.columns:
        missing = [c for c in RAW_REQUIRED if c not in table.columns]
        raise LoaderError(path, f"missing Quick Stats column(s) {missing}",
                          f"a raw Quick Stats export with columns {list(RAW_REQUIRED)}")
    else:
        long, dropped = _tidy_long(path, table, header, crop), 0
    if states is not None:
        prefixes = {geo.CONUS_STATES[s][1] for s in geo.resolve_states(states)}
        long = long[long["fips"].str[:2].isin(prefixes)]
        if long.empty:
            raise LoaderError(path, f"has no county rows in states {list(states)}", "rows for those states")
    long = _check_duplicates(path, long)
    long, flagged = flag_yields(long)
    if not np.isfinite(long["value"]).any():
        raise LoaderError(path, "every value is withheld, missing or implausible", "at least one published value")
    ds = _to_dataset(path, long, _choose_crop(path, long, crop), dropped, flagged)
    return schema.validate(ds, source=Path(path).name)

