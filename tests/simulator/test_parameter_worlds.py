"""The process-model ensemble (prior draws per county) and the oracle worlds (state / domain means)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kgml_core.simulator import simulate_world
from kgml_core.simulator.parameters import PARAMS, PRIOR_TRUNCATION, SPATIAL, prior_parameters, prior_sd


def test_prior_draws_are_per_unit_and_within_the_prior():
    units = [f"{17000 + i}" for i in range(400)]
    p = prior_parameters(units, seed=0)
    again = prior_parameters(units[::-1], seed=0)          # a unit's draw ignores the other units
    for name in SPATIAL:
        np.testing.assert_array_equal(p[name], again[name][::-1])
        z = (p[name] - PARAMS[name].default) / prior_sd(name)
        assert np.abs(z).max() <= PRIOR_TRUNCATION + 1e-4
        assert 0.7 < z.std() < 1.2 and abs(z.mean()) < 0.2, name
    assert not np.allclose(prior_parameters(units, seed=1)["RH_Q10"], p["RH_Q10"])
    np.testing.assert_array_equal(p["RA_Q10"], PARAMS["RA_Q10"].default)   # non-spatial: defaults


def test_oracle_worlds_use_the_mean_true_parameters(tiny_cfg, tiny_world):
    state_mean = simulate_world(replace(tiny_cfg, world="state_mean"))
    domain_mean = simulate_world(replace(tiny_cfg, world="domain_mean"))
    states = tiny_world["state"].values.astype(str)
    for name in SPATIAL:
        true = tiny_world[f"PARAM_{name}"].values
        for st in set(states):
            np.testing.assert_allclose(state_mean[f"PARAM_{name}"].values[states == st],
                                       true[states == st].mean(), rtol=1e-5)
        np.testing.assert_allclose(domain_mean[f"PARAM_{name}"].values, true.mean(), rtol=1e-5)
    # same weather, different parameters: the fluxes differ, the drivers do not
    np.testing.assert_array_equal(state_mean["TA"].values, tiny_world["TA"].values)
    assert not np.allclose(state_mean["RH"].values, tiny_world["RH"].values)


def test_ensemble_world_has_its_draws(tiny_cfg):
    ens = simulate_world(replace(tiny_cfg, world="ensemble"))
    draws = prior_parameters(ens["unit"].values, tiny_cfg.seed)
    np.testing.assert_array_equal(ens["PARAM_RH_Q10"].values, draws["RH_Q10"])
    assert ens.attrs["world"] == "ensemble"


def test_ensemble_replicas_draw_their_own_parameters_under_the_countys_weather(tiny_cfg):
    base = simulate_world(replace(tiny_cfg, world="ensemble"))
    ens = simulate_world(replace(tiny_cfg, world="ensemble", replicas=3))
    n = len(tiny_cfg.counties)
    units = ens["unit"].values.astype(str)
    assert list(units[:n]) == list(tiny_cfg.counties) and units[n] == f"{tiny_cfg.counties[0]}-r1"
    assert ens.attrs["replicas"] == 3
    np.testing.assert_array_equal(ens["PARAM_RH_Q10"].values, prior_parameters(units, tiny_cfg.seed)["RH_Q10"])
    np.testing.assert_array_equal(ens["PARAM_RH_Q10"].values[:n], base["PARAM_RH_Q10"].values)  # copy 0 = R 1
    for k in range(1, 3):
        copy = slice(k * n, (k + 1) * n)
        for name in SPATIAL:                                 # every copy its own draw of every parameter
            assert not np.any(ens[f"PARAM_{name}"].values[copy] == ens[f"PARAM_{name}"].values[:n]), name
        for var in ("TA", "P", "SW_IN", "VPD", "SAND", "FC", "CROP"):     # the county's weather, soils, rotation
            np.testing.assert_array_equal(ens[var].values[copy], ens[var].values[:n])
        assert not np.allclose(ens["RH"].values[copy], ens["RH"].values[:n])
    # the cache key of a one-copy world is the key it had before replicas existed
    assert "replicas" not in tiny_cfg.to_json() and "replicas" in replace(tiny_cfg, world="ensemble", replicas=2).to_json()
    with pytest.raises(ValueError, match="replicas"):
        replace(tiny_cfg, replicas=2)                        # only the ensemble has draws to replicate


def test_towers_world_uses_the_host_counties_mean_not_the_state_mean(tiny_cfg, tiny_world):
    hosts = ("17019", "19153", "19169", "18157")          # one IL host of two, both IA counties, the IN one
    towers = simulate_world(replace(tiny_cfg, world="towers_mean", hosts=hosts))
    states = tiny_world["state"].values.astype(str)
    units = tiny_world["unit"].values.astype(str)
    is_host = np.isin(units, hosts)
    for name in SPATIAL:
        true = tiny_world[f"PARAM_{name}"].values
        for st in set(states):
            np.testing.assert_allclose(towers[f"PARAM_{name}"].values[states == st],
                                       true[(states == st) & is_host].mean(), rtol=1e-5)
        # Illinois's one tower: its host's own parameters, not the state mean
        np.testing.assert_allclose(towers[f"PARAM_{name}"].values[states == "IL"], true[units == "17019"][0],
                                   rtol=1e-6)
    il = states == "IL"
    assert not np.allclose(towers["PARAM_RH_Q10"].values[il], tiny_world["PARAM_RH_Q10"].values[il].mean())
    for name in set(PARAMS) - set(SPATIAL):                  # the others as in the state-mean world: defaults
        np.testing.assert_array_equal(towers[f"PARAM_{name}"].values, np.float32(PARAMS[name].default))
    np.testing.assert_array_equal(towers["TA"].values, tiny_world["TA"].values)
    # the hosts are part of the cache key; other worlds keep theirs
    assert "hosts" in replace(tiny_cfg, world="towers_mean", hosts=hosts).to_json()
    assert "hosts" not in tiny_cfg.to_json()
    with pytest.raises(ValueError, match="hosts"):
        replace(tiny_cfg, world="towers_mean")              # the towers' world needs its hosts
    with pytest.raises(ValueError, match="hosts"):
        replace(tiny_cfg, hosts=hosts)                      # and no other world takes them
    with pytest.raises(ValueError, match=r"no host unit in group\(s\) \['IN'\]"):
        simulate_world(replace(tiny_cfg, world="towers_mean", hosts=("17019", "19153")))
