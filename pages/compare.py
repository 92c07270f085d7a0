"""Model comparison: metrics of a state-vs-global run, with confidence intervals, scatter, series and the sweep."""
import streamlit as st

from components import compare, data_session, page, runtime, selection, theme
from kgml_core import geo, report

page.enter(__file__)

st.title("Model comparison")
st.caption("Held-out counties and years of the observed world: does a state- or region-specific "
           "model (SDSA-KGML) beat one global model (KGML-ag)?")


runs = runtime.runs_table()
runs = runs[(runs["kind"] == "state_vs_global") & (runs["status"] == "finished")] if not runs.empty else runs
if runs.empty:
    st.info("No finished state-vs-global run yet. Start one on the **Train** page "
            "(preset *quick* takes a few minutes).")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

labels = dict(zip(runs["run_id"], runs["name"]))
run_id = st.selectbox("Run", list(runs["run_id"]), format_func=lambda r: f"{labels[r]} ({r})",
                      help="A finished SDSA-KGML comparison run from the run store.")
try:
    metrics = data_session.run_metrics(run_id)
    long = compare.metrics_long(metrics)
except Exception as err:
    theme.show_error(f"Could not read the metrics of run {run_id}", err)
    st.stop()
if long.empty:
    st.warning(f"Run {run_id} has no per-state metrics.")
    st.stop()

c1, c2 = st.columns([1, 1])
metric = c1.selectbox("Metric", ["rmse", "r2", "mae", "mse", "bias", "n"], key="cmp_metric",
                      help="RMSE, MAE, MSE: lower is better; R2: higher is better; bias: closest to 0.")
flux = c2.selectbox("Flux", [f for f in ["RH", "RA", "NEE", "RECO", "YIELD"] if f in set(long["flux"])],
                    key="cmp_flux", help="Daily fluxes in g C m-2 d-1; YIELD annual in g C m-2.")
if "seconds" in metrics:
    st.caption(f"Run took {metrics['seconds']:.0f} s.")

st.subheader("Metrics: states × fluxes × models (best of each row highlighted)")
table = compare.metric_table(long, metric)
st.dataframe(compare.styled(table, metric), width="stretch")

st.subheader(f"{metric.upper()} of {flux} by state")
bars = compare.rmse_bars(long, flux, metric)
st.plotly_chart(bars, key="cmp_bars")

boot = compare.bootstrap_frame(metrics)
if not boot.empty and flux in set(boot["flux"]):
    st.subheader("Paired bootstrap: RMSE difference with 95 % interval")
    st.caption("Below 0: the first-named model has the lower RMSE; an interval that excludes 0 is significant.")
    st.plotly_chart(compare.bootstrap_figure(boot, flux), key="cmp_boot")

sweep = compare.sweep_frame(metrics)
if not sweep.empty:
    st.subheader("Heterogeneity sweep")
    st.caption("How the Rh advantage of state-specific models changes with the simulator's spatial "
               "heterogeneity (0: one parameter set everywhere).")
    st.plotly_chart(compare.sweep_figure(sweep), key="cmp_sweep")
    st.dataframe(sweep.round(4), hide_index=True)

figures = [(f"{metric.upper()} of {flux} by state", bars)]
if not boot.empty and flux in set(boot["flux"]):
    figures.append((f"Paired bootstrap RMSE differences of {flux}", compare.bootstrap_figure(boot, flux)))
if not sweep.empty:
    figures.append(("Heterogeneity sweep (Rh)", compare.sweep_figure(sweep)))
states = sorted(set(long["state"]))
content = report.ReportContent(
    title="Global (KGML-ag) against state- and region-specific (SDSA-KGML) models",
    region=report.region_text(states, int(geo.county_table(states).shape[0])),
    metrics=table.round(4).reset_index(), figures=figures, source=f"run {labels[run_id]} ({run_id})",
    notes=compare.headline_notes(long, "RH") + [f"Metric shown: {metric}; held-out counties and years."])
st.download_button("Download the comparison report (HTML)", report.build_report(content).encode(),
                   f"kgml_comparison_{run_id}.html", "text/html", key="cmp_report",
                   help="One self-contained page (opens offline): region, metrics table, charts, findings.")

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
                           key="cmp_models", help="Models drawn in the scatter and the series.")
    st.plotly_chart(compare.scatter_figure(compare.scatter_frame(pred, flux, shown), flux), key="cmp_scatter")
    units = [str(u) for u in pred["unit"].values]
    if "split" in pred.coords:
        units = [str(u) for u, s in zip(pred["unit"].values, pred["split"].values) if s == "test"] or units
    picked = [c for c in selection.current().counties if c in units]
    unit_id = st.selectbox("County", picked + [u for u in units if u not in picked], key="cmp_unit",
                           help="Counties picked on the map come first; held-out counties otherwise.")
    if "time" in pred[flux].dims:
        st.plotly_chart(compare.series_figure(pred, flux, unit_id, shown), key="cmp_series")
