"""Soil-pool spin-up: a county-year's fluxes do not depend on the year its world starts."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kgml_core.simulator import simulate_world
from kgml_core.simulator import engine
from kgml_core.simulator.parameters import default_parameters
from kgml_core.simulator.soils import soil_properties
from kgml_core.simulator.world import county_units, rotation, run_points


def _rh_rmse(a, b) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_worlds_starting_in_different_years_agree_on_a_shared_year(tiny_cfg, tiny_world):
    """The world of 2011-2012 against one started in 2005: the same Rh in 2011 (within 0.03 g C m-2 d-1).

    (Later years can differ in a county where float rounding of the weather
    moves a crop-calendar threshold by a day; the first year is where the
    soil pools' transient was.)
    """
    early = simulate_world(replace(tiny_cfg, years=(2005, 2011)))
    np.testing.assert_allclose(tiny_world["GPP"].sel(time="2011").values, early["GPP"].sel(time="2011").values,
                               atol=0.05)
    assert _rh_rmse(tiny_world["RH"].sel(time="2011").values, early["RH"].sel(time="2011").values) < 0.03


def _points_rh(table, start: int, spinup_years: int, equilibrium_years: int) -> np.ndarray:
    lat, lon = table["lat"].values, table["lon"].values
    crop = rotation(table.index.values, np.arange(start - spinup_years, 2011 + 1))
    _, res = run_points(lat, lon, soil_properties(lat, lon, 0), default_parameters(len(table)), crop,
                        (start, 2011), 0, spinup_years=spinup_years, equilibrium_years=equilibrium_years)
    return res.daily["RH"][:, -365:]                     # 2011


def test_without_the_steady_state_the_first_year_carries_a_transient(tiny_cfg):
    """The check above can fail: one spin-up year from fixed pools differs by far more in the first year."""
    table = county_units(tiny_cfg)
    old = _rh_rmse(_points_rh(table, 2011, 1, 0), _points_rh(table, 2004, 1, 0))
    new = _rh_rmse(_points_rh(table, 2011, 6, 2), _points_rh(table, 2004, 6, 2))
    assert old > 0.04 and new < old / 2, (old, new)


def test_steady_state_litter_balances_its_mean_input():
    """Crop litter at steady state: mean input = KLIT x mean scale x L, and SOM carried along its solution."""
    params = default_parameters(2)
    sums = np.array([[400.0 * 2, 300.0 * 2], [0.4 * 730, 0.5 * 730]])   # two years of inputs and scales
    litter, som = np.full(2, 450.0, np.float32), np.full(2, 9000.0, np.float32)
    lit, s0 = engine._crop_steady_state(litter, som, sums, 730, params, np.array([True, False]), 0.0)
    assert lit[0] == pytest.approx((800 / 730) / (params["RH_KLIT"][0] * 0.4), rel=1e-5)
    assert lit[1] == 450.0 and s0[1] == 9000.0                         # natural vegetation untouched
    assert s0[0] == pytest.approx(9000.0)                              # at the reference date: the soil map
    _, later = engine._crop_steady_state(litter, som, sums, 730, params, np.array([True, True]), 1e9)
    som_eq = params["RH_HUMIFICATION"][0] * (800 / 730) / (params["RH_KSOM"][0] * 0.4)
    assert later[0] == pytest.approx(som_eq, rel=1e-4)                 # long after: the steady state
