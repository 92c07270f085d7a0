"""Every page opens from a deep link, draws its heading and shows no error; screenshots kept."""
import pytest

PAGES = [
    ("", "Knowledge-guided ML of land carbon emissions"),
    ("map", "Map & selection"),
    ("train", "Train models"),
    ("compare", "Model comparison"),
    ("emissions", "Emission maps"),
    ("shift", "Distribution shift"),
    ("sites", "Flux sites"),
    ("data", "Data"),
]


@pytest.mark.parametrize("path,heading", PAGES)
def test_page_opens_without_error(server_url, page, artifacts_dir, path, heading):
    page.goto(f"{server_url}/{path}?states=IL,IA,IN", wait_until="domcontentloaded")
    page.get_by_role("heading", name=heading).first.wait_for(timeout=120000)
    page.wait_for_timeout(2500)
    assert page.locator("[data-testid='stException']").count() == 0
    errors = [e.inner_text() for e in page.locator("[data-testid='stAlertContentError']").all()]
    assert errors == []
    page.screenshot(path=str(artifacts_dir / f"tour_{path or 'home'}.png"), full_page=True)
