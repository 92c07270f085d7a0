"""The ceiling arithmetic and the estimated-against-true parameter table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from kgml_core.models import build_model
from kgml_core.sdsa import ceiling, parameter_table
from kgml_core.training.data import PARAM_NAMES, Normalizer, prior_mean, prior_std


def _m(rmse):
    return {"RH": {"rmse": rmse}}


def test_ceiling_and_fraction():
    metrics = {"IL": {"oracle_global": _m(0.4), "oracle_state": _m(0.2), "global": _m(0.5),
                      "state_specific": _m(0.4)}}
    c = ceiling(metrics)["IL"]
    assert c["ceiling"] == pytest.approx(0.5) and c["realised"] == pytest.approx(0.2)
    assert c["fraction"] == pytest.approx(0.4)
    no_oracle = ceiling({"IA": {"global": _m(0.5), "state_specific": _m(0.4)}})["IA"]
    assert np.isnan(no_oracle["ceiling"]) and np.isnan(no_oracle["fraction"])


def test_parameter_table_maps_theta_to_physical_units():
    norm = Normalizer(np.zeros(4, np.float32), np.ones(4, np.float32), {}, {}, np.ones(365, np.float32))
    model = build_model("kgml_ag", {"n_inputs": 4, "hidden": 4, "flux_hidden": 4, "n_params": len(PARAM_NAMES)})
    q10 = PARAM_NAMES.index("RH_Q10")
    with torch.no_grad():
        model.theta[q10] = 1.0
    units = np.array(["1", "2", "3"])
    truth = xr.Dataset({f"PARAM_{k}": ("unit", np.array([1.0, 2.0, 4.0])) for k in PARAM_NAMES},
                       coords={"unit": units})
    labels = {"state": pd.Series(["IL", "IL", "IA"], index=units)}
    table = parameter_table({"state": {"IL": model}}, norm, truth, labels)
    est = table["state"]["IL"]["estimated"]
    assert est["RH_Q10"] == pytest.approx(prior_mean()[q10] + prior_std()[q10])
    assert table["state"]["IL"]["truth"]["RH_Q10"] == pytest.approx(1.5)
    plain = build_model("kgml_ag", {"n_inputs": 4, "hidden": 4})
    assert parameter_table({"state": {"IL": plain}}, norm, truth, labels) == {}
