"""Chart builders: every axis carries its units; clicked units come back through customdata."""
import numpy as np
import pandas as pd
import pytest

from components import charts


def test_distance_scatter_carries_units_and_highlight():
    dist = pd.DataFrame({"group": ["IA", "IA", "IL"], "distance": [0.5, 1.0, 2.0], "error": [0.1, 0.2, 0.4]},
                        index=pd.Index(["19001", "19003", "17001"], name="unit"))
    fig = charts.distance_error_figure(dist, "RMSE of RH (g C m-2 d-1)", highlight=["17001"])
    assert fig.layout.yaxis.title.text == "RMSE of RH (g C m-2 d-1)"
    assert list(fig.data[-1].customdata) == ["17001"] and fig.data[-1].name == "selected"
    no_err = charts.distance_error_figure(dist.drop(columns="error"), None)
    assert no_err.layout.yaxis.title.text == "distance (–)"


def test_shift_matrix_and_bars_and_series():
    m = pd.DataFrame([[0, 0.3], [0.3, 0]], index=["IA", "IL"], columns=["IA", "IL"], dtype=float)
    assert charts.shift_matrix_figure(m).data[0].z.shape == (2, 2)
    table = pd.DataFrame({"GPP": [0.5, 0.6]}, index=["gbm", "tamrl"])
    bars = charts.model_bars(table, "median R²", "–", "t")
    assert len(bars.data) == 2 and bars.layout.yaxis.title.text == "median R² (–)"
    ts = charts.timeseries_figure(np.arange(3), {"obs": [1, 2, 3], "tamrl": [1, 2, 2]}, "GPP", "g C m-2 d-1", "t")
    assert ts.data[0].mode == "markers" and ts.layout.yaxis.title.text == "GPP (g C m-2 d-1)"


def test_distribution_and_curves():
    feats = pd.DataFrame({"SWC_GS": [20.0, 22, 30, 31]}, index=list("abcd"))
    groups = pd.Series(["IA", "IA", "IL", "IL"], index=list("abcd"))
    fig = charts.distribution_figure(feats, groups, "SWC_GS", "%")
    assert fig.layout.yaxis.title.text == "SWC_GS: growing-season mean soil water content (%)"
    curves = pd.DataFrame({"driver": "TA", "group": ["IA", "IA", "IL"], "x": [0, 10, 0], "mean": [1, 2, 1.5],
                           "std": [0.1, 0.1, 0.1]})
    fig = charts.response_curves_figure(curves, "TA", "RH", "degC", "g C m-2 d-1")
    assert len(fig.data) == 2 and fig.layout.xaxis.title.text == "TA (degC)"


def test_interval_and_support_curve_figures():
    rows = pd.DataFrame({"label": ["a vs b", "a vs b"], "group": ["GPP", "NEE"], "rel": [-0.1, 0.02],
                         "lo": [-0.15, -0.03], "hi": [-0.05, 0.06]})
    fig = charts.interval_figure(rows, "t", "x")
    assert len(fig.data) == 2 and fig.data[0].x[0] == pytest.approx(-10.0)
    assert list(fig.data[0].error_x.array) == pytest.approx([5.0])
    curve = pd.DataFrame({"median": {0: 1.2, 7: 1.1, 365: 0.9}})
    fig = charts.support_curve_figure(curve, {"gbm": 1.0}, "median GPP RMSE", "g C m-2 d-1", "t")
    assert list(fig.data[0].x) == ["none (zero-shot)", "7 d", "365 d"]
