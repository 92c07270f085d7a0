"""The result pages in headless Chromium: the choropleth redraws, real data flows to the sites page,
and the stakeholder report downloads and opens with its table."""
from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import map_frame

US_NE1 = "fluxnet/FLX_US-Ne1_FLUXNET2015_SUBSET_DD_2001-2013_1-4.csv"


def open_page(page, server_url: str, title: str) -> None:
    """Open the app at its root (it initialises the selection), then follow the sidebar link."""
    page.goto(server_url, wait_until="domcontentloaded")
    page.get_by_text("Knowledge-guided ML of land carbon emissions").wait_for(timeout=60000)
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    page.locator(f'[data-testid="stSelectbox"] input[role="combobox"][aria-label="{label}"]').first.click()
    page.get_by_role("option", name=option, exact=True).first.click()


def settled(page) -> None:
    """Wait until the script has stopped running (Streamlit's status widget is gone), then a moment more:
    a click while the map's layers are being swapped by a rerun can be lost."""
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=60000)
    page.wait_for_timeout(700)


def fills(frame) -> list[str]:
    return frame.locator("path.leaflet-interactive").evaluate_all("ps => ps.map(p => p.getAttribute('fill'))")


def wait_fills_change(page, old: list[str], timeout_s: float = 30) -> list[str]:
    """The county fills of the map once they differ from ``old`` (the layer is updated in place)."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        now = fills(map_frame(page))
        if len(now) >= 293 and now != old:
            return now
        page.wait_for_timeout(50)
    raise AssertionError(f"the map's colours did not change within {timeout_s} s")


def wait_legend(page, text: str, timeout_s: float = 30) -> float:
    """Seconds until the map's legend (above the map) contains ``text`` and the map has its paths."""
    t0 = time.perf_counter()
    page.locator(".kgml-legend", has_text=text).first.wait_for(timeout=timeout_s * 1000)
    frame = page.frame_locator("iframe[title*='streamlit_folium']").first
    frame.locator("path.leaflet-interactive").first.wait_for(state="attached", timeout=timeout_s * 1000)
    return time.perf_counter() - t0


def test_emission_map_redraws_on_flux_and_year(server_url, page, artifacts_dir):
    open_page(page, server_url, "Emission maps")
    frame = map_frame(page)
    wait_legend(page, "NEE")
    before = fills(frame)
    assert len(before) >= 293
    choose(page, "Flux", "Autotrophic respiration (Ra)")  # fluxes are offered by name
    wait_legend(page, "Ra, annual")
    after_flux = wait_fills_change(page, before)
    page.get_by_text("Ra, annual sum 2019", exact=False).wait_for(timeout=30000)
    page.locator('[data-testid="stSlider"] input[type="range"]').first.press("ArrowLeft")
    wait_legend(page, "annual sum 2018")
    wait_fills_change(page, after_flux)
    page.screenshot(path=str(artifacts_dir / "emissions_ra_2018.png"), full_page=True)


def test_real_us_ne1_through_data_page_to_sites(server_url, page, artifacts_dir, real_data_dir):
    path = real_data_dir / US_NE1
    if not path.exists():
        pytest.skip(f"{path} not found")
    open_page(page, server_url, "Data")
    page.get_by_text("What is loaded").wait_for(timeout=60000)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    page.get_by_text(f"Loaded {path.name}").wait_for(timeout=60000)
    page.screenshot(path=str(artifacts_dir / "data_us_ne1.png"), full_page=True)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Flux sites").first.click()
    page.get_by_text("Real sites loaded on the Data page").wait_for(timeout=60000)
    # the time series of the loaded site is drawn (plotly title "GPP at US-Ne1")
    page.locator(".js-plotly-plot", has_text="at US-Ne1").first.wait_for(timeout=30000)
    page.wait_for_timeout(800)
    page.screenshot(path=str(artifacts_dir / "sites_us_ne1.png"), full_page=True)


def test_report_downloads_and_opens_with_table(server_url, page, browser, artifacts_dir, tmp_path):
    open_page(page, server_url, "Emission maps")
    map_frame(page)
    page.locator('[data-testid="stCheckbox"]', has_text="Prepare downloads").first.locator("label").click()
    button = page.get_by_role("button", name="Report (HTML)")
    button.wait_for(timeout=60000)
    with page.expect_download(timeout=60000) as info:
        button.click()
    target = tmp_path / "report.html"
    info.value.save_as(target)
    text = target.read_text()
    assert "<table" in text and "<script src=" not in text and "<link" not in text
    viewer = browser.new_page(viewport={"width": 1200, "height": 900})
    viewer.goto(target.as_uri())
    viewer.locator("table.metrics").wait_for(timeout=10000)
    assert viewer.locator("table.metrics tbody tr").count() == 3  # one row per state
    assert "counties" in viewer.locator("table.metrics").inner_text()
    viewer.locator(".js-plotly-plot").first.wait_for(timeout=20000)
    viewer.screenshot(path=str(artifacts_dir / "report.png"), full_page=True)
    viewer.close()


def test_county_click_shows_its_details_and_a_second_click_clears_them(server_url, page, artifacts_dir):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{server_url}/emissions?states=IA", wait_until="domcontentloaded")
    frame = map_frame(page)
    page.locator("iframe[title*='streamlit_folium']").first.scroll_into_view_if_needed()  # a click must not scroll
    counties = frame.locator("path.leaflet-interactive[stroke='#5F6B63']")  # county polygons, not the sites
    assert counties.count() == 99
    box = counties.nth(60).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    summary = page.locator('[data-testid="stMarkdownContainer"]', has_text=re.compile(r"County, IA: .* in \d{4}"))
    for _ in range(2):  # on, off, on again: each click on the same county toggles it
        settled(page)
        page.mouse.click(x, y)
        summary.first.wait_for(timeout=30000)
        name = summary.first.inner_text().split(" County, IA")[0].strip()
        page.get_by_text(re.compile(rf"{name} County, IA \(\d{{5}}\): ")).wait_for(timeout=30000)  # the panel
        page.locator(".js-plotly-plot", has_text="by year").first.wait_for(timeout=30000)
        page.mouse.move(5, 5)  # off the map: the outline is the pick's, not the hover's
        frame.locator("path.leaflet-interactive[stroke='#000000'][stroke-width='3']").first.wait_for(timeout=30000)
        page.screenshot(path=str(artifacts_dir / "emissions_county_click.png"))
        settled(page)
        page.mouse.click(x, y)
        summary.first.wait_for(state="detached", timeout=30000)
        assert page.get_by_text("Click a county for its values by year").count() == 1
        frame.locator("path.leaflet-interactive[stroke='#000000'][stroke-width='3']").first.wait_for(
            state="detached", timeout=30000)
