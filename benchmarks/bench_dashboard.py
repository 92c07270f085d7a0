"""Waits a dashboard user feels, measured in headless Chromium against a real server; screenshots of every page.

Prints (JSON, seconds): a deep link opened on a freshly started server (until the first text is drawn, the
page heading, and the page settled), the first draw of every page in a new browser session and again
(warm), the emission map's redraw after a flux change, a county click on the emission map until its
details show, the progress latency of a training job (Start -> first progress shown), and the cancel
latency (Yes, cancel -> the job says cancelled), once while the job simulates its data and once while it
trains; the load average before and after (the figures are wall times: pessimistic on a busy machine).
With ``--shots DIR``, screenshots of every page at 1440x900 (on the example results) go to DIR/page_*.png.

    .venv/bin/python benchmarks/bench_dashboard.py [--home DIR] [--no-demo] [--shots DIR]

The example runs (``kgml_core demo --preset tiny``) are made first in a fresh KGML_HOME unless --no-demo.
About 4-5 minutes on two quiet cores.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

PAGES = [("", "Knowledge-guided ML of land carbon emissions"), ("map", "Map & selection"),
         ("train", "Train models"), ("compare", "Model comparison"), ("emissions", "Emission maps"),
         ("shift", "Distribution shift"), ("sites", "Flux sites"), ("data", "Data")]


def _heading(page, name: str, timeout_s: float = 180) -> None:
    page.get_by_role("heading", name=name).first.wait_for(timeout=timeout_s * 1000)


def _settled(page) -> None:
    """Wait until Streamlit stops running the script (the status widget goes away)."""
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=180000)


def cold_deep_link(page, url: str) -> dict[str, float]:
    """A link to the emission maps opened on a server nobody has visited: first text, heading, settled."""
    t0 = time.perf_counter()
    page.goto(f"{url}/emissions?states=IL,IA,IN&em_variable=RH", wait_until="commit")
    page.wait_for_function("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                           " return m && m.innerText.trim().length > 0; }", timeout=180000, polling=50)
    out = {"first_text": time.perf_counter() - t0}
    _heading(page, "Emission maps")
    out["heading"] = time.perf_counter() - t0
    page.locator(".kgml-legend", has_text="Rh, annual").first.wait_for(timeout=180000)
    _settled(page)
    out["settled"] = time.perf_counter() - t0
    return out


def county_clicks(page, url: str, n: int = 4) -> list[float]:
    """Seconds from a click on a county of the emission map until its details show (then cleared again)."""
    page.goto(f"{url}/emissions?states=IA", wait_until="domcontentloaded")
    _heading(page, "Emission maps")
    _settled(page)
    frame = page.frame_locator("iframe[title*='streamlit_folium']").first
    county = frame.locator("path.leaflet-interactive[stroke='#5F6B63']").nth(60)
    county.wait_for(state="attached", timeout=120000)
    page.locator("iframe[title*='streamlit_folium']").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box = county.bounding_box()
    summary = page.locator('[data-testid="stMarkdownContainer"]', has_text=re.compile(r"County, IA: "))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        summary.first.wait_for(timeout=60000)
        page.locator(".js-plotly-plot", has_text="by year").first.wait_for(timeout=60000)
        times.append(time.perf_counter() - t0)
        _settled(page)
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # toggles it off
        summary.first.wait_for(state="detached", timeout=60000)
        _settled(page)
    return times


def first_draws(page, url: str) -> dict[str, float]:
    out = {}
    for path, heading in PAGES:
        t0 = time.perf_counter()
        page.goto(f"{url}/{path}?states=IL,IA,IN", wait_until="domcontentloaded")
        _heading(page, heading)
        _settled(page)
        out[path or "home"] = time.perf_counter() - t0
    return out


def screenshots(page, url: str, svg_run: str | None, shots: Path) -> list[str]:
    shots.mkdir(parents=True, exist_ok=True)
    paths = []
    for path, heading in PAGES:
        page.goto(f"{url}/{path}?states=IL,IA,IN", wait_until="domcontentloaded")
        _heading(page, heading)
        _settled(page)
        if path == "emissions" and svg_run:
            page.goto(f"{url}/emissions?states=IL,IA,IN&em_source={svg_run}", wait_until="domcontentloaded")
            _heading(page, heading)
            _settled(page)
        if path in ("emissions", "map", "sites", ""):  # the Leaflet map inside its frame has drawn
            page.frame_locator("iframe[title*='streamlit_folium']").first.locator(
                "path.leaflet-interactive").first.wait_for(state="attached", timeout=120000)
        if path == "shift":
            page.locator('[data-testid="stCheckbox"]', has_text="Run the diagnostic").first.locator("label").click()
            page.get_by_text("What differs most").wait_for(timeout=240000)
            _settled(page)
        page.wait_for_timeout(1500)
        target = shots / f"page_{path or 'home'}.png"
        page.screenshot(path=str(target))
        paths.append(str(target))
    return paths


def _open_options(page, label: str, option: str, tries: int = 3):
    """Open the selectbox ``label`` until ``option`` shows (a rerun finishing may close the list); the option."""
    item = page.get_by_role("option", name=option, exact=True).first
    for attempt in range(tries):
        _settled(page)
        page.locator(f'[data-testid="stSelectbox"] input[aria-label="{label}"]').first.click()
        try:
            item.wait_for(timeout=10000)
            return item
        except Exception:  # noqa: BLE001  (playwright's TimeoutError: try again)
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")
    return item


def redraw(page, url: str) -> list[float]:
    """Seconds from choosing another flux until the map's legend names it (the layers are swapped in place)."""
    page.goto(f"{url}/emissions?states=IL,IA,IN", wait_until="domcontentloaded")
    _heading(page, "Emission maps")
    _settled(page)
    times = []
    for option, short in [("Autotrophic respiration (Ra)", "Ra"), ("Net ecosystem exchange (NEE)", "NEE")] * 3:
        item = _open_options(page, "Flux", option)
        t0 = time.perf_counter()
        item.click()
        page.locator(".kgml-legend", has_text=f"{short}, annual").first.wait_for(timeout=60000)
        _settled(page)
        times.append(time.perf_counter() - t0)
    return times


def _start_job(page, url: str, preset: str) -> float:
    page.goto(f"{url}/train?states=IA", wait_until="domcontentloaded")
    _heading(page, "Train models")
    _settled(page)
    _open_options(page, "Preset", preset).click()
    t0 = time.perf_counter()
    page.get_by_role("button", name="Start training").click()
    return t0


def progress_and_cancel(page, url: str, when: str) -> tuple[float, float]:
    """(seconds to the first progress shown, seconds from 'Yes, cancel it' to 'cancelled')."""
    t0 = _start_job(page, url, "quick")
    page.locator("[data-testid='stProgress']").first.wait_for(timeout=120000)
    progress = time.perf_counter() - t0
    if when == "training":
        page.get_by_text(re.compile(r"% overall")).first.wait_for(timeout=900000)
    cancelled = page.get_by_text(re.compile(r"· cancelled ·"))
    before = cancelled.count()  # earlier jobs' cards may say cancelled already
    page.get_by_role("button", name="Cancel").first.click()
    page.get_by_role("button", name="Yes, cancel it").first.click()
    t1 = time.perf_counter()
    while cancelled.count() <= before:
        if time.perf_counter() - t1 > 900:
            raise TimeoutError("the job did not say cancelled within 900 s")
        page.wait_for_timeout(100)
    return progress, time.perf_counter() - t1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=None, help="KGML_HOME (default: a fresh temporary one)")
    ap.add_argument("--no-demo", action="store_true", help="do not make the example runs first")
    ap.add_argument("--shots", type=Path, default=None, help="also save screenshots of every page here")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="kgml-bench-dashboard-"))
    os.environ["KGML_HOME"] = str(home)
    results: dict = {"home": str(home), "load_before": os.getloadavg()}
    svg_run = None
    if not args.no_demo:
        from kgml_core.demo import make_demo
        t0 = time.perf_counter()
        runs = make_demo("tiny")
        results["make_demo_tiny_s"] = time.perf_counter() - t0
        svg_run = next((r.id for r in runs if r.kind == "state_vs_global"), None)
    from playwright.sync_api import sync_playwright

    proc, url = start_server(home / "streamlit.log", env={"KGML_HOME": str(home)})
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            results["cold_deep_link_s"] = cold_deep_link(page, url)
            page.close()
            page = browser.new_page(viewport={"width": 1440, "height": 900})  # a new browser session
            results["first_draw_cold_s"] = first_draws(page, url)
            results["first_draw_warm_s"] = first_draws(page, url)
            results["emission_redraw_s"] = redraw(page, url)
            results["emission_county_click_s"] = county_clicks(page, url)
            if args.shots:
                results["screenshots"] = screenshots(page, url, svg_run, args.shots)
            p1, c1 = progress_and_cancel(page, url, "preparing")
            p2, c2 = progress_and_cancel(page, url, "training")
            results.update(progress_latency_s=[p1, p2], cancel_while_preparing_s=c1, cancel_while_training_s=c2)
            browser.close()
    finally:
        stop_server(proc)
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=1, default=lambda v: round(v, 2) if isinstance(v, float) else str(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
