"""AmeriFlux BASE half-hourly/hourly CSV files (plain or in the BASE-BADM zip) to daily values.

The BASE layout: optional ``#`` comment lines, a header with TIMESTAMP_START and
TIMESTAMP_END (``YYYYMMDDHHMM``, local standard time), ``-9999`` for missing, and
variable names with qualifiers: ``_PI`` (PI-processed), ``_F`` (gap-filled) and
``_H_V_R`` position suffixes (horizontal, vertical, replicate), e.g. ``SWC_1_2_1``.

For each contract variable the loader takes, in order: the bare name, ``_PI``,
``_F``, ``_PI_F``; else the positional columns of the shallowest vertical level,
averaged over horizontal positions and replicates. Daily values follow the
minimum-coverage rule of :mod:`kgml_core.loaders.aggregate`; CO2 fluxes
(``FC``/``NEE``/``GPP``/``RECO``, umol CO2 m-2 s-1) become g C m-2 d-1 (x 1.0377).
``NEE_QC`` etc. are the share of the day's expected records that were measured.
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
from kgml_core.loaders.columns import check_unique_increasing, numeric_column, parse_timestamps
from kgml_core.loaders.csv_reader import read_csv_checked
from kgml_core.loaders.datasets import attach_sites, concat_units, require_some_data
from kgml_core.loaders.errors import LoaderError, name_of
from kgml_core.loaders.fluxnet import drop_extracted
from kgml_core.loaders.fluxnet_columns import build_site
from kgml_core.loaders.sources import iter_members, read_text_head

SITE_RE = re.compile(r"AMF_([A-Z]{2}-[A-Za-z0-9]{3})_")
COMMENT_SITE_RE = re.compile(r"#\s*site[^:]*:\s*([A-Z]{2}-[A-Za-z0-9]{3})", re.IGNORECASE)
COLUMN_RE = re.compile(r"^(?P<base>[A-Z_]+?)(?P<qual>_PI_F|_PI|_F)?(?:_(?P<h>\d+)_(?P<v>\d+)_(?P<r>\d+))?$")
QUALIFIER_ORDER = ("", "_PI", "_F", "_PI_F")

# contract name -> (AmeriFlux base names in order of preference, daily aggregation)
VARIABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "TA": (("TA",), "mean"),
    "SW_IN": (("SW_IN",), "mean"),
    "VPD": (("VPD",), "mean"),
    "P": (("P",), "sum"),
    "WS": (("WS",), "mean"),
    "RH_AIR": (("RH",), "mean"),
    "SWC": (("SWC",), "mean"),
    "TS": (("TS",), "mean"),
    "NEE": (("NEE", "FC"), "mean"),
    "GPP": (("GPP",), "mean"),
    "RECO": (("RECO",), "mean"),
}
FLUXES = ("NEE", "GPP", "RECO")


def site_id(path: str | Path, head: str) -> str:
    """Site id from the file name (``AMF_US-Ne1_BASE_HH_...``) or a ``# Site: US-Ne1`` comment."""
    match = SITE_RE.search(name_of(path)) or COMMENT_SITE_RE.search(head)
    if not match:
        raise LoaderError(path, "neither the file name nor a '# Site:' comment line names the site",
                          "a name like AMF_US-Ne1_BASE_HH_13-5.csv")
    return match.group(1)


def choose_columns(columns: Iterable[str], bases: tuple[str, ...]) -> list[str]:
    """Columns holding one variable: a single unpositioned column, or the shallowest-level replicates."""
    parsed = [(c, COLUMN_RE.match(c)) for c in columns]
    for base in bases:
        for qual in QUALIFIER_ORDER:
            bare = base + qual
            if bare in columns:
                return [bare]
        placed = [(c, m) for c, m in parsed if m and m.group("base") == base and m.group("v")
                  and (m.group("qual") or "") in QUALIFIER_ORDER]
        if placed:
            top = min(int(m.group("v")) for _, m in placed)
            quals = [(m.group("qual") or "") for _, m in placed if int(m.group("v")) == top]
            best = min(quals, key=QUALIFIER_ORDER.index)
            return [c for c, m in placed if int(m.group("v")) == top and (m.group("qual") or "") == best]
    return []


def _row_mean(path, table: pd.DataFrame, cols: list[str], header: int) -> np.ndarray:
    arrays = np.column_stack([numeric_column(path, table, c, header) for c in cols])
    if arrays.shape[1] == 1:
        return arrays[:, 0]
    valid = np.isfinite(arrays)
    with np.errstate(invalid="ignore"):
        return np.where(valid.any(axis=1), np.nansum(arrays, axis=1) / np.maximum(valid.sum(axis=1), 1), np.nan)


def _check_end(path, table, stamps: pd.DatetimeIndex, header: int, per_day: int) -> None:
    if "TIMESTAMP_END" not in table.columns:
        return
    end = parse_timestamps(path, table, "TIMESTAMP_END", header, "%Y%m%d%H%M")
    step = pd.Timedelta(minutes=1440 // per_day)
    bad = np.flatnonzero((end - stamps) != step)
    if bad.size:
        i = int(bad[0])
        raise LoaderError(path, f"TIMESTAMP_END {end[i]:%Y%m%d%H%M} does not follow TIMESTAMP_START "
                                f"{stamps[i]:%Y%m%d%H%M} by {step.seconds // 60} minutes on line {header + 1 + i}",
                          "TIMESTAMP_END = TIMESTAMP_START + one record")


def read_table(path: str | Path, source: bytes | None = None, min_coverage: float = 0.8) -> xr.Dataset:
    """One AmeriFlux BASE CSV as a one-site daily contract dataset (coordinates unknown)."""
    head = source.decode("utf-8-sig", errors="replace")[:4096] if source is not None else read_text_head(path, 4096)
    table, header = read_csv_checked(path, required=("TIMESTAMP_START",),
                                     kind="AmeriFlux BASE", source=source)
    site = site_id(path, head)
    stamps = parse_timestamps(path, table, "TIMESTAMP_START", header, "%Y%m%d%H%M")
    check_unique_increasing(path, stamps, "TIMESTAMP_START", header)
    per_day = aggregate.records_per_day(path, stamps)
    _check_end(path, table, stamps, header, per_day)
    idx, days = aggregate.day_index(stamps)
    n = len(days)
    label = "half-hourly" if per_day == 48 else "hourly"
    values: dict[str, tuple[np.ndarray, str, None, str]] = {}
    for name, (bases, how) in VARIABLES.items():
        cols = choose_columns(list(table.columns), bases)
        if not cols:
            continue
        raw = _row_mean(path, table, cols, header)
        note = f"daily {how} of {label} values, coverage >= {min_coverage:g}"
        if len(cols) > 1:
            note += f", mean of {len(cols)} positions"
        daily = aggregate.daily(raw, idx, n, per_day, how, min_coverage)
        joined = "+".join(cols)
        if name in FLUXES:
            daily = daily * aggregate.UMOL_TO_G_C_PER_DAY
            note += ", umol CO2 m-2 s-1 x 1.0377 -> g C m-2 d-1"
            values[f"{name}_QC"] = (aggregate.good_fraction(np.isfinite(raw).astype(int), idx, n, per_day, (1,)),
                                    joined, None, "share of records measured")
        values[name] = (daily, joined, None, note)
        if name == "TA":
            for ext, agg in (("TA_MAX", "max"), ("TA_MIN", "min")):
                values[ext] = (aggregate.daily(raw, idx, n, per_day, agg, min_coverage), joined, None,
                               f"daily {agg} of {label} values")
    if not values:
        raise LoaderError(path, "has none of the AmeriFlux variables TA, SW_IN, VPD, P, SWC, FC/NEE",
                          "an AmeriFlux BASE file (TA_1_1_1, FC, ... columns)")
    ds = build_site(path, site, days, values, "D")
    require_some_data(path, ds, "AmeriFlux BASE")
    ds.attrs.update({"source_files": name_of(path), "source_format": "AmeriFlux BASE",
                     "min_coverage": min_coverage})
    return ds


def load_one(path: str | Path, min_coverage: float = 0.8) -> xr.Dataset:
    """One BASE CSV, or the BASE CSV inside an AmeriFlux BASE-BADM zip (with the BIF metadata it holds)."""
    path = Path(path)
    if path.suffix.lower() != ".zip":
        return read_table(path, min_coverage=min_coverage)
    members = iter_members(path, (".csv", ".xlsx"))
    base = [(n, b) for n, b in members if "_BASE_" in Path(n).name and n.lower().endswith(".csv")]
    if not base:
        raise LoaderError(path, "contains no AMF_*_BASE_*.csv file", "an AmeriFlux BASE-BADM zip archive")
    name, data = base[0]
    ds = read_table(Path(name), source=data, min_coverage=min_coverage)
    for var in ds.data_vars:
        ds[var].attrs["provenance"] = f"{path.name}!" + ds[var].attrs["provenance"]
    ds.attrs["source_files"] = f"{path.name}!{Path(name).name}"
    bif = [(n, b) for n, b in members if "_BIF_" in Path(n).name.upper()]
    if bif:
        ds = apply_badm(ds, read_bif(path, bif[0][0], bif[0][1].read()))
    return ds


# BADM variables -> site attribute; crop words found in planting/species/crop entries
BADM_FIELDS = {"LOCATION_LAT": "lat", "LOCATION_LONG": "lon", "LOCATION_ELEV": "ELEV", "IGBP": "igbp",
               "MAT": "MAT", "MAP": "MAP"}
CROP_WORDS = {"CORN": ("corn", "maize", "zea mays"), "SOYBEANS": ("soy", "glycine max")}


def read_bif(path: Path, member: str, data: bytes) -> dict[str, str]:
    """Site metadata from a BADM Interchange Format sheet (SITE_ID, VARIABLE, DATAVALUE; xlsx or csv).

    Returns lat, lon, ELEV, igbp, MAT, MAP and crop (CORN/SOYBEANS/'' from planting, species or
    crop entries) as strings, for the sheet's first site.
    """
    import io

    try:
        if member.lower().endswith(".xlsx"):
            table = pd.read_excel(io.BytesIO(data), dtype=str, engine="openpyxl")
        else:
            table = pd.read_csv(io.BytesIO(data), dtype=str, encoding="utf-8-sig")
    except Exception:  # a damaged sheet should not lose the flux data: report it as unreadable
        raise LoaderError(path, f"its metadata sheet {Path(member).name} cannot be read",
                          "a BIF sheet (xlsx or csv) with SITE_ID, VARIABLE, DATAVALUE columns") from None
    table.columns = [str(c).strip().upper() for c in table.columns]
    if not {"VARIABLE", "DATAVALUE"} <= set(table.columns):
        raise LoaderError(path, f"its metadata sheet {Path(member).name} has no VARIABLE/DATAVALUE columns",
                          "a BIF sheet with SITE_ID, GROUP_ID, VARIABLE_GROUP, VARIABLE, DATAVALUE")
    var = table["VARIABLE"].fillna("").str.strip().str.upper()
    value = table["DATAVALUE"].fillna("").str.strip()
    out = {key: value[var == name].iloc[0] for name, key in BADM_FIELDS.items() if (var == name).any()}
    crop_rows = value[var.str.contains("CROP|PLANTING|SPP", regex=True)].str.lower()
    for crop, words in CROP_WORDS.items():
        if crop_rows.apply(lambda t, w=words: any(x in t for x in w)).any():
            out["crop"] = crop
            break
    out["source"] = Path(member).name
    return out


def apply_badm(ds: xr.Dataset, meta: dict[str, str]) -> xr.Dataset:
    """Coordinates, IGBP, crop and static site features of a one-site dataset from its BADM metadata."""
    def number(key: str) -> float:
        try:
            return float(meta.get(key, "nan"))
        except ValueError:
            return np.nan

    lat, lon = number("lat"), number("lon")
    if np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180:
        ds = ds.assign_coords(lat=("unit", [lat]), lon=("unit", [lon]))
    ds = ds.assign_coords(igbp=("unit", np.array([meta.get("igbp", "").upper()], dtype=object)),
                          crop=("unit", np.array([meta.get("crop", "")], dtype=object)))
    for key in ("ELEV", "MAT", "MAP"):
        if np.isfinite(number(key)):
            schema.set_variable(ds, key, [number(key)], provenance=f"{meta['source']}:{key}")
    ds.attrs["badm"] = meta["source"]
    return ds


def load_ameriflux(paths: str | Path | Iterable[str | Path], site_list=None,
                   min_coverage: float = 0.8) -> xr.Dataset:
    """AmeriFlux BASE files, zips or folders as one daily site dataset.

    Parameters
    ----------
    paths : BASE CSV/zip files and/or folders of ``AMF_*`` files; one site per file (a zip and
        the CSV extracted from it count once: the zip, with its BADM metadata, is read).
    site_list : site metadata CSV or dataset for lat, lon, state and IGBP where BADM gives none.
    min_coverage : share of a day's expected records that must be valid (0-1).
    """
    if not 0 < min_coverage <= 1:
        raise ValueError(f"min_coverage {min_coverage}: expected a fraction in (0, 1]")
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.name.startswith("AMF_") and q.suffix.lower() in (".csv", ".zip"))
            if not found:
                raise LoaderError(p, "folder holds no AMF_*.csv or AMF_*.zip file", "AmeriFlux BASE files")
            files += drop_extracted(found)
        elif not p.exists():
            raise LoaderError(p, "does not exist", "an existing file or folder")
        else:
            files.append(p)
    parts: dict[str, xr.Dataset] = {}
    for f in files:
        ds = load_one(f, min_coverage)
        site = str(ds["unit"].values[0])
        if site in parts:
            raise LoaderError(f, f"is a second file for site {site} (first: {parts[site].attrs['source_files']})",
                              "one file per site")
        parts[site] = ds
    out = concat_units(list(parts.values()))
    out.attrs.update({"source_files": ", ".join(p.attrs["source_files"] for p in parts.values()),
                      "source_format": "AmeriFlux BASE", "min_coverage": min_coverage})
    out = attach_sites(out, site_list)
    return schema.validate(out, source=out.attrs["source_files"])
