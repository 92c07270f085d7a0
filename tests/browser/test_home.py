"""The home page opens in headless Chromium and draws the counties of the three default states."""
from tests.browser.conftest import map_frame


def test_home_map_draws_default_counties(server_url, page, artifacts_dir):
    page.goto(server_url, wait_until="domcontentloaded")
    page.get_by_text("Knowledge-guided ML of land carbon emissions").wait_for(timeout=60000)
    frame = map_frame(page)
    n_paths = frame.locator("path.leaflet-interactive").count()
    # 293 counties of IL, IA, IN plus the outlines of the 49 conterminous states
    assert n_paths >= 293 + 49
    assert "states=IL%2CIA%2CIN" in page.url or "states=IL,IA,IN" in page.url
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts_dir / "home.png"), full_page=True)
