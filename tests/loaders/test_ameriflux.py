import zipfile

import numpy as np
import pandas as pd
import pytest

from kgml_core import schema
from kgml_core.loaders import LoaderError, ameriflux, samples
from kgml_core.loaders.aggregate import UMOL_TO_G_C_PER_DAY


def test_base_file_to_daily(tmp_path):
    path = samples.write_ameriflux(tmp_path / "AMF_US-Af1_BASE_HH_1-5.csv", "US-Af1", days=5, start="2015-06-01")
    raw = pd.read_csv(path, comment="#")
    ds = ameriflux.load_ameriflux(path)
    schema.validate(ds, required=("NEE", "TA", "SWC"))
    day = raw[raw.TIMESTAMP_START.astype(str).str.startswith("20150602")]
    assert ds.NEE.sel(time="2015-06-02").item() == pytest.approx(day.FC.mean() * UMOL_TO_G_C_PER_DAY)
    # SWC: horizontal positions 1 and 2 of the top layer averaged; the deeper layer ignored
    assert ds.SWC.sel(time="2015-06-02").item() == pytest.approx((day.SWC_1_1_1.mean() + day.SWC_2_1_1.mean()) / 2)
    assert "SWC_1_1_1+SWC_2_1_1" in ds.SWC.attrs["provenance"] and "VPD_PI" in ds.VPD.attrs["provenance"]
    assert ds.NEE_QC.max().item() == 1.0


def test_site_from_comment_and_zip(tmp_path):
    path = samples.write_ameriflux(tmp_path / "export.csv", "US-Cm1", days=2)
    assert ameriflux.load_ameriflux(path).unit.values.tolist() == ["US-Cm1"]
    member = samples.write_ameriflux(tmp_path / "AMF_US-Zz9_BASE_HR_2-5.csv", "US-Zz9", days=2, minutes=60)
    archive = tmp_path / "AMF_US-Zz9_BASE-BADM_2-5.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(member, member.name)
    ds = ameriflux.load_ameriflux(archive)
    assert ds.sizes["time"] == 2 and ds.NEE.attrs["provenance"].startswith("US-Zz9: " + archive.name)


def test_minimum_coverage_rule(tmp_path):
    frame = samples.ameriflux_frame(days=3)
    frame.loc[48:48 + 19, "TA_1_1_1"] = -9999  # day 2: 28 of 48 valid (58 %)
    path = tmp_path / "AMF_US-Cov_BASE_HH_1-5.csv"
    frame.to_csv(path, index=False)
    strict = ameriflux.load_ameriflux(path, min_coverage=0.8).TA.values[0]
    loose = ameriflux.load_ameriflux(path, min_coverage=0.5).TA.values[0]
    assert np.isnan(strict[1]) and np.isfinite(strict[[0, 2]]).all() and np.isfinite(loose).all()


def test_bad_end_timestamp_and_step(tmp_path):
    frame = samples.ameriflux_frame(days=1)
    frame.loc[5, "TIMESTAMP_END"] = frame.loc[5, "TIMESTAMP_START"]
    path = tmp_path / "AMF_US-End_BASE_HH_1-5.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(LoaderError, match="TIMESTAMP_END .* on line 7"):
        ameriflux.load_ameriflux(path)
    frame = samples.ameriflux_frame(days=1, minutes=15)
    frame.to_csv(path, index=False)
    with pytest.raises(LoaderError, match="15 minutes apart"):
        ameriflux.load_ameriflux(path)
