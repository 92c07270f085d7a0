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
