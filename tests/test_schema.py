"""The data contract and its validator."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kgml_core import schema


def _contract(n_units=2, n_days=5):
    ds = schema.empty_units([f"1700{i}" for i in range(n_units)], [40.0] * n_units,
                            [-89.0] * n_units, "IL", "county")
    ds = ds.assign_coords(time=pd.date_range("2001-01-01", periods=n_days, freq="D"))
    schema.set_variable(ds, "TA", np.zeros((n_units, n_days)))
    schema.set_variable(ds, "GPP", np.ones((n_units, n_days)))
    schema.set_variable(ds, "SAND", np.full(n_units, 30.0))
    ds = ds.assign_coords(year=[2001])
    schema.set_variable(ds, "YIELD", np.full((n_units, 1), 400.0))
    return ds


def test_valid_dataset_passes():
    ds = _contract()
    assert schema.validate(ds, required=["TA", "GPP"]) is ds


def test_every_problem_is_listed_at_once():
    ds = _contract()
    ds["TA"].attrs["units"] = "K"
    ds = ds.rename({"GPP": "GPP_NT_VUT_REF"}).drop_vars("state")
    with pytest.raises(schema.ContractError) as err:
        schema.validate(ds, required=["NEE"], source="x.csv")
    text = str(err.value)
    assert "(x.csv)" in text
    assert "'TA' is in 'K', expected 'degC'" in text
    assert "'GPP_NT_VUT_REF' should be named 'GPP'" in text
    assert "missing coordinate 'state'" in text
    assert "missing required variable 'NEE'" in text
    assert len(err.value.problems) == 4


def test_time_must_be_daily_and_increasing():
    ds = _contract()
    ds = ds.assign_coords(time=pd.to_datetime(["2001-01-01", "2001-01-03", "2001-01-02",
                                              "2001-01-04", "2001-01-05"]))
    with pytest.raises(schema.ContractError, match="strictly increasing"):
        schema.validate(ds)


def test_wrong_dims_and_unit_kind():
    ds = _contract()
    ds["SAND"] = xr.DataArray(np.zeros((2, 5)), dims=("unit", "time"), attrs=ds["SAND"].attrs)
    ds = ds.assign_coords(unit_kind=("unit", ["county", "tower"]))
    with pytest.raises(schema.ContractError) as err:
        schema.validate(ds)
    assert any("'SAND' has dims" in p for p in err.value.problems)
    assert any("unit_kind" in p and "tower" in p for p in err.value.problems)


def test_unknown_variables_need_units_and_long_name():
    ds = _contract()
    ds["PARAM_X"] = ("unit", np.ones(2))
    with pytest.raises(schema.ContractError, match="'PARAM_X' has no 'units'"):
        schema.validate(ds)
    ds["PARAM_X"].attrs.update(units="1", long_name="a parameter")
    schema.validate(ds)


def test_with_attrs_restores_units_after_arithmetic():
    ds = _contract()
    ds["GPP"] = ds["GPP"].copy(data=ds["GPP"].values * 2).drop_attrs()
    assert "units" not in ds["GPP"].attrs
    assert schema.with_attrs(ds)["GPP"].attrs["units"] == "g C m-2 d-1"
