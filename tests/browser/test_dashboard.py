"""Browser: pick a county on the map, train a tiny job, see it on the comparison page."""
import re

from tests.browser.conftest import map_frame

N_STATE_OUTLINES = 49


def _goto(page, server_url, path, title):
    page.goto(f"{server_url}/{path}", wait_until="domcontentloaded")
    page.get_by_role("heading", name=title).wait_for(timeout=90000)


def test_click_county_on_map_selects_it(server_url, page, artifacts_dir):
    _goto(page, server_url, "map?states=IA", "Map & selection")
    frame = map_frame(page)
    county = frame.locator("path.leaflet-interactive").nth(N_STATE_OUTLINES + 40)
    county.click()
    page.get_by_text(re.compile(r"Counties:\s*1\b")).wait_for(timeout=30000)
    page.wait_for_url(re.compile(r"counties=19\d{3}"), timeout=10000)
    page.wait_for_timeout(800)
    page.screenshot(path=str(artifacts_dir / "map_selection.png"), full_page=True)


def test_train_tiny_job_then_compare(server_url, page, artifacts_dir):
    _goto(page, server_url, "train?states=IA", "Train models")
    page.get_by_text("Preset").first.wait_for()
    page.locator("div[data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name="tiny").click()
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(re.compile(r"State vs global · tiny · IA")).first.wait_for(timeout=30000)
    page.screenshot(path=str(artifacts_dir / "train_running.png"), full_page=True)
    page.get_by_text(re.compile(r"finished: run ")).first.wait_for(timeout=600000)
    page.screenshot(path=str(artifacts_dir / "train_finished.png"), full_page=True)

    _goto(page, server_url, "compare?states=IA", "Model comparison")
    page.locator("div[data-testid='stDataFrame']").first.wait_for(timeout=60000)
    page.locator("div[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=60000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts_dir / "compare.png"), full_page=True)
