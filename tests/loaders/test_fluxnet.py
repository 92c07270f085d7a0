import zipfile

import numpy as np
import pandas as pd
import pytest

from kgml_core import schema
from kgml_core.loaders import LoaderError, fluxnet, quality_mask, quality_weight, samples
from kgml_core.loaders.aggregate import UMOL_TO_G_C_PER_DAY
from tests.loaders.conftest import need

NE1 = "fluxnet/FLX_US-Ne1_FLUXNET2015_SUBSET_DD_2001-2013_1-4.csv"
AR1 = "fluxnet/FLX_US-AR1_FLUXNET2015_SUBSET_DD_2009-2012_1-3.csv"
WI7 = "fluxnet/FLX_US-Wi7_FLUXNET2015_FULLSET_DD_2005-2005_1-4.csv"


@pytest.mark.parametrize("rel, first, last", [(NE1, "2001-05-30", "2012-11-26"), (AR1, "2009-01-01", "2012-12-31"),
                                              (WI7, "2005-01-01", "2005-12-31")])
def test_real_sites_date_range_and_magnitudes(real_data_dir, site_list, rel, first, last):
    ds = fluxnet.load_fluxnet(need(real_data_dir, rel), site_list=site_list)
    schema.validate(ds, required=("GPP", "RECO", "NEE", "TA"))
    assert str(ds.time.values[0])[:10] == first and str(ds.time.values[-1])[:10] == last
    gpp, nee, reco = (ds[v].values.ravel() for v in ("GPP", "NEE", "RECO"))
    assert 5 < np.nanmax(gpp) < 40 and np.nanmin(gpp) > -5
    assert -40 < np.nanmean(ds.TA) < 40 and np.nanmax(ds.VPD) < 80  # hPa, not kPa
    ok = np.isfinite(nee + reco - gpp)
    assert np.mean(np.abs(nee[ok] - (reco[ok] - gpp[ok]))) < 0.3  # NT partition: NEE ~ RECO - GPP
    assert np.isfinite(ds.lat).all() and ds.igbp.values[0] in ("CRO", "GRA", "OSH")
    assert "GPP_NT_VUT_REF" in ds.GPP.attrs["provenance"] and rel.split("/")[1] in ds.NEE.attrs["provenance"]
    assert ((ds.NEE_QC >= 0) & (ds.NEE_QC <= 1) | ds.NEE_QC.isnull()).all()


def test_real_folder_many_sites_and_dt_partition(real_data_dir):
    ds = fluxnet.load_fluxnet(need(real_data_dir, "fluxnet"), partition="DT")
    assert sorted(ds.unit.values) == ["US-AR1", "US-Ne1", "US-Wi7"]
    assert "GPP_DT_VUT_REF" in ds.GPP.attrs["provenance"] and "GPP_NT" in ds
    assert np.isnan(ds.lat).all() and "US-Ne1" in ds.attrs["coordinates_unknown"]


def test_hh_aggregates_to_daily_with_unit_conversion(tmp_path):
    path = samples.write_fluxnet_hh(tmp_path, "US-Hh1", days=10, start="2011-07-01")
    raw = pd.read_csv(path)
    ds = fluxnet.load_fluxnet(path)
    day = raw[raw.TIMESTAMP_START.astype(str).str.startswith("20110703")]
    assert ds.sizes["time"] == 10
    assert ds.GPP.sel(time="2011-07-03").item() == pytest.approx(day.GPP_NT_VUT_REF.mean() * UMOL_TO_G_C_PER_DAY)
    assert ds.P.sel(time="2011-07-03").item() == pytest.approx(day.P_F.sum())
    assert ds.TA_MAX.sel(time="2011-07-03").item() == pytest.approx(day.TA_F.max())
    assert ds.NEE_QC.sel(time="2011-07-03").item() == pytest.approx(day.NEE_VUT_REF_QC.isin([0, 1]).mean())


def test_zip_archive_takes_daily_member(tmp_path):
    hh = samples.write_fluxnet_hh(tmp_path, "US-Zp1", days=3)
    dd = tmp_path / "FLX_US-Zp1_FLUXNET2015_SUBSET_DD_2010-2010_1-4.csv"
    pd.DataFrame({"TIMESTAMP": [20100101, 20100102, 20100104], "TA_F": [1.0, -9999, 3.0],
                  "NEE_VUT_REF": [1.0, 2.0, 3.0], "NEE_VUT_REF_QC": [1, 0.5, 0]}).to_csv(dd, index=False)
    archive = tmp_path / "FLX_US-Zp1_FLUXNET2015_SUBSET_2010-2010_1-4.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(hh, hh.name)
        zf.write(dd, dd.name)
    ds = fluxnet.load_fluxnet(archive)
    assert ds.sizes["time"] == 4 and np.isnan(ds.TA.values[0, [1, 2]]).all()  # -9999 and the missing day
    assert ds.TA.attrs["provenance"].startswith("US-Zp1: " + archive.name + "!")
    assert quality_mask(ds, "NEE", 0.6).values[0].tolist() == [True, False, False, False]
    assert quality_weight(ds, "NEE").values[0].tolist() == [1.0, 0.5, 0.0, 0.0]


def _dd(tmp_path, rows, name="FLX_US-Bad_FLUXNET2015_SUBSET_DD_2000-2000_1-4.csv"):
    path = tmp_path / name
    path.write_text("TIMESTAMP,TA_F,NEE_VUT_REF\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("rows, needle", [
    (["20000101,1,2", "20000101,1,2"], "repeats timestamp"),
    (["20000101,1,2", "20000230,1,2"], "impossible timestamp '20000230' on line 3"),
    (["20000101,1,2", "20000102,warm,2"], "'TA_F' has a non-numeric value 'warm' on line 3"),
    (["20000101,-9999,-9999", "20000102,-9999,-9999"], "every value is missing"),
    (["20000102,1,2", "20000101,1,2"], "goes back in time"),
])
def test_bad_daily_files_name_the_problem(tmp_path, rows, needle):
    with pytest.raises(LoaderError, match=needle) as err:
        fluxnet.load_fluxnet(_dd(tmp_path, rows))
    assert "FLX_US-Bad" in str(err.value) and "\n" not in str(err.value)


def test_name_without_site_and_wrong_layout(tmp_path):
    with pytest.raises(LoaderError, match="no FLUXNET site id"):
        fluxnet.load_fluxnet(_dd(tmp_path, ["20000101,1,2"], name="mydata.csv"))
    path = tmp_path / "FLX_US-Amf_FLUXNET2015_SUBSET_HH_2000-2000_1-4.csv"
    path.write_text("TIMESTAMP_START,TIMESTAMP_END,FC\n200001010000,200001010030,1\n")
    with pytest.raises(LoaderError, match="none of the FLUXNET columns"):
        fluxnet.load_fluxnet(path)
