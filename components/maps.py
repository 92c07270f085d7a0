"""Folium map builders: pure functions (no Streamlit), unit-tested, drawn by st_folium.

Leaflet is served locally (``static/vendor/leaflet``, installed by ``make``) so
maps draw with no internet; base tiles are optional.
"""
from __future__ import annotations

import functools
import html
import json
import os
from typing import Iterable, Mapping

import folium

from components import text
from kgml_core import geo, places

LEAFLET_JS = "/app/static/vendor/leaflet/leaflet.js"
LEAFLET_CSS = "/app/static/vendor/leaflet/leaflet.css"
TILE_URL_ENV = "KGML_TILE_URL"

SELECTED_FILL = "#2E7D32"
COUNTY_FILL = "#C8DCC0"
STATE_LINE = "#1B2A1F"


def _localise(element: folium.Element) -> None:
    """Point every Leaflet asset at the local copy and drop CDN-only extras."""
    element.default_js = [("leaflet", LEAFLET_JS)]
    element.default_css = [("leaflet_css", LEAFLET_CSS)]


# Clicked SVG paths take the browser's focus ring (a black rectangle around the county's
# bounding box) that stays after the click: the selection is drawn by its own style instead.
# Labels never catch the mouse, so clicks reach the county under them.
MAP_CSS = """<style>
.leaflet-interactive:focus, .leaflet-container path:focus {outline: none;}
.kgml-label {pointer-events: none; white-space: nowrap; font: 600 12px/1.1 system-ui, sans-serif;
  color: #1B2A1F; text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff;}
.kgml-label.state {font-size: 13px; letter-spacing: .04em; text-transform: uppercase; color: #3F5243;}
.kgml-label.city {font-weight: 500; font-size: 11px;}
.kgml-label.city::before {content: ""; display: inline-block; width: 6px; height: 6px; margin-right: 3px;
  border-radius: 50%; background: #1B2A1F; border: 1px solid #fff; vertical-align: middle;}
.leaflet-control-scale {margin-bottom: 8px !important; margin-left: 8px !important;}
.leaflet-control-scale-line {background: rgba(255,255,255,.85); border-color: #1B2A1F; color: #1B2A1F;}
</style>"""


def base_map(bounds: list[list[float]] | None = None, tiles_url: str | None = None,
             context_states: Iterable[str] | None = None) -> folium.Map:
    """An empty Leaflet map with local assets, no base tiles unless ``tiles_url`` is given.

    ``tiles_url`` defaults to the ``KGML_TILE_URL`` environment variable (e.g. an
    OpenStreetMap tile server when online). ``context_states``: draw state names and the
    largest cities of these states (see :func:`context_layer`). The scale bar sits at the
    bottom left; legends go elsewhere so they never cover it.
    """
    tiles_url = tiles_url or os.environ.get(TILE_URL_ENV)
    fmap = folium.Map(location=[39.5, -95.0], zoom_start=4, tiles=None,
                      control_scale=True)
    if tiles_url:
        folium.TileLayer(tiles=tiles_url, attr="base map", name="base map").add_to(fmap)
    _localise(fmap)
    fmap.get_root().header.add_child(folium.Element(MAP_CSS))
    if context_states is not None:
        context_layer(context_states).add_to(fmap)
    if bounds:
        fmap.fit_bounds(bounds)
    return fmap


def _label(lat: float, lon: float, label: str, kind: str) -> folium.Marker:
    width = 8 * len(label) + 14
    return folium.Marker([lat, lon], interactive=False, icon=folium.DivIcon(
        html=f'<div class="kgml-label {kind}">{html.escape(label)}</div>',
        icon_size=(width, 16), icon_anchor=(width // 2 if kind == "state" else 4, 8),
        class_name="kgml-label-icon"))


def context_layer(states: Iterable[str], cities_per_state: int = 3) -> folium.FeatureGroup:
    """State names (every conterminous state) and the largest cities of ``states``, as non-clickable labels."""
    layer = folium.FeatureGroup(name="places", control=False)
    outlines = geo.load_states(None)
    points = outlines.geometry.representative_point()
    cities = places.major_cities(geo.resolve_states(states), per_state=cities_per_state)
    for code, point in points.items():
        lat = point.y + (STATE_LABEL_SHIFT_DEG if _near_a_city(point.y, point.x, cities) else 0.0)
        _label(lat, point.x, outlines.loc[code, "name"], "state").add_to(layer)
    for _, city in cities.iterrows():
        _label(city["lat"], city["lon"], city["name"], "city").add_to(layer)
    return layer


STATE_LABEL_SHIFT_DEG = 0.55  # a state's name moves this far north off a city label it would overprint


def _near_a_city(lat: float, lon: float, cities) -> bool:
    """Whether a state name centred at (lat, lon) would overprint a city label (dot, then name to the right).

    The boxes are for the zoom of a few states (about 45 px per degree of longitude).
    """
    if cities is None or not len(cities):
        return False
    dlat, dlon = cities["lat"].to_numpy(float) - lat, cities["lon"].to_numpy(float) - lon
    return bool(((abs(dlat) < 0.4) & (dlon > -2.6) & (dlon < 1.1)).any())


def _bounds(states: Iterable[str]) -> list[list[float]]:
    minx, miny, maxx, maxy = geo.load_states(states).total_bounds
    return [[miny, minx], [maxy, maxx]]


def region_map(states: Iterable[str], selected_counties: Iterable[str] = (),
               sites: Mapping[str, tuple[float, float]] | None = None,
               selected_sites: Iterable[str] = (), all_states_outline: bool = True,
               tiles_url: str | None = None) -> folium.Map:
    """Counties of ``states`` (selected ones highlighted), state outlines and site markers.

    Features carry ``id`` (FIPS / postal code / site id) so a click can be read back.
    """
    states = geo.resolve_states(states)
    selected = set(selected_counties)
    fmap = base_map(_bounds(states), tiles_url, context_states=states)
    if all_states_outline:
        folium.GeoJson(
            json.loads(geo.geojson("state", None, tolerance_deg=0.02, precision=3)),
            name="states",
            style_function=lambda f: {
                "color": STATE_LINE, "weight": 1.2,
                "fillColor": SELECTED_FILL if f["properties"]["id"] in states else "#FFFFFF",
                "fillOpacity": 0.04 if f["properties"]["id"] in states else 0.0},
            highlight_function=lambda f: {"weight": 2.5},
            tooltip=folium.GeoJsonTooltip(["name"], labels=False),
        ).add_to(fmap)
    folium.GeoJson(
        json.loads(geo.geojson("county", states)),
        name="counties",
        style_function=lambda f: {
            "color": "#3F5243", "weight": 0.8,
            "fillColor": SELECTED_FILL if f["properties"]["id"] in selected else COUNTY_FILL,
            "fillOpacity": 0.75 if f["properties"]["id"] in selected else 0.35},
        highlight_function=lambda f: {"weight": 2, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(["name", "state", "id"], aliases=["County", "State", "FIPS"]),
    ).add_to(fmap)
    for site_id, (lat, lon) in (sites or {}).items():
        chosen = site_id in set(selected_sites)
        folium.CircleMarker(
            location=[lat, lon], radius=6 if chosen else 4, weight=1,
            color="#0D47A1", fill=True, fill_color="#FF8F00" if chosen else "#1E88E5",
            fill_opacity=0.9, tooltip=text.tooltip(site_id),  # no popup: folium popups stop st_folium from sizing its frame
        ).add_to(fmap)
    return fmap


def selection_layer(selected_counties: Iterable[str], sites: Mapping[str, tuple[float, float]] | None = None,
                    selected_sites: Iterable[str] = ()) -> folium.FeatureGroup:
    """The picked counties and sites as an overlay, drawn on an unchanged base map.

    st_folium updates such a layer in place (``feature_group_to_add``) instead of
    re-mounting the whole map, so a click shows its effect quickly.
    """
    layer = folium.FeatureGroup(name="selection")
    picked = set(selected_counties)
    states = sorted({geo.FIPS_TO_POSTAL[c[:2]] for c in picked if c[:2] in geo.FIPS_TO_POSTAL})
    if states:
        features = [f for f in json.loads(geo.geojson("county", states))["features"]
                    if f["properties"]["id"] in picked]
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            style_function=lambda f: {"color": "#1B2A1F", "weight": 1.2, "fillColor": SELECTED_FILL,
                                      "fillOpacity": 0.8},
            tooltip=folium.GeoJsonTooltip(["name", "state", "id"], aliases=["County", "State", "FIPS"]),
        ).add_to(layer)
    for site_id in selected_sites:
        if site_id in (sites or {}):
            lat, lon = sites[site_id]
            folium.CircleMarker(location=[lat, lon], radius=7, weight=1, color="#0D47A1", fill=True,
                                fill_color="#FF8F00", fill_opacity=1.0, tooltip=text.tooltip(site_id)).add_to(layer)
    return layer


@functools.lru_cache(maxsize=2)
def _state_outlines() -> dict:
    return json.loads(geo.geojson("state", None, tolerance_deg=0.02, precision=3))


def site_score_map(sites, label: str, cmap: str) -> folium.Map:
    """Sites (DataFrame: index id; lat, lon, error) over state outlines, coloured by ``error`` (a score)."""
    import numpy as np

    from components import choropleth

    ok = sites[np.isfinite(sites["lat"].astype(float)) & np.isfinite(sites["lon"].astype(float))]
    bounds = None
    if len(ok):
        lat, lon = ok["lat"].astype(float), ok["lon"].astype(float)
        pad_lat, pad_lon = max(1.0, 0.15 * (lat.max() - lat.min())), max(1.0, 0.15 * (lon.max() - lon.min()))
        # more room at the bottom: the legend sits in the bottom-right corner and must not hide a site
        bounds = [[lat.min() - 2 * pad_lat, lon.min() - pad_lon], [lat.max() + pad_lat, lon.max() + pad_lon]]
    fmap = base_map(bounds)
    folium.GeoJson(_state_outlines(), name="states",
                   style_function=lambda f: {"color": STATE_LINE, "weight": 0.8, "fillOpacity": 0.03}).add_to(fmap)
    choropleth.site_layer(ok, cmap=cmap, label=label).add_to(fmap)
    if ok["error"].notna().any():
        lo, hi = choropleth.colour_range(ok["error"])
        fmap.get_root().html.add_child(folium.Element(choropleth.legend_html(label, "", lo, hi, cmap)))
    return fmap
