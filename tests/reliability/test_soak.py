"""A short soak: page loads and interactions against a loopback server; its memory must stay bounded."""
from __future__ import annotations

import importlib.util
import shutil
import sys

import pytest

from .conftest import REPO

pytest.importorskip("playwright")
pytest.importorskip("psutil")
if not shutil.which("/usr/bin/chromium"):
    pytest.skip("Debian chromium (/usr/bin/chromium) is not installed", allow_module_level=True)


def _soak_module():
    spec = importlib.util.spec_from_file_location("kgml_soak", REPO / "benchmarks" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["kgml_soak"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_short_soak_keeps_memory_bounded(browser):
    soak = _soak_module()
    res = soak.soak(iterations=10, sample_every=2, reload_every=5, log=lambda *_: None, browser=browser)
    assert res.errors == []
    assert res.page_loads >= 10 + len(soak.PAGES) and res.sessions == 3 and res.interactions >= 6
    first = res.samples[0][1]
    # warmed up: later loads may add caches of a few pages, but no per-load growth
    assert max(v for _, v in res.samples) < first + 150, res.samples
    assert res.growth_mib() < 100, res.samples
