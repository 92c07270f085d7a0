"""The region selection shared by every page and mirrored in the URL.

Session state keys ``states`` (postal codes), ``counties`` (5-digit FIPS) and
``sites`` (site ids). The URL carries them as ``?states=IL,IA&counties=17019&sites=US-Ne1``
so a link reproduces the view. :func:`parse_query` is pure and fuzz-tested.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

import streamlit as st

from kgml_core import geo

MAX_ITEMS = 4000
_SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")


@dataclass
class Selection:
    states: list[str] = field(default_factory=lambda: list(geo.DEFAULT_STATES))
    counties: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)


def _items(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    parts = value if isinstance(value, list) else [value]
    items = [p.strip() for part in parts for p in str(part).split(",") if p.strip()]
    return items[:MAX_ITEMS]


def parse_query(params: Mapping[str, str | list[str]]) -> tuple[Selection, list[str]]:
    """Selection from URL query parameters, plus one message per value that was ignored."""
    problems: list[str] = []
    sel = Selection()
    if "states" in params:
        states: list[str] = []
        for item in _items(params["states"]):
            try:
                code = geo.resolve_state(item)
            except geo.UnknownStateError:
                problems.append(f"ignored unknown state {item[:20]!r} in the link (expected e.g. IL)")
                continue
            if code not in states:
                states.append(code)
        sel.states = states or list(geo.DEFAULT_STATES)
    known = set(geo.county_table(sel.states).index)
    for item in _items(params.get("counties")):
        if item in known and item not in sel.counties:
            sel.counties.append(item)
        elif item not in known:
            problems.append(f"ignored county {item[:20]!r} in the link: not a county FIPS of the selected states")
    for item in _items(params.get("sites")):
        if _SITE_ID.match(item) and item not in sel.sites:
            sel.sites.append(item)
        elif not _SITE_ID.match(item):
            problems.append(f"ignored site id {item[:20]!r} in the link (letters, digits, '-', '_' only)")
    return sel, problems


def to_query(sel: Selection) -> dict[str, str]:
    """Query parameters for a selection (empty lists are left out)."""
    out = {"states": ",".join(sel.states)}
    if sel.counties:
        out["counties"] = ",".join(sel.counties)
    if sel.sites:
        out["sites"] = ",".join(sel.sites)
    return out


def init() -> None:
    """Read the URL into session state once per browser session."""
    if "selection" in st.session_state:
        return
    sel, problems = parse_query(st.query_params.to_dict())
    st.session_state["selection"] = sel
    st.session_state["selection_problems"] = problems


def current() -> Selection:
    """The session's selection (call :func:`init` first, app.py does)."""
    return st.session_state["selection"]


def set_states(states: list[str]) -> None:
    """Change the selected states, dropping counties outside them."""
    sel = current()
    sel.states = geo.resolve_states(states) or list(geo.DEFAULT_STATES)
    known = set(geo.county_table(sel.states).index)
    sel.counties = [c for c in sel.counties if c in known]


def toggle(kind: str, item: str) -> None:
    """Add ``item`` to the selected ``kind`` ("counties" or "sites"), or remove it."""
    items = getattr(current(), kind)
    if item in items:
        items.remove(item)
    else:
        items.append(item)


def write_query_params() -> None:
    """Mirror the selection in the URL (page switches drop query parameters)."""
    wanted = to_query(current())
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def sidebar_summary() -> None:
    """The selection, shown in the sidebar of every page."""
    sel = current()
    with st.sidebar:
        st.caption("Selection")
        st.markdown(f"**States:** {', '.join(sel.states)}  \n"
                    f"**Counties:** {len(sel.counties) or 'all'}  \n"
                    f"**Sites:** {len(sel.sites) or 'none'}")
    for msg in st.session_state.pop("selection_problems", []):
        st.toast(msg, icon=":material/warning:")
