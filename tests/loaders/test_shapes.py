"""The file shapes scientists have: every FLUXNET-family resolution, ONEFlux preambles, long tables,
AmeriFlux BASE-BADM zips, soil grids, NASS variants; each built here in its published layout."""
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kgml_core import geo, schema
from kgml_core.loaders import (LOADERS, LoaderError, ameriflux, detect_kind, fluxnet, load_any, load_file, nass,
                               netcdf, samples, soils)


def _write(frame: pd.DataFrame, path, **kw):
    frame.to_csv(path, index=False, float_format="%.4f", **kw)
    return path


def test_daily_iso_dates_and_na(tmp_path):
    frame = samples.fluxnet_daily_frame(days=120)
    frame["TIMESTAMP"] = pd.to_datetime(frame["TIMESTAMP"].astype(str)).dt.strftime("%Y-%m-%d")
    frame.loc[3, "TA_F"] = np.nan
    path = _write(frame, tmp_path / "FLX_US-Iso_FLUXNET2015_SUBSET_DD_2010-2010_1-4.csv", na_rep="NA")
    ds = load_file(path)
    assert ds.sizes["time"] == 120 and np.isnan(ds.TA.values[0, 3])
    assert ds.GPP.values[0, 100] == pytest.approx(frame.GPP_NT_VUT_REF[100], abs=1e-4)


@pytest.mark.parametrize("name, site", [("ICOSETC_BE-Bra_FLUXNET_DD_L2.csv", "BE-Bra"),
                                        ("AMF_US-Ne1_FLUXNET_SUBSET_DD_2010-2010_3-5.csv", "US-Ne1"),
                                        ("FLX_DE-Tha_FLUXNET2015_FULLSET_DD_2010-2010_1-4.csv", "DE-Tha")])
def test_icos_and_ameriflux_fluxnet_products(tmp_path, name, site):
    path = _write(samples.fluxnet_daily_frame(days=30), tmp_path / name)
    assert detect_kind(path) == "fluxnet"
    assert load_file(path).unit.values.tolist() == [site]


def test_oneflux_preamble_gives_site_and_coordinates(tmp_path):
    path = samples.write_oneflux(tmp_path / "US-One_qca_nee_2010.csv", lat=41.2, lon=-96.5)
    assert detect_kind(path) == "fluxnet"
    ds = load_file(path)
    assert ds.unit.values.tolist() == ["US-One"] and ds.sizes["time"] == 3
    assert ds.lat.item() == 41.2 and ds.lon.item() == -96.5 and ds.state.item() == "NE"
    assert "coordinates_unknown" not in ds.attrs and "NEE" in ds and "TA_MAX" in ds


@pytest.mark.parametrize("step, code", [("WW", "W"), ("MM", "M"), ("YY", "Y")])
def test_coarse_resolutions_for_validation(tmp_path, step, code):
    path = _write(samples.coarse_frame(step), tmp_path / f"FLX_US-Crs_FLUXNET2015_SUBSET_{step}_2010-2011_1-4.csv")
    ds = fluxnet.load_fluxnet(path)
    assert ds.attrs["time_step"] == code and schema.validate(ds) is ds
    if step == "YY":  # yearly totals become mean daily rates
        assert ds.NEE.values[0, 0] == pytest.approx(-1.0) and ds.P.values[0, 0] == pytest.approx(2.0)
        assert "days in the year" in ds.NEE.attrs["provenance"]
    else:
        assert ds.sizes["time"] == (104 if step == "WW" else 24)


def test_hourly_hr_file(tmp_path):
    path = samples.write_fluxnet_hh(tmp_path, "US-Hr1", days=4, minutes=60)
    assert "_HR_" in path.name and load_file(path).sizes["time"] == 4


def test_long_table_site_days_and_months(tmp_path):
    a = samples.fluxnet_daily_frame(days=40, seed=1).assign(SITE_ID="US-Aaa")
    b = samples.fluxnet_daily_frame(days=50, seed=2, start="2010-01-05").assign(SITE_ID="US-Bbb")
    long = pd.concat([a, b]).rename(columns={"TIMESTAMP": "date", "SW_IN_F": "SW_IN (W m-2)"})
    long["date"] = pd.to_datetime(long["date"].astype(str)).dt.strftime("%Y-%m-%d")
    long["latitude"] = np.where(long.SITE_ID == "US-Aaa", 41.0, 45.0)
    long["longitude"] = -93.0
    path = _write(long, tmp_path / "many_sites.csv")
    ds = load_file(path)
    assert sorted(ds.unit.values) == ["US-Aaa", "US-Bbb"] and ds.sizes["time"] == 54
    assert ds.TA.sel(unit="US-Bbb").values[4] == pytest.approx(b.TA_F.iloc[0], abs=1e-4)
    assert ds.state.values.tolist() == ["IA", "MN"] and ds.attrs["source_format"] == "long table"
    monthly = pd.DataFrame({"site": ["US-Aaa"] * 12 + ["US-Bbb"] * 12, "month": [f"2010-{m:02d}" for m in range(1, 13)] * 2,
                            "TA_F": np.linspace(-5, 25, 24), "NEE_VUT_REF": np.linspace(-3, 2, 24)})
    ds = load_file(_write(monthly, tmp_path / "monthly.csv"))
    assert ds.attrs["time_step"] == "M" and ds.sizes == {"unit": 2, "time": 12}


def test_long_table_repeated_day_names_the_line(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("site,date,TA_F\nUS-A,2010-01-01,1\nUS-B,2010-01-01,2\nUS-A,2010-01-01,3\n")
    with pytest.raises(LoaderError, match="repeats timestamp 2010-01-01 00:00 on line 4"):
        load_file(path)


def test_ameriflux_zip_with_badm_and_extracted_copy_is_one_site(tmp_path):
    archive = samples.write_bif_zip(tmp_path, "US-Bif", extract=True)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".csv", ".zip"]
    ds = ameriflux.load_ameriflux(tmp_path)
    assert ds.unit.values.tolist() == ["US-Bif"] and archive.name in ds.attrs["source_files"]
    assert ds.lat.item() == pytest.approx(41.17) and ds.lon.item() == pytest.approx(-96.48)
    assert ds.igbp.item() == "CRO" and ds.crop.item() == "CORN" and ds.state.item() == "NE"
    assert ds.MAT.item() == pytest.approx(10.1)


def test_fluxnet_zip_and_its_extracted_csv_are_one_site(tmp_path):
    csv = _write(samples.fluxnet_daily_frame(days=10), tmp_path / "FLX_US-Dup_FLUXNET2015_SUBSET_DD_2010-2010_1-4.csv")
    with zipfile.ZipFile(tmp_path / "FLX_US-Dup_FLUXNET2015_SUBSET_2010-2010_1-4.zip", "w") as zf:
        zf.write(csv, csv.name)
    assert fluxnet.load_fluxnet(tmp_path).unit.values.tolist() == ["US-Dup"]


# ---------------------------------------------------------------- units and plausibility
def _daily_with(tmp_path, column, values, name="FLX_US-Unt_FLUXNET2015_SUBSET_DD_2010-2010_1-4.csv"):
    frame = samples.fluxnet_daily_frame(days=365)
    frame[column] = values(frame)
    return _write(frame, tmp_path / name)


@pytest.mark.parametrize("column, transform, var, factor, needle", [
    ("SW_IN_F", lambda f: f.SW_IN_F * 0.0864, "SW_IN", 1e6 / 86400, "assumed MJ m-2 d-1"),
    ("SW_IN_F", lambda f: f.SW_IN_F * 24, "SW_IN", 1 / 24, "assumed Wh m-2 d-1"),
    ("TA_F", lambda f: f.TA_F + 273.15, "TA", None, "assumed K"),
    ("VPD_F", lambda f: f.VPD_F / 10, "VPD", 10, "assumed kPa"),
    ("P_F", lambda f: f.P_F / 48, "P", 48, "assumed mm per half hour"),
])
def test_unit_guess_says_what_it_assumed(tmp_path, column, transform, var, factor, needle):
    path = _daily_with(tmp_path, column, transform)
    truth = fluxnet.load_fluxnet(_write(samples.fluxnet_daily_frame(days=365),
                                        tmp_path / "FLX_US-Ref_FLUXNET2015_SUBSET_DD_2010-2010_1-4.csv"))
    ds = fluxnet.load_fluxnet(path)
    assert needle in ds[var].attrs["unit_assumption"] and needle in ds[var].attrs["provenance"]
    np.testing.assert_allclose(ds[var].values, truth[var].values, atol=5e-3, rtol=1e-3)  # 4-decimal CSV


def test_plausible_values_keep_the_convention(tmp_path):
    ds = fluxnet.load_fluxnet(_write(samples.fluxnet_daily_frame(days=365),
                                     tmp_path / "FLX_US-Ok1_FLUXNET2015_SUBSET_DD_2010-2010_1-4.csv"))
    for var in ("TA", "SW_IN", "VPD", "P"):
        assert "assumed" not in ds[var].attrs["unit_assumption"], var


def test_values_fitting_no_unit_are_refused_with_ranges(tmp_path):
    path = _daily_with(tmp_path, "TA_F", lambda f: f.TA_F * 40)
    with pytest.raises(LoaderError) as err:
        fluxnet.load_fluxnet(path)
    msg = str(err.value)
    assert "'TA_F' (TA) has values" in msg and "fit none of its known units" in msg
    assert "-70 to 60 degC" in msg and "203.1 to 333.1 K" in msg and "\n" not in msg


def test_shortwave_above_the_top_of_atmosphere_is_dropped_and_counted(tmp_path):
    path = tmp_path / "w.csv"
    rows = [f"19169,2020-06-{d:02d},20,{v}" for d, v in zip(range(1, 31), [250] * 29 + [540])]
    path.write_text("fips,date,TA (degC),SW_IN (W m-2)\n" + "\n".join(rows) + "\n")
    ds = load_file(path)
    assert np.isnan(ds.SW_IN.values[0, -1]) and "1 value(s)" in ds.SW_IN.attrs["unit_assumption"]


# ---------------------------------------------------------------- soils
def _iowa():
    return geo.load_counties(["IA"])


def test_geotiff_county_means_are_area_weighted_and_sites_sampled(tmp_path):
    lats, lons, field = samples.soil_field()
    tif = samples.write_geotiff(tmp_path / "sand_0-5cm_mean.tif", field * 10, lats, lons)  # g/kg, undeclared
    ds = soils.load_soil_grid(tif, states=["IA"])
    counties = _iowa()
    assert ds.sizes["unit"] == 99 and ds.unit_kind.values[0] == "county"
    # sand (%) = lon + 130 per cell: each county's mean sits near its centroid's longitude + 130
    assert float(np.abs(ds.SAND - (counties.loc[ds.unit.values, "lon"].values + 130)).max()) < 0.1
    assert "assumed g kg-1" in ds.SAND.attrs["unit_assumption"] and "exactextract" in ds.SAND.attrs["provenance"]
    sites = tmp_path / "sites.csv"
    sites.write_text("id,lat,lon\nUS-In1,41.52,-93.51\nFR-Out,48.0,2.0\n")
    at = soils.load_soil_grid(tif, sites=sites)
    assert at.SAND.sel(unit="US-In1").item() == pytest.approx(-93.5 + 130, abs=0.03)
    assert np.isnan(at.SAND.sel(unit="FR-Out").item()) and "FR-Out" in at.attrs["not_on_grid"]


def test_declared_units_convert_um_per_s_to_mm_per_h(tmp_path):
    lats, lons, field = samples.soil_field(step=0.1)
    tif = samples.write_geotiff(tmp_path / "ksat.tif", np.full_like(field, 5.0), lats, lons, units="um s-1")
    ds = load_file(tif, states=["IA"])
    assert float(ds.KSAT.mean()) == pytest.approx(18.0)  # 5 um/s = 18 mm/h


def test_esri_ascii_without_prj_is_read_as_lon_lat(tmp_path):
    lats, lons, field = samples.soil_field(step=0.1)
    asc = samples.write_esri_ascii(tmp_path / "clay.asc", np.full_like(field, 0.3), lats, lons)  # a fraction
    assert detect_kind(asc) == "soil"
    ds = load_file(asc, states=["IA"])
    assert float(ds.CLAY.mean()) == pytest.approx(30.0) and "EPSG:4326" in ds.CLAY.attrs["provenance"]


def test_netcdf_without_time_soilgrids_units(tmp_path):
    lats, lons, field = samples.soil_field(step=0.1)
    grid = xr.Dataset({"bdod": (("lat", "lon"), np.full_like(field, 135.0)),  # cg/cm3
                       "phh2o": (("lat", "lon"), np.full_like(field, 62.0)),  # pH x 10
                       "cec": (("lat", "lon"), np.full_like(field, 250.0), {"units": "mmol(c)/kg"}),
                       "soc": (("depth", "lat", "lon"), np.stack([np.full_like(field, 180.0)] * 2))},  # dg/kg
                      coords={"lat": lats, "lon": lons, "depth": [5, 15]})
    grid.to_netcdf(tmp_path / "soilgrids.nc")
    assert detect_kind(tmp_path / "soilgrids.nc") == "soil"
    ds = load_file(tmp_path / "soilgrids.nc", kind="netcdf", states=["IA"])
    assert float(ds.BD.mean()) == pytest.approx(1.35) and float(ds.PH.mean()) == pytest.approx(6.2)
    assert float(ds.CEC.mean()) == pytest.approx(25.0) and float(ds.SOC.mean()) == pytest.approx(1.8)
    assert "first 'depth' level" in ds.SOC.attrs["provenance"]


def test_daily_netcdf_keeps_static_soils_and_names_the_rest(tmp_path):
    grid = samples.gridded_dataset(days=3, step=0.2)
    grid["clay"] = (("lat", "lon"), np.full((grid.sizes["lat"], grid.sizes["lon"]), 25.0), {"units": "%"})
    grid["elevation"] = (("lat", "lon"), np.zeros((grid.sizes["lat"], grid.sizes["lon"])), {"units": "m"})
    grid.to_netcdf(tmp_path / "daily_soil.nc")
    ds = netcdf.load_netcdf(tmp_path / "daily_soil.nc", states=["IA"])
    assert float(ds.CLAY.mean()) == pytest.approx(25.0) and "TA_MAX" in ds
    assert "elevation" in ds.attrs["ignored_variables"]


def test_contract_netcdf_on_unit_loads_or_fails_in_one_line(tmp_path):
    good = schema.empty_units(["19169", "19015"], [42.0, 42.1], [-93.5, -93.9], "IA", "county")
    schema.set_variable(good, "SAND", [30.0, 40.0])
    good.to_netcdf(tmp_path / "soils_on_unit.nc")
    ds = load_file(tmp_path / "soils_on_unit.nc")
    assert ds.SAND.values.tolist() == [30.0, 40.0]
    bad = good.copy()
    bad["SAND"].attrs["units"] = "furlongs"
    bad.to_netcdf(tmp_path / "bad_on_unit.nc")
    with pytest.raises(LoaderError, match="does not follow the data contract: variable 'SAND' is in 'furlongs'") as err:
        load_file(tmp_path / "bad_on_unit.nc")
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- NASS
@pytest.mark.parametrize("header, row", [
    ("state_fips,county_fips,year,commodity,yield_bu_per_acre", "19,169,{y},CORN,{v}"),
    ("fips,year,crop,Yield (bu/acre)", "19169,{y},CORN,{v}"),
    ("GEOID,year,yield_bu_ac", "19169,{y},{v}"),
])
def test_nass_tidy_headers_and_flagged_yields(tmp_path, header, row):
    values = {2015: 190.0, 2016: 0.0, 2017: 612.0, 2018: 201.0}
    path = tmp_path / "tidy.csv"
    path.write_text(header + "\n" + "\n".join(row.format(y=y, v=v) for y, v in values.items()) + "\n")
    assert detect_kind(path) == "nass"
    ds = nass.load_nass(path, crop="CORN")
    assert ds.YIELD_BU.sel(unit="19169").values.tolist()[::3] == [190.0, 201.0]
    assert np.isnan(ds.YIELD_BU.sel(unit="19169", year=[2016, 2017])).all()
    assert ds.attrs["placeholder_zeros"] == 1 and ds.attrs["impossible_yields"] == 1
    assert "1 placeholder zero" in ds.YIELD.attrs["provenance"]


def test_nass_quickstats_api_headers(tmp_path):
    header = "source_desc,commodity_desc,statisticcat_desc,short_desc,domain_desc,agg_level_desc,state_ansi,county_ansi,year,Value"
    rows = ["SURVEY,CORN,YIELD,\"CORN, GRAIN - YIELD, MEASURED IN BU / ACRE\",TOTAL,COUNTY,19,169,2020,\"201.5\"",
            "SURVEY,CORN,YIELD,\"CORN, GRAIN - YIELD, MEASURED IN BU / ACRE\",TOTAL,COUNTY,19,015,2020,(D)"]
    path = tmp_path / "api.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    assert detect_kind(path) == "nass"
    ds = load_file(path)
    assert ds.YIELD_BU.sel(unit="19169", year=2020).item() == 201.5


# ---------------------------------------------------------------- binary files and clear errors
def _binaries(tmp_path):
    pkl = tmp_path / "model.csv"
    pkl.write_bytes(pickle.dumps({"a": 1}))
    parquet = tmp_path / "table.nc"
    parquet.write_bytes(b"PAR1" + bytes(range(200)) + b"PAR1")
    png = tmp_path / "map.zip"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    return {"a Python pickle": pkl, "a Parquet file": parquet, "a PNG image": png}


@pytest.mark.parametrize("kind", [None, *LOADERS])
def test_binary_files_are_refused_as_such_whatever_kind(tmp_path, kind):
    for what, path in _binaries(tmp_path).items():
        with pytest.raises(LoaderError, match=f"is {what}, not a data file") as err:
            load_any([path], kind)
        assert "\n" not in str(err.value)


def test_ragged_csv_message_is_ours(tmp_path):
    path = tmp_path / "FLX_US-Rag_FLUXNET2015_SUBSET_DD_2010-2010_1-4.csv"
    path.write_text("TIMESTAMP,TA_F\n20100101,1\n20100102,2,3,4\n")
    with pytest.raises(LoaderError, match="line 3 has 4 fields but the header has 2") as err:
        load_file(path)
    assert "C error" not in str(err.value) and "tokenizing" not in str(err.value)
