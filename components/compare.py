"""Tables and figures of a state-vs-global comparison run (pure functions, unit-tested)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr

from kgml_core import labels
# the run's metrics are read by the experiment's results reader (one copy of each parser)
from kgml_core.experiments.state_vs_global.results import bootstrap_table as bootstrap_frame  # noqa: F401
from kgml_core.experiments.state_vs_global.results import scores_long as metrics_long  # noqa: F401
from kgml_core.experiments.state_vs_global.results import sweep_table as sweep_frame  # noqa: F401

FLUX_UNITS = labels.FLUX_UNITS
LOWER_IS_BETTER = {"rmse", "mse", "mae"}
MODEL_ORDER = [m for m in labels.MODEL_ORDER if m in ("process_model", "no_knowledge", "global", "state_specific",
                                                      "auto_region")]
TEMPLATE = "plotly_white"
MARGIN = dict(l=70, r=20, t=40, b=60)
# The comparisons that answer the question; the others (against much weaker or much stronger rungs) are
# orders of magnitude larger and would squash these on a common axis.
KEY_COMPARISONS = ("state_specific_vs_global", "auto_region_vs_global")


def metric_table(long: pd.DataFrame, metric: str) -> pd.DataFrame:
    """States x fluxes rows, models as columns, for one metric."""
    table = long[long["metric"] == metric].pivot_table(
        index=["state", "flux"], columns="model", values="value", aggfunc="first")
    order = [m for m in MODEL_ORDER if m in table.columns] + [m for m in table.columns if m not in MODEL_ORDER]
    return table[order]


def best_model(table: pd.DataFrame, metric: str) -> pd.Series:
    """Name of the best model in each row of :func:`metric_table`."""
    if metric == "bias":
        return table.abs().idxmin(axis=1)
    return table.idxmin(axis=1) if metric in LOWER_IS_BETTER else table.idxmax(axis=1)


def styled(table: pd.DataFrame, metric: str):
    """The table with each row's best model highlighted."""
    best = best_model(table, metric)

    def highlight(row):
        return ["background-color: #C8E6C9; font-weight: 700" if col == best[row.name] else ""
                for col in row.index]
    return table.style.apply(highlight, axis=1).format("{:.3f}")


def rmse_bars(long: pd.DataFrame, flux: str, metric: str = "rmse") -> go.Figure:
    """Bars of one metric per state and model for one flux."""
    data = long[(long["flux"] == flux) & (long["metric"] == metric)]
    unit = FLUX_UNITS.get(flux, "") if metric in ("rmse", "mae", "bias") else ""
    fig = go.Figure()
    for model in [m for m in MODEL_ORDER if m in set(data["model"])] + sorted(set(data["model"]) - set(MODEL_ORDER)):
        part = data[data["model"] == model]
        name = labels.model_name(model)
        fig.add_trace(go.Bar(
            x=[labels.state_name(s) for s in part["state"]], y=part["value"], name=name,
            marker_color=labels.model_colour(model),
            hovertemplate=f"{name}<br>%{{x}}: {metric.upper()} %{{y:.3f}}" + (f" {unit}" if unit else "")
                          + "<extra></extra>"))
    fig.update_layout(template=TEMPLATE, barmode="group", height=380, margin=MARGIN,
                      legend=dict(orientation="h", yanchor="top", y=-0.12, x=0, title_text=""),
                      yaxis_title=f"{metric.upper()} of {labels.flux_name(flux, short=True)}"
                                  + (f" ({unit})" if unit else ""))
    return fig


def bootstrap_figure(frame: pd.DataFrame, flux: str, comparisons=KEY_COMPARISONS) -> go.Figure:
    """Relative RMSE change (%) of each model against the global one, with its 95 % bootstrap interval.

    Only ``comparisons`` are drawn (by default the state- and region-specific models against the
    global one), so the differences that matter are not squashed by much larger ones; the hover
    reads "Iowa: state-specific − global −3.6 % (95 % interval −4.0 to −3.2 %)".
    """
    data = frame[(frame["flux"] == flux) & frame["comparison"].isin(list(comparisons))]
    fig = go.Figure()
    for comp in [c for c in comparisons if c in set(data["comparison"])]:
        part = data[data["comparison"] == comp]
        model, baseline = comp.split("_vs_")
        scale = 100 * part["rel_diff"] / part["diff"].where(part["diff"] != 0)
        pct, lo, hi = part["diff"] * scale, part["lo"] * scale, part["hi"] * scale
        name = f"{labels.model_name(model, short=True)} − {labels.model_name(baseline, short=True).lower()}"
        text = [f"{labels.state_name(st)}: {name} {p:+.1f} % (95 % interval {a:+.1f} to {b:+.1f} %)"
                for st, p, a, b in zip(part["state"], pct, lo, hi)]
        fig.add_trace(go.Scatter(
            x=[labels.state_name(st) for st in part["state"]], y=pct, mode="markers", name=name,
            marker=dict(size=12, color=labels.model_colour(model)), text=text,
            hovertemplate="%{text}<extra></extra>",
            error_y=dict(type="data", symmetric=False, array=hi - pct, arrayminus=pct - lo, thickness=2,
                         color=labels.model_colour(model))))
    fig.add_hline(y=0, line_dash="dot", line_color="#555")
    fig.update_layout(template=TEMPLATE, height=360, margin=MARGIN, scattermode="group",
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0),
                      yaxis_title=f"change in {labels.flux_name(flux, short=True)} RMSE (% of global)",
                      xaxis_title="state", yaxis=dict(zeroline=False, ticksuffix=" %"))
    return fig


def scatter_frame(pred: xr.Dataset, flux: str, models: list[str], max_points: int = 4000,
                  seed: int = 0) -> pd.DataFrame:
    """Observed (truth) against predicted daily values of held-out units, subsampled."""
    da = pred[flux]
    if "split" in pred.coords:
        da = da.where(pred["split"] == "test", drop=True)
    truth = da.sel(model="truth").values.ravel()
    rng = np.random.default_rng(seed)
    ok = np.flatnonzero(np.isfinite(truth))
    take = rng.choice(ok, size=min(max_points, ok.size), replace=False) if ok.size else ok
    frames = [pd.DataFrame({"observed": truth[take], "predicted": da.sel(model=m).values.ravel()[take],
                            "model": m}) for m in models if m in da["model"].values]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["observed", "predicted", "model"])


def scatter_figure(frame: pd.DataFrame, flux: str) -> go.Figure:
    unit = FLUX_UNITS.get(flux, "")
    fig = go.Figure()
    for model, part in frame.groupby("model", sort=False):
        fig.add_trace(go.Scattergl(x=part["observed"], y=part["predicted"], mode="markers",
                                   name=labels.model_name(model), opacity=0.35,
                                   marker=dict(size=4, color=labels.model_colour(model))))
    fig.update_layout(template=TEMPLATE, height=420, xaxis_title=f"true {labels.flux_name(flux, short=True)} ({unit})",
                      yaxis_title=f"predicted {labels.flux_name(flux, short=True)} ({unit})")
    if len(frame):
        lo, hi = float(frame[["observed", "predicted"]].min().min()), float(frame[["observed", "predicted"]].max().max())
        fig.add_shape(type="line", x0=lo, y0=lo, x1=hi, y1=hi, line=dict(dash="dot", color="#333"))
    fig.update_layout(margin=MARGIN, legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))
    return fig


def series_figure(pred: xr.Dataset, flux: str, unit_id: str, models: list[str]) -> go.Figure:
    """Daily series at one county: truth and the chosen models."""
    da = pred[flux].sel(unit=unit_id)
    fig = go.Figure()
    for model in ["truth"] + [m for m in models if m != "truth"]:
        if model in da["model"].values:
            fig.add_trace(go.Scatter(x=da["time"].values, y=da.sel(model=model).values,
                                     name=labels.model_name(model), mode="lines",
                                     line=dict(width=2.5 if model == "truth" else 1.3,
                                               color=labels.model_colour(model))))
    fig.update_layout(template=TEMPLATE, height=360, margin=MARGIN, xaxis_title="date",
                      yaxis_title=f"{labels.flux_name(flux, short=True)} ({FLUX_UNITS.get(flux, '')})",
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))
    return fig


def sweep_figure(frame: pd.DataFrame) -> go.Figure:
    """Rh RMSE reduction of state-specific over global models against the simulator's heterogeneity."""
    fig = go.Figure()
    for state, part in frame.groupby("state", sort=True):
        fig.add_trace(go.Scatter(x=part["heterogeneity"], y=part["reduction_pct"], mode="lines+markers",
                                 name=labels.state_name(state), line=dict(color=labels.state_colour(state)),
                                 hovertemplate=f"{labels.state_name(state)}: heterogeneity %{{x}}, "
                                               "Rh RMSE %{y:+.1f} % lower with state-specific<extra></extra>"))
    fig.add_hline(y=0, line_dash="dot", line_color="#555")
    fig.update_layout(template=TEMPLATE, height=360, margin=MARGIN,
                      xaxis_title="simulator heterogeneity (0: no spatial shift)",
                      yaxis_title="Rh RMSE reduction, state-specific vs global (%)",
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))
    return fig
