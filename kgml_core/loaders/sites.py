"""Site metadata CSV (id, lat, lon, IGBP, MAT, MAP, altitude, ...) as a static contract dataset.

Column names are matched case-insensitively against common spellings (the FLUXNET2015
site list uses ``id, latitude, longitude, altitude, IGBP, MAT, MAP``; AmeriFlux uses
``SITE_ID, LOCATION_LAT, LOCATION_LONG, LOCATION_ELEV``). Blank cells are missing.
The US state of each site is found by point-in-polygon on the Census state boundaries
('' outside the conterminous US).
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import geo, schema
from kgml_core.loaders.columns import numeric_column
from kgml_core.loaders.csv_reader import read_csv_checked
from kgml_core.loaders.datasets import provenance
from kgml_core.loaders.errors import LoaderError

COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "site", "site_id", "siteid", "site id"),
    "lat": ("lat", "latitude", "location_lat"),
    "lon": ("lon", "long", "longitude", "location_long", "location_lon"),
    "ELEV": ("altitude", "elev", "elevation", "location_elev", "alt"),
    "igbp": ("igbp", "igbp_class", "veg_type"),
    "MAT": ("mat", "mat_degc"),
    "MAP": ("map", "map_mm"),
}


def _find(columns: list[str], key: str) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    return next((lower[a] for a in COLUMNS[key] if a in lower), None)


def states_of_points(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Postal code of the conterminous-US state containing each point ('' elsewhere or NaN)."""
    out = np.array([""] * len(lat), dtype=object)
    ok = np.isfinite(lat) & np.isfinite(lon)
    if not ok.any():
        return out
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon[ok], lat[ok]), crs=geo.WEB_CRS)
    states = geo.load_states(None).reset_index()[["state", "geometry"]]
    hit = gpd.sjoin(pts, states, how="left", predicate="within")
    hit = hit[~hit.index.duplicated()]
    out[np.flatnonzero(ok)] = hit["state"].fillna("").to_numpy(dtype=object)
    return out


def _check_range(path, column: str, values: np.ndarray, lo: float, hi: float, header_line: int) -> None:
    bad = np.flatnonzero(~np.isfinite(values) | (values < lo) | (values > hi))
    if bad.size:
        i = int(bad[0])
        raise LoaderError(path, f"column '{column}' has {float(values[i])!r} on line {header_line + 1 + i}",
                          f"degrees between {lo} and {hi}")


def load_sites(path: str | Path) -> xr.Dataset:
    """Site list CSV -> dataset with dim ``unit`` (site id), coords lat/lon/state/igbp, ELEV/MAT/MAP.

    Raises :class:`LoaderError` on a missing id/lat/lon column, duplicate ids, non-numeric or
    out-of-range coordinates.
    """
    table, header = read_csv_checked(path, dtype=str, kind="site list")
    cols = {key: _find(list(table.columns), key) for key in COLUMNS}
    missing = [key for key in ("id", "lat", "lon") if cols[key] is None]
    if missing:
        raise LoaderError(path, f"no column for {missing} among {list(table.columns)[:12]}",
                          "a site list with columns id, lat (or latitude), lon (or longitude)")
    ids = table[cols["id"]].astype("string").str.strip()
    if ids.isna().any() or (ids == "").any():
        i = int(np.flatnonzero((ids.isna() | (ids == "")).to_numpy(dtype=bool))[0])
        raise LoaderError(path, f"column '{cols['id']}' is blank on line {header + 1 + i}", "a site id")
    dup = ids.duplicated().to_numpy(dtype=bool)
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise LoaderError(path, f"site id {ids.iloc[i]!r} repeats on line {header + 1 + i}", "each site once")
    lat = numeric_column(path, table, cols["lat"], header)
    lon = numeric_column(path, table, cols["lon"], header)
    _check_range(path, cols["lat"], lat, -90, 90, header)
    _check_range(path, cols["lon"], lon, -180, 180, header)
    igbp = (table[cols["igbp"]].fillna("").astype(str).str.strip().str.upper().to_numpy(dtype=object)
            if cols["igbp"] else np.array([""] * len(ids), dtype=object))
    ds = schema.empty_units(ids.tolist(), lat, lon, list(states_of_points(lat, lon)), "site")
    ds = ds.assign_coords(igbp=("unit", igbp))
    ds["lat"].attrs["provenance"] = provenance(path, cols["lat"])
    ds["lon"].attrs["provenance"] = provenance(path, cols["lon"])
    for name in ("ELEV", "MAT", "MAP"):
        if cols[name]:
            schema.set_variable(ds, name, numeric_column(path, table, cols[name], header),
                                provenance=provenance(path, cols[name]))
    ds.attrs.update({"source_files": Path(path).name, "source_format": "site list"})
    return schema.validate(ds, source=Path(path).name)
