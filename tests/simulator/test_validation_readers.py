"""The private real-data readers of benchmarks/validate_simulator.py (skip without the data)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd

from kgml_core import settings


def _module():
    spec = importlib.util.spec_from_file_location(
        "validate_simulator", settings.REPO_ROOT / "benchmarks" / "validate_simulator.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_nass_reader(real_data_dir):
    mod = _module()
    nass = mod.read_nass_county_yields(real_data_dir / mod.NASS_FILE)
    assert set(nass["state"]) == {"IL", "IA", "IN"}
    assert nass["fips"].str.len().eq(5).all() and nass["year"].between(2012, 2021).all()
    means = nass.groupby("state")["yield_bu"].mean()
    assert means.between(140, 210).all()


def test_ne1_reader_and_season(real_data_dir):
    mod = _module()
    obs = mod.read_ne1(real_data_dir / mod.NE1_FILE)
    assert isinstance(obs.index, pd.DatetimeIndex) and not (obs["GPP"] == -9999).any()
    m = mod.season_metrics(obs["GPP"])
    assert 15 < m["peak_clim"] < 35 and 120 < m["greenup_doy"] < m["senescence_doy"] < 300
    assert np.isfinite(m["annual"])
