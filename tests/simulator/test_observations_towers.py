from __future__ import annotations

import numpy as np

from kgml_core import schema
from kgml_core.cli import main
from kgml_core.simulator import TowerConfig, simulate_observations, simulate_tower_network


def test_observations(tiny_cfg, tiny_world):
    yields, sites = simulate_observations(tiny_cfg, sites_per_state=1, seed=0)
    schema.validate(yields, required=("YIELD", "CROP"))
    schema.validate(sites, required=("GPP", "RECO", "NEE", "GPP_QC", "RECO_QC", "NEE_QC"))
    assert sites.sizes["unit"] == 3 and set(sites["unit_kind"].values) == {"site"}
    assert sorted(sites["unit"].values) == ["SIM-IA-1", "SIM-IL-1", "SIM-IN-1"]
    assert "RA" not in sites and "RH" not in sites
    host = str(sites["county"].sel(unit="SIM-IL-1").values)
    np.testing.assert_array_equal(sites["TA"].sel(unit="SIM-IL-1").values, tiny_world["TA"].sel(unit=host).values)
    nee = sites["NEE"].values
    gap = np.isnan(nee)
    assert 0.05 < gap.mean() < 0.3
    assert np.all(sites["NEE_QC"].values[gap] == 0) and np.all(sites["NEE_QC"].values[~gap] > 0)
    np.testing.assert_allclose(nee[~gap], (sites["RECO"] - sites["GPP"]).values[~gap], atol=1e-5)
    truth = tiny_world["NEE"].sel(unit=host).values
    err = np.abs(sites["NEE"].sel(unit="SIM-IL-1").values - truth)
    big = np.abs(truth) > 5
    assert np.nanmean(err[big]) > np.nanmean(err[np.abs(truth) < 1])   # noise grows with flux size
    ratio = (yields["YIELD"] / tiny_world["YIELD"]).values
    assert 0.02 < np.std(ratio) < 0.15 and abs(np.mean(ratio) - 1) < 0.1
    again, _ = simulate_observations(tiny_cfg, sites_per_state=1, seed=0)
    np.testing.assert_array_equal(again["YIELD"].values, yields["YIELD"].values)


def test_tower_network():
    ds = simulate_tower_network(TowerConfig(n_sites=30, years=(2010, 2011), seed=0))
    schema.validate(ds, required=("GPP", "RECO", "NEE", "NEE_QC", "ELEV", "MAT", "MAP", "SAND"))
    assert ds.sizes["unit"] == 30 and ds["unit"].values[0] == "VT-0001"
    assert len(set(ds["IGBP"].values)) >= 3
    assert all(len(c) == 3 for c in ds["climate"].values)
    assert ds["lat"].min() > 24 and ds["lat"].max() < 50 and ds["lon"].min() > -125
    assert np.ptp(ds["PARAM_RH_Q10"].values) > 0.2 and np.ptp(ds["PARAM_LUE"].values) > 0.2
    annual = ds["GPP"].groupby("time.year").sum()
    assert 50 < float(annual.median()) < 3000
    valid = ~np.isnan(ds["NEE"].values)
    np.testing.assert_allclose(ds["NEE"].values[valid], (ds["RECO"] - ds["GPP"]).values[valid], atol=1e-5)


def test_cli_simulate(tmp_path, capsys):
    out = tmp_path / "w.nc"
    assert main(["simulate", "--counties", "17019", "--years", "2012-2012", "--world", "process",
                 "--out", str(out)]) == 0
    assert out.exists() and "1 units x 366 days" in capsys.readouterr().out
    assert main(["simulate", "--years", "2019-2000", "--out", str(out)]) == 2
    assert "years" in capsys.readouterr().err
    assert main(["simulate", "--years", "abc", "--out", str(out)]) == 2


def test_tower_heterogeneity_scales_and_drivers_as_observed():
    from kgml_core.simulator.towers import LUE_CV
    flat = simulate_tower_network(TowerConfig(n_sites=60, years=(2010, 2010), seed=1, heterogeneity=0.0))
    het = simulate_tower_network(TowerConfig(n_sites=60, years=(2010, 2010), seed=1))
    for ds, lo, hi in ((flat, 0.0, 1e-6), (het, 0.6 * LUE_CV["natural"], 1.5 * LUE_CV["natural"])):
        lue, igbp = ds["PARAM_LUE"].values, ds["IGBP"].values
        cv = [lue[igbp == v].std() / lue[igbp == v].mean() for v in ("GRA", "ENF", "DBF") if (igbp == v).sum() > 4]
        assert cv and lo <= np.mean(cv) <= hi, cv
    assert flat["SITE_IRRIGATED"].sum() == 0 and np.isnan(flat["SITE_DISTURBANCE_AGE"]).all()
    assert het["SITE_IRRIGATED"].sum() + np.isfinite(het["SITE_DISTURBANCE_AGE"]).sum() > 0
    # truth kept; observations are noisy around it
    err = het["NEE"].values - het["NEE_TRUE"].values
    assert 0.1 < np.nanstd(err) < 1.5 and abs(np.nanmean(err)) < 0.1
    # LAI: 8-day composites (constant within a composite), close to but not the state
    lai, state = het["LAI"].values, het["LAI_MODEL"].values
    assert np.all(lai[:, 1:8] == lai[:, :1]) and not np.allclose(lai, state)
    assert np.corrcoef(lai.ravel(), state.ravel())[0, 1] > 0.8
    # soil water: a shallow probe follows the root zone loosely and reacts to rain first
    swc, root = het["SWC"].values, het["SWC_MODEL"].values
    assert 0.3 < np.corrcoef(swc.ravel(), root.ravel())[0, 1] < 0.98
    wet = het["P"].values > 20
    assert np.mean(np.diff(swc, axis=1)[wet[:, 1:]]) > np.mean(np.diff(root, axis=1)[wet[:, 1:]])
    exact = simulate_tower_network(TowerConfig(n_sites=5, years=(2010, 2010), seed=1, drivers="model"))
    assert "LAI_MODEL" not in exact and np.all(exact["LAI"].values >= 0)


def test_engine_management_irrigation_debris_and_soil_carbon():
    from kgml_core.simulator import engine, vegetation
    from kgml_core.simulator.parameters import default_parameters
    from kgml_core.simulator.soils import soil_properties
    from kgml_core.simulator.world import run_points
    n = 4
    lat, lon = np.full(n, 40.5), np.full(n, -101.0)   # semi-arid western Nebraska
    soils = {k: np.repeat(v[:1], n) for k, v in soil_properties(lat[:1], lon[:1], 0).items()}
    veg = np.array([vegetation.CROP, vegetation.CROP, vegetation.GRASS, vegetation.GRASS], np.int8)
    crop = np.zeros((n, 2), np.int8)
    base = run_points(lat, lon, soils, default_parameters(n), crop, (2012, 2012), 0, veg=veg)[1].daily
    mg = {"irrigated": np.array([False, True, False, False]), "cwd": np.array([0, 0, 0, 2000.0]),
          "som_factor": np.array([0.85, 0.85, 0.85, 0.6])}
    out = run_points(lat, lon, soils, default_parameters(n), crop, (2012, 2012), 0, veg=veg, management=mg)[1].daily
    np.testing.assert_allclose(out["GPP"][0], base["GPP"][0], rtol=1e-4)
    assert out["GPP"][1].sum() > 1.1 * out["GPP"][0].sum() and out["SWC"][1].mean() > out["SWC"][0].mean()
    # the grass unit with debris and depleted soil carbon: its respiration differs by the debris decay and the SOM deficit
    assert out["RH"][3].sum() != base["RH"][3].sum()
    assert np.allclose(out["GPP"][3], base["GPP"][3])
