"""Home: what the dashboard does, the selected region on an offline map, and where to go."""
import streamlit as st
from streamlit_folium import st_folium

from components import maps, page, selection
from kgml_core import geo

page.enter(__file__)

st.title("Knowledge-guided ML of land carbon emissions")
st.markdown(
    "Explore US counties and flux-tower sites, train **knowledge-guided** models of "
    "ecosystem carbon fluxes (autotrophic respiration **Ra**, heterotrophic respiration "
    "**Rh**, net ecosystem exchange **NEE**) and compare a **global** model (KGML-ag) with "
    "**state- and region-specific** models (SDSA-KGML), or upscale flux-tower measurements "
    "to places without towers (**TAM-RL**). Out of the box it runs on an embedded "
    "process-based simulator over real county boundaries; real FLUXNET, AmeriFlux, "
    "NASS and NetCDF files can be loaded on the Data page.")

sel = selection.current()
counties = geo.county_table(sel.states)
cols = st.columns(4)
cols[0].metric("States selected", len(sel.states), help="Change them on the Map page or in the link.")
cols[1].metric("Counties", len(counties), help="Counties of the selected states (Census 2016).")
cols[2].metric("Area", f"{counties['area_km2'].sum() / 1e3:,.0f}k km²",
               help="Equal-area (EPSG:5070) area of the selected counties.")
cols[3].metric("Counties picked", len(sel.counties) or "all",
               help="Counties picked on the map; 'all' when none are picked.")


st.subheader("Selected region")
st_folium(maps.region_map(sel.states, sel.counties), height=460,
          use_container_width=True, returned_objects=[], key="home_map")
st.caption("County boundaries: US Census 2016 cartographic files (1:500k). "
           "The map needs no internet: Leaflet is served by the app and no base tiles are required.")
