"""Distribution shift: how states (or detected regions) differ, and whether models err where data differ."""
from __future__ import annotations

from components import page

page.enter(__file__)  # before the heavy imports: a cold deep link hands over to app.py at once

import numpy as np
import pandas as pd
import streamlit as st
import xarray as xr
from streamlit_folium import st_folium

from components import charts, choropleth, data_session, selection, theme
from kgml_core import labels, report


VIEWS = ("Distributions", "Shift matrix", "Response curves", "Error vs distance", "PCA view")
N_PERMUTATIONS = 100


@st.cache_resource(max_entries=6, show_spinner="Detecting regions...")
def _regions(states: tuple[str, ...]) -> pd.Series:
    from kgml_core.regions import detect_regions
    res = detect_regions(data_session.observed_world(states))
    return res.labels.map(lambda r: res.region_names.get(r, f"region {r}")).astype(str)


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def _run_errors(run_id: str, flux: str, model: str) -> tuple[pd.Series, list[str]]:
    """Per-county RMSE of ``model`` against the truth (whole record) and the training counties."""
    ds = data_session.run_predictions(run_id)
    truth, pred = ds[flux].sel(model="truth"), ds[flux].sel(model=model)
    dim = "time" if "time" in ds[flux].dims else "year"
    rmse = np.sqrt(((pred - truth) ** 2).mean(dim)).to_pandas()
    rmse.index = rmse.index.astype(str)
    train = [str(u) for u, s in zip(ds["unit"].values, ds["split"].values) if s == "train"] \
        if "split" in ds.coords else []
    return rmse.astype(float), train


@st.cache_resource(max_entries=6, show_spinner="Comparing the distributions (about 20 s the first time)...")
def _diagnose(states: tuple[str, ...], grouping: str, errors_key: tuple | None):
    from kgml_core.shift import diagnose
    ds = data_session.observed_world(states)
    groups = _regions(states) if grouping == "regions" else None
    errors, train = (None, None)
    if errors_key is not None:
        errors, train = _run_errors(*errors_key)
        known = set(ds["unit"].values.astype(str))
        train = [u for u in train if u in known] or None
    return diagnose(ds, groups=groups, n_permutations=N_PERMUTATIONS, errors=errors, train_units=train)


def _errors_choice() -> tuple | None:
    runs = data_session.runs_table(("state_vs_global",))
    options = ["none"] + list(runs["run_id"]) if len(runs) else ["none"]
    names = dict(zip(runs["run_id"], runs["name"])) if len(runs) else {}
    c1, c2, c3 = st.columns(3)
    run_id = c1.selectbox("Model errors from", options, key="sh_run",
                          format_func=lambda r: "no run (distance only)" if r == "none" else f"{names[r]} ({r})",
                          help="A finished state-vs-global run: its per-county RMSE against the truth.")
    if run_id == "none":
        return None
    ds = data_session.run_predictions(run_id)
    flux = c2.selectbox("Error of", [v for v in ("RH", "RA", "NEE", "RECO") if v in ds], key="sh_flux",
                        help="The flux whose per-county RMSE (g C m-2 d-1) is plotted.")
    model = c3.selectbox("Model", [str(m) for m in ds["model"].values if m != "truth"], key="sh_model",
                         help="Which model's error to relate to the distance from its training counties.")
    return (run_id, flux, model)


def _distributions(rep) -> None:
    units = rep.features.attrs.get("units", {}) or rep.meta.get("units", {})
    var = st.selectbox("Feature", list(rep.features.columns), key="sh_var", format_func=labels.describe,
                       help="Per-unit features: growing-season (GS, May-September) and annual (ANN) climate, soils. "
                            + "; ".join(labels.describe(v) for v in list(rep.features.columns)[:8]) + "...")
    groups = rep.unit_distance["group"]
    st.plotly_chart(charts.distribution_figure(rep.features, groups, var, units.get(var, "")),
                    width="stretch")
    st.plotly_chart(charts.importance_figure(rep.per_variable), width="stretch")


def _curves(rep, ds: xr.Dataset) -> None:
    if rep.concept_curves.empty:
        st.info("The dataset lacks the daily drivers for response curves.")
        return
    drivers = list(pd.unique(rep.concept_curves["driver"]))
    driver = st.selectbox("Driver", drivers, key="sh_driver", help="The daily driver on the x axis.")
    resp = rep.meta.get("response", "RH")
    st.plotly_chart(charts.response_curves_figure(rep.concept_curves, driver, resp,
                                                  ds[driver].attrs.get("units", ""),
                                                  ds[resp].attrs.get("units", "")), width="stretch")
    if not rep.concept_tests.empty:
        st.caption("Do the groups respond differently to the same weather (concept shift)? η²: the share of the "
                   "response's variance explained by the group at equal drivers; p from a permutation test.")
        st.dataframe(_concept_table(rep.concept_tests), width="stretch", hide_index=True)


def _group(value) -> str:
    text = "" if pd.isna(value) else str(value)
    return labels.state_name(text) if len(text) == 2 and text.isupper() else text


def _pairwise_table(pairwise: pd.DataFrame) -> pd.DataFrame:
    """The pairwise shift statistics with words for headers, rounded."""
    return pd.DataFrame({
        "groups": [f"{_group(a)} vs {_group(b)}" for a, b in zip(pairwise["group_a"], pairwise["group_b"])],
        "MMD² (0 = same distribution)": pairwise["mmd2"].round(3),
        "p-value (permutation)": pairwise["p_value"].round(3),
        "classifier AUC (0.5 = indistinguishable)": pairwise["auc"].round(2),
        "units": [f"{a} + {b}" for a, b in zip(pairwise["n_a"], pairwise["n_b"])]})


def _concept_table(tests: pd.DataFrame) -> pd.DataFrame:
    """The concept-shift tests with words for headers, rounded."""
    return pd.DataFrame({
        "groups": ["all groups" if scope == "all" else f"{_group(a)} vs {_group(b)}"
                   for scope, a, b in zip(tests["scope"], tests["group_a"], tests["group_b"])],
        "response": [labels.flux_name(r) for r in tests["response"]],
        "η² (share explained by the group)": tests["eta2"].round(3),
        "p-value (permutation)": tests["p_value"].round(3),
        "units": tests["n_units"]})


def _distance(rep, states: tuple[str, ...], errors_key) -> None:
    label = f"RMSE of {errors_key[1]}, {errors_key[2]} (g C m-2 d-1)" if errors_key else None
    if errors_key is None:
        st.info("Pick a finished run under **Model errors from** (above) to plot each county's model error "
                "against its distance from the training counties. Meanwhile the map shows the distance alone.",
                icon=":material/info:")
        _distance_map(rep, states, [])
        return
    chosen = st.session_state.get("sh_clicked", [])
    event = st.plotly_chart(charts.distance_error_figure(rep.unit_distance, label, chosen),
                            width="stretch", on_select="rerun", selection_mode="points",
                            key="sh_scatter")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    clicked = [str(p["customdata"]) for p in points if p.get("customdata") is not None]
    if clicked and clicked != chosen:
        st.session_state["sh_clicked"] = clicked
        st.rerun()
    if not rep.error_correlation.empty:
        st.caption("Does the error grow with the distance from training? Correlation of distance and error:")
        st.dataframe(rep.error_correlation.round(3), hide_index=True)
    st.caption("Click a point to outline its county on the map." if not chosen else
               f"Outlined: county {', '.join(chosen)}.")
    _distance_map(rep, states, chosen)


def _distance_map(rep, states: tuple[str, ...], chosen: list[str]) -> None:
    dist = rep.unit_distance["distance"].astype(float)
    lo, hi = choropleth.colour_range(dist)
    fmap = choropleth.choropleth_map(states, dist, "distance from training", "–", lo, hi, "Purples",
                                     highlight=chosen)
    st_folium(fmap, height=420, use_container_width=True, returned_objects=[], key="shift_map")


def main() -> None:
    st.title("Distribution shift")
    st.caption("How the selected states (or the regions the Auto Region Detector finds) differ in "
               "climate and soils, and whether a model errs more the farther a place is from its training data.")
    sel = selection.current()
    states = tuple(sel.states)
    if len(states) < 2:
        st.warning("Select at least two states on the **Map & selection** page, or group by detected regions.")
    grouping = st.radio("Groups", ["states", "regions"], horizontal=True, key="sh_grouping",
                        format_func={"states": "States", "regions": "Detected regions"}.get,
                        help="Compare states, or the regions of the Auto Region Detector.")
    errors_key = _errors_choice()
    if not st.toggle("Run the diagnostic", value=False, key="sh_run_diag",
                     help="Computes the statistics (about 20 s the first time for three states, then cached)."):
        st.info("Turn on **Run the diagnostic** to compare the groups.", icon=":material/info:")
        return
    rep = _diagnose(states, grouping, errors_key)
    st.subheader("What differs most")
    for line in report.shift_summary(rep.per_variable, rep.pairwise, rep.meta.get("units")):
        st.markdown(f"- {line}")
    view = st.segmented_control("View", VIEWS, default=VIEWS[0], key="sh_view",
                                help="One view at a time, so only what you look at is drawn.")
    ds = data_session.observed_world(states)
    if view == "Distributions":
        _distributions(rep)
    elif view == "Shift matrix":
        st.plotly_chart(charts.shift_matrix_figure(rep.shift_matrix), width="stretch")
        st.dataframe(_pairwise_table(rep.pairwise), hide_index=True, width="stretch")
    elif view == "Response curves":
        _curves(rep, ds)
    elif view == "Error vs distance":
        _distance(rep, states, errors_key)
    elif view == "PCA view":
        st.plotly_chart(charts.embedding_figure(rep.embedding, rep.embedding.attrs.get("explained_variance_ratio", [])),
                        width="stretch")


try:
    main()
except Exception as err:  # the page boundary
    theme.show_error("The distribution-shift page failed", err)
