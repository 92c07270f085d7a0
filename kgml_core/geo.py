"""Real US state and county boundaries (Census 2016 cartographic files, 1:500k).

The shapefiles ship in the PyPI package ``plotly-geo``. They carry no ``.prj``;
the Census cartographic boundary files are in NAD83 geographic coordinates
(EPSG:4269), which we state explicitly and convert to WGS84 (EPSG:4326) for the
browser. Areas are computed in the USA Contiguous Albers Equal Area projection
(EPSG:5070).
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Iterable

import geopandas as gpd
import pandas as pd
import shapely

CENSUS_CRS = "EPSG:4269"
WEB_CRS = "EPSG:4326"
EQUAL_AREA_CRS = "EPSG:5070"

DEFAULT_STATES = ("IL", "IA", "IN")

# Postal code, name and FIPS of the 48 conterminous states and DC.
CONUS_STATES: dict[str, tuple[str, str]] = {
    "AL": ("Alabama", "01"), "AZ": ("Arizona", "04"), "AR": ("Arkansas", "05"),
    "CA": ("California", "06"), "CO": ("Colorado", "08"), "CT": ("Connecticut", "09"),
    "DE": ("Delaware", "10"), "DC": ("District of Columbia", "11"), "FL": ("Florida", "12"),
    "GA": ("Georgia", "13"), "ID": ("Idaho", "16"), "IL": ("Illinois", "17"),
    "IN": ("Indiana", "18"), "IA": ("Iowa", "19"), "KS": ("Kansas", "20"),
    "KY": ("Kentucky", "21"), "LA": ("Louisiana", "22"), "ME": ("Maine", "23"),
    "MD": ("Maryland", "24"), "MA": ("Massachusetts", "25"), "MI": ("Michigan", "26"),
    "MN": ("Minnesota", "27"), "MS": ("Mississippi", "28"), "MO": ("Missouri", "29"),
    "MT": ("Montana", "30"), "NE": ("Nebraska", "31"), "NV": ("Nevada", "32"),
    "NH": ("New Hampshire", "33"), "NJ": ("New Jersey", "34"), "NM": ("New Mexico", "35"),
    "NY": ("New York", "36"), "NC": ("North Carolina", "37"), "ND": ("North Dakota", "38"),
    "OH": ("Ohio", "39"), "OK": ("Oklahoma", "40"), "OR": ("Oregon", "41"),
    "PA": ("Pennsylvania", "42"), "RI": ("Rhode Island", "44"), "SC": ("South Carolina", "45"),
    "SD": ("South Dakota", "46"), "TN": ("Tennessee", "47"), "TX": ("Texas", "48"),
    "UT": ("Utah", "49"), "VT": ("Vermont", "50"), "VA": ("Virginia", "51"),
    "WA": ("Washington", "53"), "WV": ("West Virginia", "54"), "WI": ("Wisconsin", "55"),
    "WY": ("Wyoming", "56"),
}
FIPS_TO_POSTAL = {fips: code for code, (_, fips) in CONUS_STATES.items()}
NAME_TO_POSTAL = {name.lower(): code for code, (name, _) in CONUS_STATES.items()}


class UnknownStateError(ValueError):
    """A state was named that is not one of the 48 conterminous states or DC."""


def _shapefile(name: str) -> str:
    return str(resources.files("_plotly_geo") / "package_data" / name)


def resolve_state(state: str) -> str:
    """Postal code for a state given by postal code, name or 2-digit FIPS (any case).

    Raises :class:`UnknownStateError` naming the value and what is accepted.
    """
    key = str(state).strip()
    if key.upper() in CONUS_STATES:
        return key.upper()
    if key.zfill(2) in FIPS_TO_POSTAL and key.isdigit():
        return FIPS_TO_POSTAL[key.zfill(2)]
    if key.lower() in NAME_TO_POSTAL:
        return NAME_TO_POSTAL[key.lower()]
    raise UnknownStateError(
        f"unknown state {state!r}: expected a postal code (e.g. IL), a name (e.g. Illinois) "
        "or a 2-digit FIPS code of one of the 48 conterminous states or DC")


def resolve_states(states: Iterable[str] | None) -> list[str]:
    """Postal codes for ``states`` (default selection when None), de-duplicated, in order."""
    if states is None:
        return list(DEFAULT_STATES)
    out: list[str] = []
    for s in states:
        code = resolve_state(s)
        if code not in out:
            out.append(code)
    return out


@lru_cache(maxsize=1)
def _all_states() -> gpd.GeoDataFrame:
    gdf = gpd.read_file(_shapefile("cb_2016_us_state_500k.shp"))
    gdf = gdf.set_crs(CENSUS_CRS, allow_override=True).to_crs(WEB_CRS)
    gdf = gdf[gdf["STUSPS"].isin(CONUS_STATES)]
    out = gpd.GeoDataFrame({
        "state": gdf["STUSPS"].values,
        "name": gdf["NAME"].values,
        "fips": gdf["STATEFP"].values,
    }, geometry=gdf.geometry.values, crs=WEB_CRS).set_index("state")
    return _with_area_and_centroid(out).sort_index()


@lru_cache(maxsize=1)
def _all_counties() -> gpd.GeoDataFrame:
    gdf = gpd.read_file(_shapefile("cb_2016_us_county_500k.shp"))
    gdf = gdf.set_crs(CENSUS_CRS, allow_override=True).to_crs(WEB_CRS)
    gdf = gdf[gdf["STATEFP"].isin(FIPS_TO_POSTAL)]
    out = gpd.GeoDataFrame({
        "fips": gdf["GEOID"].values,
        "name": gdf["NAME"].values,
        "state": gdf["STATEFP"].map(FIPS_TO_POSTAL).values,
    }, geometry=gdf.geometry.values, crs=WEB_CRS).set_index("fips")
    return _with_area_and_centroid(out).sort_index()


def _with_area_and_centroid(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    projected = gdf.geometry.to_crs(EQUAL_AREA_CRS)
    centroids = projected.centroid.to_crs(WEB_CRS)
    gdf["area_km2"] = projected.area.values / 1e6
    gdf["lat"] = centroids.y.values
    gdf["lon"] = centroids.x.values
    return gdf


def load_states(states: Iterable[str] | None = None) -> gpd.GeoDataFrame:
    """State polygons indexed by postal code: name, fips, area_km2, lat, lon (EPSG:4326).

    ``states=None`` gives all 48 conterminous states and DC.
    """
    all_states = _all_states()
    if states is None:
        return all_states.copy()
    return all_states.loc[resolve_states(states)].copy()


def load_counties(states: Iterable[str] | None = DEFAULT_STATES) -> gpd.GeoDataFrame:
    """County polygons of ``states`` indexed by 5-digit FIPS (EPSG:4326).

    Columns: name, state (postal code), area_km2 (equal-area), lat, lon (centroid,
    degrees), geometry. ``states=None`` gives every conterminous county.
    """
    counties = _all_counties()
    if states is None:
        return counties.copy()
    codes = resolve_states(states)
    return counties[counties["state"].isin(codes)].copy()


def select_counties(fips: Iterable[str]) -> gpd.GeoDataFrame:
    """Counties by 5-digit FIPS code; raises ValueError naming the codes not found."""
    wanted = [str(f).zfill(5) for f in fips]
    counties = _all_counties()
    missing = [f for f in wanted if f not in counties.index]
    if missing:
        raise ValueError(f"unknown county FIPS code(s) {missing[:10]}: expected 5-digit codes "
                         "of conterminous US counties (e.g. 17019)")
    return counties.loc[wanted].copy()


def simplified(gdf: gpd.GeoDataFrame, tolerance_deg: float = 0.01) -> gpd.GeoDataFrame:
    """Geometry simplified for the browser (topology-preserving, tolerance in degrees)."""
    out = gdf.copy()
    out["geometry"] = out.geometry.simplify(tolerance_deg, preserve_topology=True)
    return out


@lru_cache(maxsize=64)
def _geojson_cached(kind: str, states: tuple[str, ...], tolerance_deg: float, precision: int) -> str:
    gdf = load_counties(states) if kind == "county" else load_states(states)
    gdf = simplified(gdf, tolerance_deg)
    gdf["geometry"] = shapely.set_precision(gdf.geometry.values, grid_size=10.0 ** -precision)
    table = gdf.reset_index().rename(columns={"fips": "id"})
    if kind == "state":
        table["id"] = table["state"]
    return table[["id", "name", "state", "geometry"]].to_json(drop_id=True, to_wgs84=False)


def geojson(kind: str, states: Iterable[str] | None = DEFAULT_STATES,
            tolerance_deg: float = 0.01, precision: int = 4) -> str:
    """Simplified GeoJSON FeatureCollection of counties or states for the browser.

    Each feature has properties ``id`` (FIPS or postal code), ``name``, ``state``.
    """
    if kind not in ("county", "state"):
        raise ValueError(f"kind must be 'county' or 'state', got {kind!r}")
    key = tuple(resolve_states(states)) if states is not None else tuple(CONUS_STATES)
    return _geojson_cached(kind, key, tolerance_deg, precision)


def county_table(states: Iterable[str] | None = DEFAULT_STATES) -> pd.DataFrame:
    """County attributes without geometry (fips index; name, state, area_km2, lat, lon)."""
    return pd.DataFrame(load_counties(states).drop(columns="geometry"))
