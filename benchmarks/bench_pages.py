"""Page timings in headless Chromium: navigation to interactive, and map click to selection.

Starts the dashboard on a free loopback port, visits every page once to warm the
caches (the first start), then times for each page, over ``--repeats`` visits via
the sidebar link: from the click until the page's heading is drawn and the
script has finished running (Streamlit's status widget gone). Then times a county
click on the Map page until the sidebar shows the new selection. Prints a table
and, with ``--out``, writes JSON.

    .venv/bin/python benchmarks/bench_pages.py --repeats 3 --out artifacts/bench_pages.json
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

PAGES = [("Home", "Knowledge-guided ML of land carbon emissions"), ("Map & selection", "Map & selection"),
         ("Train", "Train models"), ("Compare models", "Model comparison"),
         ("Emission maps", "Emission maps"), ("Distribution shift", "Distribution shift"),
         ("Flux sites (TAM-RL)", "Flux sites"), ("Data", "Data")]


def _settled(page, heading: str, timeout_ms: int = 120000) -> None:
    page.get_by_role("heading", name=heading).first.wait_for(timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


def _navigate(page, link: str, heading: str) -> float:
    start = time.perf_counter()
    page.locator("[data-testid='stSidebarNav']").get_by_text(link, exact=True).click()
    _settled(page, heading)
    return time.perf_counter() - start


def _map_click(page) -> float:
    frame = page.frame_locator("iframe[title*='streamlit_folium']").first
    frame.locator("path.leaflet-interactive").nth(60).wait_for(state="attached", timeout=60000)
    page.wait_for_timeout(2000)  # the map frame re-mounts after each selection change
    before = page.locator("[data-testid='stSidebar']").inner_text()
    count = int(re.search(r"Counties:\s*(\d+|all)", before).group(1).replace("all", "0"))
    start = time.perf_counter()
    frame.locator("path.leaflet-interactive").nth(60 + 5 * count).click()
    page.get_by_text(re.compile(rf"Counties:\s*{count + 1}\b")).wait_for(timeout=30000)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    import tempfile
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="kgml-bench-"))
    proc, url = start_server(home / "streamlit.log", {"KGML_HOME": str(home)})
    results: dict = {"navigation_s": {}, "map_click_s": []}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            _settled(page, PAGES[0][1])
            for link, heading in PAGES:  # first start: fill the caches
                _navigate(page, link, heading)
            for link, heading in PAGES:
                results["navigation_s"][link] = [_navigate(page, link, heading) for _ in range(args.repeats)]
            _navigate(page, "Map & selection", "Map & selection")
            for _ in range(args.repeats):
                results["map_click_s"].append(_map_click(page))
            browser.close()
    finally:
        stop_server(proc)
    print(f"{'page':<22} {'median s':>9} {'max s':>7}")
    for link, times in results["navigation_s"].items():
        print(f"{link:<22} {statistics.median(times):>9.2f} {max(times):>7.2f}")
    clicks = results["map_click_s"]
    print(f"{'map click -> selection':<22} {statistics.median(clicks):>9.2f} {max(clicks):>7.2f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
