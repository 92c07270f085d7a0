"""The soil-water term: a model that predicts SWC is trained on the process model's SWC and
estimates its parameters from the towers' SWC too; a model without it, or data without SWC, add nothing."""
from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from kgml_core.training.data import make_samples
from kgml_core.training.trainer import KGMLTrainer, StepConfig


def _trainer() -> KGMLTrainer:
    trainer = KGMLTrainer.__new__(KGMLTrainer)

    class Norm:
        y_std = {"RA": 1.0, "RH": 1.0, "NEE": 1.0, "RECO": 1.0, "GPP": 1.0, "YIELD": 1.0, "SWC": 5.0}
    trainer.norm = Norm()
    return trainer


def _batch(swc):
    days = torch.ones(2, 10)
    return {"RA": days, "RH": days, "NEE": days, "RECO": 2 * days, "GPP": days, "YIELD": torch.ones(2),
            "season": days.bool(), "weight": days, "SWC": swc}


def test_swc_term_in_process_and_site_losses_weighted_and_only_when_predicted():
    trainer = _trainer()
    pred = {"RA": torch.ones(2, 10), "RH": torch.ones(2, 10), "NEE": torch.ones(2, 10), "YIELD": torch.ones(2)}
    target = torch.full((2, 10), 30.0)
    target[0, :5] = float("nan")                                # gaps ignored
    for kind in ("process_fluxes", "site_fluxes"):
        terms = trainer.loss_terms(kind, {**pred, "SWC": torch.full((2, 10), 25.0)}, _batch(target),
                                   StepConfig(swc=2.0))
        assert float(terms["swc"]) == 2.0 * (5.0 / 5.0) ** 2
        assert "swc" not in trainer.loss_terms(kind, pred, _batch(target), StepConfig())
        assert "swc" not in trainer.loss_terms(kind, {**pred, "SWC": target}, _batch(target), StepConfig(swc=0))
    missing = trainer.loss_terms("site_fluxes", {**pred, "SWC": target}, _batch(torch.full((2, 10), np.nan)),
                                 StepConfig())
    assert float(missing["swc"]) == 0.0                          # a tower without SWC: no term's worth


def test_samples_carry_swc_where_the_dataset_has_it():
    time = xr.date_range("2001-01-01", periods=365, freq="D")
    ds = xr.Dataset(coords={"unit": ["a"], "time": time, "year": [2001]})
    for name in ("SW_IN", "TA_MAX", "TA_MIN", "RH_MAX", "RH_MIN", "WS", "P", "GPP"):
        ds[name] = (("unit", "time"), np.ones((1, 365)))
    for name in ("BD", "SAND", "SILT", "FC", "WP", "KSAT", "SOC", "PH", "CEC"):
        ds[name] = (("unit",), [1.0])
    ds["CROP"] = (("unit", "year"), [[0]])
    ds["state"] = (("unit",), ["IL"])
    assert np.isnan(make_samples(ds).daily["SWC"]).all()
    ds["SWC"] = (("unit", "time"), np.full((1, 365), 31.0))
    np.testing.assert_array_equal(make_samples(ds).daily["SWC"], 31.0)
