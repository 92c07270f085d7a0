"""Flux sites (TAM-RL): per-site scores, sites held out, few- against zero-shot, upscaled counties, series."""
from __future__ import annotations

from components import page

page.enter(__file__)  # before the heavy imports: a cold deep link hands over to app.py at once

import numpy as np
import pandas as pd
import streamlit as st
import xarray as xr
from streamlit_folium import st_folium

from components import charts, choropleth, data_session, maps, selection, text, theme
from kgml_core import labels
from kgml_core.experiments.tamrl.results import REAL_PREDICTIONS


FLUXES = ("GPP", "RECO", "NEE")
FLUX_UNITS = "g C m-2 d-1"


def _score_section(results, preds: xr.Dataset) -> None:
    st.subheader("Scores at held-out sites")
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox("Model", results.models, format_func=labels.model_name, key="si_model",
                         help="Every model was scored on sites it never saw in training.")
    flux = c2.selectbox("Flux", list(FLUXES), key="si_flux", help="GPP, ecosystem respiration or NEE.")
    score = c3.radio("Score", ["r2", "rmse"], horizontal=True, key="si_score",
                     format_func={"r2": "R² (–)", "rmse": f"RMSE ({FLUX_UNITS})"}.get,
                     help="Per-site R² or RMSE on good-quality days outside the support window.")
    rows = results.per_site(model, flux)
    coords = data_session.site_table(preds)[["lat", "lon"]]
    coords["error"] = rows[score].astype(float).reindex(coords.index)
    label = "R²" if score == "r2" else f"RMSE ({FLUX_UNITS})"
    st_folium(maps.site_score_map(coords, label, "RdYlGn" if score == "r2" else "magma_r"), height=440,
              width="stretch", returned_objects=[], key="sites_score_map")
    st.caption(text.fmt("{} held-out sites; {}.", len(rows), results.split))
    unit = "–" if score == "r2" else FLUX_UNITS
    st.plotly_chart(charts.model_bars(results.median_scores(score), f"median {label.split(' (')[0]}", unit,
                                      "Leave-sites-out: median score across held-out sites"),
                    width="stretch")
    fz = results.few_vs_zero_shot(score)
    if len(fz):
        st.plotly_chart(charts.model_bars(fz, f"median {label.split(' (')[0]}", unit,
                                          "TAM-RL: few-shot against zero-shot"), width="stretch")


AGAINST_LABELS = {"obs": "the tower observations (good-QC days)", "truth": "the simulator's noise-free truth"}


def _against(results, key: str) -> str | None:
    """Which reference the comparison sections use (observations or simulator truth)."""
    options = results.references(key)
    if not options:
        return None
    return st.radio("Scored against", options, horizontal=True, key=f"si_against_{key}",
                    format_func=AGAINST_LABELS.get,
                    help="Observations are noisy and gappy; a simulated network also knows the true fluxes.")


def _paired_section(results) -> None:
    st.subheader("TAM-RL against the baselines, site by site")
    g = _against(results, "paired")
    if g is None:
        st.info("This run has no paired comparison (made before it was added); run the experiment again.")
        return
    rows = []
    for pair, per_flux in results.comparison("paired", g).items():
        a, b = pair.split("_vs_")
        for flux, r in per_flux.items():
            rows.append({"label": f"{labels.model_name(a)} vs {labels.model_name(b)}", "group": flux,
                         "rel": r["rel"], "lo": r["lo"], "hi": r["hi"], "share": r["share_a_better"],
                         "n": r["n_sites"]})
    table = pd.DataFrame(rows)
    st.plotly_chart(charts.interval_figure(table, "Median per-site RMSE: relative difference (95 % interval)",
                                           "difference of median RMSE (negative: the first model is better)"),
                    width="stretch")
    shown = table.assign(**{"difference %": 100 * table["rel"], "interval %": [
        f"{100 * lo:+.1f} to {100 * hi:+.1f}" for lo, hi in zip(table["lo"], table["hi"])],
        "sites where the first is better %": 100 * table["share"]})
    st.dataframe(shown.rename(columns={"label": "comparison", "group": "flux", "n": "sites"})[
        ["comparison", "flux", "difference %", "interval %", "sites where the first is better %", "sites"]]
        .round(1), width="stretch", hide_index=True)
    st.caption("Paired bootstrap over held-out sites (2,000 resamples): each resample keeps both models' "
               "scores at the same sites. An interval that excludes 0 is a difference the sites support.")


def _curve_section(results) -> None:
    st.subheader("Few-shot skill against the length of the support")
    g = _against(results, "support_curve")
    if g is None:
        return
    flux = st.selectbox("Flux", list(FLUXES), key="si_curve_flux", help="Which flux's median per-site RMSE.")
    rows = results.comparison("support_curve", g).get(flux, {})
    curve = pd.DataFrame({"median": {int(d): r["median_rmse"] for d, r in rows.items()}}).sort_index()
    models = results.models_against(g)
    refs = {m: models[m][flux]["median_rmse"] for m in ("gbm", "lstm") if m in models}
    st.plotly_chart(charts.support_curve_figure(curve, refs, f"median {flux} RMSE", FLUX_UNITS,
                                                "TAM-RL with more of the site's own data"), width="stretch")
    vs = {int(d): r.get("vs_zero_shot") for d, r in rows.items() if r.get("vs_zero_shot")}
    if vs:
        st.caption("Against no support (zero-shot), paired 95 % intervals: " + "; ".join(
            f"{d} d {100 * v['rel']:+.1f} % ({100 * v['lo']:+.1f} to {100 * v['hi']:+.1f})"
            for d, v in sorted(vs.items()) if d) + ". Every length is scored on the same days (after the "
            "first year).")


def _vegetation_section(results) -> None:
    st.subheader("Per vegetation type")
    g = _against(results, "per_vegetation")
    if g is None:
        return
    flux = st.selectbox("Flux", list(FLUXES), key="si_veg_flux", help="Median per-site RMSE of this flux.")
    table = pd.DataFrame({igbp: {"sites": row["n_sites"], **{labels.model_name(m): row[m][flux]
                                                            for m in labels.MODEL_ORDER if m in row}}
                          for igbp, row in results.comparison("per_vegetation", g).items()}).T
    st.dataframe(table.round(3), width="stretch")
    st.caption(f"Median per-site {flux} RMSE ({FLUX_UNITS}) of the held-out sites of each IGBP type; "
               "few sites per type: read small differences with care.")


def _real_runs_section(results) -> None:
    real = results.real_sites
    sites = real.get("sites")
    if not sites:
        if real.get("skipped"):
            st.caption(f"Real towers: {real['skipped']}.")
        return
    st.subheader("Real towers: zero-shot and few-shot")
    rows = {}
    for m in ("tamrl_zero_shot", "tamrl_z_only", "tamrl", "gbm", "lstm", "ct_lstm"):
        for flux in ("GPP", "NEE"):
            for site, r in sites.get(m, {}).get(flux, {}).items():
                rows.setdefault(site, {})[f"{labels.model_name(m)} · {flux} R²"] = r["r2"]
    table = pd.DataFrame(rows).T
    support = real.get("support", {})
    table.insert(0, "support", [f"{support.get(s, {}).get('days', '?')} d from {support.get(s, {}).get('first_day', '?')}"
                                for s in table.index])
    table.insert(1, "scored from", [support.get(s, {}).get("scored_from", "") for s in table.index])
    st.dataframe(table.round(3), width="stretch")
    st.caption(f"Trained on virtual towers and {real.get('target')} up to {real.get('train_period', '').split(' to ')[-1]}; "
               f"{real.get('target')} is scored in {real.get('test_period')}, the other towers (never seen in "
               "training) after their support. Few-shot reads the support; zero-shot and the baselines do not."
               + (" Few-shot here also fits a per-site gain and offset of each flux on the support; "
                  "'embedding only' is the few-shot without them." if "tamrl_z_only" in sites else ""))


def _upscaled_section(run_id: str) -> None:
    st.subheader("Upscaled to counties")
    try:
        up = data_session.run_map(run_id)
    except FileNotFoundError as err:
        st.info(text.fmt("{}", text.error_line(err)))
        return
    c1, c2 = st.columns(2)
    flux = c1.selectbox("Flux", [f for f in FLUXES if f in up], key="si_up_flux",
                        help="Flux predicted by the TAM-RL ensemble in zero-shot mode.")
    what = c2.radio("Show", ["mean", "spread"], horizontal=True, key="si_up_what",
                    format_func={"mean": "Ensemble mean (annual sum)", "spread": "Uncertainty (ensemble sd)"}.get,
                    help="Annual sum of the ensemble mean, or the mean daily spread between ensemble members.")
    year = int(pd.DatetimeIndex(up["time"].values).year.max())
    if what == "mean":
        values = choropleth.aggregate(up[flux], "year")[year]
        units = "g C m-2 yr-1"
        lo, hi, cmap = choropleth.scale(values, flux)
    else:
        values = up[f"{flux}_STD"].mean("time").to_pandas()
        values.index = values.index.astype(str)
        units, cmap = FLUX_UNITS, choropleth.CMAPS["std"]
        lo, hi = choropleth.colour_range(values)
    states = sorted(set(up["state"].values.astype(str)))
    fmap = choropleth.choropleth_map(states, values.astype(float), f"{flux} {what}", units, lo, hi, cmap)
    st_folium(fmap, height=440, use_container_width=True, returned_objects=[], key="sites_upscaled_map")
    st.caption(f"{year}; {up.sizes['unit']} counties; hover a county for its value.")


def _series_section(series_sets: dict[str, xr.Dataset]) -> None:
    st.subheader("Time series at a site")
    options = [(name, str(u)) for name, ds in series_sets.items() for u in ds["unit"].values]
    if not options:
        return
    picked = st.selectbox("Site", options, format_func=lambda o: f"{o[1]} ({o[0]})", key="si_site",
                          help="Observed daily fluxes (dots) and the models' predictions (lines).")
    flux = st.selectbox("Flux ", list(FLUXES), key="si_ts_flux", help="Which flux to plot.")
    ds = series_sets[picked[0]].sel(unit=picked[1])
    if flux not in ds:
        st.info(text.fmt("{} has no {}.", picked[1], flux))
        return
    da = ds[flux]
    if "model" in da.dims:
        series = {str(m): da.sel(model=m).values
                  for m in da["model"].values}
    else:
        series = {"obs": da.values}
    st.plotly_chart(charts.timeseries_figure(ds["time"].values, series, flux, da.attrs.get("units", FLUX_UNITS),
                                             f"{flux} at {picked[1]}"), width="stretch")


def _real_section() -> xr.Dataset | None:
    real = data_session.real_sites()
    if real is None:
        st.caption("No real data loaded: load FLUXNET or AmeriFlux files on the **Data** page to see them here.")
        return None
    st.subheader("Real sites loaded on the Data page")
    table = data_session.site_table(real)
    st.dataframe(table, width="stretch")
    if np.isfinite(table["lat"].astype(float)).any():
        st_folium(maps.site_score_map(table.assign(error=np.nan), "site", "magma_r"), height=320,
                  width="stretch", returned_objects=[], key="sites_real_map")
    return real


def main() -> None:
    st.title("Flux sites and upscaling (TAM-RL)")
    st.caption("Task-aware modulation (TAM-RL) learns from flux towers and predicts at places without one. "
               "Scores are for whole sites held out from training.")
    selection.current()
    runs = data_session.runs_table(("tamrl",))
    series_sets: dict[str, xr.Dataset] = {}
    real = _real_section()
    if real is not None:
        series_sets["loaded"] = real
    if not len(runs):
        st.info("No TAM-RL run yet: start one on the **Train** page (experiment 'tamrl'). "
                "Meanwhile the real sites you load on the **Data** page are shown here.", icon=":material/info:")
    else:
        run_id = st.selectbox("Run", list(runs["run_id"]), key="si_run",
                              format_func=lambda r: f"{runs.set_index('run_id').loc[r, 'name']} ({r})",
                              help="A finished TAM-RL run.")
        results = data_session.run_results(run_id)
        preds = data_session.run_predictions(run_id)
        series_sets["virtual, held out"] = preds
        try:
            series_sets["real, run"] = data_session.run_predictions(run_id, REAL_PREDICTIONS)
        except FileNotFoundError:
            pass
        _score_section(results, preds)
        _paired_section(results)
        _curve_section(results)
        _vegetation_section(results)
        _real_runs_section(results)
        if st.toggle("Show the upscaled county map", value=True, key="si_show_up",
                     help="County map of the upscaled fluxes and their uncertainty."):
            _upscaled_section(run_id)
    _series_section(series_sets)


try:
    main()
except Exception as err:  # the page boundary
    theme.show_error("The flux-sites page failed", err)
