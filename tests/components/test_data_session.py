"""Upload checks of the data session: names are sanitised, content must match the extension."""
import pytest

from components import data_session


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd.csv", "passwd.csv"), ("C:\\x\\FLX a;b.csv", "FLX_a_b.csv"), (".hidden.nc", "hidden.nc"),
    ("", "upload")])
def test_sanitise_name(name, expected):
    assert data_session.sanitise_name(name) == expected


def test_check_upload_accepts_matching_content():
    assert data_session.check_upload("a.csv", b"TIMESTAMP,NEE\n20010101,1\n") == ".csv"
    assert data_session.check_upload("a.nc", b"CDF\x01rest") == ".nc"
    assert data_session.check_upload("a.zip", b"PK\x03\x04rest") == ".zip"


@pytest.mark.parametrize("name, data, message", [
    ("a.xlsx", b"x", "only CSV, NetCDF"), ("a.csv", b"", "empty"), ("a.nc", b"TIMESTAMP", "not a NetCDF"),
    ("a.zip", b"hello", "not a zip"), ("a.csv", b"PK\x03\x04\x00\x00", "binary content")])
def test_check_upload_refuses_with_the_file_name(name, data, message):
    with pytest.raises(ValueError, match=message) as err:
        data_session.check_upload(name, data)
    assert name in str(err.value)


def test_save_upload_writes_inside_the_folder(tmp_path):
    path = data_session.save_upload(tmp_path, "../evil.csv", b"a,b\n1,2\n")
    assert path.parent == tmp_path and path.name == "evil.csv" and path.read_bytes() == b"a,b\n1,2\n"
