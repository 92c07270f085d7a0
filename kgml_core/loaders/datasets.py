"""What loaders return: provenance, whole days, one-unit datasets joined with their site metadata, QC masks.

:func:`concat_units` joins one-unit datasets along ``unit`` and :func:`attach_sites` fills
their coordinates from a site list; :func:`quality_mask` and :func:`quality_weight` are for
those who train on the fluxes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core.loaders.errors import LoaderError, name_of


def provenance(path, column: str, note: str = "") -> str:
    """Provenance string for a variable: source file, original column and any conversion."""
    text = f"{name_of(path)}:{column}"
    return f"{text} ({note})" if note else text



def full_days(path, days: pd.DatetimeIndex, values: dict[str, np.ndarray]) -> tuple[pd.DatetimeIndex,
                                                                                  dict[str, np.ndarray]]:
    """Reindex daily arrays onto every day from the first to the last row (gaps become NaN)."""
    full = pd.date_range(days[0], days[-1], freq="D")
    if len(full) == len(days):
        return full, values
    pos = ((days - days[0]) // pd.Timedelta(days=1)).to_numpy()
    out = {}
    for name, arr in values.items():
        filled = np.full(len(full), np.nan)
        filled[pos] = arr
        out[name] = filled
    return full, out


def require_some_data(path, ds: xr.Dataset, kind: str) -> None:
    """Raise when every value of every variable is missing (e.g. a file of -9999)."""
    for name in ds.data_vars:
        if np.issubdtype(ds[name].dtype, np.number) and np.isfinite(ds[name].values).any():
            return
    raise LoaderError(path, "every value is missing (-9999 or blank) in the columns the loader reads",
                      f"at least one measured value in a {kind} file")


def quality_mask(ds: xr.Dataset, name: str, min_fraction: float = 0.5) -> xr.DataArray:
    """True where flux ``name`` is present and its daily QC fraction is at least ``min_fraction``.

    Returns a boolean DataArray of the variable's shape; without a ``{name}_QC`` variable
    only presence is tested.
    """
    ok = ds[name].notnull()
    qc = f"{name}_QC"
    if qc in ds:
        ok = ok & (ds[qc] >= min_fraction)
    return ok


def quality_weight(ds: xr.Dataset, name: str) -> xr.DataArray:
    """Sample weights in [0, 1] for flux ``name``: its QC fraction, 0 where the value is missing."""
    qc = ds[f"{name}_QC"] if f"{name}_QC" in ds else xr.ones_like(ds[name])
    return xr.where(ds[name].notnull(), qc.fillna(0.0), 0.0)


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
