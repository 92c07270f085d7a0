import numpy as np
import pytest

from kgml_core.shift import standardize_features, unit_features
from tests.shift.conftest import make_world


def test_unit_features_values_and_units(null_world):
    f = unit_features(null_world)
    assert list(f.index) == [str(u) for u in null_world["unit"].values]
    for col in ("TA_GS", "TA_ANN", "P_ANN", "SWC_GS", "SWC_ANN", "VPD_GS", "SW_IN_GS", "SOC", "SAND"):
        assert col in f.columns
    ta = null_world["TA"].isel(unit=0)
    gs = ta.sel(time=ta["time"].dt.month.isin([5, 6, 7, 8, 9])).mean().item()
    assert f["TA_GS"].iloc[0] == pytest.approx(gs)
    assert f["P_ANN"].iloc[0] == pytest.approx(null_world["P"].isel(unit=0).mean().item() * 365.25)
    assert f.attrs["units"]["P_ANN"] == "mm yr-1"
    assert f["TA_GS"].mean() > f["TA_ANN"].mean()  # summer is warmer


def test_soil_moisture_weight_scales_swc_features(null_world):
    z = unit_features(null_world, standardize=True)
    w = unit_features(null_world, standardize=True, weights={"SWC": 3.0})
    assert np.allclose(w["SWC_GS"], 3 * z["SWC_GS"])
    assert np.allclose(w["SWC_ANN"], 3 * z["SWC_ANN"])
    assert np.allclose(w["TA_GS"], z["TA_GS"])
    assert z["TA_GS"].std(ddof=0) == pytest.approx(1.0)


def test_bad_feature_requests_are_clear(null_world):
    with pytest.raises(ValueError, match="standardize=True"):
        unit_features(null_world, weights={"SWC": 2})
    with pytest.raises(ValueError, match="'NOPE' matches no feature"):
        standardize_features(unit_features(null_world), {"NOPE": 1})
    with pytest.raises(ValueError, match="months 1-12"):
        unit_features(null_world, season_months=(13,))
    with pytest.raises(ValueError, match="none of TA"):
        unit_features(null_world[["RH"]])


def test_shifted_world_has_warmer_state():
    f = unit_features(make_world(units_per_state=10, years=1, ta_shift={"BB": 3.0}))
    state = np.repeat(["AA", "BB"], 10)
    diff = f["TA_GS"][state == "BB"].mean() - f["TA_GS"][state == "AA"].mean()
    assert diff == pytest.approx(3.0, abs=1.0)
