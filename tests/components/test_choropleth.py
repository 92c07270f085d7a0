"""Choropleth helpers: period sums, colour scales, the folium map (local assets only)."""
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from components import choropleth
from kgml_core import geo


def daily(values_per_day: float = 1.0, years=(2018, 2019)) -> xr.DataArray:
    time = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31", freq="D")
    data = np.full((2, len(time)), values_per_day)
    data[1] *= 2
    return xr.DataArray(data, dims=("unit", "time"), coords={"unit": ["19001", "19003"], "time": time})


def test_annual_month_and_season_sums():
    da = daily()
    year = choropleth.aggregate(da, "year")
    assert list(year.columns) == [2018, 2019] and list(year.index) == ["19001", "19003"]
    assert year.loc["19001", 2018] == 365 and year.loc["19003", 2018] == 730
    assert choropleth.aggregate(da, "Feb").loc["19001", 2019] == 28
    assert choropleth.aggregate(da, "JJA").loc["19001", 2018] == 92
    assert choropleth.aggregate(da, "DJF").loc["19001", 2018] == 31 + 31 + 28


def test_missing_day_makes_the_period_missing():
    da = daily()
    da[0, 40] = np.nan  # 10 February 2018
    feb = choropleth.aggregate(da, "Feb")
    assert np.isnan(feb.loc["19001", 2018]) and feb.loc["19001", 2019] == 28
    assert choropleth.aggregate(da, "Jul").loc["19001", 2018] == 31


def test_annual_variable_is_returned_as_is():
    da = xr.DataArray([[1.0, 2.0]], dims=("unit", "year"), coords={"unit": ["19001"], "year": [2018, 2019]})
    assert choropleth.aggregate(da, "Jul").loc["19001", 2019] == 2.0


def test_bad_period_is_refused():
    with pytest.raises(ValueError, match="period must be one of"):
        choropleth.aggregate(daily(), "summer")


def test_units_of_period_sums():
    assert choropleth.period_units("g C m-2 d-1", "year") == "g C m-2 yr-1"
    assert choropleth.period_units("g C m-2 d-1", "JJA") == "g C m-2 per JJA"
    assert choropleth.period_units("g C m-2", "year", annual=True) == "g C m-2"


def test_colour_range_diverging_is_symmetric_and_robust():
    vals = np.r_[np.linspace(-10, 30, 100), np.nan]
    lo, hi = choropleth.colour_range(vals, diverging=True)
    assert lo == -hi and hi == pytest.approx(np.quantile(vals[:-1], 0.98))
    lo, hi = choropleth.colour_range(np.full(5, 3.0))
    assert hi > lo
    assert choropleth.colour_range(np.array([np.nan])) == (0.0, 1.0)


def test_colours_grey_for_missing_and_clipped():
    cols = choropleth.colours([np.nan, -100, 0, 100], -1, 1, "RdBu_r")
    assert cols[0] == choropleth.NO_DATA
    assert cols[1] != cols[3] and all(re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in cols)


def test_map_has_values_on_hover_layers_and_no_cdn():
    table = geo.county_table(["IA"])
    values = pd.Series(np.arange(len(table), dtype=float), index=table.index)
    sites = pd.DataFrame({"lat": [41.0], "lon": [-93.0], "error": [1.2]}, index=["US-X"])
    fmap = choropleth.choropleth_map(["IA"], values, "NEE", "g C m-2 yr-1", -50, 50, "RdBu_r", sites=sites,
                                     regions=pd.Series(0, index=table.index), highlight=["19001"],
                                     caption="annual sum 2019")
    html = fmap.get_root().render()
    assert not re.findall(r'(?:src|href)="https?://', html)
    assert "NEE annual sum 2019" in html and "g C m-2 yr-1" in html and "US-X" in html
    data = choropleth.county_geojson(["IA"], values, 0, 98, "viridis")
    props = {f["properties"]["id"]: f["properties"] for f in data["features"]}
    assert len(props) == 99 and props["19001"]["value"] == "0.0"
    assert props["19197"]["fill"] != props["19001"]["fill"]


def test_scale_is_diverging_only_when_values_cross_zero():
    import numpy as np
    from components import choropleth
    uptake = np.linspace(-700, -50, 50)
    lo, hi, cmap = choropleth.scale(uptake, "NEE")
    assert cmap == "Blues_r" and hi < 0 and lo > -710  # not -743..+743 when every value is negative
    lo, hi, cmap = choropleth.scale(np.linspace(-300, 100, 50), "NEE")
    assert cmap == "RdBu_r" and lo == -hi
    assert choropleth.scale(np.linspace(1, 5, 20), "GPP")[2] == "YlGn"
    assert choropleth.scale(np.linspace(0.1, 2, 20), "RH", difference=True)[2] == "Reds"


def test_legend_states_the_sign_and_has_no_empty_units():
    from components import choropleth
    html = choropleth.legend_html("R²", "", 0, 1, "RdYlGn", note=choropleth.NEE_SIGN)
    assert "()" not in html and "takes up carbon" in html
    assert choropleth.period_label("JJA") == "summer (June-August) sum"
