"""Test-wide settings: an isolated KGML_HOME, and the real-data directory."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts"


def pytest_configure(config):
    # Every test run gets its own cache and run store, so nothing of a user's is touched.
    if "KGML_HOME" not in os.environ:
        import tempfile
        os.environ["KGML_HOME"] = tempfile.mkdtemp(prefix="kgml-test-home-")
        config._kgml_temporary_home = os.environ["KGML_HOME"]
    # Trained stages are not reused across tests (a test that wants reuse turns it on in its own cache).
    os.environ.setdefault("KGML_STAGE_CACHE_MB", "0")
    # Dask's 30 s connect and comm timeouts assume an idle machine; tests share 2 busy cores (read at dask import)
    for name in ("CONNECT", "TCP"):
        os.environ.setdefault(f"DASK_DISTRIBUTED__COMM__TIMEOUTS__{name}", "300s")


def pytest_unconfigure(config):
    # the temporary run store made above goes with the test run (hundreds of MB of runs otherwise pile up)
    home = getattr(config, "_kgml_temporary_home", None)
    if home:
        import shutil
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """``../shared/data`` (or ``$KGML_DATA_DIR``); skips the test when absent."""
    from kgml_core import settings
    path = settings.data_dir()
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set KGML_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep screenshots and other artefacts (``artifacts/``)."""
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium (installed by `make test`), one per test session.

    Playwright's sync API allows one instance per thread, so every test that drives a
    browser (browser tests, the soak test) shares this one.
    """
    from tests.browser.server import CHROMIUM, CHROMIUM_ARGS
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
