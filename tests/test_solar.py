"""Top-of-atmosphere radiation: FAO-56 reference values, one function for the simulator and the loaders."""
import numpy as np
import pytest

from kgml_core.loaders import units
from kgml_core.solar import extraterrestrial_radiation, toa_daily_mean


def test_fao56_example_8():
    # FAO-56 example 8: 20 deg S on 3 September (day 246): Ra = 32.2 MJ m-2 d-1
    assert extraterrestrial_radiation(-20.0, 246) == pytest.approx(32.2, abs=0.1)


def test_broadcasts_and_loader_uses_the_same_values():
    lat, doy = np.array([30.0, 45.0]), np.arange(1, 366)
    grid = extraterrestrial_radiation(lat[:, None], doy[None, :])
    assert grid.shape == (2, 365) and (grid[1].argmax() + 1) in range(165, 180)
    np.testing.assert_allclose(units.toa_daily_mean(np.full(365, 45.0), doy), toa_daily_mean(45.0, doy))
    assert toa_daily_mean(45.0, 172) == pytest.approx(grid[1, 171] * 1e6 / 86400)
