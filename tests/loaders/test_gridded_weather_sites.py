import numpy as np
import pytest

from kgml_core import schema
from kgml_core.loaders import LoaderError, county_weather, netcdf, samples, sites
from tests.loaders.conftest import need

HRRR = "weather/hrrr_daily_county_mean_iowa35_2017-2022.csv"


def test_real_hrrr_table(real_data_dir):
    ds = county_weather.load_county_weather(need(real_data_dir, HRRR))
    schema.validate(ds, required=("TA", "P", "SW_IN", "VPD"))
    assert ds.sizes == {"unit": 35, "time": 2191}
    assert -40 < float(ds.TA.min()) and float(ds.TA.max()) < 45  # K converted to degC
    assert 100 < float(ds.SW_IN.mean()) < 250 and float(ds.SW_IN.max()) < 560  # Wh m-2 d-1 / 24
    assert "assumed Wh m-2 d-1" in ds.SW_IN.attrs["unit_assumption"]
    assert "above the top-of-atmosphere" in ds.SW_IN.attrs["unit_assumption"]
    assert 1 < float(ds.VPD.mean()) < 15  # kPa converted to hPa


def test_weather_table_units_and_errors(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("fips,date,TA (degC),P (mm),Downward Shortwave Radiation Flux (W m**-2)\n"
                    "19169,2020-06-01,20,1,250\n19169,2020-06-03,21,0,260\n")
    ds = county_weather.load_county_weather(path)
    assert ds.sizes["time"] == 3 and "plausible in W m-2" in ds.SW_IN.attrs["unit_assumption"]
    path.write_text("fips,date,TA (furlongs)\n19169,2020-06-01,70\n")
    with pytest.raises(LoaderError, match="'TA \\(furlongs\\)' is in unknown unit 'furlongs'"):
        county_weather.load_county_weather(path)
    path.write_text("fips,date,TA (degC)\n19169,2020-06-01,20\n19169,2020-06-01,21\n")
    with pytest.raises(LoaderError, match="repeats on line 3"):
        county_weather.load_county_weather(path)
    path.write_text("fips,date,TA (degC)\n19169,2020-13-01,20\n")
    with pytest.raises(LoaderError, match="'2020-13-01' on line 2"):
        county_weather.load_county_weather(path)


@pytest.mark.parametrize("projected", [False, True])
def test_gridded_county_means_are_area_weighted(tmp_path, projected):
    path = tmp_path / "daymet.nc"
    samples.gridded_dataset(projected=projected).to_netcdf(path)
    ds = netcdf.load_netcdf(path, states=["IA"])
    schema.validate(ds, required=("TA", "TA_MAX", "SW_IN", "P", "VPD"))
    assert ds.sizes["unit"] == 99
    # tmax is the cell longitude + 120: its area-weighted mean is close to the county centroid's longitude + 120
    assert float(np.abs(ds.TA_MAX.isel(time=0) - 120 - ds.lon).max()) < 0.02
    assert float(ds.SW_IN.mean()) == pytest.approx(200.0)  # 400 W m-2 daylight mean x 12 h / 24 h
    assert float(ds.P.mean()) == pytest.approx(2.0)
    assert "area-weighted" in ds.P.attrs["provenance"]


def test_gridded_nearest_cell_for_sites(tmp_path):
    path = tmp_path / "grid.nc"
    samples.gridded_dataset().to_netcdf(path)
    table = tmp_path / "sites.csv"
    table.write_text("id,lat,lon\nUS-In1,41.5,-93.5\nFR-Out,48.0,2.0\n")
    ds = netcdf.load_netcdf(path, sites=table)
    assert ds.TA_MAX.sel(unit="US-In1").values[0] == pytest.approx(-93.5 + 120, abs=0.06)
    assert ds.TA_MAX.sel(unit="FR-Out").isnull().all() and ds.attrs["sites_off_grid"] == "FR-Out"


def test_gridded_unknown_unit_and_not_netcdf(tmp_path):
    grid = samples.gridded_dataset(days=2)
    grid["prcp"].attrs["units"] = "furlongs"
    grid.to_netcdf(tmp_path / "g.nc")
    with pytest.raises(LoaderError, match="'prcp' is in unknown unit 'furlongs'"):
        netcdf.load_netcdf(tmp_path / "g.nc", states=["IA"])
    (tmp_path / "x.nc").write_text("hello")
    with pytest.raises(LoaderError, match="cannot be opened as NetCDF"):
        netcdf.load_netcdf(tmp_path / "x.nc")


def test_real_site_list(real_data_dir, site_list):
    ds = sites.load_sites(site_list)
    schema.validate(ds)
    assert ds.sizes["unit"] == 267
    assert ds.state.sel(unit="US-Ne1").item() == "NE" and ds.igbp.sel(unit="US-Ne1").item() == "CRO"
    assert ds.state.sel(unit="AT-Neu").item() == "" and np.isnan(ds.MAT.values).any()


def test_site_list_errors(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,lat,lon\nA,41,-93\nA,42,-93\n")
    with pytest.raises(LoaderError, match="repeats on line 3"):
        sites.load_sites(path)
    path.write_text("id,lat,lon\nA,141,-93\n")
    with pytest.raises(LoaderError, match="'lat' has 141.0 on line 2"):
        sites.load_sites(path)
    path.write_text("name,x,y\nA,1,2\n")
    with pytest.raises(LoaderError, match="no column for"):
        sites.load_sites(path)
