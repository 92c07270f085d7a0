"""Comparison tables and figures from a metrics dict shaped like the experiment's."""
import numpy as np
import pandas as pd
import xarray as xr

from components import compare


def _metrics():
    score = lambda r: {"r2": 1 - r, "rmse": r, "mse": r * r, "mae": r / 2, "bias": -r / 10, "n": 100}
    states = {s: {"global": {"RH": score(0.5), "RA": score(0.3)},
                  "state_specific": {"RH": score(0.3 + i / 100), "RA": score(0.31)}}
              for i, s in enumerate(["IL", "IA"])}
    boot = {s: {"RH": {"state_specific_vs_global": {"diff": -0.2, "lo": -0.25, "hi": -0.15, "rel_diff": -0.4}}}
            for s in states}
    sweep = {"values": [0.0, 1.0], "states": {"IL": {"global_rmse": [0.3, 0.5], "state_specific_rmse": [0.3, 0.3],
                                                     "rmse_reduction": [0.0, 0.4]}}}
    return {"states": states, "bootstrap": boot, "heterogeneity_sweep": sweep}


def test_table_and_best_model():
    long = compare.metrics_long(_metrics())
    assert len(long) == 2 * 2 * 2 * 6
    table = compare.metric_table(long, "rmse")
    assert list(table.columns) == ["global", "state_specific"]
    best = compare.best_model(table, "rmse")
    assert best.loc[("IL", "RH")] == "state_specific" and best.loc[("IL", "RA")] == "global"
    assert compare.best_model(compare.metric_table(long, "r2"), "r2").loc[("IA", "RH")] == "state_specific"


def test_bootstrap_and_sweep_frames():
    boot = compare.bootstrap_frame(_metrics())
    assert set(boot["state"]) == {"IL", "IA"} and (boot["hi"] < 0).all()
    sweep = compare.sweep_frame(_metrics())
    assert sweep["reduction_pct"].tolist() == [0.0, 40.0]
    assert len(compare.sweep_figure(sweep).data) == 1


def test_scatter_uses_only_test_units():
    time = pd.date_range("2015-01-01", periods=3)
    values = np.arange(2 * 2 * 3, dtype=float).reshape(2, 2, 3)
    pred = xr.Dataset({"RH": (("model", "unit", "time"), values)},
                      coords={"model": ["truth", "global"], "unit": ["a", "b"], "time": time,
                              "split": ("unit", ["train", "test"])})
    frame = compare.scatter_frame(pred, "RH", ["global"])
    assert sorted(frame["observed"]) == [3.0, 4.0, 5.0]
    assert sorted(frame["predicted"]) == [9.0, 10.0, 11.0]


def test_headline_notes_say_which_model_is_better():
    notes = compare.headline_notes(compare.metrics_long(_metrics()), "RH")
    assert len(notes) == 2
    assert notes[0].startswith("IA: the state-specific model's RH RMSE is 38.0 % lower")
    assert notes[1].startswith("IL: the state-specific model's RH RMSE is 40.0 % lower")
