"""Time the redraw of the three-state county choropleth on the Emission maps page.

Starts the dashboard on a free loopback port, opens the page in headless Chromium,
then repeatedly changes the flux and the year and measures the time from the
change until the folium map's legend shows the new flux/year (the map has been
rebuilt by the server and drawn by the browser). Prints the figures.

    .venv/bin/python benchmarks/bench_choropleth.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kgml_core import labels  # noqa: E402
from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402
from tests.browser.conftest import map_frame  # noqa: E402
from tests.browser.test_results_pages import choose, fills, open_page, wait_fills_change, wait_legend  # noqa: E402

FLUXES = ("RA", "RH", "NEE", "GPP")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4, help="changes of each kind")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kgml-bench-"))
    proc, url = start_server(home / "streamlit.log", {"KGML_HOME": os.environ.get("KGML_HOME", str(home))})
    try:
        from playwright.sync_api import sync_playwright
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t0 = time.perf_counter()
            open_page(page, url, "Emission maps")
            wait_legend(page, "NEE", 180)
            print(f"first draw (world load included): {time.perf_counter() - t0:.2f} s")
            flux_s, year_s = [], []
            slider = page.locator('[data-testid="stSlider"] input[type="range"]').first
            for i in range(args.repeats):
                flux = FLUXES[i % len(FLUXES)] if FLUXES[i % len(FLUXES)] != "NEE" else "RECO"
                before = fills(map_frame(page))
                t = time.perf_counter()
                choose(page, "Flux", labels.flux_name(flux))  # options are shown by name
                wait_legend(page, f"{labels.flux_name(flux, short=True)}, annual sum")
                wait_fills_change(page, before)
                flux_s.append(time.perf_counter() - t)
                year = 2018 if i % 2 == 0 else 2019
                before = fills(map_frame(page))
                t = time.perf_counter()
                slider.press("ArrowLeft" if year == 2018 else "ArrowRight")
                wait_legend(page, f"annual sum {year}")
                wait_fills_change(page, before)
                year_s.append(time.perf_counter() - t)
            browser.close()
        for name, xs in (("flux change", flux_s), ("year change", year_s)):
            print(f"{name}: median {statistics.median(xs):.2f} s, min {min(xs):.2f} s, max {max(xs):.2f} s "
                  f"(n={len(xs)}; includes the first, uncached aggregation of each flux)")
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
