"""KGML carbon dashboard: the Streamlit entry point.

Declares the pages with ``st.navigation`` (which turns off the automatic
discovery of ``pages/``: every page file is listed here), applies the theme,
initialises the shared selection from the URL once, and writes it back after
each page ran.

First visit to a freshly started server: ``.streamlit/config.toml`` hides
Streamlit's automatic list of the ``pages/`` files (shown before this script has
declared the pages: raw lower-case file names), and this script turns the
navigation back on just before ``st.navigation``; a short notice is drawn before
the slow imports so the page is never blank while the server warms up.
"""
import logging

import streamlit as st

st.set_page_config(page_title="KGML Carbon Dashboard", page_icon="assets/icon.svg", layout="wide")
_warming = st.empty()
if "_kgml_warm" not in st.session_state:
    _warming.caption("Starting the dashboard (the first visit after a restart loads the science libraries)...")

from components import auth, page as page_guard, selection, theme  # noqa: E402  (after the first paint)

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

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
st.set_option("client.showSidebarNavigation", True)  # off in config.toml until the pages are declared
page = st.navigation(PAGES)
page_guard.mark_app_run()
page_guard.follow_deep_link()
selection.sidebar_summary()
_warming.empty()
st.session_state["_kgml_warm"] = True
page.run()
selection.write_query_params()
