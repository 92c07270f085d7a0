"""Plotly figure builders for the result pages (pure functions: tables in, figures out)."""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kgml_core import labels

TEMPLATE = "plotly_white"


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    """Explicit template (never Streamlit's placeholder colours), title above, legend below the axes."""
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0, xanchor="left"), height=height,
                      margin=dict(l=70, r=20, t=50, b=60),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def _group_label(group) -> str:
    """A state code as its name ("IA" -> "Iowa"), anything else as it is."""
    text = str(group)
    return labels.state_name(text) if len(text) == 2 and text.isupper() else text


def distribution_figure(features: pd.DataFrame, groups: pd.Series, variable: str, units: str) -> go.Figure:
    """Box-and-points of one unit feature per group (e.g. per state)."""
    frame = pd.DataFrame({"value": features[variable].astype(float),
                          "group": groups.reindex(features.index)}).dropna()
    fig = go.Figure()
    for group, rows in frame.groupby("group", sort=True):
        fig.add_trace(go.Box(y=rows["value"], name=_group_label(group), boxpoints="all", jitter=0.4,
                             marker=dict(color=labels.colour(group), size=4), text=list(rows.index),
                             hovertemplate="%{text}: %{y:.3g}" + f" {units}<extra>{_group_label(group)}</extra>"))
    described = labels.glossary().get(variable, "").rsplit(" (", 1)[0]
    fig.update_yaxes(title=f"{variable}: {described} ({units})" if described else f"{variable} ({units})")
    fig.update_xaxes(title="group")
    fig.update_layout(showlegend=False)
    return _layout(fig, f"{described or variable} by group")


def shift_matrix_figure(matrix: pd.DataFrame, value: str = "MMD²") -> go.Figure:
    """Heatmap of a square group x group shift matrix (MMD², unitless)."""
    z = matrix.to_numpy(float)
    fig = go.Figure(go.Heatmap(z=z, x=list(matrix.columns), y=list(matrix.index), colorscale="YlOrRd",
                               colorbar=dict(title=f"{value} (–)"), zmin=0,
                               text=np.where(np.isfinite(z), np.round(z, 3).astype(str), ""),
                               texttemplate="%{text}", hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>"))
    fig.update_xaxes(title="group")
    fig.update_yaxes(title="group", autorange="reversed")
    return _layout(fig, f"Shift matrix ({value} between groups)", 360)


def response_curves_figure(curves: pd.DataFrame, driver: str, response: str, driver_units: str,
                           response_units: str) -> go.Figure:
    """Binned response of ``response`` to ``driver`` per group (mean ± 1 sd)."""
    fig = go.Figure()
    sub = curves[curves["driver"] == driver]
    for i, (group, rows) in enumerate(sub.groupby("group", sort=True)):
        colour = labels.colour(group)
        fig.add_trace(go.Scatter(x=rows["x"], y=rows["mean"], mode="lines+markers", name=_group_label(group),
                                 line=dict(color=colour),
                                 error_y=dict(type="data", array=rows["std"], visible=True, thickness=1)))
    fig.update_xaxes(title=f"{driver} ({driver_units})")
    fig.update_yaxes(title=f"{response} ({response_units})")
    return _layout(fig, f"Response of {response} to {driver} by group")


def distance_error_figure(unit_distance: pd.DataFrame, error_label: str | None,
                          highlight: Iterable[str] = ()) -> go.Figure:
    """Error (or, without errors, the distance alone) against distance from training, one point per unit.

    Points carry the unit id in ``customdata`` so a click can be read back.
    """
    frame = unit_distance.reset_index()
    has_err = error_label is not None and "error" in frame and frame["error"].notna().any()
    y = frame["error"] if has_err else frame["distance"]
    fig = go.Figure()
    for i, (group, rows) in enumerate(frame.groupby("group", sort=True)):
        yy = y.loc[rows.index]
        fig.add_trace(go.Scatter(x=rows["distance"], y=yy, mode="markers", name=_group_label(group),
                                 customdata=rows["unit"], marker=dict(size=8, color=labels.colour(group)),
                                 hovertemplate="unit %{customdata}<br>distance %{x:.2f}<br>"
                                               + ("error" if has_err else "distance") + " %{y:.3f}<extra></extra>"))
    chosen = frame[frame["unit"].isin(list(highlight))]
    if len(chosen):
        fig.add_trace(go.Scatter(x=chosen["distance"], y=y.loc[chosen.index], mode="markers", name="selected",
                                 customdata=chosen["unit"], hoverinfo="skip",
                                 marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color="black", width=2.5))))
    fig.update_xaxes(title="distance from the training units (standardised features, –)")
    fig.update_yaxes(title=error_label if has_err else "distance (–)")
    return _layout(fig, "Error against distance from training" if has_err else "Distance from training")


def embedding_figure(embedding: pd.DataFrame, explained: Iterable[float] = ()) -> go.Figure:
    """PCA view of the unit features (pc1, pc2) coloured by group."""
    ev = list(explained)
    frame = embedding.reset_index()
    fig = go.Figure()
    for group, rows in frame.groupby("group", sort=True):
        fig.add_trace(go.Scatter(x=rows["pc1"], y=rows["pc2"], mode="markers", name=_group_label(group),
                                 marker=dict(size=7, color=labels.colour(group)), text=rows[frame.columns[0]],
                                 hovertemplate="%{text}<extra></extra>"))
    fig.update_xaxes(title=f"PC1 ({ev[0]:.0%} of variance, standardised)" if ev else "PC1 (standardised)")
    fig.update_yaxes(title=f"PC2 ({ev[1]:.0%} of variance, standardised)" if len(ev) > 1 else "PC2 (standardised)")
    return _layout(fig, "Units in feature space (PCA)")


def importance_figure(per_variable: pd.DataFrame, top: int = 10) -> go.Figure:
    """Largest absolute standardised mean differences across all pairs of groups."""
    frame = per_variable.assign(pair=per_variable["group_a"] + " vs " + per_variable["group_b"],
                                abs_smd=per_variable["smd"].abs())
    frame = frame.sort_values("abs_smd", ascending=False).head(top)
    frame = frame.assign(label=[f"{v} ({_group_label(a)} vs {_group_label(b)})" for v, a, b in
                                zip(frame["variable"], frame["group_a"], frame["group_b"])])[::-1]
    glossary = labels.glossary()
    fig = go.Figure(go.Bar(
        x=frame["abs_smd"], y=frame["label"], orientation="h", marker_color=labels.CATEGORICAL[0],
        text=[glossary.get(v, v) for v in frame["variable"]],
        hovertemplate="%{y}<br>%{text}<br>|SMD| %{x:.2f}<extra></extra>"))
    fig.update_xaxes(title="|standardised mean difference| (pooled standard deviations)")
    fig.update_yaxes(title="")
    fig.update_layout(showlegend=False)
    return _layout(fig, f"The {len(frame)} largest differences between two groups (each bar one feature "
                        "and one pair)", 40 + 32 * len(frame) + 120)


def model_bars(table: pd.DataFrame, value: str, units: str, title: str) -> go.Figure:
    """Grouped bars: rows are models (identifiers or labels), columns fluxes (``table``: model x flux)."""
    fig = go.Figure()
    for model in table.index:
        fig.add_trace(go.Bar(name=labels.model_name(model), x=list(table.columns), y=table.loc[model].to_numpy(float),
                             marker_color=labels.colour(model)))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="flux")
    fig.update_yaxes(title=f"{value} ({units})")
    return _layout(fig, title)


def timeseries_figure(time: np.ndarray, series: Mapping[str, np.ndarray], variable: str, units: str,
                      title: str) -> go.Figure:
    """Daily series (observations drawn as dots, models as lines)."""
    fig = go.Figure()
    for name, values in series.items():
        obs = name in ("obs", "observed", "truth")
        fig.add_trace(go.Scattergl(x=time, y=np.asarray(values, float), name=labels.model_name(name),
                                   mode="markers" if obs else "lines",
                                   marker=dict(size=3, color="#222222") if obs else None,
                                   line=None if obs else dict(width=1.4, color=labels.colour(name))))
    fig.update_xaxes(title="date")
    fig.update_yaxes(title=f"{variable} ({units})")
    return _layout(fig, title)


def histogram_figure(values: pd.Series, label: str, units: str, title: str) -> go.Figure:
    """Histogram of per-county values (for the report and the maps page)."""
    fig = go.Figure(go.Histogram(x=values.dropna().to_numpy(float), nbinsx=30, marker_color="#2E7D32"))
    fig.update_xaxes(title=f"{label} ({units})")
    fig.update_yaxes(title="counties (count)")
    return _layout(fig, title, 320)


def interval_figure(rows: pd.DataFrame, title: str, x_title: str) -> go.Figure:
    """Point estimates with 95 % intervals, one row per comparison (``rows``: label, group, rel, lo, hi).

    Values are fractions (drawn as %); a vertical line marks no difference.
    """
    fig = go.Figure()
    for group, part in rows.groupby("group", sort=False):
        est = 100 * part["rel"].to_numpy(float)
        fig.add_trace(go.Scatter(
            x=est, y=part["label"], mode="markers", name=str(group),
            marker=dict(size=9, color=labels.flux_colour(str(group))),
            error_x=dict(type="data", symmetric=False, array=100 * part["hi"].to_numpy(float) - est,
                         arrayminus=est - 100 * part["lo"].to_numpy(float))))
    fig.add_vline(x=0, line_dash="dot", line_color="#555555")
    fig.update_xaxes(title=x_title, ticksuffix=" %")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=max(260, 42 * rows["label"].nunique() + 120))


def support_curve_figure(curve: pd.DataFrame, references: Mapping[str, float], value: str, units: str,
                         title: str) -> go.Figure:
    """Median RMSE against support length (``curve``: index days, column median); ``references``: model key -> level."""
    fig = go.Figure()
    ticks = [("none (zero-shot)" if int(d) == 0 else f"{int(d)} d") for d in curve.index]
    fig.add_trace(go.Scatter(x=ticks, y=curve["median"].to_numpy(float), mode="lines+markers",
                             name="TAM-RL few-shot", line=dict(width=2.5, color=labels.model_colour("tamrl"))))
    for key, v in references.items():
        fig.add_hline(y=float(v), line_dash="dash", line_color=labels.model_colour(key),
                      annotation_text=labels.model_name(key), annotation_position="top right")
    fig.update_xaxes(title="support: days of the site's own observations (first year)", type="category")
    fig.update_yaxes(title=f"{value} ({units})")
    return _layout(fig, title)


def yearly_bars(frame: pd.DataFrame, title: str, units: str, colour: str) -> go.Figure:
    """One bar per year (``frame``: year, value), e.g. a county's annual sums."""
    fig = go.Figure(go.Bar(x=frame["year"].astype(str), y=frame["value"].to_numpy(float), marker_color=colour,
                           hovertemplate="%{x}: %{y:,.1f} " + units + "<extra></extra>"))
    fig.update_xaxes(title="year", type="category")
    fig.update_yaxes(title=units)
    return _layout(fig, title, 320)
