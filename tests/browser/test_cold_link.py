"""A deep link opened on a freshly started server: it lands on its page with everything the link says."""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import map_frame
from tests.browser.server import start_server, stop_server


@pytest.fixture()
def cold_server(tmp_path):
    """A server nobody has visited yet (its own store), as `make run` starts it."""
    proc, url = start_server(tmp_path / "streamlit.log", env={"KGML_HOME": str(tmp_path / "home")})
    try:
        yield url
    finally:
        stop_server(proc)


def test_first_visit_by_a_deep_link_keeps_the_selection_and_the_page_settings(cold_server, page, artifacts_dir):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{cold_server}/emissions?states=IA&counties=19169&em_variable=RH&em_period=JJA",
              wait_until="domcontentloaded")
    page.get_by_role("heading", name="Emission maps").first.wait_for(timeout=120000)
    page.locator(".kgml-legend", has_text="Rh, summer (June-August) sum").first.wait_for(timeout=120000)
    map_frame(page, timeout_ms=120000)  # the map component is served and draws its counties
    page.get_by_text(re.compile(r"Counties:\s*1\b")).wait_for(timeout=30000)
    summary = page.locator('[data-testid="stSidebar"]').inner_text()
    assert re.search(r"States:\s*IA\s", summary), summary
    page.wait_for_url(re.compile(r"em_variable=RH"), timeout=30000)
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(artifacts_dir / "cold_deep_link.png"))
