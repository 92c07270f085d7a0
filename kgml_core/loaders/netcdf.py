"""Gridded daily NetCDF (Daymet-like, CF conventions) -> county means or site values.

Grids: 1-D ``lat``/``lon`` axes or projected grids whose 2-D ``lat``/``lon`` coordinates
are given (found by name or CF ``standard_name``). Cell outlines are built from the
cell centres (corners midway between neighbours), projected to the equal-area CRS
EPSG:5070, and intersected with the county polygons. The county mean of a day is

    x_c = sum_i A_ci x_i / sum_i A_ci        (sum over cells i with a value that day)

with A_ci the overlap area (m2) of cell i and county c; a county-day whose valid
cells cover less than half the county's overlap is missing. The weights are a sparse
(county x cell) matrix, cached per grid and county set and applied to all days at once.
Site values come from the nearest cell centre (great-circle, on the unit sphere).

Variables are matched by contract name, by Daymet name (tmax, tmin, prcp, srad, vp,
dayl) or by CF standard_name, and converted to the contract units; an unknown or
missing unit is an error. Daymet ``srad`` is a daylight-average flux: with ``dayl``
it becomes a daily mean (srad x dayl / 86400). VPD is derived from ``vp`` (Pa) and
the mean air temperature (Tetens) when the file has no VPD.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
import xarray as xr
from scipy.spatial import cKDTree

from kgml_core import geo, schema
from kgml_core.loaders import units
from kgml_core.loaders.columns import check_coordinate
from kgml_core.loaders.datasets import provenance
from kgml_core.loaders.errors import LoaderError
from kgml_core.loaders.sources import refuse_binary

NAMES = {"tmax": "TA_MAX", "tmin": "TA_MIN", "tmean": "TA", "tavg": "TA", "tas": "TA", "tasmax": "TA_MAX",
         "tasmin": "TA_MIN", "prcp": "P", "pr": "P", "precip": "P", "srad": "SW_IN", "rsds": "SW_IN",
         "vpd": "VPD", "rh": "RH_AIR", "hurs": "RH_AIR", "ws": "WS", "wind": "WS", "swc": "SWC"}
STANDARD_NAMES = {"air_temperature": "TA", "precipitation_amount": "P", "precipitation_flux": "P",
                  "surface_downwelling_shortwave_flux_in_air": "SW_IN", "relative_humidity": "RH_AIR",
                  "wind_speed": "WS"}
_WEIGHTS: dict[str, tuple[sp.csr_matrix, np.ndarray]] = {}


def _find_coord(path, ds: xr.Dataset, names: tuple[str, ...], standard: str) -> xr.DataArray:
    for name in list(ds.coords) + list(ds.data_vars):
        if str(name).lower() in names or ds[name].attrs.get("standard_name") == standard:
            return ds[name]
    raise LoaderError(path, f"has no {standard} coordinate", f"a variable named {names[0]} or with "
                      f"standard_name '{standard}' (1-D axis or 2-D grid coordinate)")


def grid_coords(path, ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """2-D cell-centre latitude and longitude (degrees) and the grid's (y, x) dimension names."""
    lat = _find_coord(path, ds, ("lat", "latitude", "nav_lat"), "latitude")
    lon = _find_coord(path, ds, ("lon", "longitude", "nav_lon"), "longitude")
    check_coordinate(path, str(lat.name), lat.values, -90.0, 90.0)
    check_coordinate(path, str(lon.name), lon.values, -180.0, 360.0)
    if lat.ndim == 1 and lon.ndim == 1:
        lon2, lat2 = np.meshgrid(lon.values, lat.values)
        return lat2.astype(float), lon2.astype(float), (lat.dims[0], lon.dims[0])
    if lat.ndim == 2 and lat.dims == lon.dims:
        return lat.values.astype(float), lon.values.astype(float), lat.dims
    raise LoaderError(path, f"latitude has dims {lat.dims} and longitude {lon.dims}",
                      "1-D lat/lon axes or 2-D lat/lon on the same (y, x) grid")


def _corners(centres: np.ndarray) -> np.ndarray:
    """(ny+1, nx+1) corner values from (ny, nx) centres: pad by linear extrapolation, average 2x2."""
    ny, nx = centres.shape
    pad = np.empty((ny + 2, nx + 2))
    pad[1:-1, 1:-1] = centres
    if nx > 1:
        pad[1:-1, 0] = 2 * centres[:, 0] - centres[:, 1]
        pad[1:-1, -1] = 2 * centres[:, -1] - centres[:, -2]
    else:
        pad[1:-1, 0] = pad[1:-1, -1] = centres[:, 0]
    if ny > 1:
        pad[0] = 2 * pad[1] - pad[2]
        pad[-1] = 2 * pad[-2] - pad[-3]
    else:
        pad[0] = pad[-1] = pad[1]
    return (pad[:-1, :-1] + pad[1:, :-1] + pad[:-1, 1:] + pad[1:, 1:]) / 4


def cell_polygons(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Shapely polygons (ny*nx,) of the grid cells in lon/lat degrees."""
    clat, clon = _corners(lat), _corners(lon)
    ring = [(slice(None, -1), slice(None, -1)), (slice(None, -1), slice(1, None)),
            (slice(1, None), slice(1, None)), (slice(1, None), slice(None, -1))]
    xs = np.stack([clon[a, b].ravel() for a, b in ring], axis=1)
    ys = np.stack([clat[a, b].ravel() for a, b in ring], axis=1)
    return shapely.polygons(np.stack([xs, ys], axis=2))


def overlap_weights(lat: np.ndarray, lon: np.ndarray, counties: gpd.GeoDataFrame) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse (n_counties, n_cells) overlap areas in m2 (EPSG:5070) and each county's covered area.

    Cached per grid and county selection.
    """
    key = hashlib.sha1(lat.tobytes() + lon.tobytes() + ",".join(counties.index).encode()).hexdigest()
    if key in _WEIGHTS:
        return _WEIGHTS[key]
    cells = gpd.GeoSeries(cell_polygons(lat, lon), crs=geo.WEB_CRS).to_crs(geo.EQUAL_AREA_CRS)
    polys = counties.geometry.to_crs(geo.EQUAL_AREA_CRS).reset_index(drop=True)
    cell_idx, county_idx = polys.sindex.query(cells.values, predicate="intersects")
    areas = shapely.area(shapely.intersection(cells.values[cell_idx], polys.values[county_idx]))
    w = sp.csr_matrix((areas, (county_idx, cell_idx)), shape=(len(polys), lat.size))
    _WEIGHTS[key] = (w, np.asarray(w.sum(axis=1)).ravel())
    return _WEIGHTS[key]


def area_mean(values: np.ndarray, weights: sp.csr_matrix, covered: np.ndarray,
              min_cover: float = 0.5) -> np.ndarray:
    """Area-weighted county means of ``values`` (time, n_cells) -> (n_counties, time), NaN-aware."""
    x = values.reshape(values.shape[0], -1).T
    valid = np.isfinite(x)
    num = weights @ np.where(valid, x, 0.0)
    den = weights @ valid.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[den < min_cover * covered[:, None]] = np.nan
    return out


def _variables(path, ds: xr.Dataset, ydim: str, xdim: str) -> dict[str, tuple[str, str | None]]:
    """Contract name -> (file variable, declared unit) of the daily gridded variables."""
    found: dict[str, tuple[str, str | None]] = {}
    for name, da in ds.data_vars.items():
        if ydim not in da.dims or xdim not in da.dims or "time" not in da.dims:
            continue
        key = str(name)
        target = key.upper() if key.upper() in schema.VARIABLES else NAMES.get(key.lower()) \
            or STANDARD_NAMES.get(da.attrs.get("standard_name", ""))
        if target is None or target in found:
            continue
        unit = da.attrs.get("units")
        if unit is None:
            raise LoaderError(path, f"variable '{key}' has no 'units' attribute", f"units convertible to "
                              f"'{schema.VARIABLES[target].units}'")
        found[target] = (key, str(unit))
    return found


def _fields(path, ds: xr.Dataset, ydim: str, xdim: str) -> dict[str, tuple[np.ndarray, str, str]]:
    """Contract name -> (array (time, ny, nx) in contract units, provenance, unit assumption)."""
    out = {}
    for name, (var, unit) in _variables(path, ds, ydim, xdim).items():
        arr = ds[var].transpose("time", ydim, xdim).values.astype(float)
        note = ""
        if var.lower() == "srad" and "dayl" in ds:
            arr = arr * ds["dayl"].transpose("time", ydim, xdim).values / 86400.0
            note = "daylight mean x dayl / 86400"
        arr, assumption = units.to_contract(path, var, name, arr, unit)
        note = "; ".join(t for t in (note, units.notable(assumption)) if t)
        out[name] = (arr, provenance(path, var, note), assumption)
    if "TA" not in out and "TA_MAX" in out and "TA_MIN" in out:
        out["TA"] = ((out["TA_MAX"][0] + out["TA_MIN"][0]) / 2, provenance(path, "tmax+tmin", "(max + min) / 2"), "")
    if "VPD" not in out and "vp" in ds and "TA" in out:
        vp, _ = units.to_contract(path, "vp", "VPD", ds["vp"].transpose("time", ydim, xdim).values.astype(float),
                                  ds["vp"].attrs.get("units"))
        es = 6.1078 * np.exp(17.27 * out["TA"][0] / (out["TA"][0] + 237.3))
        out["VPD"] = (np.maximum(es - vp, 0.0), provenance(path, "vp", "es(TA) (Tetens, hPa) - vp"), "")
    if not out:
        raise LoaderError(path, "has no daily gridded variable the loader knows",
                          "variables such as tmax, tmin, prcp, srad (Daymet) or contract names on (time, y, x)")
    return out


def open_dataset(path) -> xr.Dataset:
    """Open a NetCDF file, refusing anything else in one line (no library error text)."""
    refuse_binary(path)
    try:
        return xr.open_dataset(path)
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        raise LoaderError(path, "cannot be opened as NetCDF (damaged, truncated or another format)",
                          "a NetCDF-3 or NetCDF-4 file with CF conventions") from None


def _open(path) -> xr.Dataset:
    ds = open_dataset(path)
    if not np.issubdtype(ds["time"].dtype, np.datetime64):
        raise LoaderError(path, "has a 'time' axis that cannot be decoded as dates",
                          "a daily time axis in a standard calendar (noleap/360-day calendars are not read)")
    days = pd.DatetimeIndex(ds["time"].values).normalize()
    if days.has_duplicates or not days.is_monotonic_increasing:
        raise LoaderError(path, "'time' has duplicate or decreasing days", "one step per day, increasing")
    ds = ds.assign_coords(time=days)
    return ds.reindex(time=pd.date_range(days[0], days[-1], freq="D"))


def load_contract(path) -> xr.Dataset:
    """A NetCDF file already in the data contract (dims ``unit`` and ``time``/``year``), validated."""
    ds = open_dataset(path).load()
    for coord in ("state", "unit_kind", "unit"):
        if coord in ds.coords and ds[coord].dtype.kind in "SU":
            ds = ds.assign_coords({coord: ds[coord].astype(object)})
    try:
        schema.validate(ds, source=Path(path).name)
    except schema.ContractError as err:
        more = f" (and {len(err.problems) - 1} more)" if len(err.problems) > 1 else ""
        raise LoaderError(path, f"has dims 'unit' but does not follow the data contract: {err.problems[0]}{more}",
                          "a file written by this tool or the contract's names, units and coordinates") from None
    ds.attrs.setdefault("source_files", Path(path).name)
    ds.attrs.setdefault("source_format", "contract NetCDF")
    return ds


def load_netcdf(path: str | Path, states=None, counties: gpd.GeoDataFrame | None = None,
                sites: xr.Dataset | str | Path | None = None) -> xr.Dataset:
    """Gridded daily NetCDF -> area-weighted county means, or nearest-cell values at sites.

    Parameters
    ----------
    path : NetCDF file.
    states : counties of these states (default: every county whose centroid lies inside the grid).
    counties : explicit county polygons (from :mod:`kgml_core.geo`), overrides ``states``.
    sites : site list (CSV path or dataset with lat/lon along ``unit``); when given, the
        result holds the sites (nearest cell) instead of counties.
    """
    from kgml_core.loaders import soils

    head = open_dataset(path)
    if "unit" in head.dims:
        return load_contract(path)
    if "time" not in head.dims:
        return soils.load_soil_grid(path, states=states, counties=counties, sites=sites)
    ds = _open(path)
    lat, lon, (ydim, xdim) = grid_coords(path, ds)
    fields = _fields(path, ds, ydim, xdim)
    days = ds["time"].values
    static = [v for v, da in ds.data_vars.items() if "time" not in da.dims and ydim in da.dims]
    if sites is not None:
        out = _at_sites(path, fields, lat, lon, days, sites)
        return _with_static(path, out, static, sites=sites)
    if counties is None:
        counties = geo.load_counties(states)
        if states is None:
            inside = ((counties["lat"] >= np.nanmin(lat)) & (counties["lat"] <= np.nanmax(lat))
                      & (counties["lon"] >= np.nanmin(lon)) & (counties["lon"] <= np.nanmax(lon)))
            counties = counties[inside]
    weights, covered = overlap_weights(lat, lon, counties)
    keep = covered > 0
    if not keep.any():
        raise LoaderError(path, "the grid overlaps none of the selected counties", "a grid over US counties")
    out = schema.empty_units(counties.index[keep], counties["lat"].values[keep], counties["lon"].values[keep],
                             list(counties["state"].values[keep]), "county")
    out = out.assign_coords(time=("time", days))
    for name, (arr, prov, assumption) in fields.items():
        means = area_mean(arr, weights, covered)[keep]
        schema.set_variable(out, name, means, provenance=prov + " [area-weighted county mean, EPSG:5070]",
                            extra_attrs={"unit_assumption": assumption} if assumption else None)
    out.attrs.update({"source_files": Path(path).name, "source_format": "gridded NetCDF"})
    out = _with_static(path, out, static, counties=counties[keep])
    return schema.validate(out, source=Path(path).name)


def _with_static(path, out: xr.Dataset, static: list, counties=None, sites=None) -> xr.Dataset:
    """Add the grid's static soil variables (time-less, beside the daily ones); name the others ignored."""
    from kgml_core.loaders import soils

    known = [v for v in static if soils.soil_name(str(v))]
    ignored = [str(v) for v in static if v not in known and str(v).lower() not in ("dayl", "crs", "spatial_ref")]
    if known:
        soil = soils.load_soil_grid(path, counties=counties, sites=sites)
        for name in soil.data_vars:
            out[name] = soil[name]
    if ignored:
        out.attrs["ignored_variables"] = ", ".join(ignored) + " (static, not a soil property the contract knows)"
    return out


def _xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _at_sites(path, fields, lat, lon, days, sites) -> xr.Dataset:
    from kgml_core.loaders.sites import load_sites

    meta = sites if isinstance(sites, xr.Dataset) else load_sites(sites)
    slat, slon = meta["lat"].values.astype(float), meta["lon"].values.astype(float)
    ok = np.isfinite(slat) & np.isfinite(slon)
    tree = cKDTree(_xyz(lat.ravel(), lon.ravel()))
    dist, cell = tree.query(_xyz(np.where(ok, slat, 0), np.where(ok, slon, 0)))
    probe = tree.data[:: max(1, lat.size // 200)]
    spacing = float(np.median(tree.query(probe, k=2)[0][:, 1])) if lat.size > 1 else np.inf
    ok &= dist <= 1.5 * spacing  # farther than a cell from every centre: the site is off the grid
    out = schema.empty_units(meta["unit"].values, slat, slon, list(meta["state"].values), "site")
    out = out.assign_coords(time=("time", days))
    for name, (arr, prov, _) in fields.items():
        vals = arr.reshape(arr.shape[0], -1)[:, cell].T
        vals[~ok] = np.nan
        schema.set_variable(out, name, vals, provenance=prov + " [nearest grid cell]")
    if not ok.any():
        raise LoaderError(path, "none of the sites lies on the grid", "sites inside the grid's extent")
    out.attrs["sites_off_grid"] = ", ".join(str(u) for u, k in zip(meta["unit"].values, ok) if not k)
    out["cell_distance_km"] = ("unit", np.where(ok, dist * 6371.0, np.nan),
                               {"units": "km", "long_name": "distance from site to the nearest cell centre"})
    out.attrs.update({"source_files": Path(path).name, "source_format": "gridded NetCDF"})
    return schema.validate(out, source=Path(path).name)
