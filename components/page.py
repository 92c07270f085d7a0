"""Page entry guard.

Pages run inside app.py's ``st.navigation``. On a freshly started server the
first request, until app.py has called ``st.navigation`` once, is served by
Streamlit's ``pages/`` directory fallback, which runs a deep-linked page file
(say ``/map``) on its own, without app.py. :func:`enter` notices that and hands
over to app.py, which routes back to the page, with the link's query parameters
carried through both switches so nothing of the link is lost.

:func:`enter` is the first statement of every page, before the page's heavy
imports, and this module imports nothing but Streamlit: the stand-alone run then
takes milliseconds and app.py draws its "starting" notice at once, instead of the
browser showing a blank page while a page's libraries and geometry load.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

_VIA_APP = "_kgml_via_app"
_DEEP_LINK = "_kgml_deep_link"


def mark_app_run() -> None:
    """Called by app.py before it runs a page."""
    st.session_state[_VIA_APP] = True


def enter(page_file: str) -> None:
    """First line of every page: hand a stand-alone run over to app.py."""
    if st.session_state.get(_VIA_APP):
        return
    params = st.query_params.to_dict()
    st.session_state[_DEEP_LINK] = (f"pages/{Path(page_file).name}", params)
    st.switch_page("app.py", query_params=params)


def follow_deep_link() -> None:
    """Called by app.py after st.navigation: go to the page a stand-alone run was asked for."""
    target = st.session_state.pop(_DEEP_LINK, None)
    if target:
        page_file, params = target
        st.switch_page(page_file, query_params=params)
