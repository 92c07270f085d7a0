"""Inputs of the emulator: no YEAR, previous-year GPP memory, residue on each county-year's harvest day,
the process-model parameters carried by the samples."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kgml_core.simulator import WorldConfig, simulate_world
from kgml_core.training.data import (INPUTS, PARAM_NAMES, Normalizer, harvest_day, harvest_profile,
                                     make_samples, previous_year_gpp, residue_input)
from kgml_core.training.losses import reco_partition_loss
from tests.training.conftest import fake_world


@pytest.fixture(scope="module")
def sim_world():
    return simulate_world(WorldConfig(years=(2011, 2013), counties=("17019", "19153", "18157", "17113")))


def test_no_year_input_and_a_memory_input(world):
    assert "YEAR" not in INPUTS and "PREV_GPP" in INPUTS
    s = make_samples(world)
    annual = world["GPP"].groupby("time.year").mean().transpose("year", "unit").values * 365
    prev = s.x[:, 0, INPUTS.index("PREV_GPP")]
    np.testing.assert_allclose(prev[4:], annual[0], rtol=1e-4)          # 2002 remembers 2001
    # the first year falls back to the unit's other-crop (or all-years) mean: finite, plausible
    assert np.isfinite(prev[:4]).all() and (prev[:4] > 0).all()


def test_previous_year_of_a_held_out_year_is_the_year_before(sim_world):
    one = previous_year_gpp(sim_world, [2013])
    both = previous_year_gpp(sim_world, [2012, 2013])
    np.testing.assert_allclose(one, both[4:])
    gpp_2012 = sim_world["GPP"].sel(time=sim_world["time.year"] == 2012).sum("time").values
    np.testing.assert_allclose(one, gpp_2012 * 365 / 366, rtol=1e-4)    # 2012 is a leap year: mean * 365


def test_harvest_day_matches_the_simulated_harvest(sim_world):
    s = make_samples(sim_world)
    true_day = np.argmax(s.residue > 0, axis=1)
    err = harvest_day(s.gpp) - true_day
    assert np.median(np.abs(err)) <= 2 and np.abs(err).max() <= 12
    prof = harvest_profile(s.gpp)
    assert prof.shape == s.gpp.shape and set(np.unique(prof)) == {0.0, 1.0}
    res = residue_input(s.gpp, s.daily["RA"], s.yield_)
    assert (res[np.arange(len(s)), true_day + 12] > 0).all() and (res[:, :200] == 0).all()


def test_samples_carry_the_process_model_parameters(sim_world, world):
    s = make_samples(sim_world)
    assert s.params.shape == (len(s), len(PARAM_NAMES))
    np.testing.assert_allclose(s.params[:4, PARAM_NAMES.index("RH_Q10")], sim_world["PARAM_RH_Q10"].values)
    norm = Normalizer.fit(s)
    z = norm.scale_params(s.params)
    back = norm.unscale_params(z[0])
    assert back["RH_Q10"] == pytest.approx(float(sim_world["PARAM_RH_Q10"].values[0]), rel=1e-5)
    assert np.isnan(make_samples(world).params).all()                   # no PARAM_*: unknown
    assert (norm.scale_params(make_samples(world).params) == 0).all()    # ... the prior mean
    again = Normalizer.from_dict(norm.to_dict())
    np.testing.assert_allclose(again.p_std, norm.p_std)


def test_reco_supervises_ra_plus_rh_every_day():
    ra = torch.tensor([[1.0, 1.0]])
    rh = torch.tensor([[2.0, 2.0]])
    reco = torch.tensor([[3.0, 2.0]])
    outside = torch.tensor([[False, False]])
    # every day: Ra + Rh = 3 against 3 and 2 -> mean squared error 0.5
    assert float(reco_partition_loss(ra, rh, reco, outside, split=False)) == pytest.approx(0.5)
    # KGML-ag's split: outside the season Rh alone (2 against 3 and 2)
    assert float(reco_partition_loss(ra, rh, reco, outside, split=True)) == pytest.approx(0.5 * 1.0)
    assert float(reco_partition_loss(ra, rh, torch.tensor([[2.0, 2.0]]), outside, split=True)) == 0.0
