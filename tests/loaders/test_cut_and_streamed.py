"""Cut-off files, zip members read as streams, grid coordinates with holes."""
import tracemalloc
import zipfile

import numpy as np
import pytest
import xarray as xr

from kgml_core.loaders import LoaderError, load_file
from kgml_core.loaders.csv_reader import read_csv_checked
from kgml_core.loaders.sources import iter_members, ZipMember

HEADER = "TIMESTAMP,SW_IN_F,TA_F\n"
ROWS = "".join(f"200101{d:02d},{180.3 + d:.1f},{-1.5 + d:.1f}\n" for d in range(1, 11))


def test_a_row_cut_off_inside_a_value_is_refused(tmp_path):
    path = tmp_path / "cut.csv"
    path.write_text(HEADER + ROWS + "20010111,25")  # was 250.1: the download stopped
    with pytest.raises(LoaderError, match="looks cut off"):
        read_csv_checked(path)
    path.write_text(HEADER + ROWS + "20010111,250.1")  # a row missing its last column
    with pytest.raises(LoaderError, match="line 12"):
        read_csv_checked(path)


def test_a_complete_file_without_the_final_line_break_loads(tmp_path):
    path = tmp_path / "whole.csv"
    path.write_text(HEADER + ROWS + "20010111,250.1,3.5")
    table, _ = read_csv_checked(path)
    assert table["SW_IN_F"].iloc[-1] == 250.1 and len(table) == 11


def test_zip_members_are_streamed_not_read_whole(tmp_path):
    extra = ",".join(f"X{i}" for i in range(20))
    rows = "".join(f"2001{m:02d}{d:02d},{100 + d:.1f},{m:.1f}," + ",".join(["-9999.0"] * 20) + "\n"
                   for m in range(1, 13) for d in range(1, 29))
    big = HEADER.strip() + "," + extra + "\n" + rows * 60  # ~3 MB of text, 23 columns
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", big)
        zf.writestr("b.csv", big + big)  # listed, never read
    members = iter_members(path)
    assert [n for n, _ in members] == ["a.csv", "b.csv"] and isinstance(members[0][1], ZipMember)
    tracemalloc.start()
    table, _ = read_csv_checked("a.csv", source=members[0][1], usecols=["TIMESTAMP", "SW_IN_F"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(table) == 12 * 28 * 60 and list(table.columns) == ["TIMESTAMP", "SW_IN_F"]
    assert peak < len(big) / 2, f"Python held {peak / 2**20:.1f} MB for a {len(big) / 2**20:.1f} MB member"


def test_nan_latitudes_are_one_line_naming_the_variable(tmp_path):
    lat = np.array([41.0, np.nan, 42.0])
    ds = xr.Dataset({"tmax": (("time", "lat", "lon"), np.full((2, 3, 2), 20.0), {"units": "degC"})},
                    coords={"time": np.array(["2001-01-01", "2001-01-02"], dtype="datetime64[ns]"),
                            "lat": lat, "lon": [-94.0, -93.0]})
    path = tmp_path / "holes.nc"
    ds.to_netcdf(path)
    with pytest.raises(LoaderError) as err:
        load_file(path, "netcdf")
    message = str(err.value)
    assert "coordinate 'lat' has 1 missing" in message and "\n" not in message and "LinearRing" not in message
