"""The stakeholder report is one self-contained HTML page; shift summaries read plainly."""
import re

import pandas as pd
import plotly.graph_objects as go

from kgml_core import export, report


def _content(**kw):
    table = pd.DataFrame({"RMSE (g C m-2 d-1)": [0.51, 0.42]}, index=pd.Index(["global", "state_specific"],
                                                                              name="model"))
    png = export.map_png(pd.Series({"19001": 1.0, "19003": 2.0}), "NEE", "g C m-2 yr-1", cmap="RdBu_r")
    return report.ReportContent(title="Test <report>", region="IA: 2 counties", metrics=table,
                                maps=[report.ReportMap("NEE map", png, "annual")], **kw)


def test_report_is_self_contained_with_table_map_and_chart():
    fig = go.Figure(go.Bar(x=["a"], y=[1]))
    page = report.build_report(_content(figures=[("bars", fig)], notes=["IA differs & more"]))
    assert page.startswith("<!DOCTYPE html>") and "Test &lt;report&gt;" in page
    assert not re.findall(r'<script[^>]+src=|<link[^>]+href="http', page)
    assert "data:image/png;base64," in page and "Plotly.newPlot" in page
    assert re.search(r'<table[^>]*class="dataframe metrics"', page) and "0.42" in page and "State-specific SDSA-KGML" in page and "<th>model</th>" in page
    assert "IA differs &amp; more" in page
    assert len(page) > 1_000_000  # plotly.js is inlined


def test_report_without_figures_has_no_plotly():
    page = report.build_report(_content())
    assert "Plotly" not in page and "<table" in page


def test_shift_summary_names_the_most_different_pair_and_variable():
    pairwise = pd.DataFrame({"group_a": ["IL", "IN"], "group_b": ["IA", "IA"], "mmd2": [0.5, 0.8],
                             "p_value": [0.01, 0.2], "auc": [0.9, 0.99]})
    per_var = pd.DataFrame({"group_a": ["IN", "IN", "IL"], "group_b": ["IA", "IA", "IA"],
                            "variable": ["SWC_GS", "TA_GS", "SWC_GS"], "mean_a": [30.0, 23.0, 30.0],
                            "mean_b": [25.0, 23.5, 26.0], "smd": [-2.0, 0.3, -1.0]})
    lines = report.shift_summary(per_var, pairwise, {"SWC_GS": "%", "TA_GS": "degC"})
    assert lines[0].startswith("IN and IA differ most") and "not a significant" in lines[0]
    assert lines[1].startswith("IL and IA are the most alike")
    assert lines[2].startswith("SWC_GS (growing-season mean soil water content) is lower in IA than in IN "
                               "(25 % against 30 %")
    assert report.shift_summary(per_var, pairwise.iloc[:0]) == []


def test_metrics_table_drops_a_plain_range_index_and_placeholder_colours_are_replaced():
    table = pd.DataFrame({"state": ["IA", "IL"], "global": [0.5, 0.4]})
    text = report.metrics_html(table)
    assert "<th>state</th>" in text and "<th>Global KGML-ag</th>" in text and "<td>0</td>" not in text
    fig = go.Figure(go.Bar(x=["IA"], y=[1], name="global", marker_color="#000003"))
    assert report.report_figure(fig).data[0].marker.color == "#0072B2"
    assert fig.data[0].marker.color == "#000003"  # the app's figure is left alone
