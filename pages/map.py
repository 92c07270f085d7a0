"""Map & selection: pick states, counties and flux-tower sites; the selection is shared and in the URL."""
from components import page

page.enter(__file__)  # before the heavy imports: a cold deep link hands over to app.py at once

import streamlit as st
from streamlit_folium import st_folium

from components import maps, selection, sites, theme
from kgml_core import geo


st.title("Map & selection")
st.caption("Click a county or a flux-tower site to select or deselect it; click a state outside "
           "the selection to add it. Everything picked here is used by the other pages, and the "
           "page link reproduces it.")

sel = selection.current()
all_states = sorted(geo.CONUS_STATES)


def _sync_widgets() -> None:
    """Make the multiselects show the selection (called whenever the selection changed elsewhere).

    The widgets own their keys: setting them here, before they are drawn, is what keeps a
    box from restoring its old value on the next run and undoing a click on the map.
    """
    st.session_state["map_states"] = list(sel.states)
    st.session_state["map_counties"] = list(sel.counties)
    st.session_state["map_sites"] = list(sel.sites)


def _states_changed() -> None:
    chosen = st.session_state.get("map_states") or []
    if chosen:
        selection.set_states(chosen)
    _sync_widgets()


if st.session_state.get("map_states") != sel.states:
    st.session_state["map_states"] = list(sel.states)
def _add_by_name() -> None:
    text = (st.session_state.get("map_state_name") or "").strip()
    st.session_state["map_state_name"] = ""
    if not text:
        return
    try:
        code = geo.resolve_state(text)
    except geo.UnknownStateError:
        st.session_state["map_state_problem"] = f"No conterminous US state called {text[:40]!r}."
        return
    if code not in sel.states:
        selection.set_states(sel.states + [code])
    _sync_widgets()


# Postal codes only as option labels: the box's search matches letters in order anywhere in a label and
# Enter adds every match, so with names in the labels typing "WI" + Enter added six states.
c_states, c_name = st.columns([3, 1])
c_states.multiselect(
    "States", all_states, key="map_states", on_change=_states_changed,
    help="US states whose counties are modelled, by postal code (type WI and press Enter), or click a state "
         "on the map. The default is Illinois, Iowa and Indiana.")
c_name.text_input("Add a state by name", key="map_state_name", on_change=_add_by_name,
                  placeholder="e.g. Wisconsin", help="A state's name or postal code, then Enter.")
if problem := st.session_state.pop("map_state_problem", None):
    st.warning(problem)
st.caption("Selected: " + ", ".join(f"{geo.CONUS_STATES[c][0]} ({c})" for c in sel.states))


def _map(states: tuple[str, ...], site_items: tuple):
    # Built anew on every run (the GeoJSON under it is cached): st_folium renders the map
    # object it is given, and rendering a cached folium Map a second time breaks its script.
    # The base map does not change with the picks, so the component is not re-mounted.
    return maps.region_map(states, (), dict(site_items), ())


def _handle_click(result: dict | None, site_ids: set[str]) -> bool:
    """Toggle what the last click hit; True when the selection changed."""
    if not result or not result.get("last_object_clicked"):
        return False
    # on_change runs once per click: the click counter is part of the value, so a second click on the
    # same site or county (same coordinates) is a change too and toggles it back.
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


def _clicked() -> None:
    if _handle_click(st.session_state.get("selection_map"), set(site_locs)):
        _sync_widgets()


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
              returned_objects=["last_object_clicked", "last_object_clicked_count", "last_object_clicked_tooltip",
                                "last_active_drawing"],
              on_change=_clicked)
with right:
    county_names = geo.county_table(sel.states)
    label = lambda f: f"{county_names.loc[f, 'name']}, {county_names.loc[f, 'state']} ({f})"
    st.session_state["map_counties"] = [c for c in sel.counties if c in county_names.index]
    st.multiselect("Counties", list(county_names.index), format_func=label, key="map_counties",
                   on_change=lambda: setattr(sel, "counties", list(st.session_state["map_counties"])),
                   help="Counties picked for time series and highlights; none picked means all.")
    st.session_state["map_sites"] = [s for s in sel.sites if s in site_locs]
    st.multiselect("Flux-tower sites", sorted(site_locs), key="map_sites",
                   on_change=lambda: setattr(sel, "sites", list(st.session_state["map_sites"])),
                   help="SIM-*: simulated towers in the selected states (SDSA-KGML fine-tuning). "
                        "VT-*: virtual towers of the TAM-RL network. Picked towers are TAM-RL's training sites.")

    def _clear() -> None:
        sel.counties, sel.sites = [], []
        _sync_widgets()
    st.button("Clear picks", on_click=_clear, help="Deselect every county and site (the states stay).")
    st.metric("Counties in the states", len(county_names))
    st.metric("Counties picked", len(sel.counties) or "all")
    st.metric("Sites picked", len(sel.sites))
