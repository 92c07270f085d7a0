"""Soak test: a bounded loop of page loads and interactions against a local dashboard server.

Starts ``streamlit run app.py`` on 127.0.0.1 (a free port, an isolated
KGML_HOME), drives headless Debian Chromium with Playwright through the pages
(sidebar navigation within one browser session, plus a fresh session every
``--reload-every`` iterations) with a few interactions (switching the
experiment on the Train page, uploading a refused file on the Data page), and
samples the server's resident memory (RSS of the server and its children, MiB)
after a warm-up round, every ``--sample-every`` iterations and at the end.

Prints one line per sample and a summary; exits 1 when memory kept growing:
the median of the last third of samples exceeds the median of the first third
by more than ``--max-growth-mib``.

    python benchmarks/soak.py --iterations 200
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

# sidebar link -> heading shown once the page ran (light pages first; heavy ones opt-in)
PAGES = {"Home": "Knowledge-guided ML of land carbon emissions", "Data": "Data", "Train": "Train models",
         "Compare models": "Model comparison", "Map & selection": "Map & selection"}
HEAVY_PAGES = {"Emission maps": "Emission maps", "Distribution shift": "Distribution shift",
               "Flux sites (TAM-RL)": "Flux sites and upscaling (TAM-RL)"}


@dataclass
class SoakResult:
    """Memory samples (iteration, RSS MiB) and counts of what was done."""

    samples: list[tuple[int, float]] = field(default_factory=list)
    page_loads: int = 0
    interactions: int = 0
    sessions: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def growth_mib(self) -> float:
        """Median RSS of the last third of samples minus that of the first third, MiB."""
        values = [v for _, v in self.samples]
        third = max(1, len(values) // 3)
        return statistics.median(values[-third:]) - statistics.median(values[:third])


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` and its children, MiB."""
    import psutil

    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def _heading(page, text: str, timeout_ms: float) -> None:
    page.get_by_role("heading", name=text).first.wait_for(timeout=timeout_ms)


def _interact(page, link: str, bad_file: Path) -> int:
    """One interaction on pages that have a cheap one; returns how many were done."""
    if link == "Train":
        page.get_by_text("TAM-RL: upscale", exact=False).first.click()
        page.get_by_text("SDSA-KGML: state", exact=False).first.click()
        return 2
    if link == "Data":
        page.locator("input[type='file']").first.set_input_files(str(bad_file))
        page.get_by_text("binary content", exact=False).first.wait_for(timeout=30000)
        return 1
    return 0


def soak(iterations: int = 60, sample_every: int = 10, reload_every: int = 20, heavy: bool = False,
         timeout_ms: float = 90000, log=print, browser=None) -> SoakResult:
    """Run the soak loop (see the module docstring) and return its figures.

    ``browser``: a Playwright browser to use instead of launching one.
    """
    from playwright.sync_api import sync_playwright

    pages = dict(PAGES, **(HEAVY_PAGES if heavy else {}))
    links = list(pages)
    result = SoakResult()
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="kgml-soak-") as tmp:
        home = Path(tmp)
        bad_file = home / "not_text.csv"
        bad_file.write_bytes(b"\x00\x01binary\x00" * 50)
        proc, url = start_server(home / "streamlit.log", {"KGML_HOME": str(home), "OMP_NUM_THREADS": "1"})
        try:
            with contextlib.ExitStack() as stack:
                if browser is None:  # a caller (the test suite) may lend its own browser
                    browser = stack.enter_context(sync_playwright()).chromium.launch(
                        executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                stack.callback(page.close)

                def new_session() -> None:
                    page.goto(f"{url}/?states=IA", wait_until="domcontentloaded")
                    _heading(page, PAGES["Home"], timeout_ms)
                    result.sessions += 1
                    result.page_loads += 1

                new_session()
                for link in links:  # warm-up: every page and interaction once, caches and imports filled
                    page.get_by_role("link", name=link, exact=True).first.click()
                    _heading(page, pages[link], timeout_ms)
                    result.page_loads += 1
                    result.interactions += _interact(page, link, bad_file)
                result.samples.append((0, rss_mib(proc.pid)))
                log(f"after warm-up: {result.samples[-1][1]:.1f} MiB")
                for i in range(1, iterations + 1):
                    if i % reload_every == 0:
                        new_session()
                    link = links[i % len(links)]
                    try:
                        page.get_by_role("link", name=link, exact=True).first.click()
                        _heading(page, pages[link], timeout_ms)
                        result.page_loads += 1
                        result.interactions += _interact(page, link, bad_file)
                    except Exception as err:  # a soak counts failures rather than stopping at the first
                        result.errors.append(f"iteration {i} {link}: {type(err).__name__}: {err}"[:300])
                    if i % sample_every == 0 or i == iterations:
                        result.samples.append((i, rss_mib(proc.pid)))
                        log(f"iteration {i:4d}: {result.samples[-1][1]:.1f} MiB")
        finally:
            stop_server(proc)
    result.seconds = time.time() - t0
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=120)
    parser.add_argument("--sample-every", type=int, default=10)
    parser.add_argument("--reload-every", type=int, default=20, help="a fresh browser session every N iterations")
    parser.add_argument("--heavy", action="store_true", help="also the map-heavy result pages")
    parser.add_argument("--max-growth-mib", type=float, default=60.0)
    args = parser.parse_args(argv)
    res = soak(args.iterations, args.sample_every, args.reload_every, args.heavy)
    first, last = res.samples[0][1], res.samples[-1][1]
    print(f"soak: {args.iterations} iterations, {res.page_loads} page loads, {res.interactions} interactions, "
          f"{res.sessions} sessions, {len(res.errors)} errors in {res.seconds:.0f} s")
    print(f"server RSS: {first:.1f} MiB after warm-up, {last:.1f} MiB at the end, "
          f"max {max(v for _, v in res.samples):.1f} MiB; growth (last third - first third medians) "
          f"{res.growth_mib():+.1f} MiB")
    for err in res.errors[:10]:
        print("error:", err)
    return 0 if res.growth_mib() <= args.max_growth_mib and not res.errors else 1


if __name__ == "__main__":
    sys.exit(main())
