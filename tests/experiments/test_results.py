"""The typed results readers the pages use, on small hand-made metrics."""
import numpy as np
import pytest
import xarray as xr

from kgml_core.experiments import EXPERIMENTS
from kgml_core.experiments.state_vs_global import StateVsGlobalResults
from kgml_core.experiments.tamrl import TamrlResults
from kgml_core.runs import RunStore

SCORE = {"median_r2": 0.5, "median_rmse": 1.0, "q25_r2": 0.4, "q75_r2": 0.6}
TAMRL_METRICS = {
    "split": "3-fold over sites", "models": {m: {f: dict(SCORE, median_rmse=i + 1.0) for f in ("GPP", "RECO", "NEE")}
                                             for i, m in enumerate(("tamrl", "gbm"))},
    "per_site": {"tamrl": {"GPP": {"VT-0001": {"r2": 0.1, "rmse": 2.0, "n": 30}}}},
    "few_shot": {"GPP": SCORE}, "zero_shot": {"GPP": dict(SCORE, median_rmse=3.0)},
    "real_sites": {"target": "US-Ne1", "temporal_holdout": {"tamrl": {"GPP": {"rmse": 1.5}}},
                   "zero_shot_sites": {"tamrl": {"GPP": {"US-AR1": {"rmse": 2.5}}}}},
}


def test_tamrl_reader(tmp_path):
    run = RunStore(tmp_path).create("tamrl", {})
    res = TamrlResults(run, TAMRL_METRICS)
    assert res.models == ["tamrl", "gbm"] and res.split.startswith("3-fold")
    assert res.median_scores("rmse").loc["gbm", "NEE"] == 2.0
    assert res.few_vs_zero_shot("rmse").loc["tamrl_zero_shot", "GPP"] == 3.0
    assert res.per_site("tamrl", "GPP").loc["VT-0001", "rmse"] == 2.0
    assert res.per_site("gbm", "GPP").empty and list(res.per_site("gbm", "GPP").columns) == ["r2", "rmse", "n"]
    assert res.real_site_errors("GPP").to_dict() == {"US-AR1": 2.5, "US-Ne1": 1.5}
    assert res.summary_table().loc["gbm", "GPP median RMSE (g C m-2 d-1)"] == 2.0
    assert res.real_predictions() is None
    with pytest.raises(FileNotFoundError, match="no upscaled"):
        res.map_dataset()
    run.save_dataset("upscaled", xr.Dataset({"GPP": ("unit", np.ones(2))}))
    assert res.map_dataset()["GPP"].sum() == 2


def test_state_vs_global_reader(tmp_path):
    run = RunStore(tmp_path).create("state_vs_global", {})
    scores = {"r2": 0.9, "rmse": 0.2, "bias": 0.0, "n": 5, "mse": 0.04, "mae": 0.1}
    metrics = {"states": {"IA": {m: {"RH": scores} for m in ("state_specific", "global")}},
               "bootstrap": {"IA": {"RH": {"state_specific_vs_global": {"diff": -0.1, "lo": -0.2, "hi": 0.0}}}}}
    res = EXPERIMENTS["state_vs_global"].results_class(run, metrics)
    assert isinstance(res, StateVsGlobalResults) and res.models == ["global", "state_specific"]
    assert res.summary_table().loc[("IA", "global", "RH"), "rmse"] == 0.2
    assert res.bootstrap().iloc[0]["comparison"] == "state_specific_vs_global"
    assert set(res.scores_long()["metric"]) == {"r2", "rmse", "bias", "n", "mse", "mae"}
    assert res.sweep_table().empty
    assert res.sweep is None and res.states == ["IA"]
