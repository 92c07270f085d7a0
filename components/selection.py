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

from components import text
from kgml_core import geo

MAX_ITEMS = 500          # values read per URL parameter (3 states hold 293 counties)
MAX_VALUE_CHARS = 40     # longer values are ignored unread
MAX_PARAM_CHARS = 20_000  # a longer parameter is cut to this many characters before splitting
_SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
_EXAMPLES = 3


@dataclass
class Selection:
    states: list[str] = field(default_factory=lambda: list(geo.DEFAULT_STATES))
    counties: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)


def _items(value: str | list[str] | None) -> tuple[list[str], int]:
    """The first :data:`MAX_ITEMS` values of a parameter, and how many more it held."""
    if value is None:
        return [], 0
    parts = value if isinstance(value, list) else [value]
    text = ",".join(str(p) for p in parts)
    cut = len(text) if len(text) <= MAX_PARAM_CHARS else max(0, text.rfind(",", 0, MAX_PARAM_CHARS))
    dropped = text[cut:].count(",") if cut < len(text) else 0  # whole values after the cut, never parsed
    items = [p.strip() for p in text[:cut].split(",") if p.strip()]
    return items[:MAX_ITEMS], dropped + max(0, len(items) - MAX_ITEMS)


class _Ignored:
    """Values of the link that were ignored, by reason; summarised in one message."""

    def __init__(self):
        self.reasons: dict[str, list[str]] = {}
        self.unread = 0

    def add(self, reason: str, value: str) -> None:
        self.reasons.setdefault(reason, []).append(value)

    def message(self) -> str | None:
        """One line: how many values were ignored, why, with a few examples (None when none were)."""
        total = self.unread + sum(len(v) for v in self.reasons.values())
        if not total:
            return None
        parts = [f"{len(values)} {reason} (e.g. {', '.join(repr(v[:20]) for v in values[:_EXAMPLES])})"
                 for reason, values in self.reasons.items()]
        if self.unread:
            parts.append(f"{self.unread} more not read (at most {MAX_ITEMS} values per parameter)")
        return text.one_line(f"Ignored {total} value(s) in the link: " + "; ".join(parts) + ".", 280)


def parse_query(params: Mapping[str, str | list[str]]) -> tuple[Selection, list[str]]:
    """Selection from URL query parameters, plus at most one message summarising every ignored value.

    Each parameter is read up to :data:`MAX_ITEMS` values of at most
    :data:`MAX_VALUE_CHARS` characters; the rest is counted, not parsed.
    """
    ignored = _Ignored()
    sel = Selection()

    def values(key: str) -> list[str]:
        items, unread = _items(params.get(key))
        ignored.unread += unread
        kept = []
        for item in items:
            if len(item) > MAX_VALUE_CHARS:
                ignored.add(f"too long {key} value(s)", item)
            else:
                kept.append(item)
        return kept

    if "states" in params:
        states: list[str] = []
        for item in values("states"):
            try:
                code = geo.resolve_state(item)
            except geo.UnknownStateError:
                ignored.add("unknown state(s) (expected e.g. IL)", item)
                continue
            if code not in states:
                states.append(code)
        sel.states = states or list(geo.DEFAULT_STATES)
    # the county geometry is only loaded when the link names counties
    known = set(geo.county_table(sel.states).index) if "counties" in params else set()
    for item in values("counties"):
        if item in known and item not in sel.counties:
            sel.counties.append(item)
        elif item not in known:
            ignored.add("county FIPS not in the selected states", item)
    for item in values("sites"):
        if _SITE_ID.match(item) and item not in sel.sites:
            sel.sites.append(item)
        elif not _SITE_ID.match(item):
            ignored.add("bad site id(s) (letters, digits, '-', '_' only)", item)
    message = ignored.message()
    return sel, [message] if message else []


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
    """Mirror the selection and the page's kept settings in the URL (page switches drop query parameters)."""
    from components import persist

    wanted = to_query(current()) | persist.query()
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
        st.toast(text.fmt("{}", msg), icon=":material/warning:")
