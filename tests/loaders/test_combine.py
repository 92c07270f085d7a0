import numpy as np
import pandas as pd
import pytest

from kgml_core import schema
from kgml_core.loaders import combine, merge


def _daily(units, start, days, value, var="TA", prov="a.csv:TA_F"):
    ds = schema.empty_units(units, [41.0] * len(units), [-93.0] * len(units), "IA", "county")
    ds = ds.assign_coords(time=("time", pd.date_range(start, periods=days).values))
    schema.set_variable(ds, var, np.full((len(units), days), value, dtype=float), provenance=prov)
    return ds


def test_fill_days_units_and_variables_with_provenance():
    real = _daily(["19169"], "2020-01-02", 2, 1.0)
    real["TA"][0, 1] = np.nan
    sim = _daily(["19169", "19015"], "2020-01-01", 4, 9.0, prov="simulator")
    schema.set_variable(sim, "GPP", np.ones((2, 4)), provenance="simulator")
    out = combine(real, sim, labels=("real", "sim"))
    assert out.unit.values.tolist() == ["19169", "19015"] and out.sizes["time"] == 4
    assert out.TA.sel(unit="19169").values.tolist() == [9.0, 1.0, 9.0, 9.0]
    assert out.TA.attrs["fallback_fraction"] == pytest.approx(7 / 8)
    assert out.TA.attrs["provenance"].startswith("real: a.csv:TA_F; sim for 7 of 8 values")
    assert out.GPP.attrs["provenance"] == "sim: simulator" and out.GPP.attrs["fallback_fraction"] == 1.0


def test_merge_weather_with_yields_inner():
    weather = _daily(["19169", "19015"], "2020-01-01", 3, 5.0)
    yields = schema.empty_units(["19169", "17019"], [42.0, 40.1], [-93.5, -88.2], ["IA", "IL"], "county")
    yields = yields.assign_coords(year=("year", np.array([2020])))
    schema.set_variable(yields, "YIELD", [[430.0], [400.0]], provenance="nass.csv:Value")
    out = merge([weather, yields], how="inner")
    assert out.unit.values.tolist() == ["19169"] and out.YIELD.attrs["provenance"] == "nass.csv:Value"
    assert "fallback_fraction" not in out.TA.attrs


def test_simulator_fallback_when_available(tmp_path, monkeypatch):
    simulator = pytest.importorskip("kgml_core.simulator", reason="the simulator has not landed")
    monkeypatch.setenv("KGML_CACHE_DIR", str(tmp_path))
    world = simulator.load_world(simulator.WorldConfig(states=("IA",), years=(2019, 2019),
                                                       counties=("19169", "19015")))
    real = _daily(["19169"], "2019-03-01", 10, 12.0)
    out = combine(real, world)
    assert set(out.unit.values) >= {"19169", "19015"}
    assert out.TA.sel(unit="19169", time="2019-03-05").item() == 12.0
    assert out.TA.attrs["fallback_fraction"] > 0.9 and "GPP" in out
