"""The dashboard's look: CSS from ``assets/``, the logo, and short error messages."""
from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from components import text

ASSETS = Path(__file__).resolve().parent.parent / "assets"
log = logging.getLogger("kgml_app")


@st.cache_resource
def _css() -> str:
    return (ASSETS / "style.css").read_text()


def apply() -> None:
    """Inject the CSS and show the logo (call once per run, from app.py)."""
    st.html(f"<style>{_css()}</style>")
    st.logo(str(ASSETS / "logo.svg"), icon_image=str(ASSETS / "icon.svg"), size="large")


def show_error(user_message: str, err: BaseException | None = None) -> None:
    """Tell the user what went wrong in one line; the details go to the server log.

    ``user_message`` is plain text (names in it are shown literally); the error's first
    line follows it without server paths.
    """
    if err is not None:
        log.error("%s: %s", user_message, err, exc_info=err)
        st.error(text.fmt("{}: {}", user_message, text.error_line(err)), icon=":material/error:")
    else:
        st.error(text.fmt("{}", user_message), icon=":material/error:")
