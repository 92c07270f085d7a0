import numpy as np
import pytest

from kgml_core.training.data import INPUTS, Normalizer, growing_season, make_samples, residue_input
from tests.training.conftest import fake_world


def test_make_samples_shapes_and_inputs(world):
    s = make_samples(world)
    assert s.x.shape == (8, 365, len(INPUTS)) == (8, 365, 19)
    assert "SWC" not in INPUTS and "lat" not in INPUTS
    assert list(s.year[:4]) == [2001] * 4 and list(s.year[4:]) == [2002] * 4
    np.testing.assert_allclose(s.x[0, :, INPUTS.index("TA_RANGE")], 10.0, rtol=1e-5)
    np.testing.assert_allclose(s.daily["RA"][1], world["RA"].values[1, :365], rtol=1e-6)
    assert s.yield_[5] == pytest.approx(float(world["YIELD"].values[1, 1]), rel=1e-6)
    sub = s.subset(s.year == 2002)
    assert len(sub) == 4 and sub.daily["RH"].shape == (4, 365)


def test_missing_driver_named(world):
    with pytest.raises(ValueError, match="WS"):
        make_samples(world.drop_vars("WS"))


def test_growing_season_contiguous():
    gpp = np.zeros((1, 365))
    gpp[0, 120:250] = 10
    season = growing_season(gpp)
    assert season[0, 120] and season[0, 249] and not season[0, 119] and not season[0, 250]


def test_residue_input_balance():
    gpp = np.full((2, 365), 2.0)
    ra = np.full((2, 365), 1.0)
    prof = np.full(365, 1 / 365)
    res = residue_input(gpp, ra, np.array([65.0, 1000.0]), prof)
    assert res[0].sum() == pytest.approx(300.0, rel=1e-5) and res[1].sum() == 0


def test_normalizer_round_trip(world):
    s = make_samples(world)
    norm = Normalizer.fit(s)
    again = Normalizer.from_dict(norm.to_dict())
    np.testing.assert_allclose(again.scale_x(s.x), norm.scale_x(s.x))
    scaled = norm.scale_x(s.x).reshape(-1, 19)
    assert np.all(np.abs(scaled.mean(0)) < 1e-3)
    assert norm.profile.sum() == pytest.approx(1.0, rel=1e-5)
