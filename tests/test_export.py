"""Exports: NetCDF and CSV round trips, GeoJSON properties, PNG bytes."""
import io
import json

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import export


def _preds() -> xr.Dataset:
    time = pd.date_range("2019-01-01", periods=3)
    ds = xr.Dataset(coords={"model": np.array(["truth", "global"], dtype=object),
                            "unit": np.array(["19001", "19003"], dtype=object), "time": time,
                            "year": [2019]})
    ds["NEE"] = (("model", "unit", "time"), np.arange(12, dtype=float).reshape(2, 2, 3), {"units": "g C m-2 d-1"})
    ds["YIELD"] = (("model", "unit", "year"), np.ones((2, 2, 1)), {"units": "g C m-2"})
    return ds


def test_netcdf_round_trip_keeps_values_and_units(tmp_path):
    path = tmp_path / "p.nc"
    path.write_bytes(export.predictions_netcdf(_preds()))
    back = xr.load_dataset(path)
    assert back["NEE"].attrs["units"] == "g C m-2 d-1"
    np.testing.assert_array_equal(back["NEE"].values, _preds()["NEE"].values)
    assert list(back["model"].values) == ["truth", "global"]


def test_csv_is_long_with_units_in_column_names():
    table = pd.read_csv(io.BytesIO(export.predictions_csv(_preds())))
    assert {"model", "unit", "time", "NEE [g C m-2 d-1]", "YIELD [g C m-2]"} <= set(table.columns)
    assert len(table) == 12 + 4
    row = table[(table["model"] == "global") & (table["unit"] == 19003) & (table["time"] == "2019-01-03")]
    assert row["NEE [g C m-2 d-1]"].item() == 11.0


def test_geojson_has_values_units_and_all_state_counties():
    data = json.loads(export.map_geojson(pd.Series({"19001": 2.5}), "NEE", "g C m-2 yr-1", states=["IA"]))
    assert data["properties"] == {"variable": "NEE", "units": "g C m-2 yr-1"}
    assert len(data["features"]) == 99
    props = {f["properties"]["fips"]: f["properties"] for f in data["features"]}
    assert props["19001"]["NEE"] == 2.5 and props["19003"]["NEE"] is None


def test_png_is_an_image():
    png = export.map_png(pd.Series({"19001": 1.0, "17001": 3.0}), "RH", "g C m-2 yr-1", cmap="OrRd",
                         sites=pd.DataFrame({"lat": [41.0], "lon": [-93.0]}, index=["s"]))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
