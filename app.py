"""KGML carbon dashboard: the Streamlit entry point.

Declares the pages with ``st.navigation`` (which turns off the automatic
discovery of ``pages/``: every page file is listed here), applies the theme,
initialises the shared selection from the URL once, and writes it back after
each page ran.
"""
import logging

import streamlit as st

from components import auth, page as page_guard, selection, theme

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="KGML Carbon Dashboard", page_icon="assets/icon.svg", layout="wide")

PAGES = {
    "Overview": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/map.py", title="Map & selection", icon=":material/map:"),
    ],
    "Models": [
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/compare.py", title="Compare models", icon=":material/leaderboard:"),
    ],
    "Results": [
        st.Page("pages/emissions.py", title="Emission maps", icon=":material/layers:"),
        st.Page("pages/shift.py", title="Distribution shift", icon=":material/compare_arrows:"),
        st.Page("pages/sites.py", title="Flux sites (TAM-RL)", icon=":material/cell_tower:"),
        st.Page("pages/data.py", title="Data", icon=":material/database:"),
    ],
}

theme.apply()
auth.require_sign_in()
selection.init()
page = st.navigation(PAGES)
page_guard.mark_app_run()
page_guard.follow_deep_link()
selection.sidebar_summary()
page.run()
selection.write_query_params()
