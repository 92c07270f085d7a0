import numpy as np
import pytest

from kgml_core import schema
from kgml_core.loaders import LoaderError, nass
from tests.loaders.conftest import need

RAW = "nass/nass_county_corn_grain_yield_bu_acre_US_2012-2021_quickstats.csv"
HEADER = ("Program,Year,Period,Week Ending,Geo Level,State,State ANSI,Ag District,Ag District Code,County,"
          "County ANSI,Zip Code,Region,watershed_code,Watershed,Commodity,Data Item,Domain,Domain Category,Value,CV (%)")


def _row(year, county, ansi, value, item="CORN, GRAIN - YIELD, MEASURED IN BU / ACRE"):
    return f'SURVEY,{year},YEAR,,COUNTY,IOWA,19,CENTRAL,50,{county},{ansi},,,0,,CORN,"{item}",TOTAL,NOT SPECIFIED,{value},1.0'


def test_conversion_matches_sources_example():
    assert nass.bu_per_acre_to_g_c(180, "CORN") == pytest.approx(430, abs=1)


def test_real_export_il_ia_in_county_years(real_data_dir):
    ds = nass.load_nass(need(real_data_dir, RAW), states=["IL", "IA", "IN"])
    schema.validate(ds, required=("YIELD",))
    assert int(np.isfinite(ds.YIELD).sum()) == 2651  # 897 IL + 946 IA + 808 IN rows with a county code
    assert ds.sizes["year"] == 10 and set(ds.state.values) == {"IL", "IA", "IN"}
    assert 100 < float(ds.YIELD_BU.median()) < 250 and 250 < float(ds.YIELD.median()) < 600
    assert ds.attrs["dropped_rows"] > 0  # OTHER (COMBINED) COUNTIES rows


def test_raw_layout_codes_separators_other_counties(tmp_path):
    path = tmp_path / "qs.csv"
    acres = "CORN, GRAIN - ACRES HARVESTED"
    path.write_text("\n".join([HEADER, _row(2020, "STORY", 169, "201.5"), _row(2020, "STORY", 169, '"87,230"', acres),
                               _row(2020, "BOONE", 15, "(D)"), _row(2021, "STORY", 169, "(Z)"),
                               _row(2021, "OTHER (COMBINED) COUNTIES", "", 150)]))
    ds = nass.load_nass(path)
    assert ds.unit.values.tolist() == ["19015", "19169"]
    assert ds.YIELD_BU.sel(unit="19169", year=2020).item() == 201.5
    assert ds.AREA_HARVESTED.sel(unit="19169", year=2020).item() == 87230  # thousands separator
    assert np.isnan(ds.YIELD_BU.sel(unit="19015", year=2020).item()) and ds.attrs["dropped_rows"] == 1


@pytest.mark.parametrize("rows, needle", [
    ([_row(2020, "STORY", 169, "lots")], "'Value' has 'lots' on line 2"),
    ([_row(2020, "STORY", 169, 1), _row(2020, "STORY", 169, 2)], "appears on lines \\[2, 3\\]"),
    ([_row(2020, "STORY", 169, 1, item="CORN, GRAIN - YIELD, MEASURED IN TONS / ACRE")], "not a supported statistic"),
    ([_row(2020, "STORY", 169, "(D)")], "every value is withheld"),
])
def test_raw_errors(tmp_path, rows, needle):
    path = tmp_path / "qs.csv"
    path.write_text("\n".join([HEADER] + rows))
    with pytest.raises(LoaderError, match=needle):
        nass.load_nass(path)


def test_tidy_table_and_crop_choice(tmp_path):
    path = tmp_path / "tidy.csv"
    path.write_text("commodity,year,fips,production_bu,yield_bu_per_acre\n"
                    "CORN,2019,19169,1000,200\nSOYBEANS,2019,19169,500,60\nCORN,2020,17019,900,180\n")
    corn = nass.load_nass(path)
    soy = nass.load_nass(path, crop="soybeans")
    assert corn.attrs["crop"] == "CORN" and corn.CROP.sel(unit="19169", year=2019).item() == 0
    assert soy.YIELD.sel(unit="19169", year=2019).item() == pytest.approx(nass.bu_per_acre_to_g_c(60, "SOYBEANS"))
    assert "PRODUCTION" in corn and corn.lat.sel(unit="17019").item() == pytest.approx(40.14, abs=0.1)
    bad = tmp_path / "bad.csv"
    bad.write_text("fips,year,yield_per_area\n19169,2019,11\n")
    with pytest.raises(LoaderError, match="does not say its unit"):
        nass.load_nass(bad, crop="CORN")
