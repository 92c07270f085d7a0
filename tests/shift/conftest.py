"""Tiny contract datasets with known covariate and concept shift."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kgml_core.schema import empty_units, set_variable, validate


def make_world(states=("AA", "BB"), units_per_state=30, years=2, seed=0, ta_shift=None,
               q10=None, swc_shift=None):
    """Daily contract dataset: units per state, drivers, soil and an RH response.

    ``ta_shift``/``swc_shift``: per-state offsets (degC / %) of temperature / soil water;
    ``q10``: per-state temperature sensitivity of RH (concept shift when they differ).
    """
    rng = np.random.default_rng(seed)
    n = units_per_state * len(states)
    state = np.repeat(states, units_per_state)
    ta_shift = ta_shift or {}
    swc_shift = swc_shift or {}
    q10 = q10 or {}
    time = pd.date_range("2001-01-01", periods=365 * years, freq="D")
    doy = np.asarray(time.day_of_year)
    ds = empty_units([f"{i:05d}" for i in range(n)], 40 + rng.random(n), -90 + rng.random(n), state, "county")
    ds = ds.assign_coords(time=time)
    unit_ta = rng.normal(10, 1.0, n) + np.array([ta_shift.get(s, 0.0) for s in state])
    ta = unit_ta[:, None] + 12 * np.sin(2 * np.pi * (doy - 110) / 365)[None] + rng.normal(0, 3, (n, len(time)))
    unit_swc = rng.normal(30, 3, n) + np.array([swc_shift.get(s, 0.0) for s in state])
    swc = np.clip(unit_swc[:, None] + rng.normal(0, 5, (n, len(time))), 5, 55)
    soc = rng.lognormal(0.5, 0.3, n)
    q = np.array([q10.get(s, 2.0) for s in state])
    rh = 0.5 * soc[:, None] * q[:, None] ** ((ta - 10) / 10) * (swc / 30) * np.exp(rng.normal(0, 0.1, ta.shape))
    set_variable(ds, "TA", ta)
    set_variable(ds, "SWC", swc)
    set_variable(ds, "P", rng.gamma(0.5, 5, (n, len(time))))
    set_variable(ds, "VPD", np.clip(5 + 0.5 * ta + rng.normal(0, 2, ta.shape), 0, None))
    set_variable(ds, "SW_IN", np.clip(200 + 100 * np.sin(2 * np.pi * (doy - 80) / 365)[None]
                                      + rng.normal(0, 30, ta.shape), 0, None))
    set_variable(ds, "RH", rh)
    set_variable(ds, "SOC", soc)
    set_variable(ds, "SAND", rng.uniform(10, 40, n))
    set_variable(ds, "CLAY", rng.uniform(15, 35, n))
    return validate(ds)


@pytest.fixture(scope="session")
def null_world():
    return make_world(seed=1)


@pytest.fixture(scope="session")
def shifted_world():
    return make_world(seed=2, ta_shift={"BB": 2.0}, q10={"BB": 3.0})
