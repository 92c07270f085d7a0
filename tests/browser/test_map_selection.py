"""Map & selection in Chromium: clicks toggle every time, states from the keyboard, no focus box, context."""
import re

from tests.browser.conftest import map_frame

N_STATE_OUTLINES = 49


def _sidebar_states(page) -> list[str]:
    text = page.locator('[data-testid="stSidebar"]').inner_text()
    return [s.strip() for s in text.split("States:")[1].splitlines()[0].split(",")]


def test_county_click_toggles_every_time_and_leaves_no_focus_box(server_url, page, artifacts_dir):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{server_url}/map?states=IA", wait_until="domcontentloaded")
    frame = map_frame(page)
    assert frame.locator(".kgml-label.state", has_text="Minnesota").count() == 1  # context offline
    assert frame.locator(".kgml-label.city", has_text="Des Moines").count() == 1
    box = frame.locator("path.leaflet-interactive").nth(N_STATE_OUTLINES + 40).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for expected in ("1", "all", "1"):  # the same place clicked three times: on, off, on
        page.mouse.click(x, y)
        page.get_by_text(re.compile(rf"Counties:\s*{expected}\b")).wait_for(timeout=30000)
        picked = frame.locator("path.leaflet-interactive[fill='#2E7D32'][fill-opacity='0.8']")  # the selection overlay
        if expected == "all":
            picked.first.wait_for(state="detached", timeout=30000)
        else:
            picked.first.wait_for(state="attached", timeout=30000)
        page.wait_for_timeout(500)
    outline = frame.locator(":root").evaluate(
        "() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "none"
    page.screenshot(path=str(artifacts_dir / "map_toggle.png"))


def test_typing_a_code_adds_one_state_and_a_name_adds_its_state(server_url, page):
    page.goto(f"{server_url}/map?states=IA", wait_until="domcontentloaded")
    map_frame(page)
    box = page.locator('[data-testid="stMultiSelect"]').first.locator("input")
    box.click()
    box.type("WI")
    page.wait_for_timeout(300)
    box.press("Enter")
    page.get_by_text(re.compile(r"States:\s*IA, WI\s")).wait_for(timeout=30000)
    page.keyboard.press("Escape")
    page.wait_for_timeout(1500)
    assert _sidebar_states(page) == ["IA", "WI"]
    name = page.locator("[data-testid='stTextInput'] input[aria-label='Add a state by name']")
    name.fill("Minnesota")
    name.press("Enter")
    page.get_by_text(re.compile(r"States:\s*IA, WI, MN")).wait_for(timeout=30000)
    page.wait_for_url(re.compile(r"states=IA%2CWI%2CMN|states=IA,WI,MN"), timeout=10000)
