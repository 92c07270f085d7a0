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


def test_bootstrap_figure_draws_only_the_key_comparisons_in_percent():
    metrics = _metrics()
    metrics["bootstrap"]["IL"]["RH"]["no_knowledge_vs_global"] = {"diff": 3.0, "lo": 2.0, "hi": 4.0, "rel_diff": 6.0}
    fig = compare.bootstrap_figure(compare.bootstrap_frame(metrics), "RH")
    assert [t.name for t in fig.data] == ["State-specific − global"]
    assert list(fig.data[0].y) == [-40.0, -40.0]  # diff / global RMSE, in %
    assert fig.data[0].text[0] == "Illinois: State-specific − global -40.0 % (95 % interval -50.0 to -30.0 %)"
    assert fig.data[0].marker.color == "#D55E00"


def test_figures_use_the_shared_model_names_and_colours():
    fig = compare.rmse_bars(compare.metrics_long(_metrics()), "RH")
    assert [(t.name, t.marker.color) for t in fig.data] == [("Global KGML-ag", "#0072B2"),
                                                            ("State-specific SDSA-KGML", "#D55E00")]
    assert fig.layout.template.layout.colorway is None or "#000001" not in fig.layout.template.layout.colorway
