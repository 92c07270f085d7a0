from __future__ import annotations

import numpy as np
import pandas as pd

from kgml_core.simulator import climate
from kgml_core.simulator.soils import soil_properties
from kgml_core.simulator.weather import generate_weather

# Minneapolis, Des Moines, Champaign, Houston, Atlanta, Denver; two points 30 km apart; one far away
LAT = np.array([45.0, 41.6, 40.1, 29.8, 33.7, 39.7, 40.3, 40.5, 33.0])
LON = np.array([-93.3, -93.6, -88.2, -95.4, -84.4, -105.0, -88.3, -88.5, -112.0])


def test_climatology_gradients():
    mat = climate.mean_annual_temperature(LAT, LON)
    map_ = climate.mean_annual_precipitation(LAT, LON)
    assert mat[0] < mat[1] < mat[3]          # colder north
    assert map_[4] > map_[1] > map_[5]       # wetter south-east, dry west
    assert set(climate.koeppen(LAT[:5], LON[:5])) <= {"Dfa", "Dfb", "Cfa"}
    assert str(climate.koeppen(np.array([33.0]), np.array([-112.0]))[0]).startswith("B")


def test_weather_cycles_persistence_and_spatial_correlation():
    dates = pd.date_range("2001-01-01", "2012-12-31")
    w = generate_weather(LAT, LON, dates, seed=0)
    ta = pd.DataFrame(w["TA"].T, index=dates)
    assert (ta[ta.index.month == 7].mean() > ta[ta.index.month == 1].mean() + 15).iloc[:3].all()
    anom = ta - ta.groupby(ta.index.day_of_year).transform("mean")
    assert anom[2].autocorr(1) > 0.5                                # day-to-day persistence
    assert anom[6].corr(anom[7]) > 0.8 > anom[6].corr(anom[8])       # neighbours share weather
    p = pd.DataFrame(w["P"].T, index=dates)
    summer = p[(p.index.month >= 6) & (p.index.month <= 8)].groupby(lambda d: d.year).sum()
    belt = summer[[0, 1, 2]].mean(axis=1)
    assert belt.loc[2012] < 0.7 * belt.median()                   # a 2012-like drought
    assert w["SW_IN"].min() > 0 and w["SW_IN"].max() < 420
    assert 2 < np.mean(w["WS"]) < 6


def test_soils_are_physical_and_differ_between_regions():
    s = soil_properties(LAT, LON, seed=0)
    np.testing.assert_allclose(s["SAND"] + s["SILT"] + s["CLAY"], 100, atol=1e-3)
    assert np.all(s["WP"] < s["FC"]) and np.all(s["FC"] < s["SAT"])
    assert np.all((s["BD"] > 0.9) & (s["BD"] < 1.8)) and np.all(s["KSAT"] > 0)
    assert s["SILT"][1] > s["SILT"][3]       # Iowa loess siltier than the Gulf coast
    assert s["SOC"][1] > s["SOC"][5]         # prairie soils richer in carbon than the arid West
