"""Folium map builders: pure functions (no Streamlit), unit-tested, drawn by st_folium.

Leaflet is served locally (``static/vendor/leaflet``, installed by ``make``) so
maps draw with no internet; base tiles are optional.
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Mapping

import folium

from components import text
from kgml_core import geo

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


def base_map(bounds: list[list[float]] | None = None, tiles_url: str | None = None) -> folium.Map:
    """An empty Leaflet map with local assets, no base tiles unless ``tiles_url`` is given.

    ``tiles_url`` defaults to the ``KGML_TILE_URL`` environment variable (e.g. an
    OpenStreetMap tile server when online).
    """
    tiles_url = tiles_url or os.environ.get(TILE_URL_ENV)
    fmap = folium.Map(location=[39.5, -95.0], zoom_start=4, tiles=None,
                      control_scale=True)
    if tiles_url:
        folium.TileLayer(tiles=tiles_url, attr="base map", name="base map").add_to(fmap)
    _localise(fmap)
    if bounds:
        fmap.fit_bounds(bounds)
    return fmap


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
    fmap = base_map(_bounds(states), tiles_url)
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
