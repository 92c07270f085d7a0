"""Soil grids (GeoTIFF, ESRI ASCII grid, NetCDF without a time axis) -> county means or site values.

Each file holds one soil property (a single-band raster named after it, e.g.
``sand_0-5cm_mean.tif``, ``clay.asc``) or several (NetCDF variables such as ``sand``,
``bdod``, ``theta_33``). Names map to the contract's SAND, SILT, CLAY, SOC, BD, FC, WP,
KSAT, PH and CEC (SoilGrids, POLARIS, gSSURGO and plain spellings). Units come from the
file (``units`` attribute or band tag) when it states one, and are otherwise guessed
from the values with :mod:`kgml_core.loaders.units` (SoilGrids stores sand in g kg-1,
bulk density in cg cm-3, pH x 10, CEC in mmol kg-1: all recognised and converted), with
the assumption recorded in ``unit_assumption``.

County values are area-weighted zonal means computed by ``exactextract`` (each cell
weighted by the fraction of it inside the county and, on a latitude/longitude grid,
by its area, proportional to cos(latitude)); site values are taken from the cell that
holds the site. Rasters are read with rasterio/rioxarray; a grid without a coordinate
reference system is read as longitude/latitude when its extent allows it (and says so),
and refused otherwise.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import numpy as np
import xarray as xr

from kgml_core import geo, schema
from kgml_core.loaders import units
from kgml_core.loaders.errors import LoaderError, name_of
from kgml_core.loaders.sources import refuse_binary

# lower-case names (variables, file-name tokens) -> contract soil variable
SOIL_NAMES: dict[str, str] = {
    "sand": "SAND", "sandtotal": "SAND", "sandtotal_r": "SAND", "silt": "SILT", "silttotal": "SILT",
    "silttotal_r": "SILT", "clay": "CLAY", "claytotal": "CLAY", "claytotal_r": "CLAY",
    "soc": "SOC", "oc": "SOC", "orgc": "SOC", "organic_carbon": "SOC", "bdod": "BD", "bd": "BD", "dbovendry": "BD",
    "dbthirdbar": "BD", "bulk_density": "BD", "bulkdensity": "BD", "fc": "FC", "theta_33": "FC", "wv0033": "FC",
    "field_capacity": "FC", "wthirdbar": "FC", "wp": "WP", "theta_1500": "WP", "wv1500": "WP",
    "wilting_point": "WP", "wfifteenbar": "WP", "ksat": "KSAT", "ksat_r": "KSAT", "ph": "PH", "phh2o": "PH",
    "ph1to1h2o": "PH", "cec": "CEC", "cec7": "CEC", "cec7_r": "CEC",
}
EXTENSIONS = (".tif", ".tiff", ".asc", ".nc", ".nc4")


def soil_name(label: str) -> str | None:
    """Contract soil variable for a variable or file name (``sand_0-5cm_mean`` -> SAND); None if none."""
    low = label.lower()
    if low in SOIL_NAMES:
        return SOIL_NAMES[low]
    for token in re.split(r"[^a-z0-9_]+|_(?=\d)", low):
        for part in (token, token.split("_")[0]):
            if part in SOIL_NAMES:
                return SOIL_NAMES[part]
    if low.upper() in schema.SOIL:
        return low.upper()
    return None


def _with_crs(path, da: xr.DataArray) -> tuple[xr.DataArray, str]:
    """The grid with a CRS; a grid without one is taken as lon/lat when its extent fits (noted)."""
    if da.rio.crs is not None:
        return da, ""
    x, y = da[da.rio.x_dim].values, da[da.rio.y_dim].values
    if np.nanmin(x) >= -180 and np.nanmax(x) <= 360 and np.nanmin(y) >= -90 and np.nanmax(y) <= 90:
        return da.rio.write_crs("EPSG:4326"), "no CRS in the file: read as longitude/latitude (EPSG:4326)"
    raise LoaderError(path, "has no coordinate reference system and its extent is not longitude/latitude",
                      "a GeoTIFF with a CRS, or an ESRI ASCII grid with a .prj file beside it")


def _open_raster(path: Path) -> list[tuple[str, xr.DataArray, str | None]]:
    """(contract name, 2-D grid, declared unit) of a single-band GeoTIFF or ESRI ASCII grid."""
    import rasterio
    import rioxarray

    try:
        da = rioxarray.open_rasterio(path, masked=True)
    except (rasterio.errors.RasterioIOError, OSError, ValueError):
        raise LoaderError(path, "cannot be read as a raster", "a GeoTIFF or ESRI ASCII grid") from None
    if "band" in da.dims:
        if da.sizes["band"] != 1:
            raise LoaderError(path, f"has {da.sizes['band']} bands", "one band per soil property")
        da = da.isel(band=0, drop=True)
    name = soil_name(str(da.attrs.get("long_name") or "")) or soil_name(Path(path).stem)
    if name is None:
        raise LoaderError(path, f"its name does not say which soil property it holds ({Path(path).stem!r})",
                          f"a file named after one of {sorted(set(SOIL_NAMES))[:12]}... (e.g. sand_0-5cm.tif)")
    return [(name, da, da.attrs.get("units") or None)]


def _open_netcdf(path: Path) -> list[tuple[str, xr.DataArray, str | None]]:
    """(contract name, 2-D grid, declared unit) of every soil variable of a NetCDF file without time."""
    from kgml_core.loaders.netcdf import open_dataset

    ds = open_dataset(path)
    out = []
    for var, da in ds.data_vars.items():
        name = soil_name(str(var)) or soil_name(str(da.attrs.get("standard_name", "")))
        if name is None or "time" in da.dims:
            continue
        out.append((name, spatial(path, ds, da, str(var)), da.attrs.get("units")))
    if not out:
        raise LoaderError(path, f"has no soil variable among {list(map(str, ds.data_vars))[:8]}",
                          "variables named sand, silt, clay, soc, bdod, theta_33, theta_1500, ksat, ph, cec")
    return out


def spatial(path, ds: xr.Dataset, da: xr.DataArray, var: str) -> xr.DataArray:
    """A NetCDF variable as a 2-D (y, x) grid that rioxarray understands (shallowest layer of a depth axis)."""
    ydim = next((d for d in da.dims if str(d).lower() in ("lat", "latitude", "y")), None)
    xdim = next((d for d in da.dims if str(d).lower() in ("lon", "longitude", "x")), None)
    if ydim is None or xdim is None:
        raise LoaderError(path, f"variable '{var}' has dims {tuple(map(str, da.dims))}",
                          "a grid on (lat, lon) or (y, x)")
    for extra in [d for d in da.dims if d not in (ydim, xdim)]:
        da = da.isel({extra: 0}, drop=True)
        da.attrs["layer_note"] = f"first '{extra}' level (shallowest) of {var}"
    da = da.transpose(ydim, xdim).rename({ydim: "y", xdim: "x"})
    if "crs" in ds.variables or "spatial_ref" in ds.variables:
        try:
            da = da.rio.write_crs(ds.rio.crs) if ds.rio.crs is not None else da
        except Exception:  # an unreadable grid mapping: fall back to the lon/lat check below
            pass
    return da


def read_grids(paths: Iterable[str | Path]) -> list[tuple[str, xr.DataArray, str | None, str]]:
    """(contract name, grid with a CRS, declared unit, source file) of every soil property in ``paths``."""
    out = []
    for path in _expand(paths):
        refuse_binary(path)
        opened = _open_netcdf(path) if _is_netcdf(path) else _open_raster(path)
        for name, da, unit in opened:
            da, note = _with_crs(path, da)
            if note:
                da.attrs["crs_note"] = note
            out.append((name, da, unit, name_of(path)))
    seen: dict[str, str] = {}
    for name, _, _, src in out:
        if name in seen:
            raise LoaderError(src, f"holds {name} again (already read from {seen[name]})", "each soil property once")
        seen[name] = src
    return out


def _is_netcdf(path: Path) -> bool:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    return magic[:3] == b"CDF" or magic == b"\x89HDF"


def _expand(paths) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in EXTENSIONS)
            if not found:
                raise LoaderError(p, "folder holds no .tif, .asc or .nc file", "soil grids")
            files += found
        elif not p.exists():
            raise LoaderError(p, "does not exist", "an existing file or folder")
        else:
            files.append(p)
    return files


def _checked(src: str, name: str, da: xr.DataArray, unit: str | None) -> tuple[xr.DataArray, str]:
    """The grid in contract units (guessing the unit from the values when the file states none)."""
    values, assumption = units.to_contract(src, name if unit is None else f"{name} ({unit})", name,
                                           da.values.astype(float), unit)
    return da.copy(data=values), assumption


def county_means(grid: xr.DataArray, counties) -> np.ndarray:
    """Area-weighted mean of ``grid`` over each county polygon (exactextract), NaN where none overlaps.

    Returns shape (n_counties,). On a geographic grid each cell also weighs by cos(latitude).
    """
    from exactextract import exact_extract

    vec = counties.to_crs(grid.rio.crs).reset_index()[[counties.index.name or "index", "geometry"]]
    key = vec.columns[0]
    if grid.rio.crs.is_geographic:
        lat = grid[grid.rio.y_dim].values
        weights = grid.copy(data=np.broadcast_to(np.cos(np.radians(lat))[:, None], grid.shape).copy())
        table = exact_extract(grid, vec, ["weighted_mean"], weights=weights, include_cols=[key], output="pandas")
        values = table["weighted_mean"]
    else:
        table = exact_extract(grid, vec, ["mean"], include_cols=[key], output="pandas")
        values = table["mean"]
    return values.to_numpy(dtype=float)


def site_values(grid: xr.DataArray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Value of the cell holding each site (NaN off the grid); shapes (n_sites,)."""
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", grid.rio.crs, always_xy=True).transform(lon, lat)
    xs, ys = grid[grid.rio.x_dim].values, grid[grid.rio.y_dim].values
    dx, dy = abs(float(np.median(np.diff(xs)))), abs(float(np.median(np.diff(ys))))
    ix = np.abs(xs[None, :] - np.asarray(x)[:, None]).argmin(axis=1)
    iy = np.abs(ys[None, :] - np.asarray(y)[:, None]).argmin(axis=1)
    out = grid.values[iy, ix].astype(float)
    off = (np.abs(xs[ix] - x) > dx / 2 + 1e-9) | (np.abs(ys[iy] - y) > dy / 2 + 1e-9) | ~np.isfinite(x)
    out[off] = np.nan
    return out


def _target_counties(grids, states, counties):
    if counties is not None:
        return counties
    counties = geo.load_counties(states)
    if states is None:
        inside = np.zeros(len(counties), dtype=bool)
        for _, da, _, _ in grids:
            left, bottom, right, top = da.rio.transform_bounds("EPSG:4326")
            inside |= ((counties["lat"] >= bottom) & (counties["lat"] <= top)
                       & (counties["lon"] >= left) & (counties["lon"] <= right)).to_numpy()
        counties = counties[inside]
    return counties


def load_soil_grid(paths: str | Path | Iterable[str | Path], states=None, counties=None,
                   sites: xr.Dataset | str | Path | None = None) -> xr.Dataset:
    """Soil grids -> static county means (area-weighted) or site values in contract units.

    Parameters
    ----------
    paths : GeoTIFF / ESRI ASCII grid / NetCDF files (or folders of them), one soil property
        per raster file; several per NetCDF.
    states : counties of these states (default: the counties whose centroid lies on a grid).
    counties : explicit county polygons (from :mod:`kgml_core.geo`), overrides ``states``.
    sites : site list (CSV or dataset with lat/lon along ``unit``): values at the sites instead.

    Returns
    -------
    Dataset over ``unit`` with SAND, SILT, CLAY (%), SOC (%), BD (g cm-3), FC, WP (m3 m-3),
    KSAT (mm h-1), PH and CEC (cmol kg-1), whichever the files hold.
    """
    grids = read_grids(paths)
    if sites is not None:
        from kgml_core.loaders.sites import load_sites

        meta = sites if isinstance(sites, xr.Dataset) else load_sites(sites)
        out = schema.empty_units(meta["unit"].values, meta["lat"].values, meta["lon"].values,
                                 list(meta["state"].values), "site")
        where = "value of the cell holding the site"
    else:
        polys = _target_counties(grids, states, counties)
        if len(polys) == 0:
            raise LoaderError(grids[0][3], "the grid covers no US county", "a soil grid over the conterminous US")
        out = schema.empty_units(polys.index, polys["lat"].values, polys["lon"].values, list(polys["state"].values),
                                 "county")
        where = "area-weighted county mean (exactextract)"
    for name, da, unit, src in grids:
        grid, assumption = _checked(src, name, da, unit)
        values = site_values(grid, out["lat"].values, out["lon"].values) if sites is not None \
            else county_means(grid, polys)
        notes = [n for n in (da.attrs.get("crs_note"), da.attrs.get("layer_note"), units.notable(assumption)) if n]
        prov = f"{src}:{name.lower()} [{where}{'; ' + '; '.join(notes) if notes else ''}]"
        extra = {"unit_assumption": assumption} if assumption else {}
        schema.set_variable(out, name, values, provenance=prov, extra_attrs=extra)
    empty = [str(u) for u, ok in zip(out["unit"].values, np.isfinite(out[grids[0][0]].values)) if not ok]
    if len(empty) == out.sizes["unit"]:
        raise LoaderError(grids[0][3], "no selected county or site lies on the grid", "a grid over the chosen places")
    if empty:
        out.attrs["not_on_grid"] = ", ".join(empty[:50]) + (f" (+{len(empty) - 50})" if len(empty) > 50 else "")
    out.attrs.update({"source_files": ", ".join(dict.fromkeys(g[3] for g in grids)), "source_format": "soil grid"})
    return schema.validate(out, source=out.attrs["source_files"])
