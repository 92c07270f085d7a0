"""Malformed input: every loader fails with one LoaderError line (never another exception)."""
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgml_core import cli
from kgml_core.loaders import LOADERS, LoaderError, detect_kind, load_file, samples
from kgml_core.settings import REPO_ROOT

# (kind, file name, valid header) of a small file of each CSV kind
LAYOUTS = {
    "fluxnet": ("FLX_US-Hyp_FLUXNET2015_SUBSET_DD_2000-2000_1-4.csv", "TIMESTAMP,TA_F,NEE_VUT_REF,NEE_VUT_REF_QC"),
    "ameriflux": ("AMF_US-Hyp_BASE_HH_1-5.csv", "TIMESTAMP_START,TIMESTAMP_END,TA_1_1_1,FC"),
    "nass": ("tidy.csv", "commodity,year,fips,yield_bu_per_acre"),
    "sites": ("sites.csv", "id,lat,lon,IGBP"),
    "hrrr": ("weather.csv", "fips,date,TA (degC),P (mm)"),
}
cell = st.one_of(st.sampled_from(["", "-9999", "NaN", "abc", "1e400", "20001301", "(D)", "1,5", "0", "-1",
                                  "19169", "2020-02-30", "US-A", "200001010000"]),
                 st.floats(allow_nan=False, allow_infinity=False).map(repr), st.text(max_size=6))
rows = st.lists(st.lists(cell, min_size=0, max_size=6), min_size=0, max_size=5)


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text


@pytest.mark.parametrize("kind", sorted(LAYOUTS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=rows, sep=st.sampled_from([",", ",", ";", "\t"]))
def test_malformed_csv_gives_loader_error_or_valid_dataset(tmp_path, kind, body, sep):
    name, header = LAYOUTS[kind]
    path = tmp_path / name
    lines = [header.replace(",", sep)] + [sep.join(_csv_cell(c) for c in row) for row in body]
    path.write_text("\n".join(lines) + "\n")
    try:
        ds = LOADERS[kind](path)
    except LoaderError as err:
        message = str(err)
        assert message.startswith(name) and "\n" not in message
        return
    from kgml_core import schema
    schema.validate(ds)  # anything accepted is a valid contract dataset


@pytest.mark.parametrize("kind", sorted(LAYOUTS))
def test_empty_file_and_wrong_kind(tmp_path, kind):
    name, header = LAYOUTS[kind]
    path = tmp_path / name
    path.write_text("")
    with pytest.raises(LoaderError, match="empty"):
        LOADERS[kind](path)
    path.write_text("Program,Year,Geo Level,State ANSI,County ANSI,Commodity,Data Item,Value\n")
    if kind != "nass":
        with pytest.raises(LoaderError, match="looks like a nass file"):
            load_file(path, kind)


def test_detect_kind_from_content_not_extension(tmp_path):
    path = samples.write_ameriflux(tmp_path / "upload.txt", "US-Up1", days=2)
    assert detect_kind(path) == "ameriflux"
    assert load_file(path).unit.values.tolist() == ["US-Up1"]
    nc = tmp_path / "grid.csv"
    samples.gridded_dataset(days=1).to_netcdf(nc)
    assert detect_kind(nc) == "netcdf"
    semi = tmp_path / "x.csv"
    semi.write_text("fips;date;TA\n19169;2020-01-01;1\n")
    with pytest.raises(LoaderError, match="separated by ';'"):
        detect_kind(semi)


def test_cli_writes_netcdf_and_fails_in_one_line(tmp_path, capsys):
    src = samples.write_fluxnet_hh(tmp_path, "US-Cli", days=3)
    out = tmp_path / "out" / "flux.nc"
    assert cli.main(["ingest", "fluxnet", str(tmp_path), "--out", str(out)]) == 0
    assert out.exists() and "US-Cli" not in capsys.readouterr().err
    bad = tmp_path / "FLX_US-Bad_FLUXNET2015_SUBSET_DD_2000-2000_1-4.csv"
    bad.write_text("TIMESTAMP,TA_F\n20000101,1\n20000101,2\n")
    assert cli.main(["ingest", "fluxnet", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: FLX_US-Bad") and "line 3" in err and len(err.splitlines()) == 1
    assert src.exists()


def test_cli_subprocess_has_no_traceback(tmp_path):
    bad = tmp_path / "sites.csv"
    bad.write_text("id,lat,lon\nA,x,1\n")
    run = subprocess.run([sys.executable, "-m", "kgml_core", "ingest", "sites", str(bad), "--out",
                          str(tmp_path / "o.nc")], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "non-numeric value 'x' on line 2" in run.stderr
