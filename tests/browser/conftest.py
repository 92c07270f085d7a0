"""A real dashboard server on loopback and headless Debian Chromium driven by Playwright."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"streamlit did not become healthy at {url} in {timeout_s} s")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """Start ``streamlit run app.py`` on a free loopback port for the session."""
    if not (REPO / "static/vendor/leaflet/leaflet.js").exists():
        pytest.fail("Leaflet is not installed under static/vendor: run `make install`")
    port = _free_port()
    log = open(tmp_path_factory.mktemp("server") / "streamlit.log", "w")
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium (installed by `make test`)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def map_frame(page, timeout_ms: int = 60000):
    """The first st_folium iframe on the page whose Leaflet map has drawn its paths."""
    page.wait_for_selector("iframe[title*='streamlit_folium']", timeout=timeout_ms)
    frame = page.frame_locator("iframe[title*='streamlit_folium']").first
    frame.locator("path.leaflet-interactive").first.wait_for(state="attached", timeout=timeout_ms)
    return frame
