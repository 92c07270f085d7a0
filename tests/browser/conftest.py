"""A real dashboard server on loopback and headless Debian Chromium driven by Playwright."""
from __future__ import annotations

import pytest

from tests.browser.server import REPO, start_server, stop_server


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """Start ``streamlit run app.py`` on a free loopback port for the session."""
    if not (REPO / "static/vendor/leaflet/leaflet.js").exists():
        pytest.fail("Leaflet is not installed under static/vendor: run `make install`")
    proc, url = start_server(tmp_path_factory.mktemp("server") / "streamlit.log")
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def map_frame(page, timeout_ms: int = 60000):
    """The first st_folium iframe on the page whose Leaflet map has drawn its paths."""
    page.wait_for_selector("iframe[title*='streamlit_folium']", timeout=timeout_ms)
    frame = page.frame_locator("iframe[title*='streamlit_folium']").first
    frame.locator("path.leaflet-interactive").first.wait_for(state="attached", timeout=timeout_ms)
    return frame
