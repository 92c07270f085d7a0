"""Combining sources: real data first, another source (e.g. the simulator's world) for the rest.

:func:`combine` fills what ``primary`` lacks (variables, units, days or years, single
missing values) from ``fallback``; :func:`merge` joins sources that describe the same
units with different variables (county weather + NASS yields). Every variable keeps a
``provenance`` attribute naming where its values came from and, when a fallback
contributed, ``fallback_fraction``: the share of its present values taken from it.
"""
from __future__ import annotations

from functools import reduce
from typing import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import schema

COORDS = ("lat", "lon", "state", "unit_kind")


def _label(ds: xr.Dataset, default: str) -> str:
    return str(ds.attrs.get("source_files") or ds.attrs.get("source_format") or default)


def _union_units(a: xr.Dataset, b: xr.Dataset, how: str) -> list[str]:
    ua, ub = [str(u) for u in a["unit"].values], [str(u) for u in b["unit"].values]
    if how == "inner":
        keep = set(ub)
        return [u for u in ua if u in keep]
    if how == "left":
        return ua
    seen = set(ua)
    return ua + [u for u in ub if u not in seen]


def _axis(a: xr.Dataset, b: xr.Dataset, dim: str) -> np.ndarray | None:
    vals = [d[dim].values for d in (a, b) if dim in d.dims]
    if not vals:
        return None
    if dim == "time":
        lo = min(v.min() for v in vals)
        hi = max(v.max() for v in vals)
        return pd.date_range(lo, hi, freq="D").values
    return np.unique(np.concatenate(vals))


def _coords(a: xr.Dataset, b: xr.Dataset, units: list[str]) -> xr.Dataset:
    ra, rb = a.reset_coords()[list(COORDS)].reindex(unit=units), b.reset_coords()[list(COORDS)].reindex(unit=units)
    lat = np.where(np.isfinite(ra["lat"].values.astype(float)), ra["lat"].values, rb["lat"].values).astype(float)
    lon = np.where(np.isfinite(ra["lon"].values.astype(float)), ra["lon"].values, rb["lon"].values).astype(float)
    pick = lambda name, blank: [x if isinstance(x, str) and x else (y if isinstance(y, str) else blank)  # noqa: E731
                                for x, y in zip(ra[name].values, rb[name].values)]
    return schema.empty_units(units, lat, lon, pick("state", ""), pick("unit_kind", "site"))


def _fill(p: xr.DataArray | None, f: xr.DataArray | None, labels: tuple[str, str],
          mark_fallback: bool) -> xr.DataArray:
    if f is None:
        return p
    if p is None:
        out = f.copy()
        out.attrs["provenance"] = f.attrs.get("provenance") or labels[1]
        if mark_fallback:
            out.attrs["provenance"] = f"{labels[1]}: {out.attrs['provenance']}"
            out.attrs["fallback_fraction"] = 1.0
        return out
    out = p.where(p.notnull(), f)
    out.attrs = dict(p.attrs)
    present = int(out.notnull().sum())
    filled = int((p.isnull() & f.notnull()).sum())
    if filled:
        out.attrs["provenance"] = (f"{labels[0]}: {p.attrs.get('provenance', labels[0])}; "
                                   f"{labels[1]} for {filled} of {present} values: {f.attrs.get('provenance', labels[1])}")
        out.attrs["fallback_fraction"] = round(filled / max(present, 1), 6)
    return out


def combine(primary: xr.Dataset, fallback: xr.Dataset, how: str = "outer",
            labels: tuple[str, str] | None = None, mark_fallback: bool = True) -> xr.Dataset:
    """``primary`` where it has values, ``fallback`` elsewhere, with per-variable provenance.

    Parameters
    ----------
    primary, fallback : contract datasets (any mix of daily, annual and static variables).
    how : units kept: "outer" (union), "left" (primary's units) or "inner" (common units).
    labels : names of the two sources in the provenance (default: their source_files attrs).
    mark_fallback : label variables taken wholly from ``fallback`` as such (False in :func:`merge`).

    Returns
    -------
    Contract dataset on the union of days/years; coordinates from ``primary`` where known.
    """
    if how not in ("outer", "left", "inner"):
        raise ValueError(f"how={how!r}: expected 'outer', 'left' or 'inner'")
    labels = labels or (_label(primary, "primary"), _label(fallback, "fallback"))
    units = _union_units(primary, fallback, how)
    if not units:
        raise ValueError("the two datasets share no unit (county FIPS or site id) and how='inner'")
    out = _coords(primary, fallback, units)
    index = {"unit": units}
    for dim in ("time", "year"):
        axis = _axis(primary, fallback, dim)
        if axis is not None:
            index[dim] = axis
            out = out.assign_coords({dim: (dim, axis)})
    names = list(primary.data_vars) + [v for v in fallback.data_vars if v not in primary.data_vars]
    for name in names:
        p = primary[name].reindex({d: index[d] for d in primary[name].dims}) if name in primary else None
        f = fallback[name].reindex({d: index[d] for d in fallback[name].dims}) if name in fallback else None
        out[name] = _fill(p, f, labels, mark_fallback)
    out.attrs.update({"source_files": " + ".join(dict.fromkeys(labels)), "combined": "primary first, then fallback"})
    return schema.validate(out, source="combined dataset")


def merge(datasets: Iterable[xr.Dataset], how: str = "outer") -> xr.Dataset:
    """Join sources left to right (earlier ones win where they overlap), keeping provenance.

    ``how="inner"`` keeps only units present in every source (e.g. counties with both
    weather and yields).
    """
    datasets = list(datasets)
    if not datasets:
        raise ValueError("merge needs at least one dataset")
    return reduce(lambda a, b: combine(a, b, how=how, mark_fallback=False), datasets[1:], datasets[0])
