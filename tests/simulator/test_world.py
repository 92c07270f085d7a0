from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from kgml_core import schema
from kgml_core.simulator import WorldConfig, load_world, simulate_world
from kgml_core.simulator.world import cache_path

DRIVERS = ("TA", "TA_MAX", "TA_MIN", "SW_IN", "VPD", "P", "RH_MAX", "RH_MIN", "WS", "SWC", "LAI")
SOILS = ("BD", "SAND", "SILT", "CLAY", "FC", "WP", "KSAT", "SOC", "PH", "CEC")


def test_world_follows_contract(tiny_world):
    schema.validate(tiny_world, required=DRIVERS + schema.FLUXES + SOILS + ("YIELD", "CROP"))
    assert tiny_world.sizes["time"] == 731 and list(tiny_world["year"].values) == [2011, 2012]
    assert set(tiny_world["unit_kind"].values) == {"county"}
    assert tiny_world["RESIDUE"].attrs["units"] == "g C m-2 d-1"
    for name in ("PARAM_RH_Q10", "PARAM_RH_SWC_OPT", "PARAM_RH_SWC_WIDTH", "PARAM_LUE", "PARAM_DRAINAGE"):
        assert tiny_world[name].dims == ("unit",)
        assert tiny_world[name].attrs["units"] and tiny_world[name].attrs["long_name"]
    assert tiny_world["GPP"].dtype == np.float32
    cfg = json.loads(tiny_world.attrs["config"])
    assert cfg["world"] == "observed" and tiny_world.attrs["seed"] == 0


def test_carbon_balance_is_exact(tiny_world):
    ds = tiny_world
    np.testing.assert_array_equal(ds["RECO"].values, ds["RA"].values + ds["RH"].values)
    np.testing.assert_array_equal(ds["NEE"].values, ds["RA"].values + ds["RH"].values - ds["GPP"].values)
    assert float(ds["GPP"].min()) >= 0 and float(ds["RA"].min()) >= 0 and float(ds["RH"].min()) >= 0


def test_magnitudes_and_seasons_are_corn_belt_like(tiny_world):
    ds = tiny_world
    annual = ds[["GPP", "RH"]].groupby("time.year").sum()
    corn = ds["CROP"] == 0
    gpp_corn = annual["GPP"].where(corn)
    assert 900 < float(gpp_corn.mean()) < 2500
    assert 150 < float(annual["RH"].mean()) < 1000
    july = ds["GPP"].sel(time=ds["time.month"] == 7).mean()
    january = ds["GPP"].sel(time=ds["time.month"] == 1).mean()
    assert float(july) > 5 and float(january) == 0
    assert 3 < float(ds["LAI"].max()) < 7
    assert float(ds["YIELD"].min()) > 0
    assert (ds["CROP"].sel(year=2011) != ds["CROP"].sel(year=2012)).all()  # rotation
    assert float(ds["RESIDUE"].sum("time").min()) > 100


def test_weather_is_plausible(tiny_world):
    ds = tiny_world
    assert (ds["TA_MAX"] >= ds["TA_MIN"]).all() and (ds["P"] >= 0).all() and (ds["VPD"] >= 0).all()
    assert (ds["RH_MIN"] <= ds["RH_MAX"]).all()
    annual_p = float(ds["P"].sum("time").mean()) / 2
    assert 400 < annual_p < 1600
    assert 15 < float(ds["SWC"].mean()) < 50


def test_deterministic_and_independent_of_other_counties(tiny_cfg, tiny_world):
    small = simulate_world(replace(tiny_cfg, counties=("19153", "17019")))
    for name in ("TA", "P", "GPP", "RH", "NEE", "SAND", "PARAM_RH_Q10"):
        np.testing.assert_allclose(small[name].sel(unit="17019").values,
                                   tiny_world[name].sel(unit="17019").values, rtol=1e-5, atol=1e-5)


def test_seed_changes_weather(tiny_cfg, tiny_world):
    other = simulate_world(replace(tiny_cfg, seed=1, counties=("17019",)))
    assert not np.allclose(other["P"].values[0], tiny_world["P"].sel(unit="17019").values)


def test_heterogeneity_scales_parameters(tiny_cfg, tiny_world):
    flat = simulate_world(replace(tiny_cfg, heterogeneity=0.0))
    process = simulate_world(replace(tiny_cfg, world="process"))
    for name in ("PARAM_RH_Q10", "PARAM_RH_SWC_OPT", "PARAM_LUE", "PARAM_DRAINAGE"):
        assert np.ptp(flat[name].values) == 0
        assert np.ptp(tiny_world[name].values) > 0
    np.testing.assert_array_equal(flat["RH"].values, process["RH"].values)
    assert process.attrs["world"] == "process"
    # state offsets: Iowa and Illinois differ clearly in Q10 at heterogeneity 1, not at 0
    q10 = tiny_world["PARAM_RH_Q10"].to_series()
    assert abs(q10[["19153", "19169"]].mean() - q10[["17019", "17113"]].mean()) > 0.5
    double = simulate_world(replace(tiny_cfg, heterogeneity=2.0, counties=("19153", "17019")))
    gap1 = abs(float(q10["19153"] - q10["17019"]))
    gap2 = abs(float(double["PARAM_RH_Q10"].sel(unit="19153") - double["PARAM_RH_Q10"].sel(unit="17019")))
    assert gap2 > 1.5 * gap1
    # the parameters change the heterotrophic respiration, not the weather
    np.testing.assert_array_equal(flat["TA"].values, tiny_world["TA"].values)
    rel = np.abs(flat["RH"].sum("time") - tiny_world["RH"].sum("time")) / flat["RH"].sum("time")
    assert float(rel.max()) > 0.1


def test_load_world_caches(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("KGML_CACHE_DIR", str(tmp_path))
    cfg = replace(tiny_cfg, counties=("17019",), years=(2012, 2012))
    first = load_world(cfg)
    assert cache_path(cfg).exists()
    assert [p.name for p in tmp_path.iterdir()] == [cache_path(cfg).name]  # no temp files left
    second = load_world(cfg)
    np.testing.assert_array_equal(first["NEE"].values, second["NEE"].values)
    assert second.attrs["config"] == cfg.to_json()
    assert cache_path(replace(cfg, seed=3)) != cache_path(cfg)


@pytest.mark.parametrize("kwargs, message", [
    ({"years": (2010, 2005)}, "years"),
    ({"world": "fantasy"}, "world"),
    ({"heterogeneity": -1.0}, "heterogeneity"),
])
def test_bad_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WorldConfig(**kwargs)


def test_unknown_county_is_rejected():
    with pytest.raises(ValueError, match="99999"):
        simulate_world(WorldConfig(counties=("99999",), years=(2012, 2012)))
