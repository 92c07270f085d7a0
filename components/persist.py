"""Page settings that survive leaving the page: kept in session state and written to the URL.

Streamlit forgets a widget's value when a run does not draw it (another page ran), and
page switches drop query parameters. A page calls :func:`restore` just before drawing a
keyed widget (it puts back the value kept from an earlier visit, or the one a link
carries, when it is still one of the options) and :func:`remember` once its widgets are
drawn; app.py then writes the page's remembered settings into the URL beside the
selection (:func:`query`).
"""
from __future__ import annotations

from typing import Any, Iterable

import streamlit as st

_KEPT = "_kgml_kept_settings"
_ON_PAGE = "_kgml_settings_on_page"
MAX_VALUE_CHARS = 120


def _kept() -> dict[str, Any]:
    return st.session_state.setdefault(_KEPT, {})


def _from_link(key: str, options: Iterable[Any] | None) -> Any:
    raw = st.query_params.get(key)
    if raw is None or options is None or len(raw) > MAX_VALUE_CHARS:
        return None
    return next((o for o in options if str(o) == raw), None)


def restore(key: str, options: Iterable[Any] | None = None) -> None:
    """Give the widget ``key`` its kept (or linked) value, if it has none and the value is allowed.

    ``options``: the values the widget accepts (selectbox options, a slider's range); a kept value
    outside them is dropped rather than breaking the widget.
    """
    st.session_state.setdefault(_ON_PAGE, [])
    if key not in st.session_state[_ON_PAGE]:
        st.session_state[_ON_PAGE].append(key)
    if key in st.session_state:
        return
    options = list(options) if options is not None else None
    value = _kept().get(key)
    if value is None:
        value = _from_link(key, options)
    if value is not None and (options is None or value in options):
        st.session_state[key] = value


def remember(*keys: str) -> None:
    """Keep the current values of these widgets for the next visit."""
    kept = _kept()
    for key in keys:
        if key in st.session_state:
            kept[key] = st.session_state[key]


def query() -> dict[str, str]:
    """This run's page settings as query parameters (then forgotten until the page runs again)."""
    keys = st.session_state.pop(_ON_PAGE, [])
    kept = _kept()
    return {k: str(kept[k])[:MAX_VALUE_CHARS] for k in keys if k in kept and kept[k] is not None}
