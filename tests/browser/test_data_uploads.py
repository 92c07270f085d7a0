"""Data page in Chromium: a refused upload does not stay looking loaded; a good one gets a preview plot."""
import pytest

US_NE1 = "fluxnet/FLX_US-Ne1_FLUXNET2015_SUBSET_DD_2001-2013_1-4.csv"


def _open_data(page, server_url):
    page.goto(f"{server_url}/data", wait_until="domcontentloaded")
    page.get_by_text("What is loaded").wait_for(timeout=90000)


def test_refused_upload_leaves_an_empty_uploader_and_a_message(server_url, page, tmp_path, artifacts_dir):
    bad = tmp_path / "not_fluxes.csv"
    bad.write_text("a,b\n1,2\n")
    _open_data(page, server_url)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(bad))
    page.get_by_text("Could not load not_fluxes.csv").wait_for(timeout=60000)
    page.wait_for_timeout(800)
    # the uploader was replaced by an empty one: the refused file is not listed as if it were loaded
    assert page.locator('[data-testid="stFileUploaderFile"]').count() == 0
    page.screenshot(path=str(artifacts_dir / "data_refused.png"))


def test_good_upload_shows_a_preview(server_url, page, real_data_dir, artifacts_dir):
    path = real_data_dir / US_NE1
    if not path.exists():
        pytest.skip(f"{path} not found")
    _open_data(page, server_url)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    page.get_by_text(f"Loaded {path.name}").wait_for(timeout=90000)
    page.locator(".js-plotly-plot", has_text="Preview: daily GPP").first.wait_for(timeout=30000)
    page.screenshot(path=str(artifacts_dir / "data_preview.png"))
