import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kgml_core.metrics import paired_bootstrap_rmse_diff, per_unit_scores, scores


def test_scores_known_values():
    obs = np.array([1.0, 2.0, 3.0, 4.0])
    sim = np.array([1.5, 2.0, 2.0, 5.0])
    s = scores(obs, sim)
    # errors 0.5, 0, -1, 1 -> SSE 2.25, SST 5
    assert s["n"] == 4
    assert s["mse"] == pytest.approx(2.25 / 4)
    assert s["rmse"] == pytest.approx(np.sqrt(2.25 / 4))
    assert s["mae"] == pytest.approx(2.5 / 4)
    assert s["bias"] == pytest.approx(0.5 / 4)
    assert s["r2"] == pytest.approx(1 - 2.25 / 5)


def test_scores_mask_nan_and_shape_check():
    obs = np.array([[1.0, np.nan], [3.0, 4.0]])
    sim = np.array([[1.0, 7.0], [np.nan, 4.0]])
    s = scores(obs, sim)
    assert s["n"] == 2 and s["rmse"] == 0.0
    assert scores([np.nan], [1.0])["n"] == 0
    with pytest.raises(ValueError, match="shape"):
        scores(np.zeros(3), np.zeros(4))


def test_r2_negative_for_bad_model():
    obs = np.arange(10.0)
    assert scores(obs, obs[::-1])["r2"] < 0


def test_per_unit_scores_rows():
    obs = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("unit", "time"),
                       coords={"unit": ["a", "b", "c"]})
    sim = obs + xr.DataArray([0.0, 1.0, 2.0], dims="unit", coords={"unit": ["a", "b", "c"]})
    frame = per_unit_scores(obs, sim)
    assert list(frame.index) == ["a", "b", "c"]
    np.testing.assert_allclose(frame["bias"], [0, 1, 2])
    assert (frame["n"] == 4).all()
    assert isinstance(frame, pd.DataFrame)


def test_bootstrap_detects_better_model():
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(40, 50))
    good = obs + rng.normal(scale=0.1, size=obs.shape)
    bad = obs + rng.normal(scale=1.0, size=obs.shape)
    out = paired_bootstrap_rmse_diff(obs, good, bad, n_boot=300)
    assert out["diff"] < 0 and out["hi"] < 0 and out["lo"] <= out["diff"] <= out["hi"]
    assert out["rel_diff"] == pytest.approx(out["diff"] / scores(obs, bad)["rmse"])


def test_bootstrap_same_model_interval_contains_zero():
    rng = np.random.default_rng(2)
    obs = rng.normal(size=(30, 20))
    a = obs + rng.normal(scale=0.5, size=obs.shape)
    b = obs + rng.normal(scale=0.5, size=obs.shape)
    out = paired_bootstrap_rmse_diff(obs, a, b, n_boot=300, block_units=False)
    assert out["lo"] < 0 < out["hi"]


def test_paired_bootstrap_median_ratio():
    from kgml_core.metrics import paired_bootstrap_median_ratio
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 3.0, 60)                 # sites differ a lot
    better = base * 0.9                              # a is 10 % lower at every site
    out = paired_bootstrap_median_ratio(better, base)
    assert out["rel"] == pytest.approx(-0.1) and out["hi"] < 0 and out["share_a_better"] == 1.0
    assert out["lo"] == pytest.approx(-0.1) and out["n_sites"] == 60   # paired: no spread from the sites
    noisy = base * rng.normal(1.0, 0.2, 60)
    same = paired_bootstrap_median_ratio(noisy, base)
    assert same["lo"] < 0 < same["hi"]
    with_nan = paired_bootstrap_median_ratio(np.r_[better, np.nan], np.r_[base, 1.0])
    assert with_nan["n_sites"] == 60
    with pytest.raises(ValueError, match="equal length"):
        paired_bootstrap_median_ratio(np.ones(3), np.ones(4))
