"""Flux-tower sites shown on the maps: the simulator's observation sites and virtual towers."""
from __future__ import annotations

import streamlit as st

from kgml_core import geo


@st.cache_data(max_entries=8, show_spinner="Placing flux-tower sites...")
def observation_sites(states: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """Site id -> (lat, lon) of the simulated flux towers inside the selected states."""
    from kgml_core.simulator import WorldConfig, simulate_observations
    cfg = WorldConfig(states=states, years=(2019, 2019))
    _, sites = simulate_observations(cfg)
    return {str(u): (float(lat), float(lon)) for u, lat, lon in
            zip(sites["unit"].values, sites["lat"].values, sites["lon"].values)}


@st.cache_data(max_entries=4, show_spinner="Loading the virtual tower network...")
def tower_network_sites(n_sites: int = 40) -> dict[str, tuple[float, float, str, str]]:
    """Virtual tower id -> (lat, lon, IGBP, state) of the TAM-RL network."""
    from kgml_core.simulator import TowerConfig, simulate_tower_network
    ds = simulate_tower_network(TowerConfig(n_sites=n_sites, years=(2010, 2010)))
    return {str(u): (float(a), float(o), str(i), str(s)) for u, a, o, i, s in
            zip(ds["unit"].values, ds["lat"].values, ds["lon"].values, ds["IGBP"].values,
                ds["state"].values)}


def sites_in(states: list[str], n_sites: int = 40) -> dict[str, tuple[float, float]]:
    """Virtual towers inside ``states`` plus every simulated observation site there."""
    codes = set(geo.resolve_states(states))
    towers = {k: (v[0], v[1]) for k, v in tower_network_sites(n_sites).items() if v[3] in codes}
    return {**observation_sites(tuple(sorted(codes))), **towers}
