"""Exports for stakeholders: predictions as NetCDF and CSV, county maps as GeoJSON and PNG.

Everything returns bytes (or text) so the dashboard can offer it as a download
and the command line can write it to a file. PNG maps are drawn with
matplotlib/geopandas (no browser or Chrome needed).
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from typing import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import geo


def predictions_netcdf(ds: xr.Dataset) -> bytes:
    """The dataset as NetCDF bytes (object coordinates written as strings, attributes kept)."""
    out = ds.copy()
    for name in list(out.coords) + list(out.data_vars):
        if out[name].dtype == object:
            out[name] = out[name].astype(str)
    fd, tmp = tempfile.mkstemp(suffix=".nc")
    os.close(fd)
    try:
        out.to_netcdf(tmp)
        with open(tmp, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(tmp)


def predictions_table(ds: xr.Dataset, variables: Iterable[str] | None = None) -> pd.DataFrame:
    """A long table of ``variables`` (default: every data variable with a ``unit`` dim).

    One row per combination of the variables' dimensions (e.g. model, unit, time);
    columns are the dimensions, then one column per variable named ``NAME [units]``.
    Variables are grouped by their dimensions; groups are stacked with the missing
    dimensions left empty.
    """
    names = [v for v in (variables or ds.data_vars) if "unit" in ds[v].dims]
    if not names:
        raise ValueError(f"no variable with a 'unit' dimension to export (have {list(ds.data_vars)})")
    by_dims: dict[tuple, list[str]] = {}
    for v in names:
        by_dims.setdefault(tuple(ds[v].dims), []).append(v)
    parts = []
    for dims, group in by_dims.items():
        frame = ds[group].reset_coords(drop=True).to_dataframe().reset_index()
        frame = frame.rename(columns={v: f"{v} [{ds[v].attrs.get('units', '')}]".replace(" []", "") for v in group})
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def predictions_csv(ds: xr.Dataset, variables: Iterable[str] | None = None) -> bytes:
    """:func:`predictions_table` as UTF-8 CSV bytes (dates in ISO format)."""
    return predictions_table(ds, variables).to_csv(index=False, float_format="%.6g").encode()


def _county_frame(values: pd.Series, states: Iterable[str] | None):
    fips = [str(f) for f in values.index]
    counties = geo.select_counties(fips) if states is None else geo.load_counties(states)
    counties = counties.copy()
    counties["value"] = pd.Series(values.to_numpy(float), index=fips).reindex(counties.index)
    return counties


def map_geojson(values: pd.Series, name: str, units: str, states: Iterable[str] | None = None,
                tolerance_deg: float = 0.005) -> str:
    """County GeoJSON (WGS84) with properties fips, name, state and ``name`` in ``units``.

    Parameters
    ----------
    values : FIPS -> value.
    states : draw every county of these states (NaN where no value); default only the counties in ``values``.
    """
    counties = geo.simplified(_county_frame(values, states), tolerance_deg)
    table = counties.reset_index()[["fips", "name", "state", "value", "geometry"]]
    table = table.rename(columns={"value": name})
    data = json.loads(table.to_json(drop_id=True, na="null"))
    data["properties"] = {"variable": name, "units": units}
    return json.dumps(data)


def map_png(values: pd.Series, title: str, units: str, states: Iterable[str] | None = None,
            cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None,
            dpi: int = 110, sites: pd.DataFrame | None = None) -> bytes:
    """A county map as PNG bytes (matplotlib, Agg backend), with a colour bar in ``units``.

    ``sites`` (index id; lat, lon) are drawn as black-edged dots.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    counties = _county_frame(values, states)
    fig, ax = plt.subplots(figsize=(7.5, 5.2), dpi=dpi)
    try:
        counties.plot(column="value", ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, edgecolor="#555555",
                      linewidth=0.2, legend=True, legend_kwds={"label": units, "shrink": 0.7},
                      missing_kwds={"color": "#D9D9D9", "label": "no data"})
        geo.load_states(sorted(set(counties["state"]))).boundary.plot(ax=ax, color="#1B2A1F", linewidth=0.8)
        if sites is not None and len(sites):
            ok = sites[np.isfinite(sites["lat"]) & np.isfinite(sites["lon"])]
            ax.scatter(ok["lon"], ok["lat"], s=30, c="#FF8F00", edgecolors="black", zorder=5)
        ax.set_title(title)
        ax.set_axis_off()
        miny, maxy = counties.total_bounds[[1, 3]]
        ax.set_aspect(1 / np.cos(np.deg2rad((miny + maxy) / 2)))
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)
