"""Map & selection: pick states, counties and flux-tower sites; the selection is shared and in the URL."""
import streamlit as st
from streamlit_folium import st_folium

from components import maps, page, selection, sites, theme
from kgml_core import geo

page.enter(__file__)

st.title("Map & selection")
st.caption("Click a county or a flux-tower site to select or deselect it; click a state outside "
           "the selection to add it. Everything picked here is used by the other pages, and the "
           "page link reproduces it.")

sel = selection.current()
all_states = sorted(geo.CONUS_STATES)
chosen_states = st.multiselect(
    "States", all_states, default=sel.states, key="map_states",
    format_func=lambda c: f"{c} — {geo.CONUS_STATES[c][0]}",
    help="US states whose counties are modelled (postal codes). The default is Illinois, Iowa and Indiana.")
if chosen_states and chosen_states != sel.states:
    selection.set_states(chosen_states)
    st.rerun()


def _map(states: tuple[str, ...], site_items: tuple):
    # Built anew on every run (the GeoJSON under it is cached): st_folium renders the map
    # object it is given, and rendering a cached folium Map a second time breaks its script.
    # The base map does not change with the picks, so the component is not re-mounted.
    return maps.region_map(states, (), dict(site_items), ())


def _handle_click(result: dict | None, site_ids: set[str]) -> bool:
    """Toggle what the last click hit; True when the selection changed."""
    if not result or not result.get("last_object_clicked"):
        return False
    click = result["last_object_clicked"]
    marker = (click.get("lat"), click.get("lng"))
    if st.session_state.get("map_last_click") == marker:
        return False  # the same click, reported again on a rerun
    st.session_state["map_last_click"] = marker
    tooltip = (result.get("last_object_clicked_tooltip") or "").strip()
    if tooltip in site_ids:
        selection.toggle("sites", tooltip)
        return True
    feature = (result.get("last_active_drawing") or {}).get("properties") or {}
    fid = str(feature.get("id", ""))
    if len(fid) == 5 and fid in set(geo.county_table(sel.states).index):
        selection.toggle("counties", fid)
        return True
    if fid in geo.CONUS_STATES and fid not in sel.states:
        selection.set_states(sel.states + [fid])
        return True
    return False


try:
    site_locs = sites.sites_in(sel.states)
except Exception as err:  # the map still works without sites
    theme.show_error("Could not place the flux-tower sites", err)
    site_locs = {}

left, right = st.columns([3, 1])
with left:
    fmap = _map(tuple(sel.states), tuple(sorted(site_locs.items())))
    overlay = maps.selection_layer(sel.counties, site_locs, sel.sites)
    # The click is handled in on_change, before the next run draws anything, so one run shows it.
    st_folium(fmap, height=560, use_container_width=True, key="selection_map",
              feature_group_to_add=overlay,
              returned_objects=["last_object_clicked", "last_object_clicked_tooltip", "last_active_drawing"],
              on_change=lambda: _handle_click(st.session_state.get("selection_map"), set(site_locs)))
with right:
    county_names = geo.county_table(sel.states)
    label = lambda f: f"{county_names.loc[f, 'name']}, {county_names.loc[f, 'state']} ({f})"
    picked = st.multiselect("Counties", list(county_names.index), default=sel.counties,
                            format_func=label, key=f"map_counties_{len(sel.counties)}_{hash(tuple(sel.counties))}",
                            help="Counties picked for time series and highlights; none picked means all.")
    if picked != sel.counties:
        sel.counties = picked
        st.rerun()
    picked_sites = st.multiselect("Flux-tower sites", sorted(site_locs), default=[s for s in sel.sites if s in site_locs],
                                  key=f"map_sites_{hash(tuple(sel.sites))}",
                                  help="SIM-*: simulated towers in the selected states (SDSA-KGML fine-tuning). "
                                       "VT-*: virtual towers of the TAM-RL network. Picked towers are TAM-RL's training sites.")
    if sorted(picked_sites) != sorted(s for s in sel.sites if s in site_locs):
        sel.sites = picked_sites
        st.rerun()
    if st.button("Clear picks", help="Deselect every county and site (the states stay)."):
        sel.counties, sel.sites = [], []
        st.rerun()
    st.metric("Counties in the states", len(county_names))
    st.metric("Counties picked", len(sel.counties) or "all")
    st.metric("Sites picked", len(sel.sites))
