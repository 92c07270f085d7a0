"""Compare-page panels of SDSA-KGML read against what is achievable: the oracle ceiling and the
estimated location-dependent parameters beside the simulator's truth (the "why")."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.compare import MARGIN, TEMPLATE
from kgml_core import labels


def ceiling_frame(metrics: dict, flux: str = "RH") -> pd.DataFrame:
    """Per state: the achievable gain (oracle ceiling), the realised gain and the fraction (%), from metrics.json."""
    block = (metrics.get("ceiling") or {}).get(flux) or {}
    rows = [{"state": st, "ceiling": 100 * c["ceiling"], "realised": 100 * c["realised"],
             "fraction": 100 * c["fraction"], "oracle_state_rmse": c["oracle_state_rmse"],
             "oracle_global_rmse": c["oracle_global_rmse"], "global_rmse": c["global_rmse"],
             "state_specific_rmse": c["state_specific_rmse"],
             "emulator_ceiling": 100 * c.get("emulator_ceiling", np.nan),
             "emulator_state_rmse": c.get("emulator_state_rmse", np.nan),
             "towers_ceiling": 100 * c.get("towers_ceiling", np.nan)} for st, c in block.items()]
    return pd.DataFrame(rows)


def _percent(value: float, digits: int = 0) -> str:
    """``value`` (%) rounded, without a negative zero ("-0 %")."""
    return f"{round(value, digits) + 0.0:.{digits}f} %"


def _reduction(value: float) -> str:
    """An RMSE reduction (%) in words: "2.5 % lower error" or "0.3 % higher error"."""
    if round(value, 1) == 0:
        return "no change in error"
    return f"{_percent(abs(value), 1)} {'lower' if value > 0 else 'higher'} error"


def ceiling_sentence(row: pd.Series, flux: str = "RH") -> str:
    """"Iowa: state-specific models reach 24 % of the 74 % that is achievable (Rh RMSE)"."""
    if not np.isfinite(row["fraction"]):
        return f"{labels.state_name(row['state'])}: no ceiling (the oracle rungs were not run)."
    emulator, towers = row.get("emulator_ceiling", np.nan), row.get("towers_ceiling", np.nan)
    from_towers = ""
    if np.isfinite(towers):          # runs before the towers' oracle lack it
        allowed = f"at best a {_percent(towers)} reduction" if towers > 0 else f"none ({_reduction(towers)})"
        from_towers = (f" Its flux towers allow {allowed} (the process model with their host counties' mean "
                       f"true parameters).")
    perfect = ""
    if np.isfinite(emulator):
        perfect = (f" A perfect estimate with this emulator would give {_reduction(emulator)}: "
                   f"{'all' if emulator <= 0 else 'the rest'} of the ceiling is lost in the emulator."
                   f"{_floor(row, flux)}")
    share = "none" if round(row["fraction"]) < 0 else _percent(row["fraction"])     # worse than global
    return (f"{labels.state_name(row['state'])}: state-specific models reach {share} of the "
            f"{_percent(row['ceiling'])} RMSE reduction that is achievable with each state's true parameters "
            f"({labels.flux_name(flux, short=True)} realised: {_reduction(row['realised'])}).{from_towers}{perfect}")


def _floor(row: pd.Series, flux: str) -> str:
    """A sentence when the emulator given the state's true parameters is no better than the process model with
    one parameter set for the whole domain: the state's signal is below the emulator's own error."""
    emulator, single = row.get("emulator_state_rmse", np.nan), row.get("oracle_global_rmse", np.nan)
    if not (np.isfinite(emulator) and np.isfinite(single)) or emulator < single:
        return ""
    return (f" Given the state's true parameters the emulator's error ({labels.flux_name(flux, short=True)} "
            f"RMSE {emulator:.3f}) is larger than the process model's with one parameter set for the whole "
            f"domain ({single:.3f}): the state's signal is smaller than the emulator's own error.")


def ceiling_figure(frame: pd.DataFrame, flux: str = "RH") -> go.Figure:
    """Bars per state: achievable (oracle: state-mean true parameters against the best single set) and realised."""
    fig = go.Figure()
    names = [labels.state_name(s) for s in frame["state"]]
    fig.add_trace(go.Bar(x=names, y=frame["ceiling"], name="achievable (oracle ceiling)",
                         marker_color=labels.model_colour("oracle_state"),
                         hovertemplate="%{x}: achievable %{y:.1f} %<extra></extra>"))
    if "towers_ceiling" in frame and np.isfinite(frame["towers_ceiling"]).any():         # runs before it lack it
        fig.add_trace(go.Bar(x=names, y=frame["towers_ceiling"], name="achievable from the towers (their host "
                             "counties' true parameters)", marker_color=labels.model_colour("oracle_towers"),
                             hovertemplate="%{x}: from the towers %{y:.1f} %<extra></extra>"))
    if "emulator_ceiling" in frame and np.isfinite(frame["emulator_ceiling"]).any():     # runs before it lack it
        fig.add_trace(go.Bar(x=names, y=frame["emulator_ceiling"], name="reachable with this emulator "
                             "(perfect estimate)", marker_color=labels.model_colour("emulator_state"),
                             hovertemplate="%{x}: perfect estimate %{y:.1f} %<extra></extra>"))
    fig.add_trace(go.Bar(x=names, y=frame["realised"], name="realised (state-specific vs global)",
                         marker_color=labels.model_colour("state_specific"),
                         hovertemplate="%{x}: realised %{y:.1f} %<extra></extra>"))
    fig.update_layout(template=TEMPLATE, height=340, margin=MARGIN, barmode="group",
                      yaxis_title=f"{labels.flux_name(flux, short=True)} RMSE reduction (%)",
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))
    return fig


def parameter_frame(metrics: dict) -> pd.DataFrame:
    """Long table (kind, group, parameter, units, estimated, truth) of ``metrics["parameters"]``."""
    block = metrics.get("parameters") or {}
    rows = []
    for kind in ("global", "state", "region"):
        for group, v in (block.get(kind) or {}).items():
            for name in block.get("names", []):
                rows.append({"kind": kind, "group": group, "parameter": name,
                             "units": block["units"].get(name, ""), "estimated": v["estimated"].get(name),
                             "truth": v["truth"].get(name, np.nan)})
    return pd.DataFrame(rows)


def parameter_figure(frame: pd.DataFrame, parameter: str) -> go.Figure:
    """Estimated against true (mean over the group's counties) value of one parameter, per state and region."""
    data = frame[frame["parameter"] == parameter]
    data = data.assign(name=[labels.state_name(g) if k == "state" else ("domain" if k == "global" else f"region {g}")
                             for k, g in zip(data["kind"], data["group"])])
    data = data.assign(label=_merged_labels(data))
    fig = go.Figure()
    for kind, symbol, side in (("global", "star", "middle left"), ("state", "circle", "top center"),
                               ("region", "diamond", "bottom center")):
        part = data[data["kind"] == kind]
        if part.empty:
            continue
        fig.add_trace(go.Scatter(x=part["truth"], y=part["estimated"], mode="markers+text", text=part["label"],
                                 textposition=side, name=kind, marker=dict(size=13, symbol=symbol),
                                 customdata=part["name"],
                                 hovertemplate="%{customdata}: true %{x:.3g}, estimated %{y:.3g}<extra></extra>"))
    values = pd.concat([data["truth"], data["estimated"]]).dropna()
    if not values.empty:
        lo, hi = float(values.min()), float(values.max())
        pad = 0.1 * (hi - lo or abs(hi) or 1)
        fig.add_trace(go.Scatter(x=[lo - pad, hi + pad], y=[lo - pad, hi + pad], mode="lines", name="1:1",
                                 line=dict(dash="dot", color="#555"), hoverinfo="skip"))
    units = data["units"].iloc[0] if len(data) else ""
    fig.update_layout(template=TEMPLATE, height=380, margin=MARGIN,
                      xaxis_title=f"true {parameter} ({units}), mean of the counties",
                      yaxis_title=f"estimated {parameter} ({units})",
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    return fig


def _merged_labels(data: pd.DataFrame, closeness: float = 0.1) -> list[str]:
    """One label per cluster of points that would print over each other, on the first point of the cluster.

    Points closer than ``closeness`` of the axes' spans in both directions (about a label's width and
    height in the 380-pixel chart; e.g. regions whose validation
    kept the global estimate, or a state whose estimate is the domain's) share one label, a name a line;
    the others get none (their names stay in the hover).
    """
    x, y = data["truth"].to_numpy(float), data["estimated"].to_numpy(float)
    span_x = np.ptp(x[np.isfinite(x)]) if np.isfinite(x).any() else 0.0
    span_y = np.ptp(y[np.isfinite(y)]) if np.isfinite(y).any() else 0.0
    tol_x, tol_y = closeness * (span_x or 1.0), closeness * (span_y or 1.0)
    names, out, owner = list(data["name"]), [""] * len(data), list(range(len(data)))
    for i in range(len(data)):
        for j in range(i):
            if owner[j] == j and abs(x[i] - x[j]) <= tol_x and abs(y[i] - y[j]) <= tol_y:
                owner[i] = j
                break
    for i, o in enumerate(owner):
        out[o] = names[i] if not out[o] else f"{out[o]}<br>{names[i]}"   # one name a line: fits a narrow chart
    return out


def parameter_map(frame: pd.DataFrame, metrics: dict, counties: pd.DataFrame, parameter: str) -> go.Figure:
    """County centroids coloured by their region's estimated value and by its true mean (two panels).

    counties : geo.county_table (index FIPS, columns lat, lon).
    """
    from plotly.subplots import make_subplots

    region_of = pd.Series((metrics.get("regions") or {}).get("labels", {}), dtype=object).astype(str)
    data = frame[(frame["parameter"] == parameter) & (frame["kind"] == "region")].set_index("group")
    table = counties.reindex(region_of.index).dropna(subset=["lat", "lon"])
    region = region_of.reindex(table.index)
    est, true = region.map(data["estimated"]), region.map(data["truth"])
    fig = make_subplots(rows=1, cols=2, subplot_titles=("estimated per region", "truth (region mean)"),
                        horizontal_spacing=0.06)
    values = pd.concat([est, true]).dropna()
    lo, hi = (float(values.min()), float(values.max())) if not values.empty else (0.0, 1.0)
    for col, series in ((1, est), (2, true)):
        fig.add_trace(go.Scatter(x=table["lon"], y=table["lat"], mode="markers",
                                 marker=dict(size=7, color=series, cmin=lo, cmax=hi, colorscale="Viridis",
                                             showscale=col == 2),
                                 text=[f"{f} region {r}: {v:.3g}" for f, r, v in zip(table.index, region, series)],
                                 hovertemplate="%{text}<extra></extra>", showlegend=False), row=1, col=col)
    fig.update_xaxes(title="longitude")
    fig.update_yaxes(title="latitude", scaleanchor="x", row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    fig.update_layout(template=TEMPLATE, height=380, margin=MARGIN)
    return fig


def county_error_frame(metrics: dict, flux: str = "RH", pred=None) -> pd.DataFrame:
    """Per held-out county: RMSE of the global and state-specific models and their difference.

    From ``metrics["counties"][flux]`` (runs since issue 14), else computed from the
    run's predictions ``pred`` when given (older runs). Columns: state, global_rmse,
    state_specific_rmse, diff (state-specific - global, g C m-2 d-1), change
    (100 * diff / global, %), global_r2, state_specific_r2; index FIPS. Empty when
    neither is available or a model is missing.
    """
    block = (metrics.get("counties") or {}).get(flux)
    if not block and pred is not None and flux in pred and "split" in pred.coords:
        from kgml_core.sdsa import county_scores
        block = county_scores(pred, flux, ("global", "state_specific"))
    frame = pd.DataFrame.from_dict(block or {}, orient="index")
    if frame.empty or not {"global_rmse", "state_specific_rmse"} <= set(frame.columns):
        return pd.DataFrame()
    frame.index = frame.index.astype(str)
    frame["diff"] = frame["state_specific_rmse"] - frame["global_rmse"]
    frame["change"] = 100 * frame["diff"] / frame["global_rmse"]
    keep = ["state", "global_rmse", "state_specific_rmse", "diff", "change", "global_r2", "state_specific_r2"]
    return frame[[c for c in keep if c in frame.columns]]


def county_error_title(flux: str = "RH") -> str:
    """Legend title of the per-county map: which model against which, of which flux."""
    return (f"{labels.flux_name(flux, short=True)} RMSE, {labels.model_name('state_specific', short=True).lower()} "
            f"against {labels.model_name('global', short=True).lower()}")


def county_error_map(frame: pd.DataFrame, states, flux: str = "RH"):
    """Folium choropleth of the held-out counties' RMSE change (%), state-specific against global.

    Blue: the state-specific model's error is lower; red: higher; grey: not
    held out. Hover: both RMSEs (g C m-2 d-1) and R2.
    """
    from components import choropleth

    lo, hi = choropleth.colour_range(frame["change"], diverging=True)
    extra = {f"{labels.model_name('global', short=True)} RMSE": frame["global_rmse"],
             f"{labels.model_name('state_specific', short=True)} RMSE": frame["state_specific_rmse"]}
    for model in ("global", "state_specific"):
        if f"{model}_r2" in frame:
            extra[f"{labels.model_name(model, short=True)} R2"] = frame[f"{model}_r2"]
    return choropleth.choropleth_map(states, frame["change"].astype(float), county_error_title(flux), "%",
                                     lo, hi, choropleth.CMAPS["diff"], extra=extra,
                                     caption="(held-out counties, all years)")
