"""Model comparison: metrics of a state-vs-global run, with confidence intervals, scatter, series and the sweep."""
from components import page

page.enter(__file__)  # before the heavy imports: a cold deep link hands over to app.py at once

import html

import streamlit as st
from streamlit_folium import st_folium

from components import compare, data_session, persist, runtime, sdsa_panels, selection, text, theme
from kgml_core import geo, labels, report, verdict


st.title("Model comparison")
st.caption("Held-out counties and years of the observed world: does a state- or region-specific "
           "model (SDSA-KGML) beat one global model (KGML-ag)?")


runs = runtime.runs_table()
runs = runs[runs["kind"].isin(["state_vs_global", "real_yields"]) & (runs["status"] == "finished")] \
    if not runs.empty else runs
if runs.empty:
    st.info("No finished state-vs-global run yet. Start one on the **Train** page "
            "(preset *quick* takes a few minutes).")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

names = dict(zip(runs["run_id"], runs["name"]))
real_runs = set(runs.loc[runs["kind"] == "real_yields", "run_id"])
persist.restore("cmp_run", list(runs["run_id"]))
run_id = st.selectbox("Run", list(runs["run_id"]), key="cmp_run",
                      format_func=lambda r: f"{'[REAL DATA] ' if r in real_runs else ''}{names[r]} ({r})",
                      help="A finished comparison run from the run store; [REAL DATA] runs are scored on real yields.")
if run_id in real_runs:
    from components import real_results

    try:
        real_results.show(run_id, names[run_id])
    except Exception as err:
        theme.show_error(f"Could not show real-data run {run_id}", err)
    st.stop()
try:
    metrics = data_session.run_metrics(run_id)
    long = compare.metrics_long(metrics)
except Exception as err:
    theme.show_error(f"Could not read the metrics of run {run_id}", err)
    st.stop()
if long.empty:
    st.warning(text.fmt("Run {} has no per-state metrics.", run_id))
    st.stop()

c1, c2 = st.columns([1, 1])
METRICS = ["rmse", "r2", "mae", "mse", "bias", "n"]
persist.restore("cmp_metric", METRICS)
METRIC_NAMES = {"rmse": "RMSE", "r2": "R²", "mae": "MAE", "mse": "MSE", "bias": "Bias", "n": "Number of values"}
metric = c1.selectbox("Metric", METRICS, key="cmp_metric", format_func=METRIC_NAMES.get,
                      help="RMSE, MAE, MSE: lower is better; R2: higher is better; bias: closest to 0.")
FLUXES = [f for f in ["RH", "RA", "NEE", "RECO", "YIELD"] if f in set(long["flux"])]
persist.restore("cmp_flux", FLUXES)
flux = c2.selectbox("Flux", FLUXES,
                    key="cmp_flux", format_func=labels.flux_name,
                    help="Daily fluxes in g C m-2 d-1; yield annual in g C m-2. "
                         + "; ".join(f"{labels.flux_name(f, short=True)}: {labels.FLUX_HELP[f]}"
                                     for f in ("RA", "RH", "NEE")))
persist.remember("cmp_run", "cmp_metric", "cmp_flux")
if "seconds" in metrics:
    st.caption(f"Run took {metrics['seconds']:.0f} s.")

verdicts = verdict.state_verdicts(metrics, flux if flux in ("RH", "RA", "NEE", "RECO") else "RH")
if verdicts:
    st.subheader(f"The answer: state-specific against global, {labels.flux_name(verdicts[0].flux)}")
    for v in verdicts:
        st.html(f'<div class="kgml-verdict" style="border-left:6px solid {v.colour};padding:6px 12px;'
                f'margin:4px 0;background:#FAFAF7;font-size:1.05rem">{html.escape(v.sentence)}</div>')
    st.caption("Percent of the global model's RMSE on held-out counties and years; 95 % interval from a paired "
               "bootstrap over counties. Green: lower error and the interval excludes no change; grey: no clear "
               "difference; orange/red: higher error.")

boot = compare.bootstrap_frame(metrics)
if not boot.empty and flux in set(boot["flux"]):
    st.subheader("How sure: RMSE change against the global model, with 95 % intervals")
    st.caption("Below 0: lower error than the global model. Only the state- and region-specific models are drawn, "
               "so their differences are readable; the table below has every model.")
    st.plotly_chart(compare.bootstrap_figure(boot, flux), key="cmp_boot")

explanation = verdict.process_model_explanation(metrics, data_session.run_config(run_id), flux
                                                if flux in ("RH", "RA", "NEE", "RECO") else "RH")
if explanation:
    with st.expander("Why does the process model do so well here?", expanded=False):
        for line in explanation:
            st.markdown(line)

st.subheader("Metrics: states × fluxes × models (best of each row highlighted)")
table = compare.metric_table(long, metric)
st.dataframe(compare.styled(table, metric).relabel_index(
    [labels.model_name(c, short=True) for c in table.columns], axis="columns"), width="stretch")

st.subheader(f"{metric.upper()} of {labels.flux_name(flux)} by state")
bars = compare.rmse_bars(long, flux, metric)
st.plotly_chart(bars, key="cmp_bars")

ceiling = sdsa_panels.ceiling_frame(metrics)
if not ceiling.empty:
    st.subheader("Against what is achievable: the oracle ceiling")
    st.caption("Ceiling: the Rh RMSE reduction of the process model run with each state's mean true parameters "
               "over the process model run with the best single parameter set (perfect emulator, perfect "
               "estimates). From the towers: the same with the mean true parameters of the state's flux-tower "
               "host counties, all a state-specific model learning from its towers can recover. "
               "Realised: state-specific against global models on the same held-out data.")
    for _, row in ceiling.iterrows():
        st.markdown(sdsa_panels.ceiling_sentence(row))
    st.plotly_chart(sdsa_panels.ceiling_figure(ceiling), key="cmp_ceiling")
if "state_specific" in set(long["model"]) and flux in ("RH", "NEE"):
    st.subheader(f"Where: per-county {labels.flux_name(flux, short=True)} error, state-specific against global")
    pred_for_map = None
    if not (metrics.get("counties") or {}).get(flux) and st.toggle(
            "Compute the per-county errors from the run's predictions", value=False, key="cmp_county_compute",
            help="This run's metrics have no per-county scores (runs before issue 14): they can be computed "
                 "from its daily predictions (loads a few MB)."):
        try:
            pred_for_map = data_session.run_predictions(run_id)
        except Exception as err:
            theme.show_error(f"Could not read the predictions of run {run_id}", err)
    counties = sdsa_panels.county_error_frame(metrics, flux, pred_for_map)
    if counties.empty:
        st.caption("No per-county scores in this run.")
    else:
        better = int((counties["diff"] < 0).sum())
        st.caption(f"Held-out counties (spatially blocked), daily {labels.flux_name(flux, short=True)} over all "
                   f"years: RMSE change of the state-specific model against the global model, in % of the "
                   f"global RMSE. Blue: lower error with the state-specific model ({better} of {len(counties)} "
                   "counties); red: higher; grey: training counties. Hover a county for both RMSEs and R2.")
        st_folium(sdsa_panels.county_error_map(counties, sorted(set(long["state"])), flux), height=440,
                  use_container_width=True, returned_objects=[], key="cmp_county_map")
        medians = counties.groupby("state")[["global_rmse", "state_specific_rmse", "change"]].median()
        st.dataframe(medians.round({"global_rmse": 3, "state_specific_rmse": 3, "change": 1}).rename(columns={
            "global_rmse": "global RMSE, median (g C m-2 d-1)", "state_specific_rmse": "state-specific RMSE, median",
            "change": "change, median (%)"}), width="stretch")

params = sdsa_panels.parameter_frame(metrics)
if not params.empty:
    st.subheader("Why: the estimated location-dependent parameters against the simulator's truth")
    param_names = list(dict.fromkeys(params["parameter"]))
    parameter = st.selectbox("Parameter", param_names,
                             index=param_names.index("RH_Q10") if "RH_Q10" in param_names else 0,
                             key="cmp_param", help="Each regional model holds one parameter vector, estimated "
                             "from its observations with the networks frozen.")
    p1, p2 = st.columns([1, 1])
    p1.plotly_chart(sdsa_panels.parameter_figure(params, parameter), key="cmp_param_fig")
    if (params["kind"] == "region").any():
        p2.plotly_chart(sdsa_panels.parameter_map(params, metrics, geo.county_table(
            sorted(set(long["state"]))), parameter), key="cmp_param_map")
    st.dataframe(params[params["parameter"] == parameter].round(4), hide_index=True)

sweep = compare.sweep_frame(metrics)
if not sweep.empty:
    st.subheader("Heterogeneity sweep")
    st.caption("How the Rh advantage of state-specific models changes with the simulator's spatial "
               "heterogeneity (0: one parameter set everywhere).")
    st.plotly_chart(compare.sweep_figure(sweep), key="cmp_sweep")
    st.dataframe(sweep.round(4), hide_index=True)

figures = [(f"{metric.upper()} of {labels.flux_name(flux)} by state", bars)]
if not boot.empty and flux in set(boot["flux"]):
    figures.append((f"RMSE change of {labels.flux_name(flux)} against the global model (%, 95 % interval)",
                    compare.bootstrap_figure(boot, flux)))
notes = list(explanation)
if not ceiling.empty:
    notes += [sdsa_panels.ceiling_sentence(row) for _, row in ceiling.iterrows()]
    figures.append(("Rh RMSE reduction against the global model: achievable (oracle ceiling), from the towers, "
                    "reachable with this emulator, realised (%)", sdsa_panels.ceiling_figure(ceiling)))
if not params.empty:
    figures.append((f"Estimated {parameter} per state and region against the simulator's truth (mean of the "
                    "counties)", sdsa_panels.parameter_figure(params, parameter)))
if not sweep.empty:
    figures.append(("Heterogeneity sweep (Rh)", compare.sweep_figure(sweep)))
states = sorted(set(long["state"]))
content = report.ReportContent(
    title="Global (KGML-ag) against state- and region-specific (SDSA-KGML) models",
    region=report.region_text(states, int(geo.county_table(states).shape[0])),
    metrics=table.round(4), figures=figures, source=f"run {names[run_id]} ({run_id})",
    verdicts=[(v.sentence, v.colour) for v in verdicts],
    notes=notes + [f"Metric in the table: {metric.upper()}; held-out counties and years."])
# built when clicked (deferred): the page does not send 5 MB of report to the browser on every run
st.download_button("Download the comparison report (HTML)", lambda: report.build_report(content).encode(),
                   f"kgml_comparison_{run_id}.html", "text/html", key="cmp_report",
                   help="One self-contained page (opens offline): region, metrics table, charts, the ceiling, "
                        "the estimated parameters, findings.")

detail = st.toggle("Show predictions (scatter and daily series)", value=False, key="cmp_detail",
                   help="Loads the run's daily predictions (a few MB).")
if detail:
    try:
        pred = data_session.run_predictions(run_id)
    except Exception as err:
        theme.show_error(f"Could not read the predictions of run {run_id}", err)
        st.stop()
    if flux not in pred:
        st.info(f"{flux} has no daily predictions in this run.")
        st.stop()
    models = [m for m in pred["model"].values if m != "truth"]
    shown = st.multiselect("Models", models, default=[m for m in ("global", "state_specific") if m in models],
                           key="cmp_models", format_func=labels.model_name,
                           help="Models drawn in the scatter and the series.")
    st.plotly_chart(compare.scatter_figure(compare.scatter_frame(pred, flux, shown), flux), key="cmp_scatter")
    units = [str(u) for u in pred["unit"].values]
    if "split" in pred.coords:
        units = [str(u) for u, s in zip(pred["unit"].values, pred["split"].values) if s == "test"] or units
    picked = [c for c in selection.current().counties if c in units]
    unit_id = st.selectbox("County", picked + [u for u in units if u not in picked], key="cmp_unit",
                           help="Counties picked on the map come first; held-out counties otherwise.")
    if "time" in pred[flux].dims:
        st.plotly_chart(compare.series_figure(pred, flux, unit_id, shown), key="cmp_series")
