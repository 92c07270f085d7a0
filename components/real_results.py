"""A real-data (real-yields) run on the Compare page: models against baselines on held-out real county-years."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import data_session, text
from kgml_core import labels, report
from kgml_core.experiments.real_yields.config import MODEL_NAMES
from kgml_core.experiments.real_yields.experiment import MODEL_HELP
from kgml_core.experiments.real_yields.results import NAMES, SPLIT_NAMES

REAL = "REAL DATA"


def scatter(pred, models: list[str]) -> go.Figure:
    """Predicted against real (NASS) yield on held-out county-years, bu/acre."""
    from kgml_core.loaders.nass import bu_per_acre_to_g_c

    per_bu = float(bu_per_acre_to_g_c(1.0, pred.attrs.get("crop", "CORN")))
    obs = pred["YIELD"].sel(model="observed").to_series() / per_bu
    test = pd.Series(pred["split"].values == "test", index=pred["unit"].values.astype(str))
    years = set(pred.attrs.get("test_years", []))
    fig = go.Figure()
    for m in models:
        sim = pred["YIELD"].sel(model=m).to_series() / per_bu
        keep = [(u in test.index and test[u]) or y in years for u, y in obs.index]
        fig.add_trace(go.Scatter(x=obs[keep], y=sim[keep], mode="markers", name=NAMES.get(m, m),
                                 marker=dict(color=labels.model_colour(m))))
    lo, hi = float(obs.min()) - 10, float(obs.max()) + 10
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="1:1", line=dict(color="#888", dash="dot")))
    fig.update_layout(template="plotly_white", height=420, xaxis_title="NASS yield (bu/acre) [real data]",
                      yaxis_title="predicted yield (bu/acre)", margin=dict(l=70, r=20, t=30, b=60))
    return fig


def show(run_id: str, name: str) -> None:
    """The real-data run's answer: every model beside the two baselines, with intervals, scatter, report."""
    results = data_session.run_results(run_id)
    metrics = results.metrics
    st.warning(text.fmt("REAL DATA: this run used real weather ({}) and real yields ({}); scores are against "
                        "NASS on held-out county-years.", metrics["sources"].get("weather"),
                        metrics["sources"].get("yields")), icon=":material/public:")
    head = metrics.get("headline", {})
    if head:
        learned = "auto_region" if "auto_region" in metrics["scores"]["heldout"] else "global"
        baseline = NAMES.get(head.get("best_baseline"), "").replace(" (baseline)", "").lower()
        how = "better" if head["value"] < 0 else "worse"
        st.subheader(f"The answer: {NAMES[learned]} is {abs(head['value']):.1f} bu/acre {how} than the "
                     f"better baseline ({baseline}) on all held-out county-years")
    table = results.summary_table()
    st.dataframe(table.round(3), width="stretch")
    with st.expander("What each model is"):
        st.markdown("\n".join(f"- **{NAMES[m]}**: {MODEL_HELP[m]}" for m in MODEL_NAMES))
    boot = pd.DataFrame([{"held out": SPLIT_NAMES.get(s, s), "model": NAMES.get(m, m), **v}
                         for s, block in metrics.get("bootstrap", {}).items() for m, v in block.items()])
    if not boot.empty:
        st.markdown("**RMSE minus the global model's (g C m-2), 95 % interval, counties resampled**")
        st.dataframe(boot.set_index(["held out", "model"]).round(3), width="stretch")
    regions = metrics.get("regions", {})
    if regions.get("labels"):
        st.caption(f"Auto Region Detector ({regions.get('method')}): {len(set(regions['labels'].values()))} "
                   f"region(s) among {metrics.get('n_counties')} counties; training years {metrics.get('train_years')}, "
                   f"held-out year(s) {metrics.get('test_years')}, {metrics.get('n_test_counties')} held-out counties.")
    figures = []
    if st.toggle("Show predicted against real yields", value=False, key="real_scatter",
                 help="Reads the run's predictions (small)."):
        pred = results.predictions()
        fig = scatter(pred, [m for m in ("county_mean", "weather_linear", "global", "auto_region")
                             if m in pred["model"].values])
        st.plotly_chart(fig, key="real_scatter_fig")
        figures.append(("Predicted against NASS yield, held-out county-years [real data]", fig))
    content = report.ReportContent(
        title=f"[{REAL}] Global against region-specific KGML-ag on real county yields",
        region=f"{metrics.get('n_counties')} counties of {metrics['sources'].get('weather')}",
        metrics=table.reset_index().round(3), figures=figures, source=f"run {name} ({run_id}); {REAL}: "
        + ", ".join(f"{k} {v}" for k, v in metrics["sources"].items() if v),
        notes=[f"{REAL}: real weather and NASS yields; not the simulated world.", head.get("name", "")])
    st.download_button("Download the real-data report (HTML)", report.build_report(content).encode(),
                       f"kgml_real_data_{run_id}.html", "text/html", key="real_report",
                       help="One self-contained page; marked REAL DATA.")
    st.download_button("Download the scores (CSV)", (f"# {REAL}: {metrics['sources']}\n"
                                                     + table.reset_index().to_csv(index=False)).encode(),
                       f"kgml_real_data_scores_{run_id}.csv", "text/csv", key="real_csv",
                       help="The table above; the first line says the data were real.")
