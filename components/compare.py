"""Tables and figures of a state-vs-global comparison run (pure functions, unit-tested)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import xarray as xr

FLUX_UNITS = {"RA": "g C m-2 d-1", "RH": "g C m-2 d-1", "NEE": "g C m-2 d-1",
              "RECO": "g C m-2 d-1", "GPP": "g C m-2 d-1", "YIELD": "g C m-2"}
LOWER_IS_BETTER = {"rmse", "mse", "mae"}
MODEL_ORDER = ["process_model", "no_knowledge", "global", "state_specific", "auto_region"]


def metrics_long(metrics: dict) -> pd.DataFrame:
    """``metrics["states"]`` as rows of (state, model, flux, metric, value)."""
    rows = [(state, model, flux, name, value)
            for state, models in metrics.get("states", {}).items()
            for model, fluxes in models.items() if isinstance(fluxes, dict)
            for flux, scores in fluxes.items() if isinstance(scores, dict)
            for name, value in scores.items() if isinstance(value, (int, float))]
    return pd.DataFrame(rows, columns=["state", "model", "flux", "metric", "value"])


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


def bootstrap_frame(metrics: dict) -> pd.DataFrame:
    """Paired-bootstrap RMSE differences as rows (state, flux, comparison, diff, lo, hi, rel_diff)."""
    rows = []
    for state, fluxes in (metrics.get("bootstrap") or {}).items():
        for flux, comps in fluxes.items():
            for comp, ci in comps.items():
                if isinstance(ci, dict) and "diff" in ci:
                    rows.append({"state": state, "flux": flux, "comparison": comp, **ci})
    return pd.DataFrame(rows)


def rmse_bars(long: pd.DataFrame, flux: str, metric: str = "rmse") -> go.Figure:
    """Bars of one metric per state and model for one flux."""
    data = long[(long["flux"] == flux) & (long["metric"] == metric)]
    unit = FLUX_UNITS.get(flux, "") if metric in ("rmse", "mae", "bias") else ""
    fig = px.bar(data, x="state", y="value", color="model", barmode="group", height=360,
                 category_orders={"model": MODEL_ORDER},
                 labels={"value": f"{metric.upper()} of {flux}" + (f" ({unit})" if unit else ""),
                         "state": "state"})
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend_title_text="model")
    return fig


def bootstrap_figure(frame: pd.DataFrame, flux: str) -> go.Figure:
    """RMSE differences with 95 % bootstrap intervals (negative: the first model is better)."""
    data = frame[frame["flux"] == flux]
    fig = go.Figure()
    for comp, part in data.groupby("comparison"):
        fig.add_trace(go.Scatter(
            x=part["state"], y=part["diff"], mode="markers", name=comp, marker=dict(size=11),
            error_y=dict(type="data", symmetric=False, array=part["hi"] - part["diff"],
                         arrayminus=part["diff"] - part["lo"])))
    fig.add_hline(y=0, line_dash="dot", line_color="#555")
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=30, b=10),
                      yaxis_title=f"RMSE difference of {flux} ({FLUX_UNITS.get(flux, '')})",
                      xaxis_title="state")
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
    fig = px.scatter(frame, x="observed", y="predicted", color="model", opacity=0.35, height=420,
                     labels={"observed": f"true {flux} ({unit})", "predicted": f"predicted {flux} ({unit})"})
    if len(frame):
        lo, hi = float(frame[["observed", "predicted"]].min().min()), float(frame[["observed", "predicted"]].max().max())
        fig.add_shape(type="line", x0=lo, y0=lo, x1=hi, y1=hi, line=dict(dash="dot", color="#333"))
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10))
    return fig


def series_figure(pred: xr.Dataset, flux: str, unit_id: str, models: list[str]) -> go.Figure:
    """Daily series at one county: truth and the chosen models."""
    da = pred[flux].sel(unit=unit_id)
    fig = go.Figure()
    for model in ["truth"] + [m for m in models if m != "truth"]:
        if model in da["model"].values:
            fig.add_trace(go.Scatter(x=da["time"].values, y=da.sel(model=model).values, name=model,
                                     mode="lines", line=dict(width=2.5 if model == "truth" else 1.3,
                                                             color="#111" if model == "truth" else None)))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="date",
                      yaxis_title=f"{flux} ({FLUX_UNITS.get(flux, '')})", legend=dict(orientation="h"))
    return fig


def sweep_frame(metrics: dict) -> pd.DataFrame:
    """The Rh heterogeneity sweep as rows (heterogeneity, state, global_rmse, state_specific_rmse, reduction_pct)."""
    sweep = metrics.get("heterogeneity_sweep") or {}
    rows = []
    for state, series in (sweep.get("states") or {}).items():
        for i, het in enumerate(sweep.get("values", [])):
            rows.append({"heterogeneity": het, "state": state,
                         "global_rmse": series["global_rmse"][i],
                         "state_specific_rmse": series["state_specific_rmse"][i],
                         "reduction_pct": 100 * series["rmse_reduction"][i]})
    return pd.DataFrame(rows, columns=["heterogeneity", "state", "global_rmse", "state_specific_rmse",
                                       "reduction_pct"])


def sweep_figure(frame: pd.DataFrame) -> go.Figure:
    """Rh RMSE reduction of state-specific over global models against the simulator's heterogeneity."""
    fig = px.line(frame, x="heterogeneity", y="reduction_pct", color="state", markers=True, height=360,
                  labels={"heterogeneity": "simulator heterogeneity (0: no spatial shift)",
                          "reduction_pct": "Rh RMSE reduction, state-specific vs global (%)"})
    fig.add_hline(y=0, line_dash="dot", line_color="#555")
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10))
    return fig


def headline_notes(long: pd.DataFrame, flux: str = "RH") -> list[str]:
    """One sentence per state: how much state-specific changes the RMSE of ``flux`` against global."""
    rmse = long[(long["metric"] == "rmse") & (long["flux"] == flux)].pivot_table(
        index="state", columns="model", values="value")
    if not {"global", "state_specific"} <= set(rmse.columns):
        return []
    notes = []
    for state, row in rmse.iterrows():
        change = 100 * (row["state_specific"] - row["global"]) / row["global"]
        verdict = "lower" if change < 0 else "higher"
        notes.append(f"{state}: the state-specific model's {flux} RMSE is {abs(change):.1f} % {verdict} than "
                     f"the global model's ({row['state_specific']:.3f} vs {row['global']:.3f} "
                     f"{FLUX_UNITS.get(flux, '')}).")
    return notes
